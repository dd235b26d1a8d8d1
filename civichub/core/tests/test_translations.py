"""The English catalogue (civichub/locale/en): every message the code marks for translation is in
it and translated, the compiled django.mo matches django.po, and English pages and notifications
show no Chinese interface text.

When a test here fails after you add or change a message, update the catalogue as the README
("Translations") describes: makemessages, translate, compilemessages, commit both files."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polib  # type: ignore[import-untyped, unused-ignore]  # typed only in newer releases
import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation
from django.utils.translation.template import templatize

import civichub
from civichub.core import services
from civichub.core.models import User
from civichub.notify import kinds
from civichub.notify import services as notify_services

pytestmark = pytest.mark.once  # the same on any database: the SQLite run runs it

PACKAGE = Path(civichub.__file__).resolve().parent
CATALOGUE = PACKAGE / "locale" / "en" / "LC_MESSAGES"
PO = CATALOGUE / "django.po"
MO = CATALOGUE / "django.mo"
HOW_TO_UPDATE = (
    "update the catalogue: civichub makemessages -l en (see README, Translations), translate the "
    "new entries in civichub/locale/en/LC_MESSAGES/django.po, then civichub compilemessages"
)

# CJK punctuation, ideographs and full-width forms; IDEOGRAPHS alone for pages that show data.
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
IDEOGRAPHS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
# The language switcher names each language in itself, so the English page offers "简体中文".
CHINESE_OPTION = re.compile(r'<option value="zh-hans"[^>]*>简体中文</option>')
PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[#0 +-]*\d*(?:\.\d+)?[sdifrx%]")

Key = tuple[str | None, str]  # (msgctxt, msgid)

# The gettext functions that makemessages tells xgettext about (its keywords plus xgettext's
# Python defaults): name -> (position of the context argument or None, position of the msgid).
KEYWORDS: dict[str, tuple[int | None, int]] = {
    "_": (None, 0),
    "gettext": (None, 0),
    "gettext_lazy": (None, 0),
    "gettext_noop": (None, 0),
    "ngettext": (None, 0),
    "ngettext_lazy": (None, 0),
    "pgettext": (0, 1),
    "pgettext_lazy": (0, 1),
    "npgettext": (0, 1),
    "npgettext_lazy": (0, 1),
}


# A module may keep its English in its own catalogue (civichub/<module>/locale/en/...), which
# Django loads too; the checks read the shared catalogue and the modules' as one.
APP_CATALOGUES = sorted(PACKAGE.glob("*/locale/en/LC_MESSAGES/django.po"))


def _catalogue() -> polib.POFile:
    po = polib.pofile(str(PO))
    for path in APP_CATALOGUES:
        for entry in polib.pofile(str(path)):
            po.append(entry)
    return po


def _app_catalogue_paths() -> list[Path]:
    """Modules may keep their English in their own locale directory (Django reads every
    installed app's `locale/`), so that two modules' work never touches one file; those count
    as much as the shared catalogue."""
    return sorted(PACKAGE.glob("*/locale/en/LC_MESSAGES/django.po"))


def _app_catalogues() -> list[polib.POFile]:
    return [polib.pofile(str(p)) for p in _app_catalogue_paths()]


def _live(po: polib.POFile) -> list[polib.POEntry]:
    return [e for e in po if not e.obsolete]


def _scanned(path: Path) -> bool:
    """The files makemessages reads with the README's command: no tests, no hidden folders."""
    parts = path.relative_to(PACKAGE).parts
    return not any(p == "tests" or p.startswith(".") for p in parts)


def _call(name: str, args: list[str | None], where: str) -> Iterator[tuple[Key, str]]:
    context_at, msgid_at = KEYWORDS[name]
    msgid = args[msgid_at] if len(args) > msgid_at else None
    context = args[context_at] if context_at is not None and len(args) > context_at else None
    if msgid and (context_at is None or context is not None):
        yield (context, msgid), where


def _python_messages(path: Path) -> Iterator[tuple[Key, str]]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = (
            func.id
            if isinstance(func, ast.Name)
            else func.attr
            if isinstance(func, ast.Attribute)
            else ""
        )
        if name not in KEYWORDS:
            continue
        args = [
            a.value if isinstance(a, ast.Constant) and isinstance(a.value, str) else None
            for a in node.args
        ]
        yield from _call(name, args, f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")


def _template_messages(path: Path) -> Iterator[tuple[Key, str]]:
    """Django's own templatize (what makemessages hands to xgettext): the template with every
    translatable string turned into a gettext call and everything else blanked out."""
    text = templatize(path.read_text("utf-8"), origin=str(path))
    # The blanked-out text is letters and spaces; dropping the indentation lets Python's tokenizer
    # read it without changing line numbers (each call sits on one line).
    text = "\n".join(line.lstrip() for line in text.splitlines()) + "\n"
    tokens = [
        t
        for t in tokenize.generate_tokens(io.StringIO(text).readline)
        if t.type not in {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT}
    ]
    for i, token in enumerate(tokens[:-1]):
        if token.type != tokenize.NAME or token.string not in KEYWORDS:
            continue
        if tokens[i + 1].string != "(":
            continue
        args: list[str | None] = []
        current: list[tokenize.TokenInfo] = []
        depth = 0
        for t in tokens[i + 2 :]:
            if t.string in "([{" and t.type == tokenize.OP:
                depth += 1
            elif t.string in ")]}" and t.type == tokenize.OP:
                if depth == 0:
                    break
                depth -= 1
            elif t.string == "," and t.type == tokenize.OP and depth == 0:
                args.append(_string(current))
                current = []
                continue
            current.append(t)
        args.append(_string(current))
        where = f"{path.relative_to(PACKAGE.parent)}:{token.start[0]}"
        yield from _call(token.string, args, where)


def _string(tokens: list[tokenize.TokenInfo]) -> str | None:
    if not tokens or any(t.type != tokenize.STRING for t in tokens):
        return None
    return "".join(ast.literal_eval(t.string) for t in tokens)


def source_messages() -> dict[Key, list[str]]:
    """Every message marked for translation in the package, with where it is used."""
    found: dict[Key, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*")):
        if not path.is_file() or not _scanned(path):
            continue
        if path.suffix == ".py":
            messages = _python_messages(path)
        elif path.suffix in {".html", ".txt"}:
            messages = _template_messages(path)
        else:
            continue
        for key, where in messages:
            found.setdefault(key, []).append(where)
    return found


# The catalogue file ------------------------------------------------------------------------


def test_the_catalogue_header_declares_english_utf8_and_english_plurals() -> None:
    po = _catalogue()
    assert po.metadata["Language"] == "en"
    assert po.metadata["Plural-Forms"] == "nplurals=2; plural=(n != 1);"
    assert po.metadata["Content-Type"] == "text/plain; charset=UTF-8"
    assert not po.metadata_is_fuzzy


def test_locations_in_the_catalogue_are_relative_to_the_repository() -> None:
    for entry in _live(_catalogue()):
        for path, _line in entry.occurrences:
            assert path.startswith("civichub/"), f"{entry.msgid!r}: location {path}"


def test_every_entry_is_translated_and_none_is_fuzzy() -> None:
    po = _catalogue()
    untranslated = [e.msgid for e in po.untranslated_entries()]
    fuzzy = [e.msgid for e in po.fuzzy_entries()]
    plurals = [e.msgid for e in _live(po) if e.msgid_plural and not all(e.msgstr_plural.values())]
    assert not untranslated, f"untranslated: {untranslated}; {HOW_TO_UPDATE}"
    assert not fuzzy, f"fuzzy (check the translation, then drop the flag): {fuzzy}"
    assert not plurals, f"plural forms missing: {plurals}"


def test_translations_keep_the_placeholders_of_their_source() -> None:
    wrong = []
    for entry in _live(_catalogue()):
        expected = sorted(PLACEHOLDER.findall(entry.msgid))
        translations = list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]
        for text in translations:
            if text and sorted(PLACEHOLDER.findall(text)) != expected:
                wrong.append((entry.msgid, text))
    assert not wrong


def test_english_translations_contain_no_chinese() -> None:
    chinese = [
        (e.msgid, e.msgstr)
        for po in [_catalogue(), *_app_catalogues()]
        for e in _live(po)
        if e.msgstr and CJK.search(e.msgstr)
    ]
    assert not chinese


def test_the_compiled_catalogue_matches_the_po_file() -> None:
    def content(entries: list[Any]) -> dict[Key, Any]:
        return {
            (e.msgctxt, e.msgid): (dict(e.msgstr_plural) if e.msgid_plural else e.msgstr)
            for e in entries
            if e.msgid
            and not e.obsolete
            and "fuzzy" not in e.flags
            and (all(e.msgstr_plural.values()) if e.msgid_plural else e.msgstr)
        }

    for po_path in [PO, *APP_CATALOGUES]:
        po, mo = polib.pofile(str(po_path)), polib.mofile(str(po_path.with_suffix(".mo")))
        assert content(list(mo)) == content(list(po)), f"{po_path} is stale: {HOW_TO_UPDATE}"
        assert mo.metadata.get("Plural-Forms") == po.metadata["Plural-Forms"]


def test_django_loads_the_english_catalogue() -> None:
    with translation.override("en"):
        assert translation.gettext("登录") == "Sign in"
    with translation.override("zh-hans"):
        assert translation.gettext("登录") == "登录"


def test_no_message_has_two_english_texts_in_two_catalogues() -> None:
    """Django merges every catalogue into one table per language, so a (context, msgid) has one
    English text in the whole process, whichever catalogue wins: a module that means other words
    gives its usages a context (pgettext, `translate ... context`), and two catalogues that mean
    the same thing say it in the same words."""
    texts: dict[Key, dict[str, str]] = {}
    for path in [PO, *APP_CATALOGUES]:
        name = path.relative_to(PACKAGE).parts[0] if path != PO else "(shared)"
        for entry in _live(polib.pofile(str(path))):
            if entry.msgid:
                text = str(dict(entry.msgstr_plural)) if entry.msgid_plural else entry.msgstr
                texts.setdefault((entry.msgctxt, entry.msgid), {})[name] = text
    clashes = sorted(
        f"{msgid!r}" + (f" (context {context!r})" if context else "") + f": {by_catalogue}"
        for (context, msgid), by_catalogue in texts.items()
        if len(set(by_catalogue.values())) > 1
    )
    assert not clashes, f"{len(clashes)} message(s) with two English texts: " + "; ".join(clashes)


# The catalogue against the code ------------------------------------------------------------


def test_the_source_scan_finds_python_and_template_messages() -> None:
    found = source_messages()
    assert "civichub/core/apps.py" in " ".join(found[(None, "工作台")])
    assert "civichub/core/templates/core/dashboard.html" in " ".join(found[(None, "工作台")])
    # blocktranslate variables become %(name)s, and _("...") in a filter argument counts too.
    assert (None, "第 %(n)s / %(total)s 页") in found
    assert (None, "出错了") in found


def test_app_catalogues_are_translated_and_compiled() -> None:
    for path in _app_catalogue_paths():
        po, mo = polib.pofile(str(path)), polib.mofile(str(path.with_suffix(".mo")))
        assert not po.untranslated_entries() and not po.fuzzy_entries(), path
        assert {(e.msgctxt, e.msgid): e.msgstr for e in po.translated_entries()} == {
            (e.msgctxt, e.msgid): e.msgstr for e in mo
        }, f"{path} and its .mo differ: msgfmt -c -o {path.with_suffix('.mo')} {path}"
        assert not [e.msgstr for e in po if CJK.search(e.msgstr)], path


def test_every_message_marked_in_the_code_is_in_the_catalogue() -> None:
    translated = {
        (e.msgctxt, e.msgid)
        for po in [_catalogue(), *_app_catalogues()]
        for e in po.translated_entries()
        if "fuzzy" not in e.flags
    }
    missing = {
        f"{msgid!r}" + (f" (context {context!r})" if context else "") + f" at {', '.join(where)}"
        for (context, msgid), where in source_messages().items()
        if (context, msgid) not in translated
    }
    assert not missing, (
        f"{len(missing)} message(s) without English: "
        + "; ".join(sorted(missing))
        + f". {HOW_TO_UPDATE}"
    )


# Pages and notifications in English --------------------------------------------------------


def _english(client: Client) -> Client:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def _remaining(pattern: re.Pattern[str], html: str, *data: str) -> list[str]:
    """Stretches around each match of `pattern` once the language switcher and the data (names
    of people and organisations, which stay as they are) are taken out."""
    html = CHINESE_OPTION.sub("", html)
    for value in sorted(data, key=len, reverse=True):
        html = html.replace(value, "")
    return [html[max(m.start() - 40, 0) : m.end() + 40] for m in pattern.finditer(html)]


def test_the_login_page_in_english_has_no_chinese(db: Any) -> None:
    response = _english(Client()).get("/accounts/login/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="en">' in html
    for text in ("Sign in", "Username", "Password", "Skip to main content", "Language"):
        assert text in html
    for text in ("登录", "用户名", "密码", "跳到正文"):
        assert text not in html
    assert not _remaining(CJK, html)


def test_the_dashboard_in_english_shows_english_navigation_and_tiles(
    city: Any, make_user: Callable[..., User]
) -> None:
    user = make_user("community_worker", city.community_a1, last_name="周", first_name="敏")
    services.role_grant(actor=None, user=user, role="auditor", organisation=city.city)
    client = _english(Client())
    client.force_login(user)
    response = client.get("/dashboard/")
    html = response.content.decode()
    assert response.status_code == 200
    for text in (
        "Dashboard",
        "Residents",
        "Audit log",
        "Notifications",
        "Residents in my area",
        "Audit entries today",
        "My roles:",
        "Community worker",
        "Auditor",
        "Change password",
        "Sign out",
    ):
        assert text in html, text
    for text in ("工作台", "审计日志", "辖区居民", "我的角色", "修改密码", "退出登录"):
        assert text not in html, text
    # Organisations by their English names, roles listed with English punctuation.
    assert "Community worker (Taoyuan Community)" in html
    assert "Auditor (Qingshan)" in html and "), " in html
    for text in (city.community_a1.name, city.city.name, "（", "、"):
        assert text not in html, text
    assert not _remaining(IDEOGRAPHS, html, user.display_name())


def test_notification_kinds_have_english_texts_without_chinese() -> None:
    chinese = [
        key
        for key, kind in kinds.all_kinds().items()
        if CJK.search(kind.subject["en"]) or CJK.search(kind.body["en"])
    ]
    assert not chinese
    with translation.override("en"):
        labels = [str(c.label) for c in kinds.categories()]
    assert not [label for label in labels if CJK.search(label)]


def test_a_notification_reaches_an_english_reader_in_english(
    db: Any, make_user: Callable[..., User]
) -> None:
    reader = make_user(None, None, first_name="Amy", last_name="Lin", language="en")
    notify_services.notification_send(
        recipients=[reader],
        kind="notify.test",
        context={"sender": "the operator"},
        channels=["inapp"],
    )
    client = _english(Client())
    client.force_login(reader)
    html = client.get("/notifications/").content.decode()
    assert "Test notification" in html
    assert "This is a test notification sent by the operator" in html
    for text in ("Notifications", "Mark all as read", "Mark as read", "Notification settings"):
        assert text in html, text
    assert not _remaining(IDEOGRAPHS, html)


def test_the_donor_registration_button_says_register_in_english(
    db: Any, make_user: Callable[..., User]
) -> None:
    """ "登记" is "Log call" on a case page; the donors' registration form, the traceability event
    form and the wellbeing enrolment form ask for their own words through a context."""
    client = _english(Client())
    client.force_login(make_user(None, None))
    html = client.get("/donors/me/register/").content.decode()
    assert '<button type="submit">Register</button>' in html
    assert "Log call" not in html
    with translation.override("en"):
        assert translation.gettext("登记") == "Log call"
        assert translation.pgettext("traceability event", "登记") == "Record"
        assert translation.pgettext("household enrolment", "登记") == "Enrol"
        assert translation.pgettext("import batch", "批次") == "Batch"
        assert translation.gettext("批次") == "Lots"

"""Every form that people fill in shows its problems the same way: the shared GOV.UK-style
summary (`_error_summary.html`) at the top, each problem linked to its field, and beside every
field its own message (`_field_error.html`) that the field names in its aria-describedby. No
module keeps an error box of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.once  # the same on any database: the SQLite run runs it

CIVICHUB = Path(__file__).resolve().parents[2]
SHARED = "_error_summary.html"
FIELD_MESSAGE = "_field_error.html"
FORM_FIELD = "_form_field.html"
POST_FORM = re.compile(r"<form\b[^>]*method=\"post\"", re.I)
# What a page shows when a submission went wrong: a form's errors, a service's message.
SHOWS_ERRORS = re.compile(
    r"\{%\s*(?:if|elif|for)\s[^%]*\b(?:errors?|field_errors|general_errors)\b|\.errors\b"
    r"|\{\{\s*errors?\b"
)
# Module copies of an error box: a summary or an errors template of their own, or an alert of
# their own around a form's problems.
OWN_BOX = re.compile(
    r"class=\"[^\"]*error-summary|_errors\.html"
    r"|<[^>]*(?:class=\"errors?\"[^>]*role=\"alert\"|role=\"alert\"[^>]*class=\"(?:errors?|card)\")"
    r"[^>]*>\s*(?:<p>\s*)?\{[{%][^}]*\b(?:e|error|errors|message|general_errors)\b"
    r"|\{%\s*if\s+(?:error|errors|message)\s*%\}\s*<[^>]*role=\"alert\""
)

# A tag's inside, template tags and all (`{% if errors.x %} aria-invalid="true"{% endif %}`).
_INSIDE = r"(?:\{[^}]*\}|\"[^\"]*\"|[^>{\"])*"
FORM = re.compile(r"<form\b" + _INSIDE + r">.*?</form>", re.I | re.S)
CONTROL = re.compile(r"<(input|select|textarea)\b(" + _INSIDE + r")>", re.I)
NOT_FILLED_IN = re.compile(r"\btype=\"(?:hidden|submit|button|reset|image)\"", re.I)
CHOICE = re.compile(r"\btype=\"(?:radio|checkbox)\"", re.I)
NAME = re.compile(r"\bname=\"([^\"]+)\"")
# The messages on the page: `{% include "_field_error.html" with name="phone" %}` for a service's
# problems, `... with form_field=form.phone %}` for a Django form's field.
MESSAGE_NAMED = re.compile(r"_field_error\.html\"\s+with\b[^%]*?\bname=(?:\"([^\"]+)\"|([\w.]+))")
MESSAGE_OF_FIELD = re.compile(r"_field_error\.html\"\s+with\b[^%]*?\bform_field=([\w.]+)")
# A control names its message: `aria-describedby="... phone-error"` or `{% field_aria "phone" %}`.
NAMES_MESSAGE = re.compile(
    r"aria-describedby=\"[^\"]*?([\w]+)-error\b|\{%\s*field_aria\s+(?:\"([^\"]+)\"|([\w.]+))"
)
# A hand-written control of a Django form names the message Django gives it ("id_value_error").
NAMES_FIELD_MESSAGE = re.compile(r"aria-describedby=\"[^\"]*?\bid_(\w+?)_error\b")
# A Django form's field drawn on its own, or a whole form or field group drawn by Django with its
# own error list instead of the shared message.
DJANGO_FIELD = re.compile(
    r"\{\{\s*((?:form|\w+form)\.(?!non_field_errors\b|media\b|errors\b)\w+|[\w.]*\bfield|f)\s*\}\}"
)
DJANGO_DRAWN = re.compile(r"\.as_(?:field_group|p|div|table|ul)\b|\{\{\s*form\s*\}\}")
FIELDSET = re.compile(r"<fieldset\b(" + _INSIDE + r")>|</fieldset>", re.I)
INCLUDE = re.compile(r"\{%\s*include\s+\"([^\"]+)\"[^%]*%\}")
# The shared summary as a page includes it, and an anchor of `error_items` that names no control.
SUMMARY = re.compile(r"\{%\s*include\s+\"_error_summary\.html\"\s+with\b([^%]*)%\}")
NO_ANCHOR = re.compile(r"error_items:\"(?:[^\"]*,)?\s*[\w.]+=\s*(?:,|\")")

# Pages whose "errors" are not a form's: a data import's rejected rows, listed as a report.
REPORTS = {"datahub/templates/datahub/batch_detail.html"}


def _templates() -> list[Path]:
    return sorted(p for p in CIVICHUB.glob("*/templates/**/*.html") if p.name != SHARED) + sorted(
        p for p in (CIVICHUB / "templates").glob("**/*.html") if p.name != SHARED
    )


def _by_name() -> dict[str, Path]:
    names = {}
    for path in _templates():
        root = next(parent for parent in path.parents if parent.name == "templates")
        names[str(path.relative_to(root))] = path
    return names


TEMPLATES = _by_name()


def _expanded(text: str, seen: frozenset[str] = frozenset()) -> str:
    """The template with the module's own includes written out (a form's fields kept in a
    partial are checked with the form); the shared summary and messages stay includes."""

    def inline(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in {FIELD_MESSAGE, FORM_FIELD} or name in seen or name not in TEMPLATES:
            return match.group(0)
        return _expanded(TEMPLATES[name].read_text(), seen | {name})

    return INCLUDE.sub(inline, text)


def _shows_form_errors(text: str) -> bool:
    return bool(POST_FORM.search(text) and SHOWS_ERRORS.search(text))


def _fieldset_openings(form: str) -> list[tuple[int, int, str]]:
    """(start, end, opening tag) of each fieldset of a form."""
    spans: list[tuple[int, int, str]] = []
    stack: list[tuple[int, str]] = []
    for match in FIELDSET.finditer(form):
        if match.group(0).startswith("</"):
            if stack:
                start, tag = stack.pop()
                spans.append((start, match.end(), tag))
        else:
            stack.append((match.start(), match.group(1)))
    return spans


def fields_without_message(text: str) -> list[str]:
    """The controls of a page's forms that have no message of their own beside them: each control
    a person fills in names a message (aria-describedby, `field_aria`) that the page includes, or
    has a message of its own name; a radio button or check box may leave that to its fieldset; a
    Django form's field is drawn with `_form_field.html` or has its `_field_error.html`. A search
    box (role="search") has no message to give."""
    missing = []
    for form in FORM.findall(_expanded(text)):
        opening = form[: form.index(">") + 1]
        if 'role="search"' in opening:
            continue
        named = {"".join(found) for found in MESSAGE_NAMED.findall(form)}
        of_field = set(MESSAGE_OF_FIELD.findall(form))
        fieldsets = _fieldset_openings(form)
        for control in CONTROL.finditer(form):
            inside = control.group(2)
            if NOT_FILLED_IN.search(inside):
                continue
            name = NAME.search(inside)
            label = name.group(1) if name else control.group(0)[:60]
            referred = {"".join(found) for found in NAMES_MESSAGE.findall(inside)}
            if CHOICE.search(inside):
                for start, end, tag in fieldsets:
                    if start < control.start() < end:
                        referred |= {"".join(found) for found in NAMES_MESSAGE.findall(tag)}
            of_this = {f.rsplit(".", 1)[-1] for f in of_field} & set(
                NAMES_FIELD_MESSAGE.findall(inside)
            )
            if not (referred & named or of_this):
                missing.append(label)
        # Hidden fields have no message beside them: the form shows their problems at a visible
        # control (casework's pin at the address box).
        outside_tags = re.sub(
            r"<textarea\b.*?</textarea>|\{%\s*for\s+\w+\s+in\s+[\w.]+hidden_fields\s*%\}.*?"
            r"\{%\s*endfor\s*%\}|<" + _INSIDE + ">",
            "",
            form,
            flags=re.S,
        )
        for field in DJANGO_FIELD.findall(outside_tags):
            if field not in of_field:
                missing.append(field)
        missing.extend(DJANGO_DRAWN.findall(form))
    return missing


def problems_without_link(text: str) -> list[str]:
    """The summaries of a page that can list a problem linked to nothing: a message of the whole
    form without the control it is about (`message_at`), shown alone when no field has a problem,
    and a field's problem that `error_items` sends to no control (`"service="`)."""
    found = []
    for match in SUMMARY.finditer(text):
        given = match.group(1)
        if re.search(r"\bmessage=", given) and not re.search(r"\bmessage_at=", given):
            found.append(match.group(0))
        found.extend(NO_ANCHOR.findall(given))
    return found


def _checked(path: Path, text: str) -> bool:
    return (_shows_form_errors(text) or SHARED in text) and str(
        path.relative_to(CIVICHUB)
    ) not in REPORTS


def test_the_scan_sees_forms_that_show_errors_and_boxes_of_their_own() -> None:
    """The rules below have something to hold: they see the donor sign-up form, and a module's own
    box as the modules had them."""
    assert _shows_form_errors((CIVICHUB / "donors/templates/donors/register.html").read_text())
    assert not _shows_form_errors('<form method="post"><button>关注</button></form>')
    assert OWN_BOX.search('{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}')
    assert OWN_BOX.search('{% if errors %}<div role="alert" class="card">{% for e in errors %}')
    assert OWN_BOX.search('{% include "donors/_errors.html" %}')
    assert not OWN_BOX.search('<p class="error photo-failed" role="alert">{% blocktranslate %}')


def test_the_scan_sees_a_field_without_its_own_message() -> None:
    """A control with no message, one whose message is not on the page, one that does not name
    its message, and Django's own error lists are all seen; the shared message, a group's message
    named by each control or by the fieldset of its choices, and a search box pass."""
    message = '{% include "_field_error.html" with name="phone" %}'
    assert fields_without_message('<form method="post"><input name="phone"></form>') == ["phone"]
    assert fields_without_message(
        '<form method="post"><input name="phone"{% field_aria "phone" %}></form>'
    ) == ["phone"]
    assert fields_without_message(f'<form method="post"><input name="phone">{message}</form>') == [
        "phone"
    ]
    assert not fields_without_message(
        f'<form method="post"><input name="phone"{{% field_aria "phone" %}}>{message}'
        '<input type="hidden" name="crs"><button type="submit">OK</button></form>'
    )
    assert not fields_without_message(
        '<form method="post"><input name="starts"{% if errors.windows %} aria-invalid="true"'
        ' aria-describedby="windows-error"{% endif %}>'
        '{% include "_field_error.html" with name="windows" %}</form>'
    )
    assert not fields_without_message(
        '<form method="post"><fieldset{% field_aria "outcome" field_errors %}>'
        '{% include "_field_error.html" with errors=field_errors name="outcome" %}'
        '<input type="radio" name="outcome" value="a"></fieldset></form>'
    )
    assert fields_without_message('<form method="post">{{ form.farm }}</form>') == ["form.farm"]
    assert not fields_without_message(
        '<form method="post">{{ form.farm }}'
        '{% include "_field_error.html" with form_field=form.farm %}</form>'
    )
    assert fields_without_message(
        '<form method="post">{% for field in form %}{{ field.as_field_group }}{% endfor %}</form>'
    ) == [".as_field_group"]
    assert not fields_without_message(
        '<form method="get" role="search"><input type="search" name="q"></form>'
    )


def test_the_scan_fails_on_the_forms_as_they_were() -> None:
    """The wellbeing enrolment's guardian and worker as they were (no message beside them), and a
    Django form's field drawn without its message."""
    enrol = (
        '<form method="post" class="wb-enrol"><p><label for="guardian_name">x</label><input'
        ' type="text" id="guardian_name" name="guardian_name" value="{{ values.guardian_name }}">'
        '</p><select id="worker" name="worker" required>{% for w in workers %}<option value='
        '"{{ w.pk }}"{% if values.worker == w.pk|stringformat:"s" %} selected{% endif %}>'
        "{{ w }}</option>{% endfor %}</select></form>"
    )
    assert fields_without_message(enrol) == ["guardian_name", "worker"]
    scope = (
        '<form method="post"><p><label for="{{ form.farm.id_for_label }}">x</label>'
        "{{ form.farm }}</p></form>"
    )
    assert fields_without_message(scope) == ["form.farm"]


def _summarised_elsewhere(path: Path) -> bool:
    """A partial (`_name.html`) holding forms of a page that shows the summary for them (the
    staff message page's handling forms): every page that includes it has the summary."""
    name = next(n for n, p in TEMPLATES.items() if p == path)
    if not path.name.startswith("_"):
        return False
    including = [p.read_text() for p in TEMPLATES.values() if f'"{name}"' in p.read_text()]
    return bool(including) and all(SHARED in text for text in including)


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(CIVICHUB)))
def test_every_form_uses_the_shared_error_summary(path: Path) -> None:
    text = path.read_text()
    if (
        _shows_form_errors(text)
        and str(path.relative_to(CIVICHUB)) not in REPORTS
        and not _summarised_elsewhere(path)
    ):
        assert SHARED in text, f"{path.name}: a form without the shared error summary"
    assert not OWN_BOX.search(text), f"{path.name}: an error box of its own"


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(CIVICHUB)))
def test_every_field_shows_its_own_message(path: Path) -> None:
    text = path.read_text()
    if _checked(path, text):
        assert not fields_without_message(text), f"{path.name}: fields without their message"


def test_the_scan_sees_a_problem_that_links_to_nothing() -> None:
    """A message alone, and a field's problem sent to no control, are seen; a message with its
    control, and anchors that each name one, pass."""
    alone = '{% include "_error_summary.html" with message=error only %}'
    assert problems_without_link(alone) == [alone]
    assert not problems_without_link(
        '{% include "_error_summary.html" with message=error message_at="review-same" only %}'
    )
    nowhere = '{% include "_error_summary.html" with errors=errors|error_items:"a=b,service=" %}'
    assert problems_without_link(nowhere) == ['error_items:"a=b,service="']
    assert problems_without_link(
        '{% include "_error_summary.html" with errors=errors|error_items:"service=,a=b" %}'
    )
    assert not problems_without_link(
        '{% include "_error_summary.html" with errors=errors|error_items:"a=b,c=d" only %}'
    )


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(CIVICHUB)))
def test_every_problem_links_to_what_it_is_about(path: Path) -> None:
    assert not problems_without_link(path.read_text()), f"{path.name}: a problem without a link"


# A page's refusal kept as a passing notice for the next page, where it names no control.
PASSING_NOTICE = re.compile(r"\bmessages\.(?:error|warning)\(")


def _page_modules() -> list[Path]:
    return sorted(
        p
        for p in CIVICHUB.glob("*/**/*.py")
        if "tests" not in p.relative_to(CIVICHUB).parts and "templatetags" not in p.parts
    )


def test_the_scan_sees_a_refusal_kept_as_a_passing_notice() -> None:
    """The post page's actions as they were: a refused comment or repost was a notice on the
    next page."""
    assert PASSING_NOTICE.search(
        "    except ValidationFailed as exc:\n        messages.error(request, exc.message)"
    )
    assert not PASSING_NOTICE.search('messages.success(request, _("已转发。"))')


@pytest.mark.parametrize("path", _page_modules(), ids=lambda p: str(p.relative_to(CIVICHUB)))
def test_no_page_shows_a_refusal_as_a_passing_notice(path: Path) -> None:
    """Every refused form goes to the shared summary of the page it came from, linked to its
    control (rendered again with 422, or kept for the page it redirects to): a notice on the
    next page names no control and is gone once read."""
    assert not PASSING_NOTICE.search(path.read_text()), f"{path.name}: a refusal as a notice"

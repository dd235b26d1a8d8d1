"""The registry of notification kinds. A module declares each kind it sends, with its
preference category, its default channels and a subject and body template in every language, as
a sequence in its `notifications.py`, and names it in its manifest; notify registers every
module's kinds when the apps are ready:

    # civichub/casework/notifications.py
    from civichub.notify.kinds import NotificationKind
    KINDS = [NotificationKind(key="casework.case_assigned", category="service", ...), ...]

    # civichub/casework/apps.py
    manifest = ModuleManifest(..., notification_kinds="civichub.casework.notifications:KINDS")

Templates are Django templates rendered without HTML escaping (they become mail, SMS and push
text; pages escape them when they show them)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.template import Context, Engine, Template
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from civichub.notify.choices import Channel

LANGUAGES: tuple[str, ...] = ("zh-hans", "en")
DEFAULT_LANGUAGE = "zh-hans"


@dataclass(frozen=True)
class Category:
    """A group of kinds that a user switches on or off per channel on the preferences page."""

    key: str
    label: str | Promise
    order: int = 100


@dataclass(frozen=True)
class Link:
    """Where a notification leads: a URL name, the context keys giving its arguments in order,
    and an optional fragment (`#rate`). A kind whose context already carries an address (a
    signed answer link) names that key as `context_key` instead."""

    name: str = ""
    args: tuple[str, ...] = ()
    fragment: str = ""
    context_key: str = ""


@dataclass(frozen=True)
class NotificationKind:
    key: str
    category: str
    subject: dict[str, str]  # language → template source
    body: dict[str, str]
    default_channels: tuple[str, ...] = ("inapp",)
    description: str = ""
    # Context keys holding a one-time secret (a verification code, a sign-in link). The stored
    # and shown texts (inbox, admin, SMS records) carry a mask instead; only the message an
    # outside channel sends carries the value, kept encrypted until it is sent.
    secret: tuple[str, ...] = ()
    # What the notification is about; the inbox, push and mail lead there.
    link: Link | None = None


_categories: dict[str, Category] = {}
_kinds: dict[str, NotificationKind] = {}


def register_category(category: Category) -> None:
    _categories[category.key] = category


def register(kind: NotificationKind) -> None:
    if kind.key in _kinds and _kinds[kind.key] != kind:
        raise RuntimeError(f"notification kind {kind.key} registered twice")
    if kind.category not in _categories:
        raise RuntimeError(f"notification kind {kind.key}: unknown category {kind.category}")
    missing = [lang for lang in LANGUAGES if lang not in kind.subject or lang not in kind.body]
    if missing:
        raise RuntimeError(f"notification kind {kind.key}: no template for {', '.join(missing)}")
    unknown = set(kind.default_channels) - set(Channel.values)
    if unknown:
        raise RuntimeError(f"notification kind {kind.key}: unknown channels {sorted(unknown)}")
    _kinds[kind.key] = kind


def register_declared(paths: Iterable[str]) -> None:
    """Registers the kinds at each dotted path ("pkg.notifications:KINDS"), the manifests'
    `notification_kinds`, with the same checks as `register`."""
    for path in paths:
        declared: Sequence[NotificationKind] = import_string(path.replace(":", "."))
        for kind in declared:
            register(kind)


def get(key: str) -> NotificationKind | None:
    return _kinds.get(key)


def all_kinds() -> dict[str, NotificationKind]:
    return dict(_kinds)


def categories() -> list[Category]:
    return sorted(_categories.values(), key=lambda c: c.order)


@lru_cache(maxsize=512)
def _compiled(source: str) -> Template:
    engine = Engine.get_default()
    return engine.from_string("{% autoescape off %}" + source + "{% endautoescape %}")


MASKED = "••••••"
_SPACE = re.compile(r"\s+")


def render(kind: NotificationKind, language: str, context: dict[str, Any]) -> dict[str, str]:
    """The subject (one line) and body for one language."""
    if language not in kind.subject:
        language = DEFAULT_LANGUAGE
    ctx = Context(context, autoescape=False)
    subject = _SPACE.sub(" ", _compiled(kind.subject[language]).render(ctx)).strip()
    body = _compiled(kind.body[language]).render(ctx).strip()
    return {"subject": subject[:200], "body": body, "link": target(kind, context)}


def target(kind: NotificationKind, context: dict[str, Any]) -> str:
    """The kind's link for this context: a path on this site, an address from the context, or
    "" when the kind has none or the context lacks what it needs (a masked secret included)."""
    link = kind.link
    if link is None:
        return ""
    if link.context_key:
        value = str(context.get(link.context_key) or "")
        return "" if value == MASKED else value
    try:
        path = reverse(link.name, args=[context[key] for key in link.args])
    except (KeyError, NoReverseMatch):
        return ""
    return path + (f"#{link.fragment}" if link.fragment else "")


def render_masked(kind: NotificationKind, language: str, context: dict[str, Any]) -> dict[str, str]:
    """The texts anyone may read: the kind's secret values replaced by a mask."""
    masked = {key: MASKED if key in kind.secret else value for key, value in context.items()}
    return render(kind, language, masked)


# The platform's categories; the kinds of each module name one of them.

register_category(Category("account", _("账号与安全"), 10))
register_category(Category("service", _("办事进度"), 20))
register_category(Category("alert", _("预警与公告"), 30))
register_category(Category("system", _("系统消息"), 90))

"""Template filters shared by every app: `{% load civichub %}`."""

from __future__ import annotations

from typing import Any

from django import template
from django.apps import apps
from django.conf import settings
from django.utils import translation
from django.utils.html import format_html, format_html_join

from civichub.core import maps
from civichub.core.registry import audit_action_labels

register = template.Library()


@register.filter
def localized_name(obj: Any, field: str = "name") -> str:
    """The name of an organisation, a category or anything with a `name`/`name_en` pair, in the
    page's language: the English name on an English page when one is set, else the Chinese one.

    `{{ org|localized_name }}` uses the object's `display_name(language)` when it has one;
    `{{ entry|localized_name:"department" }}` reads the `department`/`department_en` pair of a
    plain record (a board entry, a statistics row)."""
    if obj is None or obj == "":
        return ""
    language = translation.get_language() or settings.LANGUAGE_CODE
    display = getattr(obj, "display_name", None)
    if field == "name" and callable(display):
        return str(display(language))
    name = getattr(obj, field, "")
    english = getattr(obj, f"{field}_en", "")
    if language.startswith("en") and english:
        return str(english)
    return str(name or "")


@register.filter
def audit_action(code: str) -> str:
    """An audit action in people's words in the page's language (`casework.case.view`: "查看留言",
    "Case viewed"), or "" when no module names it."""
    label = audit_action_labels().get(code)
    return str(label) if label is not None else ""


@register.filter
def object_type(code: str) -> str:
    """An audit row's object type (`core.resident`) as its model's name in the page's language,
    or "" when it names no model."""
    app_label, _, model_name = (code or "").partition(".")
    try:
        model = apps.get_model(app_label, model_name)
    except (LookupError, ValueError):
        return ""
    return str(model._meta.verbose_name)


@register.filter
def lookup(mapping: Any, key: Any) -> Any:
    """`{{ names|lookup:code }}`: the mapping's entry for `key`, or "" when there is none."""
    if not hasattr(mapping, "get"):
        return ""
    return mapping.get(key if key is not None else "", "")


@register.simple_tag
def map_attributes() -> str:
    """The base map's data attributes for a map element (`<div {% map_attributes %}>`), read by
    static/civichub/map.js."""
    return format_html_join(" ", '{}="{}"', maps.map_attributes().items())


@register.filter
def error_items(errors: Any, anchors: str = "") -> list[dict[str, str]]:
    """The problems of a form handled by a service, as the shared error summary lists them:
    `errors|error_items` turns a mapping of field name to messages (core's ValidationFailed),
    a list of messages or one message into `{"field": id, "message": text}` items. A field links
    to the control whose id is its name, unless `anchors` names another (`"location=latitude"`,
    comma-separated; `"service="` for a problem that belongs to no control). One message links
    to the control that `anchors` names (`error|error_items:"purpose"`)."""
    if not errors:
        return []
    if isinstance(errors, str):
        return [{"field": anchors if "=" not in anchors else "", "message": errors}]
    targets = dict((pair.split("=", 1) + [""])[:2] for pair in anchors.split(",") if pair.strip())
    if hasattr(errors, "items"):
        return [
            {"field": targets.get(name, name), "message": str(message)}
            for name, messages in errors.items()
            for message in ([messages] if isinstance(messages, str) else messages)
        ]
    return [{"field": "", "message": str(message)} for message in errors]


@register.simple_tag(takes_context=True)
def field_aria(context: Any, name: str, errors: Any = None, hint: str = "") -> str:
    """The attributes that tie a control to its own message from `_field_error.html`:
    `<input id="phone" name="phone"{% field_aria "phone" %}>` gives ` aria-invalid="true"
    aria-describedby="phone-error"` while `errors` (field name -> messages, from the context
    unless given) has a message for "phone", and nothing otherwise, so that the control never
    names a message that is not on the page. `hint="id"` names the control's hint as well (one
    aria-describedby for both)."""
    if errors is None:
        errors = context.get("errors")
    if not lookup(errors, name):
        return format_html(' aria-describedby="{}"', hint) if hint else ""
    described = f"{hint} {name}-error" if hint else f"{name}-error"
    return format_html(' aria-invalid="true" aria-describedby="{}"', described)

"""Template filters for the service guide."""

from __future__ import annotations

from django import template

from civichub.portal.guide import GuideView

register = template.Library()


@register.filter
def element(guide: GuideView, field: str) -> str:
    """A guide element in the page's language: `{{ guide|element:"conditions" }}`."""
    return guide.text(field)

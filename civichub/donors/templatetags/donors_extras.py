"""Template filters of the donors pages."""

from __future__ import annotations

from django import template

from civichub.donors.eligibility import Decision

register = template.Library()


@register.filter
def explain(decision: Decision, language: str) -> str:
    """An eligibility decision in plain words in the reader's language."""
    return decision.explain(language)

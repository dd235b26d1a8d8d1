"""Template filters of the donors pages."""

from __future__ import annotations

from django import template

from civichub.donors.eligibility import Decision
from civichub.donors.models import antigen_label

register = template.Library()


@register.filter
def explain(decision: Decision, language: str) -> str:
    """An eligibility decision in plain words in the reader's language."""
    return decision.explain(language)


@register.filter
def phenotype(donor: object) -> str:
    """A donor's recorded antigens, e.g. "K− ✓ Fy(a)+": ✓ marks those the blood centre tested."""
    values: dict[str, str] = getattr(donor, "phenotype", None) or {}
    tested = set(getattr(donor, "phenotype_verified", None) or ())
    return " ".join(
        f"{antigen_label(a)}{'−' if v == '-' else '+'}{' ✓' if a in tested else ''}"
        for a, v in values.items()
    )


@register.filter
def antigens_negative(antigens: list[str]) -> str:
    """Antigens a request asks donors to lack, e.g. "K−、Fy(a)−"."""
    return "、".join(f"{antigen_label(a)}−" for a in antigens)


@register.filter
def get_item(mapping: dict[str, str], key: str) -> str:
    return mapping.get(key, "") if isinstance(mapping, dict) else ""

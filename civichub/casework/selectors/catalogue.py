"""The taxonomy, the receiving area, and the messages the router learns from."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from civichub.casework import reference
from civichub.casework.conf import casework_settings
from civichub.casework.models import Case, CaseStatus, Category
from civichub.core.errors import Conflict, NotFound
from civichub.core.models import Organisation


def category_list(*, active_only: bool = True) -> QuerySet[Category]:
    queryset = Category.objects.select_related("department").prefetch_related("attributes")
    return queryset.filter(active=True) if active_only else queryset


def category_get(*, key: str, active_only: bool = True) -> Category:
    category = category_list(active_only=active_only).filter(key=key).first()
    if category is None:
        raise NotFound(_("没有代码为 %(key)s 的类别。") % {"key": key})
    return category


def _read_active_categories() -> Mapping[str, Category]:
    return {c.key: c for c in Category.objects.filter(active=True).prefetch_related("attributes")}


_active_categories = reference.ProcessCached(_read_active_categories)


def active_category(key: str) -> Category | None:
    """The active category with this key, its attributes prefetched; None if there is none.
    Kept in the process until a category or attribute changes (`casework.reference`); each
    caller gets its own copy of the instance."""
    found = _active_categories.get().get(key)
    return copy.copy(found) if found is not None else None


def _read_jurisdiction() -> Organisation | None:
    code = casework_settings().jurisdiction_code
    query = (
        Organisation.objects.filter(code=code)
        if code
        else Organisation.objects.filter(parent__isnull=True)
    )
    return query.order_by("path").first()


_jurisdiction = reference.ProcessCached(_read_jurisdiction)


def jurisdiction() -> Organisation:
    """The area that receives cases before routing: the profile's code, else the tree's root.
    Kept in the process until an organisation changes (`casework.reference`)."""
    root = _jurisdiction.get()
    if root is None:
        raise Conflict(_("尚无受理留言的机构，请先建立组织机构。"))
    return copy.copy(root)


# Routing training data -------------------------------------------------------------------------


def routing_training_examples() -> Iterable[tuple[str, str]]:
    """(title + text, category key) for cases whose category a person decided or confirmed:
    triaged or transferred by staff, chosen by the sender, or closed without a transfer."""
    queryset = Case.objects.filter(category__isnull=False).filter(
        Q(category_source__in=["staff", "sender"]) | Q(status=CaseStatus.CLOSED)
    )
    for title, text, key in queryset.values_list("title", "text", "category__key").iterator():
        yield f"{title}\n{text}", key

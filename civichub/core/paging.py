"""Paging, one way for every module: selectors return a `Page` (offset/limit) or a cursor page,
and pages render their links from `page_links`, which needs only the total, not the rows."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    """One page of a scoped list: its rows and the size of the whole list."""

    items: list[T]
    total: int
    offset: int = 0
    limit: int = 0


@dataclass
class CursorPage(Generic[T]):
    """One page of a list read newest first by a cursor (feeds): no total, the next cursor."""

    items: list[T]
    next_cursor: str | None = None


@dataclass(frozen=True)
class _Pages:
    num_pages: int
    count: int


@dataclass(frozen=True)
class PageLinks:
    """What the templates' pager reads (the names of Django's `Page`): the current page number,
    whether there is a page before and after it, and how many pages there are."""

    number: int
    paginator: _Pages = field(repr=False)

    @property
    def has_next(self) -> bool:
        return self.number < self.paginator.num_pages

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1


def page_number(value: object, default: int = 1) -> int:
    """A page number from a query parameter: a positive whole number, else `default`."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        return default
    return number if number >= 1 else default


def page_links(*, total: int, per_page: int, number: int) -> PageLinks:
    """Links for page `number` of `total` rows, `per_page` a page. As with Django's paginator,
    an empty list has one page and a number past the end is the last page."""
    if per_page < 1:
        raise ValueError("per_page must be at least 1")
    num_pages = max(1, math.ceil(max(total, 0) / per_page))
    return PageLinks(number=min(max(number, 1), num_pages), paginator=_Pages(num_pages, total))

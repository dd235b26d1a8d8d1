"""The public board: public messages without any personal data (no name, contact, address or
pin) and only the replies marked for the board."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from civichub.casework.models import Case, CaseEvent, EventKind
from civichub.casework.selectors.cases import search_filter
from civichub.core.models import Organisation
from civichub.core.publiccache import cached

# The board is the same for every visitor: read once per change and shared (`core.publiccache`,
# invalidated by `casework.apps` whenever a case, a reply, a department or a category changes).
BOARD_CACHE = "casework.board"
BOARD_CACHE_SECONDS = 300


@dataclass(frozen=True)
class BoardEntry:
    """A public message as the board shows it: no name, contact, address or pin."""

    tracking_number: str
    kind: str
    kind_label: str
    title: str
    text: str
    status: str
    status_label: str
    department: str
    department_id: int | None
    category: str
    created_at: dt.datetime
    replies: list[tuple[dt.datetime, str]] = field(default_factory=list)
    department_en: str = ""  # the department's English name, for English pages
    # The community the message concerns: the board places a message no closer than that.
    community: str = ""
    community_en: str = ""
    community_id: int | None = None


def board_list(
    *, q: str = "", department_id: int | None = None, offset: int = 0, limit: int = 20
) -> tuple[list[BoardEntry], int]:
    """One page of the board and the number of entries that match. Searches are not cached:
    their words are the visitor's own, and each is rarely asked twice."""
    if q.strip():
        return _board_list(q=q, department_id=department_id, offset=offset, limit=limit)
    return cached(
        BOARD_CACHE,
        ("list", q, department_id, offset, limit),
        lambda: _board_list(q=q, department_id=department_id, offset=offset, limit=limit),
        BOARD_CACHE_SECONDS,
    )


def _board_list(
    *, q: str, department_id: int | None, offset: int, limit: int
) -> tuple[list[BoardEntry], int]:
    queryset = Case.objects.filter(
        is_public=True, department__isnull=False, merged_into__isnull=True
    ).select_related("department", "category", "community")
    if department_id:
        queryset = queryset.filter(department_id=department_id)
    queryset = search_filter(queryset, q)
    total = queryset.count()
    cases = list(queryset.order_by("-created_at", "-pk")[offset : offset + min(limit, 100)])
    board_replies: dict[int, list[tuple[dt.datetime, str]]] = defaultdict(list)
    for case_id, at, text in (
        CaseEvent.objects.filter(case__in=cases, kind=EventKind.REPLY, data__board=True)
        .order_by("created_at", "pk")
        .values_list("case_id", "created_at", "text")
    ):
        board_replies[case_id].append((at, text))
    entries = [
        BoardEntry(
            tracking_number=c.tracking_number,
            kind=c.kind,
            kind_label=str(c.get_kind_display()),
            title=c.title,
            text=c.text,
            status=c.status,
            status_label=str(c.get_status_display()),
            department=c.department.name if c.department else "",
            department_en=c.department.name_en if c.department else "",
            department_id=c.department_id,
            category=c.category.name if c.category else "",
            created_at=c.created_at,
            replies=board_replies.get(c.pk, []),
            community=c.community.name if c.community else "",
            community_en=c.community.name_en if c.community else "",
            community_id=c.community_id,
        )
        for c in cases
    ]
    return entries, total


def board_departments() -> list[Organisation]:
    """The departments that answer public messages, for the board's filter."""
    return cached(BOARD_CACHE, ("departments",), _board_departments, BOARD_CACHE_SECONDS)


def _board_departments() -> list[Organisation]:
    ids = (
        Case.objects.filter(is_public=True, department__isnull=False)
        .values_list("department_id", flat=True)
        .distinct()
    )
    return list(Organisation.objects.filter(pk__in=list(ids)).order_by("path"))

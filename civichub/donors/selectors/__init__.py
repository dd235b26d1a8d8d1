"""Reads that pages, the API and tasks share. By subject: `ranking` (the donors a request may
call, best first), `board` (requests, the board, the registry and a donor's own page) and
`maps` (the board's and a request's maps). Callers import from here."""

from __future__ import annotations

from civichub.donors.selectors.board import (
    BoardRow,
    MyDonorPage,
    community_by_code,
    donor_get,
    donor_list,
    donor_mine,
    donor_own,
    eligible_count,
    open_requests_due,
    request_board,
    request_counts,
    request_get,
    request_list,
)
from civichub.donors.selectors.discs import MAX_CELLS
from civichub.donors.selectors.maps import board_map_points, request_map_points
from civichub.donors.selectors.ranking import (
    DONATION_FOR,
    RANKING_ORDER,
    Candidate,
    candidate_queryset,
    donor_decision,
    donor_facts,
    month_key,
    patient_of,
    rank_candidates,
    rules,
    settings_,
)

__all__ = [
    "DONATION_FOR",
    "MAX_CELLS",
    "RANKING_ORDER",
    "BoardRow",
    "Candidate",
    "MyDonorPage",
    "board_map_points",
    "candidate_queryset",
    "community_by_code",
    "donor_decision",
    "donor_facts",
    "donor_get",
    "donor_list",
    "donor_mine",
    "donor_own",
    "eligible_count",
    "month_key",
    "open_requests_due",
    "patient_of",
    "rank_candidates",
    "request_board",
    "request_counts",
    "request_get",
    "request_list",
    "request_map_points",
    "rules",
    "settings_",
]

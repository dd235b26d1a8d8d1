"""Reads that pages, the API, the Open311 layer and tasks share, by subject.

Lists are narrowed by `casework.permissions.case_scope_filter`. A staff member opening a case
sees the sender's contact details, so `case_get` checks permission and writes an audit row with
the stated purpose in the same call. The public board shows public messages without any
personal data (no name, contact, address or pin) and only the replies marked for the board.

Search: `q` matches the tracking number exactly, otherwise a case-insensitive substring of the
title or the text, in Chinese or English alike (no word segmentation needed). On PostgreSQL,
migration 0002 adds pg_trgm GIN indexes on UPPER(title) and UPPER(text), the expressions
Django's `icontains` compares, so the search uses an index for queries of three or more
characters; SQLite scans.
"""

from civichub.casework.selectors.board import (
    BOARD_CACHE,
    BOARD_CACHE_SECONDS,
    BoardEntry,
    board_departments,
    board_list,
)
from civichub.casework.selectors.cases import (
    DuplicateCandidate,
    InboxFilter,
    assignable_staff,
    case_for_tracking,
    case_get,
    case_history,
    case_inbox,
    case_load,
    case_photo_get,
    due_state,
    duplicate_candidates,
    open_count,
    overdue_count,
    own_cases,
    replies,
    search_filter,
    triage_count,
)
from civichub.casework.selectors.catalogue import (
    active_category,
    category_get,
    category_list,
    jurisdiction,
    routing_training_examples,
)
from civichub.casework.selectors.lookups import (
    case_find,
    case_photo_find,
    category_find,
    contact_verification_find,
    department_find,
    departments,
    operators,
    organisation_find,
    organisations_by_code,
    user_find,
)
from civichub.casework.selectors.maps import (
    board_map_points,
    case_map_points,
    community_area_features,
    inbox_map_points,
)
from civichub.casework.selectors.statistics import (
    CSV_COLUMNS,
    Figures,
    Statistics,
    case_statistics,
    statistics_csv,
    status_counts,
)

__all__ = [
    "board_map_points",
    "case_map_points",
    "community_area_features",
    "inbox_map_points",
    "case_find",
    "case_photo_find",
    "category_find",
    "contact_verification_find",
    "department_find",
    "organisations_by_code",
    "departments",
    "operators",
    "organisation_find",
    "user_find",
    "CSV_COLUMNS",
    "BoardEntry",
    "DuplicateCandidate",
    "Figures",
    "InboxFilter",
    "Statistics",
    "active_category",
    "assignable_staff",
    "BOARD_CACHE",
    "BOARD_CACHE_SECONDS",
    "board_departments",
    "board_list",
    "case_for_tracking",
    "case_get",
    "case_history",
    "case_inbox",
    "case_load",
    "case_photo_get",
    "case_statistics",
    "category_get",
    "category_list",
    "due_state",
    "duplicate_candidates",
    "jurisdiction",
    "open_count",
    "overdue_count",
    "own_cases",
    "replies",
    "routing_training_examples",
    "search_filter",
    "statistics_csv",
    "status_counts",
    "triage_count",
]

"""The casework permission matrix: role × action × in or out of the case's scope.

The case is a health complaint from community A1, routed to the Donghu health commission
(department) and to community A1. "In scope" staff hold their role over the department or the
community; "out of scope" staff hold the same role elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from civichub.casework.models import Case, CaseStatus
from civichub.casework.permissions import case_scope_filter, may
from civichub.casework.tests.conftest import Casework

pytestmark = pytest.mark.django_db

ACTIONS = [
    "view",
    "assign",
    "transfer",
    "reply",
    "close",
    "extend_request",
    "extend_approve",
    "merge",
    "note",
    "triage",
    "rate",
]

# role → the actions it may do on a case in its scope
MATRIX: dict[str, set[str]] = {
    "community_worker": {
        "view",
        "assign",
        "transfer",
        "reply",
        "close",
        "extend_request",
        "note",
    },
    "department_handler": {
        "view",
        "transfer",
        "reply",
        "close",
        "extend_request",
        "merge",
        "note",
    },
    "department_head": {
        "view",
        "assign",
        "transfer",
        "reply",
        "close",
        "extend_request",
        "extend_approve",
        "merge",
        "note",
        "triage",
    },
    "case_dispatcher": {"view", "assign", "transfer", "merge", "note", "triage"},
    "sender": {"view", "rate"},
    "other_resident": set(),
    "auditor": set(),
}


@pytest.fixture
def people(cw: Casework, make_user: Callable[..., Any]) -> dict[str, tuple[Any, Any]]:
    """role → (in-scope user, out-of-scope user or None)."""
    city = cw.city
    return {
        "community_worker": (cw.worker_a1, cw.worker_b1),
        "department_handler": (cw.handler, cw.police_handler),
        "department_head": (cw.head, cw.police_head),
        "case_dispatcher": (cw.dispatcher, make_user("case_dispatcher", city.district_b)),
        "sender": (cw.resident, None),
        "other_resident": (cw.outsider, None),
        "auditor": (make_user("auditor", city.city), None),
    }


@pytest.fixture
def case(submit: Callable[..., Case]) -> Case:
    case = submit()
    assert case.status == CaseStatus.ASSIGNED
    return case


@pytest.mark.parametrize("role", list(MATRIX))
@pytest.mark.parametrize("action", ACTIONS)
def test_permission_matrix(
    people: dict[str, tuple[Any, Any]], case: Case, role: str, action: str
) -> None:
    inside, outside = people[role]

    assert may(inside, f"casework.case.{action}", case) is (action in MATRIX[role])
    if outside is not None:
        assert may(outside, f"casework.case.{action}", case) is False


def test_inbox_lists_a_case_for_its_department_and_its_community_only(
    cw: Casework, case: Case
) -> None:
    def sees(user: Any) -> bool:
        return (
            case_scope_filter(user, "casework.case.view", Case.objects.all())
            .filter(pk=case.pk)
            .exists()
        )

    assert sees(cw.handler) and sees(cw.head) and sees(cw.worker_a1) and sees(cw.dispatcher)
    assert not sees(cw.worker_b1) and not sees(cw.police_handler) and not sees(cw.resident)


def test_unrouted_case_is_visible_to_the_dispatcher_at_the_jurisdiction_only(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit(title="一件事", text="想反映一个情况。", latitude=None, longitude=None)
    assert case.department is None and case.community is None

    assert may(cw.dispatcher, "casework.case.triage", case)
    assert not may(cw.head, "casework.case.triage", case)
    assert not may(cw.worker_a1, "casework.case.view", case)

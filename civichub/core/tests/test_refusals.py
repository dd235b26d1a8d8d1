"""Refused reads are audited, whichever entry point was refused (page, API, admin, task), once
per actor, object and minute; operators see accounts without residents' personal data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from civichub.core import audit, selectors, services
from civichub.core.context import acting
from civichub.core.errors import PermissionDenied
from civichub.core.models import AuditEvent

REFUSED = "permission.refused"


@pytest.fixture(autouse=True)
def _one_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refusals are counted in the clock's minutes: a test that ran across the turn of a
    minute (as one did on a loaded machine) would count its second part afresh. Its
    requests all fall in one minute here."""
    minute = audit._minute()
    monkeypatch.setattr(audit, "_minute", lambda: minute)


@pytest.fixture
def residents(city: Any) -> list[Any]:
    return [
        services.resident_create(
            actor=None, name=f"王小明{n}", community=city.community_a1, phone=f"1380000000{n}"
        )
        for n in range(3)
    ]


def _refusals() -> list[tuple[Any, str, str, str]]:
    return [
        (e.actor, e.object_type, e.object_id, e.changes.get("refused"))
        for e in AuditEvent.objects.filter(action=REFUSED).order_by("id")
    ]


def test_refused_reads_through_the_api_are_audited_once_a_minute_per_resident(
    city: Any, make_user: Callable[..., Any], residents: list[Any], api_as: Callable[..., Any]
) -> None:
    stranger = make_user("community_worker", city.community_b1)
    client = api_as(stranger)

    answers = [
        client.get(f"/api/residents/{residents[0].pk}", purpose="好奇").status_code
        for _ in range(55)
    ]
    answers += [
        client.get(f"/api/residents/{r.pk}", purpose="好奇").status_code for r in residents[1:]
    ]

    assert answers == [403] * 57
    assert _refusals() == [
        (stranger, "core.resident", str(r.pk), "core.resident.view") for r in residents
    ]
    event = AuditEvent.objects.filter(action=REFUSED).first()
    assert event is not None and event.organisation_path == city.community_a1.path
    assert not AuditEvent.objects.filter(action="resident.view").exists()


def test_a_refused_page_is_audited_with_the_client_address(
    city: Any, make_user: Callable[..., Any], residents: list[Any]
) -> None:
    stranger = make_user("community_worker", city.community_b1)
    client = Client(REMOTE_ADDR="198.51.100.23")
    client.force_login(stranger)

    assert client.get(f"/residents/{residents[0].pk}/").status_code == 403

    event = AuditEvent.objects.get(action=REFUSED)
    assert (event.actor, event.object_id, event.ip_address) == (
        stranger,
        str(residents[0].pk),
        "198.51.100.23",
    )


def test_a_refusal_inside_a_task_survives_the_rolled_back_read(
    city: Any, make_user: Callable[..., Any], residents: list[Any]
) -> None:
    stranger = make_user("community_worker", city.community_b1)

    with acting(channel="task"):
        with pytest.raises(PermissionDenied):
            selectors.resident_get(actor=stranger, pk=residents[0].pk, purpose="好奇")
        # The read's transaction rolled back; the refusal is written when the task is over.
        assert not AuditEvent.objects.filter(action=REFUSED).exists()

    assert _refusals() == [(stranger, "core.resident", str(residents[0].pk), "core.resident.view")]
    assert AuditEvent.objects.get(action=REFUSED).actor_label == stranger.username


def test_refusals_cannot_flood_the_audit_log(
    city: Any,
    make_user: Callable[..., Any],
    residents: list[Any],
    api_as: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(audit, "REFUSALS_PER_MINUTE", 1)
    stranger = make_user("community_worker", city.community_b1)
    client = api_as(stranger)

    for resident in residents:
        assert client.get(f"/api/residents/{resident.pk}", purpose="x").status_code == 403

    rows = list(AuditEvent.objects.filter(action=REFUSED).order_by("id"))
    assert len(rows) == 2  # the first, then one saying the rest of the minute is untold
    assert "untold" in rows[1].changes


def test_a_visitor_refused_is_not_recorded(
    residents: list[Any], api_as: Callable[..., Any]
) -> None:
    assert api_as(None).get(f"/api/residents/{residents[0].pk}", purpose="x").status_code == 401
    assert not AuditEvent.objects.filter(action=REFUSED).exists()


def test_an_object_refused_in_the_admin_is_audited(
    city: Any, make_user: Callable[..., Any]
) -> None:
    # Accounts sit outside the organisation tree: only an operator at the top manages them.
    account = make_user(None, None)
    operator = make_user("operator", city.district_b)
    client = Client()
    client.force_login(operator)

    assert client.get(f"/admin/core/user/{account.pk}/change/").status_code == 403

    refused = AuditEvent.objects.get(action=REFUSED)
    assert (refused.actor, refused.object_type, refused.object_id, refused.changes) == (
        operator,
        "core.user",
        str(account.pk),
        {"refused": "core.user.manage"},
    )


def test_operators_see_accounts_without_residents_personal_data(
    city: Any, make_user: Callable[..., Any], residents: list[Any]
) -> None:
    resident = residents[0]
    account = services.user_create(
        actor=None,
        username="wxm",
        password=None,
        email="wxm@example.org",
        first_name="小明",
        last_name="王",
        phone="13811112222",
        resident=resident,
    )
    operator = make_user("operator", city.city)
    client = Client()
    client.force_login(operator)

    page = client.get(f"/admin/core/user/{account.pk}/change/")
    listing = client.get("/admin/core/user/")
    by_email = client.get("/admin/core/user/", {"q": "wxm@example.org"})

    assert page.status_code == listing.status_code == 200
    for text in ("小明", "13811112222", "wxm@example.org", resident.name, "1380000000"):
        assert text not in page.content.decode()
        assert text not in listing.content.decode()
    assert "wxm" in page.content.decode()  # the account itself is there to manage
    assert f"/admin/core/user/{account.pk}/change/" not in by_email.content.decode()

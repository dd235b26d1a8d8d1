"""Casework services: intake, routing, the casework loop, the sender's rating, escalation."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from civichub.casework import services
from civichub.casework.models import (
    Case,
    CaseEvent,
    CaseStatus,
    CategorySource,
    ContactVerification,
    EventKind,
    Rating,
)
from civichub.casework.tests.conftest import PIN_B1, Casework
from civichub.core.audit import AuditEvent
from civichub.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from civichub.notify.models import Notification

pytestmark = pytest.mark.django_db


def notified(user: Any, kind: str) -> int:
    return Notification.objects.filter(recipient=user, dispatch__kind=kind).count()


# Intake and routing ----------------------------------------------------------------------------


def test_message_gets_a_human_readable_unique_tracking_number_at_once(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    first, second = submit(), submit()

    year = timezone.localtime().year
    assert re.fullmatch(rf"{year}-\d{{6}}", first.tracking_number)
    assert int(second.tracking_number[-6:]) == int(first.tracking_number[-6:]) + 1


def test_confident_message_is_routed_to_category_department_and_pin_community(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit()

    assert case.status == CaseStatus.ASSIGNED
    assert case.category == cw.health
    assert case.category_source == CategorySource.ROUTER
    assert case.department == cw.city.health_a
    assert case.community == cw.city.community_a1
    assert case.router_confidence is not None and case.router_confidence >= 0.5
    assert notified(cw.resident, "casework.case_received") == 1
    assert notified(cw.handler, "casework.case_new") == 1
    assert notified(cw.worker_a1, "casework.case_new") == 1
    assert AuditEvent.objects.filter(action="casework.case.route", object_id=str(case.pk)).exists()


def test_place_routes_by_address_text_when_there_is_no_pin(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit(latitude=None, longitude=None, address="桃源路 12 号")

    assert case.community == cw.city.community_a1


def test_gcj02_pin_is_stored_as_given_with_a_wgs84_copy(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    from civichub.core.geo import wgs84_to_gcj02

    lat, lng = wgs84_to_gcj02(*PIN_B1)
    case = submit(latitude=lat, longitude=lng, crs="gcj02")

    assert (case.latitude, case.longitude, case.crs) == (lat, lng, "gcj02")
    assert case.wgs84_latitude == pytest.approx(PIN_B1[0], abs=1e-7)
    assert case.community == cw.city.community_b1


def test_unsure_router_sends_the_message_to_the_triage_queue(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit(title="一件事", text="想反映一个情况，不知道找谁。")

    assert case.status == CaseStatus.TRIAGE
    assert case.department is None
    assert notified(cw.dispatcher, "casework.case_new") == 1


def test_confidence_below_the_profile_threshold_goes_to_triage(
    cw: Casework, submit: Callable[..., Case], settings: Any
) -> None:
    settings.CIVICHUB_CASEWORK = {"triage_threshold": 0.99}

    case = submit(text="医院", title="")

    assert case.status == CaseStatus.TRIAGE
    assert case.router_category_key == "health"


def test_trained_router_is_used_when_present(cw: Casework, submit: Callable[..., Case]) -> None:
    with mock.patch(
        "civichub.casework.routing.classify", side_effect=lambda text: ("security", 0.91)
    ):
        case = submit()

    assert case.category == cw.police
    assert case.router_confidence == 0.91
    assert case.department == cw.city.police_city


def test_message_is_kept_when_routing_crashes_and_the_sweep_routes_it_later(
    cw: Casework, submit: Callable[..., Case], frozen_now: Callable[..., Any]
) -> None:
    with mock.patch("civichub.casework.routing.classify", side_effect=RuntimeError("model gone")):
        case = submit()

    assert case.status == CaseStatus.RECEIVED
    assert case.routing_attempts == 1
    assert "model gone" in case.routing_error
    assert case.events.filter(kind=EventKind.ROUTING_FAILED).exists()

    with frozen_now(timezone.now() + dt.timedelta(minutes=11)):
        result = services.cases_sweep()

    case.refresh_from_db()
    assert result.routed == 1
    assert case.status == CaseStatus.ASSIGNED
    assert case.department == cw.city.health_a


def test_sweep_leaves_fresh_messages_to_their_own_task(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    with mock.patch("civichub.casework.routing.classify", side_effect=RuntimeError):
        case = submit()

    assert services.cases_sweep().routed == 0
    case.refresh_from_db()
    assert case.status == CaseStatus.RECEIVED


def test_routing_twice_changes_nothing(cw: Casework, submit: Callable[..., Case]) -> None:
    case = submit()
    events = case.events.count()

    again = services.case_route(case_id=case.pk)

    assert again.status == CaseStatus.ASSIGNED
    assert case.events.count() == events


def test_sender_chosen_category_is_kept_and_routed_without_the_router(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit(category_key="security", text="楼下有人吵架")

    assert case.category == cw.police
    assert case.category_source == CategorySource.SENDER
    assert case.status == CaseStatus.ASSIGNED


def test_incomplete_message_is_refused_with_field_errors(cw: Casework) -> None:
    with pytest.raises(ValidationFailed) as caught:
        services.case_submit(
            actor=cw.resident, kind="rumour", title="x" * 201, text="", latitude=30.0
        )

    assert set(caught.value.errors) >= {"kind", "text", "title", "location"}
    assert not Case.objects.exists()


def test_unknown_category_is_not_found(cw: Casework) -> None:
    with pytest.raises(NotFound):
        services.case_submit(actor=cw.resident, kind="help", title="", text="x", category_key="no")


def test_required_attribute_answers_are_checked(cw: Casework) -> None:
    services.category_attribute_create(
        actor=None,
        category=cw.health,
        code="ward",
        datatype="singlevaluelist",
        description="科室",
        required=True,
        values=[{"key": "er", "name": "急诊"}, {"key": "op", "name": "门诊"}],
    )
    with pytest.raises(ValidationFailed) as missing:
        services.case_submit(actor=cw.resident, kind="help", text="x", category_key="health")
    with pytest.raises(ValidationFailed) as wrong:
        services.case_submit(
            actor=cw.resident,
            kind="help",
            text="x",
            category_key="health",
            attributes={"ward": "icu"},
        )
    ok = services.case_submit(
        actor=cw.resident, kind="help", text="x", category_key="health", attributes={"ward": "er"}
    )

    assert set(missing.value.errors) == {"attributes.ward"}
    assert "attributes.ward" in wrong.value.errors
    assert ok.case.attributes == {"ward": "er"}


def test_anonymous_sender_needs_a_verified_contact(cw: Casework) -> None:
    with pytest.raises(ValidationFailed) as caught:
        services.case_submit(actor=None, kind="help", title="", text="路灯坏了")

    assert "contact" in caught.value.errors
    assert not Case.objects.exists()


def test_anonymous_sender_verifies_a_phone_by_code_and_follows_with_an_access_code(
    cw: Casework, after_commit: Callable[[], Any]
) -> None:
    with mock.patch("civichub.casework.services.contacts.secrets.randbelow", return_value=123456):
        started = services.contact_verification_start(
            channel="sms", address="139 0000 0002", client=None
        )
    verification, token = started.verification, started.token
    with pytest.raises(ValidationFailed):
        services.contact_verification_confirm(
            verification_id=verification.pk, token=token, code="000000"
        )
    services.contact_verification_confirm(
        verification_id=verification.pk, token=token, code="123456"
    )
    verification.refresh_from_db()

    with after_commit():
        result = services.case_submit(
            actor=None, kind="help", title="路灯", text="桃源路路灯坏了", verification=verification
        )

    case = result.case
    assert case.contact_verified and case.contact_phone == "13900000002"
    assert result.access_code and services.access_code_matches(case, result.access_code)
    assert not services.access_code_matches(case, "guess")
    assert notified(case.submitter, "casework.contact_code") == 1
    assert notified(case.submitter, "casework.case_received") == 1
    assert case.submitter is not None and case.submitter.has_usable_password() is False
    with pytest.raises(ValidationFailed):  # one verification, one message
        services.case_submit(
            actor=None, kind="help", text="again", verification=ContactVerification.objects.get()
        )


def test_a_verification_is_confirmed_only_with_the_token_its_start_gave(cw: Casework) -> None:
    from civichub.core.errors import NotFound

    with mock.patch("civichub.casework.services.contacts.secrets.randbelow", return_value=123456):
        started = services.contact_verification_start(
            channel="sms", address="139 0000 0003", client=None
        )
    pk = started.verification.pk

    for token in ("", "guess", started.token[:-1]):
        with pytest.raises(NotFound):
            services.contact_verification_confirm(verification_id=pk, token=token, code="123456")
    assert ContactVerification.objects.get(pk=pk).attempts == 0
    assert started.token not in ContactVerification.objects.get(pk=pk).token_hash
    confirmed = services.contact_verification_confirm(
        verification_id=pk, token=started.token, code="123456"
    )
    assert confirmed.verified_at is not None


def test_verification_code_locks_after_too_many_wrong_tries(cw: Casework) -> None:
    from civichub.core.errors import RateLimited

    started = services.contact_verification_start(
        channel="email", address="A@Example.org", client=None
    )
    verification, token = started.verification, started.token
    for _ in range(5):
        with pytest.raises(ValidationFailed):
            services.contact_verification_confirm(
                verification_id=verification.pk, token=token, code="xxxxxx"
            )
    with pytest.raises(RateLimited):
        services.contact_verification_confirm(
            verification_id=verification.pk, token=token, code="xxxxxx"
        )
    assert verification.address == "a@example.org"


def test_staff_log_a_phone_call_on_the_callers_behalf(
    cw: Casework, after_commit: Callable[[], Any]
) -> None:
    with after_commit():
        result = services.case_submit(
            actor=cw.worker_a1,
            channel="phone",
            kind="help",
            title="",
            text="老人摔倒求助",
            contact_name="张大爷",
            contact_phone="13700000003",
        )

    case = result.case
    assert case.channel == "phone" and case.logged_by == cw.worker_a1
    assert case.submitter is not None and case.submitter.phone == "13700000003"
    assert result.access_code
    with pytest.raises(PermissionDenied):
        services.case_submit(actor=cw.resident, channel="phone", kind="help", text="x")


# The loop ---------------------------------------------------------------------------------------


def test_a_progress_reply_asks_for_no_rating_and_a_satisfied_rating_needs_a_resolving_reply(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit()
    services.case_reply(actor=cw.handler, case=case, text="明天派人维修。", resolved=False)
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS and case.first_replied_at is not None
    assert notified(cw.resident, "casework.case_progress") == 1
    assert notified(cw.resident, "casework.case_replied") == 0
    reply = case.events.get(kind="reply")
    assert reply.data["resolved"] is False
    audit = AuditEvent.objects.filter(action="casework.case.reply").latest("pk")
    assert audit.changes["resolved"] is False
    with pytest.raises(Conflict):
        services.case_rate(actor=cw.resident, case=case, value="basic", comment="修好告诉我")
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS and not case.ratings.exists()

    services.case_reply(actor=cw.handler, case=case, text="已修好。")
    services.case_rate(actor=cw.resident, case=case, value="basic")
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED


def test_a_reply_that_does_not_say_whether_it_resolves_is_refused(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit()
    with pytest.raises(ValidationFailed) as refused:
        services.case_reply(actor=cw.handler, case=case, text="已处理。", resolved=None)
    assert set(refused.value.errors) == {"resolved"}
    with pytest.raises(ValidationFailed) as both:
        services.case_reply(actor=cw.handler, case=case, text=" ", resolved=None)
    assert set(both.value.errors) == {"text", "resolved"}
    case.refresh_from_db()
    assert case.first_replied_at is None and not case.events.filter(kind="reply").exists()
    # Someone who may not reply learns nothing about the form: the permission check comes first.
    with pytest.raises(PermissionDenied):
        services.case_reply(actor=cw.worker_b1, case=case, text="", resolved=None)


def test_whole_loop_sent_routed_assigned_replied_rated_closed(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit()
    assert case.status == CaseStatus.ASSIGNED

    services.case_assign(actor=cw.head, case=case, assignee=cw.handler)
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS and case.assignee == cw.handler
    assert notified(cw.handler, "casework.case_assigned") == 1

    services.case_reply(actor=cw.handler, case=case, text="已协调医院增加号源。")
    case.refresh_from_db()
    assert case.status == CaseStatus.REPLIED and case.first_replied_at is not None
    assert notified(cw.resident, "casework.case_replied") == 1

    services.case_rate(actor=cw.resident, case=case, value="satisfied", comment="谢谢")
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED and case.close_reason == "rated_satisfied"
    assert [e.kind for e in case.events.order_by("created_at", "pk")] == [
        "submitted",
        "routed",
        "assigned",
        "reply",
        "rated",
        "closed",
    ]
    actions = set(
        AuditEvent.objects.filter(object_id=str(case.pk), object_type="casework.case").values_list(
            "action", flat=True
        )
    )
    assert actions >= {
        "casework.case.submit",
        "casework.case.route",
        "casework.case.assign",
        "casework.case.reply",
        "casework.case.rate",
    }


def test_unsatisfied_rating_reopens_the_case_once_and_the_second_closes_it(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit()
    services.case_reply(actor=cw.handler, case=case, text="第一次答复")

    services.case_rate(actor=cw.resident, case=case, value="unsatisfied", comment="没解决")
    case.refresh_from_db()
    assert case.status == CaseStatus.REOPENED and case.reopen_count == 1
    assert notified(cw.handler, "casework.case_reopened") == 1

    services.case_reply(actor=cw.handler, case=case, text="第二次答复")
    services.case_rate(actor=cw.resident, case=case, value="unsatisfied", comment="还是不行")
    case.refresh_from_db()

    assert case.status == CaseStatus.CLOSED
    assert case.close_reason == "rated_unsatisfied"
    assert list(case.ratings.values_list("round", "value")) == [
        (1, "unsatisfied"),
        (2, "unsatisfied"),
    ]


def test_only_the_sender_rates_and_only_after_a_reply(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit()
    with pytest.raises(Conflict):
        services.case_rate(actor=cw.resident, case=case, value="satisfied")
    services.case_reply(actor=cw.handler, case=case, text="答复")
    with pytest.raises(PermissionDenied):
        services.case_rate(actor=cw.outsider, case=case, value="satisfied")
    with pytest.raises(PermissionDenied):
        services.case_rate(actor=cw.handler, case=case, value="satisfied")
    assert not Rating.objects.exists()


def test_transfer_moves_the_case_with_a_reason_and_keeps_the_corrected_category(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    from civichub.casework.selectors import routing_training_examples

    case = submit()
    services.case_assign(actor=cw.head, case=case, assignee=cw.handler)

    with pytest.raises(ValidationFailed):
        services.case_transfer(actor=cw.handler, case=case, reason=" ", category=cw.police)
    services.case_transfer(
        actor=cw.handler, case=case, reason="是治安问题，不是医疗", category=cw.police
    )
    case.refresh_from_db()

    assert case.department == cw.city.police_city
    assert case.status == CaseStatus.ASSIGNED and case.assignee is None
    assert case.category_source == CategorySource.STAFF
    event = case.events.get(kind=EventKind.TRANSFERRED)
    assert event.text == "是治安问题，不是医疗"
    assert event.data["from_category"] == "health" and event.data["to_category"] == "security"
    assert (f"{case.title}\n{case.text}", "security") in list(routing_training_examples())
    assert notified(cw.police_handler, "casework.case_new") == 1


def test_dispatcher_triages_a_case_to_the_chosen_category(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit(title="一件事", text="想反映一个情况。")
    assert case.status == CaseStatus.TRIAGE

    services.case_triage(actor=cw.dispatcher, case=case, category=cw.police)
    case.refresh_from_db()

    assert case.status == CaseStatus.ASSIGNED and case.department == cw.city.police_city
    with pytest.raises(Conflict):
        services.case_triage(actor=cw.dispatcher, case=case, category=cw.health)


def test_duplicate_is_suggested_by_text_place_and_time_and_merged(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    from civichub.casework.selectors import duplicate_candidates

    first = submit(text="桃源社区医院挂号排队太长，看病要等半天。")
    duplicate = submit(text="桃源社区医院挂号排队很长，看病要等半天！")
    unrelated = submit(
        text="医院旁边的停车场收费太贵了，希望降价。", latitude=PIN_B1[0], longitude=PIN_B1[1]
    )

    candidates = duplicate_candidates(actor=cw.head, case=duplicate)

    assert [c.case for c in candidates][0] == first
    assert unrelated not in [c.case for c in candidates]
    assert candidates[0].text_similarity > 0.5 and candidates[0].distance_m == 0.0

    services.case_merge(actor=cw.head, case=duplicate, into=first, reason="同一问题")
    duplicate.refresh_from_db()
    assert duplicate.status == CaseStatus.CLOSED and duplicate.merged_into == first
    assert first.events.filter(kind=EventKind.MERGED).exists()
    assert notified(cw.resident, "casework.case_merged") == 1
    with pytest.raises(Conflict):
        services.case_merge(actor=cw.head, case=unrelated, into=duplicate)


def test_extension_is_requested_by_the_handler_and_approved_by_the_head(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit()
    due = case.due_at
    services.case_extension_request(actor=cw.handler, case=case, days=5, reason="需要现场核查")
    assert notified(cw.head, "casework.extension_requested") == 1
    with pytest.raises(PermissionDenied):
        services.case_extension_decide(actor=cw.handler, case=case, approve=True)

    services.case_extension_decide(actor=cw.head, case=case, approve=True)
    case.refresh_from_db()

    assert case.extension_state == "approved" and case.extension_days == 5
    assert case.due_at is not None and due is not None and case.due_at > due
    with pytest.raises(Conflict):
        services.case_extension_decide(actor=cw.head, case=case, approve=True)


def test_overdue_case_escalates_to_the_department_head_once_per_step(
    cw: Casework, submit: Callable[..., Case], frozen_now: Callable[..., Any]
) -> None:
    case = submit()
    assert case.due_at is not None
    just_late = case.due_at + dt.timedelta(hours=1)

    assert services.cases_escalate_overdue(now=case.due_at - dt.timedelta(hours=1)).escalated == 0
    with frozen_now(just_late):
        first = services.cases_escalate_overdue(now=just_late)
        again = services.cases_escalate_overdue(now=just_late + dt.timedelta(minutes=15))
    later = case.due_at + dt.timedelta(days=7)
    with frozen_now(later):
        second_step = services.cases_escalate_overdue(now=later)

    assert (first.escalated, again.escalated, second_step.escalated) == (1, 0, 1)
    assert notified(cw.head, "casework.case_overdue") == 2
    assert notified(cw.handler, "casework.case_overdue") == 0
    case.refresh_from_db()
    assert case.escalation_level == 2
    assert case.events.filter(kind=EventKind.ESCALATED).count() == 2


def test_answered_case_does_not_escalate(cw: Casework, submit: Callable[..., Case]) -> None:
    case = submit()
    services.case_reply(actor=cw.handler, case=case, text="已答复")
    assert case.due_at is not None

    result = services.cases_escalate_overdue(now=case.due_at + dt.timedelta(days=30))

    assert result.escalated == 0


def test_internal_note_is_hidden_from_the_sender(cw: Casework, submit: Callable[..., Case]) -> None:
    from civichub.casework.selectors import case_history

    case = submit()
    services.case_note(actor=cw.handler, case=case, text="来信人情绪激动，注意沟通")
    services.case_note(actor=cw.handler, case=case, text="已联系医院", public=True)

    sender_view = [e.text for e in case_history(actor=cw.resident, case=case)]
    staff_view = [e.text for e in case_history(actor=cw.handler, case=case)]

    assert "来信人情绪激动，注意沟通" not in sender_view
    assert "已联系医院" in sender_view
    assert "来信人情绪激动，注意沟通" in staff_view


def test_closed_case_refuses_further_changes(cw: Casework, submit: Callable[..., Case]) -> None:
    case = submit()
    with pytest.raises(ValidationFailed):
        services.case_close(actor=cw.handler, case=case)  # no reply, no note
    services.case_close(actor=cw.handler, case=case, note="来信人撤回")

    with pytest.raises(Conflict):
        services.case_reply(actor=cw.handler, case=case, text="迟到的答复")
    assert CaseEvent.objects.filter(case=case, kind=EventKind.REPLY).count() == 0


@pytest.mark.postgres
def test_inbox_search_uses_the_trigram_indexes_on_postgresql(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    from django.db import connection

    from civichub.casework.selectors import InboxFilter, case_inbox, search_filter

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: SQLite scans")
    submit(title="医院挂号难")
    submit(title="Street light broken", text="The street light on Taoyuan Road is out.")

    query = search_filter(Case.objects.order_by(), "light").query
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    assert "casework_case_title_trgm" in plan and "casework_case_text_trgm" in plan
    assert case_inbox(actor=cw.head, filters=InboxFilter(q="STREET light")).total == 0
    assert case_inbox(actor=cw.dispatcher, filters=InboxFilter(q="street LIGHT")).total == 1
    assert case_inbox(actor=cw.dispatcher, filters=InboxFilter(q="挂号")).total == 1

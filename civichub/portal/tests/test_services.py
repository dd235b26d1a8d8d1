"""The portal's writes as specifications: guide versions, prefill with consent and sources,
the application loop with its deadline pause, refusal, and the permission checks."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from civichub.core import registry
from civichub.core.errors import Conflict, PermissionDenied, ValidationFailed
from civichub.core.models import AuditEvent
from civichub.notify.models import Notification
from civichub.portal import prefill, selectors, services
from civichub.portal.models import ApplicationStatus, Service, VersionState
from civichub.portal.tests.conftest import Portal
from civichub.testing.city import staff_user

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n%test document\n"


def _pdf(name: str = "材料.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, PDF, content_type="application/pdf")


def _dibao() -> Service:
    return Service.objects.get(published__name="最低生活保障申请")


def test_a_change_is_a_new_version_reviewed_by_someone_else(
    portal: Portal, handler: Any, head: Any
) -> None:
    service = _dibao()
    assert service.published is not None
    content = dict(service.published.content, promised_limit_days=15)
    draft = services.version_draft(
        actor=handler, service=service, name="最低生活保障申请", name_en="Dibao", content=content
    )
    assert draft.number == 2 and draft.state == VersionState.DRAFT
    services.version_submit(actor=handler, version=draft)
    with pytest.raises(PermissionDenied):
        services.version_publish(actor=handler, version=draft)
    services.version_publish(actor=head, version=draft, note="同意")
    service.refresh_from_db()
    assert service.published == draft
    states = [v.state for v in selectors.versions(service=service)]
    assert states == [VersionState.PUBLISHED, VersionState.SUPERSEDED]
    assert AuditEvent.objects.filter(action="portal.version.publish").count() >= 1


def test_a_guide_missing_its_elements_is_refused(portal: Portal, handler: Any) -> None:
    service = _dibao()
    with pytest.raises(ValidationFailed) as refused:
        services.version_draft(
            actor=handler,
            service=service,
            name="x",
            name_en="",
            content={"description": "", "promised_limit_days": 40, "legal_limit_days": 30},
        )
    assert {"description", "promised_limit_days", "steps"} <= set(refused.value.errors)


def test_prefill_takes_the_registry_values_with_their_source_after_consent(
    portal: Portal,
) -> None:
    application = services.application_submit(
        actor=portal.applicant,
        service=_dibao(),
        answers={"name": "别人", "phone": "", "note": "家中无收入"},
        consent=True,
        flagged=["address"],
        materials=[_pdf()],
    )
    answers = application.answers
    assert answers["name"] == {
        "value": "王小梅",
        "source": "registry",
        "flagged": False,
        "correction": "",
    }
    assert answers["phone"]["value"] == "13800000001"
    assert answers["identity_number"]["value"].endswith("002X")
    assert "1101" not in answers["identity_number"]["value"]  # only the masked number is kept
    assert answers["address"]["flagged"] is True
    assert answers["note"] == {"value": "家中无收入", "source": "applicant", "flagged": False}
    read = AuditEvent.objects.get(action="resident.view", object_id=str(portal.resident.pk))
    assert "预填" in read.purpose


def test_prefill_shows_the_source_a_providing_module_gives(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module providing `resident_facts` (the data hub) is met through core's registry only:
    its plain values replace the registry's for the keys it gives, with its source's name."""
    asked: list[dict[str, Any]] = []
    updated = timezone.now()

    def hub_facts(**kwargs: Any) -> dict[str, dict[str, Any]]:
        asked.append(kwargs)
        return {
            "address": {
                "value": "桃源街道幸福路 12 号",
                "source": "青山市公安局",
                "updated_at": updated,
            }
        }

    original = registry.provided
    monkeypatch.setattr(
        registry,
        "provided",
        lambda name: hub_facts if name == "resident_facts" else original(name),
    )
    application = services.application_submit(
        actor=portal.applicant,
        service=_dibao(),
        answers={"note": "家中无收入"},
        consent=True,
        materials=[_pdf()],
    )
    answers = application.answers
    assert answers["address"]["value"] == "桃源街道幸福路 12 号"
    assert answers["address"]["source"] == "青山市公安局"
    assert answers["name"]["source"] == "registry"  # the hub gave no name: the registry's stays
    assert asked == [{"actor": portal.applicant, "purpose": prefill.PREFILL_PURPOSE}]


def test_without_consent_nothing_is_read_and_the_resident_types(portal: Portal) -> None:
    with pytest.raises(ValidationFailed) as refused:
        services.application_submit(
            actor=portal.applicant, service=_dibao(), answers={}, consent=False, materials=[_pdf()]
        )
    assert "name" in refused.value.errors
    assert not AuditEvent.objects.filter(action="resident.view").exists()


def test_the_whole_loop_more_materials_then_approval_verified_by_anyone(
    portal: Portal, handler: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        _loop(portal, handler)
    notified = Notification.objects.filter(recipient=portal.applicant)
    assert notified.count() == 5  # submitted, accepted, more needed, accepted, approved


def _loop(portal: Portal, handler: Any) -> None:
    application = services.application_submit(
        actor=portal.applicant, service=_dibao(), answers={}, consent=True, materials=[_pdf()]
    )
    assert application.due_at is not None and application.due_at > timezone.now()
    services.application_accept(actor=handler, application=application)
    services.application_request_more(
        actor=handler, application=application, note="请补充近三个月收入证明"
    )
    application.refresh_from_db()
    assert application.status == ApplicationStatus.MORE_NEEDED and application.paused_at
    assert not selectors.is_overdue(application)  # the clock stands while materials are awaited
    services.material_add(
        actor=portal.applicant, application=application, materials=[_pdf("收入证明.pdf")]
    )
    application.refresh_from_db()
    assert application.status == ApplicationStatus.ACCEPTED and application.paused_at is None
    services.application_approve(actor=handler, application=application)
    application.refresh_from_db()
    found = selectors.verification_get(code=application.verification_code.lower())
    assert found.reference == application.reference and found.applicant == "王**"
    services.application_rate(actor=portal.applicant, application=application, rating=5)
    statuses = [e.status for e in selectors.application_events(application)]
    assert statuses == ["submitted", "accepted", "more_needed", "accepted", "approved"]


def test_refusal_needs_reasons_and_closes_the_application(portal: Portal, handler: Any) -> None:
    application = services.application_submit(
        actor=portal.applicant, service=_dibao(), answers={}, consent=True, materials=[_pdf()]
    )
    with pytest.raises(ValidationFailed):
        services.application_refuse(actor=handler, application=application, reason=" ")
    services.application_refuse(
        actor=handler, application=application, reason="家庭人均收入高于低保标准"
    )
    with pytest.raises(Conflict):
        services.application_approve(actor=handler, application=application)


def test_an_open_application_past_its_deadline_is_overdue(portal: Portal) -> None:
    application = services.application_submit(
        actor=portal.applicant, service=_dibao(), answers={}, consent=True, materials=[_pdf()]
    )
    application.due_at = timezone.now() - dt.timedelta(minutes=1)
    assert selectors.is_overdue(application)


def test_the_clock_stops_for_more_materials_and_the_limit_runs_afresh_when_they_arrive(
    portal: Portal, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def clock_at(moment: dt.datetime) -> None:
        monkeypatch.setattr(timezone, "now", lambda: moment)

    submitted = timezone.now()
    clock_at(submitted)
    application = services.application_submit(
        actor=portal.applicant, service=_dibao(), answers={}, consent=True, materials=[_pdf()]
    )
    limit = application.version.content["promised_limit_days"]
    first_due = services.working_day_deadline(submitted, limit)
    assert limit > 0 and application.due_at == first_due
    services.application_request_more(actor=handler, application=application, note="补收入证明")
    # the applicant answers long after the first deadline: waiting for them is not overdue
    later = first_due + dt.timedelta(days=30)
    clock_at(later)
    application.refresh_from_db()
    assert application.paused_at == submitted and not selectors.is_overdue(application)
    services.material_add(
        actor=portal.applicant, application=application, materials=[_pdf("收入证明.pdf")]
    )
    application.refresh_from_db()
    assert application.paused_at is None
    assert application.due_at == services.working_day_deadline(later, limit) > later
    assert not selectors.is_overdue(application)
    clock_at(application.due_at + dt.timedelta(seconds=1))
    assert selectors.is_overdue(application)


def test_the_queue_marks_an_open_application_past_its_deadline_and_not_one_awaiting_materials(
    portal: Portal, handler: Any
) -> None:
    late, waiting = (
        services.application_submit(
            actor=portal.applicant, service=_dibao(), answers={}, consent=True, materials=[_pdf()]
        )
        for _ in range(2)
    )
    services.application_request_more(actor=handler, application=waiting, note="补收入证明")
    past = timezone.now() - dt.timedelta(days=1)
    type(late).objects.filter(pk__in=[late.pk, waiting.pk]).update(due_at=past)
    client = Client()
    client.force_login(handler)
    page = client.get("/services/queue/")
    marked = {a.reference: overdue for a, overdue in page.context["applications"]}
    assert marked == {late.reference: True, waiting.reference: False}
    assert page.content.decode().count("已超期") == 1


def test_materials_are_checked_for_type_content_and_size(portal: Portal) -> None:
    fake = SimpleUploadedFile("x.pdf", b"MZ not a pdf", content_type="application/pdf")
    exe = SimpleUploadedFile("x.exe", b"MZ", content_type="application/x-msdownload")
    for upload in (fake, exe):
        with pytest.raises(ValidationFailed):
            services.application_submit(
                actor=portal.applicant,
                service=_dibao(),
                answers={},
                consent=True,
                materials=[upload],
            )


def test_another_department_and_another_resident_may_not_handle_or_see(
    portal: Portal, handler: Any
) -> None:
    application = services.application_submit(
        actor=portal.applicant, service=_dibao(), answers={}, consent=True, materials=[_pdf()]
    )
    police = staff_user("department_handler", portal.departments["public_security"])
    stranger = staff_user(None, None)
    with pytest.raises(PermissionDenied):
        services.application_accept(actor=police, application=application)
    with pytest.raises(PermissionDenied):
        selectors.application_get(actor=stranger, reference=application.reference)
    assert selectors.application_queue(actor=police).count() == 0
    assert selectors.application_queue(actor=handler).count() == 1

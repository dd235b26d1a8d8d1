"""Online applications (一网通办): submit with prefilled facts and materials, then the
department's steps (accept, ask for more, approve, refuse) and the applicant's (add materials,
rate). Each step is permission-checked, audited, recorded in the history, and the applicant
is notified after commit."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core import registry
from civichub.core.audit import audit_record
from civichub.core.config import module_config
from civichub.core.errors import Conflict, NotAuthenticated, ValidationFailed
from civichub.core.models import User
from civichub.core.permissions import require
from civichub.notify.services import notification_send
from civichub.portal import certificates
from civichub.portal.conf import PortalSettings
from civichub.portal.models import (
    OPEN_STATUSES,
    Application,
    ApplicationEvent,
    ApplicationStatus,
    Material,
    Service,
)
from civichub.portal.prefill import resident_facts
from civichub.portal.services.certificates import certificate_issue

# Leading bytes of the accepted types: the declared type must match the content.
MAGIC = {
    "application/pdf": (b"%PDF",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
}


def working_day_deadline(start: dt.datetime, days: int) -> dt.datetime:
    """The promised deadline on the working-day calendar casework uses (found through the
    registry); weekdays only where no module provides one. 即办 (0 days): the same day."""
    provided: Callable[[dt.datetime, int], dt.datetime] | None = registry.provided(
        "working_day_deadline"
    )
    if provided is not None:
        return provided(start, days)
    day = timezone.localtime(start).date()
    added = 0
    while added < days:
        day += dt.timedelta(days=1)
        added += day.weekday() < 5
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=timezone.get_default_timezone())


def _check_material(upload: UploadedFile) -> None:
    config = module_config(PortalSettings)
    name = upload.name or "file"
    if upload.size is None or upload.size > config.material_max_bytes:
        raise ValidationFailed.on(
            "materials",
            _("%(name)s 超过 %(mb)d MB。")
            % {"name": name, "mb": config.material_max_bytes // (1024 * 1024)},
        )
    content_type = upload.content_type or ""
    if content_type not in config.material_types:
        raise ValidationFailed.on(
            "materials", _("%(name)s 的类型不受理，请上传 PDF、JPEG 或 PNG。") % {"name": name}
        )
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    if not any(head.startswith(magic) for magic in MAGIC.get(content_type, ())):
        raise ValidationFailed.on(
            "materials", _("%(name)s 的内容与文件类型不符。") % {"name": name}
        )


def _save_materials(application: Application, uploads: Sequence[UploadedFile]) -> None:
    for upload in uploads:
        _check_material(upload)
        Material.objects.create(
            application=application,
            name=(upload.name or "file")[:200],
            file=upload,
            content_type=upload.content_type or "",
            size=upload.size or 0,
        )


def _event(application: Application, actor: User | None, note: str = "") -> None:
    ApplicationEvent.objects.create(
        application=application, status=application.status, note=note[:500], actor=actor
    )


def _notify(application: Application, actor: User | None, note: str = "") -> None:
    status = ApplicationStatus(application.status)
    version = application.version
    context = {
        "reference": application.reference,
        "service": version.name,
        "service_en": version.name_en or version.name,
        "status_zh": str(status.label),
        "status_en": status.name.replace("_", " ").lower(),
        "note": note,
        "link": reverse("portal:application", args=[application.reference]),
    }
    transaction.on_commit(
        partial(
            notification_send,
            recipients=[application.applicant_id],
            kind="portal.application_status",
            context=context,
            actor=actor,
            dedupe_key=f"portal:{application.reference}:{application.events.count()}",
        ),
        robust=True,
    )


def _answers(
    service: Service, actor: User, submitted: dict[str, str], consent: bool, flagged: set[str]
) -> dict[str, dict[str, Any]]:
    """Each form field's value with its source: the registry's fact where the resident
    consented and the field takes one (not retyped), else what the applicant typed."""
    assert service.published is not None
    fields = service.published.content.get("form", [])
    facts = resident_facts(actor=actor) if consent else {}
    answers: dict[str, dict[str, Any]] = {}
    errors: dict[str, list[str]] = {}
    for field in fields:
        key = field["key"]
        fact = facts.get(field.get("prefill", ""))
        if fact is not None:
            answers[key] = {
                "value": fact.value,
                "source": fact.source,
                "flagged": key in flagged,
                "correction": submitted.get(key, "").strip()[:500] if key in flagged else "",
            }
            continue
        value = submitted.get(key, "").strip()[:500]
        if field.get("required") and not value:
            errors.setdefault(key, []).append(_("此项必填。"))
        answers[key] = {"value": value, "source": "applicant", "flagged": False}
    if errors:
        raise ValidationFailed(_("请填写必填项。"), errors=errors)
    return answers


def _new_reference() -> str:
    today = timezone.localdate()
    return f"SQ{today:%Y%m%d}{secrets.randbelow(10**6):06d}"


@transaction.atomic
def application_submit(
    *,
    actor: User,
    service: Service,
    answers: dict[str, str],
    consent: bool,
    flagged: Sequence[str] = (),
    materials: Sequence[UploadedFile] = (),
) -> Application:
    """Applies online for a published service. With consent, fields the registry holds are
    filled from it (each tagged with its source); a flagged value is kept with the resident's
    correction for staff to check. The promised deadline runs on the working-day calendar.
    Materials may come with the application or later, when staff ask for what is missing."""
    if not actor.is_authenticated:
        raise NotAuthenticated(_("请先登录。"))
    require(actor, "portal.service.view", service)
    if service.published is None or not service.online_application:
        raise ValidationFailed.on("service", _("该事项暂不支持网上申请。"))
    version = service.published
    recorded = _answers(service, actor, answers, consent, set(flagged))
    now = timezone.now()
    for _attempt in range(5):
        try:
            with transaction.atomic():
                application = Application.objects.create(
                    reference=_new_reference(),
                    service=service,
                    version=version,
                    applicant=actor,
                    resident_id=actor.resident_id,
                    answers=recorded,
                    prefill_consent_at=now if consent else None,
                    due_at=working_day_deadline(now, version.content["promised_limit_days"]),
                )
            break
        except IntegrityError:
            continue
    else:
        raise Conflict(_("办件编号冲突，请重试。"))
    _save_materials(application, materials)
    _event(application, actor)
    audit_record(
        actor=actor,
        action="portal.application.submit",
        obj=application,
        changes={"consent": consent, "flagged": sorted(flagged)},
    )
    _notify(application, actor)
    return application


def _locked(application: Application) -> Application:
    return (
        Application.objects.select_for_update()
        .select_related("service", "version", "service__department")
        .get(pk=application.pk)
    )


def _move(
    actor: User | None,
    application: Application,
    *,
    to: str,
    allowed_from: Sequence[str],
    note: str = "",
) -> Application:
    if application.status not in allowed_from:
        raise Conflict(
            _("办件当前为“%(status)s”，不能进行此操作。")
            % {"status": ApplicationStatus(application.status).label}
        )
    before = application.status
    application.status = to
    application.updated_at = timezone.now()
    application.save()
    _event(application, actor, note)
    audit_record(
        actor=actor,
        action=f"portal.application.{to}",
        obj=application,
        changes={"status": [before, to], "note": note[:200]},
    )
    _notify(application, actor, note)
    return application


@transaction.atomic
def application_accept(*, actor: User | None, application: Application) -> Application:
    if actor is not None:
        require(actor, "portal.application.handle", application)
    application = _locked(application)
    return _move(
        actor,
        application,
        to=ApplicationStatus.ACCEPTED,
        allowed_from=[ApplicationStatus.SUBMITTED],
    )


@transaction.atomic
def application_request_more(
    *, actor: User | None, application: Application, note: str
) -> Application:
    """Asks for more materials (一次性告知补正). The clock stops until they arrive."""
    if actor is not None:
        require(actor, "portal.application.handle", application)
    if not note.strip():
        raise ValidationFailed.on("note", _("请一次性写明需要补正的材料。"))
    application = _locked(application)
    application.paused_at = timezone.now()
    return _move(
        actor,
        application,
        to=ApplicationStatus.MORE_NEEDED,
        allowed_from=[ApplicationStatus.SUBMITTED, ApplicationStatus.ACCEPTED],
        note=note.strip(),
    )


@transaction.atomic
def material_add(
    *, actor: User, application: Application, materials: Sequence[UploadedFile]
) -> Application:
    """The applicant adds the materials asked for. As the licensing law has it, the time limit
    then runs afresh from the day the complete materials arrive."""
    require(actor, "portal.application.act", application)
    if not materials:
        raise ValidationFailed.on("materials", _("请上传补正材料。"))
    application = _locked(application)
    if application.status != ApplicationStatus.MORE_NEEDED:
        raise Conflict(_("该办件现在不需要补正材料。"))
    _save_materials(application, materials)
    now = timezone.now()
    application.paused_at = None
    application.due_at = working_day_deadline(
        now, application.version.content["promised_limit_days"]
    )
    return _move(
        actor,
        application,
        to=ApplicationStatus.ACCEPTED,
        allowed_from=[ApplicationStatus.MORE_NEEDED],
        note=_("已补正材料"),
    )


@transaction.atomic
def application_approve(*, actor: User | None, application: Application) -> Application:
    """Approves: the result is a signed PDF certificate whose verification code anyone can
    check on the public page."""
    if actor is not None:
        require(actor, "portal.application.handle", application)
    application = _locked(application)
    application.decided_at = timezone.now()
    application.verification_code = certificates.new_code()
    application = _move(
        actor,
        application,
        to=ApplicationStatus.APPROVED,
        allowed_from=[ApplicationStatus.SUBMITTED, ApplicationStatus.ACCEPTED],
    )
    certificate_issue(actor=actor, application=application)
    return application


@transaction.atomic
def application_refuse(*, actor: User | None, application: Application, reason: str) -> Application:
    if actor is not None:
        require(actor, "portal.application.handle", application)
    if not reason.strip():
        raise ValidationFailed.on("reason", _("不予办理须说明理由和依据。"))
    application = _locked(application)
    application.decided_at = timezone.now()
    application.decision_reason = reason.strip()[:500]
    return _move(
        actor,
        application,
        to=ApplicationStatus.REFUSED,
        allowed_from=[ApplicationStatus.SUBMITTED, ApplicationStatus.ACCEPTED],
        note=reason.strip(),
    )


@transaction.atomic
def application_rate(*, actor: User, application: Application, rating: int) -> Application:
    """The applicant rates the service once it is decided (好差评, 1 to 5)."""
    require(actor, "portal.application.act", application)
    if rating not in range(1, 6):
        raise ValidationFailed.on("rating", _("评分须为 1 到 5。"))
    application = _locked(application)
    if application.status in OPEN_STATUSES or application.rating is not None:
        raise Conflict(_("办结后才能评价，且只能评价一次。"))
    application.rating = rating
    application.save(update_fields=["rating"])
    audit_record(actor=actor, action="portal.application.rate", obj=application)
    return application

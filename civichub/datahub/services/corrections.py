"""Correction requests: a resident asks the department that delivered a value to correct it;
the department answers (corrected or not, with a sentence). The corrected value itself comes
with the department's next delivery, with its own provenance: the hub never edits a value."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.errors import Conflict, ValidationFailed
from civichub.core.models import User
from civichub.core.permissions import require
from civichub.datahub.models import AttributeValue, CorrectionRequest, CorrectionStatus


@transaction.atomic
def correction_request(
    *, actor: User, value: AttributeValue, proposed_value: str, reason: str
) -> CorrectionRequest:
    value = AttributeValue.objects.select_related("record__person", "record__source").get(
        pk=value.pk
    )
    person = value.record.person
    if person is None or value.valid_to is not None:
        raise ValidationFailed.on("value", _("只能对当前有效的本人信息申请更正。"))
    require(actor, "datahub.mydata.view", person)
    if not reason.strip():
        raise ValidationFailed.on("reason", _("请说明需要更正的原因。"))
    request = CorrectionRequest.objects.create(
        person=person,
        source=value.record.source,
        value=value,
        attribute=value.name,
        current_value=value.value,
        proposed_value=proposed_value.strip()[:300],
        reason=reason.strip()[:500],
        requested_by=actor,
    )
    audit_record(
        actor=actor,
        action="datahub.correction.request",
        obj=request,
        changes={"attribute": value.name, "source": value.record.source.key},
    )
    return request


@transaction.atomic
def correction_answer(
    *, actor: User, request: CorrectionRequest, corrected: bool, answer: str
) -> CorrectionRequest:
    request = (
        CorrectionRequest.objects.select_for_update(of=("self",))
        .select_related("source__department")
        .get(pk=request.pk)
    )
    require(actor, "datahub.correction.answer", request)
    if request.status != CorrectionStatus.OPEN:
        raise Conflict(_("该更正申请已答复。"))
    if not answer.strip():
        raise ValidationFailed.on("answer", _("请填写答复。"))
    request.status = CorrectionStatus.CORRECTED if corrected else CorrectionStatus.DECLINED
    request.answer = answer.strip()[:500]
    request.answered_by, request.answered_at = actor, timezone.now()
    request.save(update_fields=["status", "answer", "answered_by", "answered_at"])
    audit_record(
        actor=actor,
        action="datahub.correction.answer",
        obj=request,
        changes={"status": request.status},
    )
    return request

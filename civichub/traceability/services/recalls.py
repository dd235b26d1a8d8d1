"""Recalls: the regulator marks a lot suspect, the trace finds every participant that received
any of it (through transformations and aggregations), each gets a notice through the outbox,
and acknowledges it with the quantity withdrawn."""

from __future__ import annotations

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.errors import Conflict, ValidationFailed
from civichub.core.models import Organisation, User
from civichub.core.permissions import require
from civichub.notify.choices import Priority
from civichub.notify.services import notification_send
from civichub.traceability import selectors
from civichub.traceability.models import Lot, Recall, RecallNotice


def recall_start(*, actor: User, lot: Lot, reason: str, organisation: Organisation) -> Recall:
    """Traces the lot backward (origins, for the regulator's graph) and forward, and sends a
    notice to every participant downstream."""
    require(actor, "traceability.recall.start", organisation)
    reason = reason.strip()
    if not reason:
        raise ValidationFailed.on("reason", _("请填写召回原因。"))
    trace = selectors.trace_code(lot.epc_class)
    with transaction.atomic():
        if Recall.objects.filter(lot=lot, state=Recall.State.OPEN).exists():
            raise Conflict(_("该批次已在召回中。"))
        recall = Recall.objects.create(
            lot=lot,
            reason=reason,
            organisation=organisation,
            started_by=actor,
            graph=trace.as_graph(),
            affected_codes=sorted({trace.start} | trace.downstream),
        )
        notices = RecallNotice.objects.bulk_create(
            [RecallNotice(recall=recall, participant=p) for p in trace.participants_downstream]
        )
        audit_record(
            actor=actor,
            action="traceability.recall.start",
            obj=recall,
            changes={"notices": len(notices), "codes": len(recall.affected_codes)},
        )
        for notice in notices:
            _notify(actor, recall, notice)
    return recall


def _notify(actor: User, recall: Recall, notice: RecallNotice) -> None:
    recipients = list(notice.participant.members.all())
    if not recipients:
        return
    product = recall.lot.product
    notification_send(
        recipients=recipients,
        kind="traceability.recall",
        context={
            "participant": notice.participant.name,
            "participant_en": notice.participant.name_en or notice.participant.name,
            "product": product.name,
            "product_en": product.name_en or product.name,
            "lot": recall.lot.lot,
            "reason": recall.reason,
            "link": reverse("traceability:recall", args=[recall.pk]),
        },
        priority=Priority.EMERGENCY,
        actor=actor,
        dedupe_key=f"traceability.recall:{recall.pk}:{notice.participant_id}",
    )


def recall_acknowledge(
    *, actor: User, notice: RecallNotice, quantity_withdrawn: float, note: str = ""
) -> RecallNotice:
    require(actor, "traceability.recall.acknowledge", notice)
    if quantity_withdrawn < 0:
        raise ValidationFailed.on("quantity_withdrawn", _("下架数量不能为负数。"))
    with transaction.atomic():
        notice = RecallNotice.objects.select_for_update().get(pk=notice.pk)
        if notice.recall.state != Recall.State.OPEN:
            raise Conflict(_("该召回已结束。"))
        notice.acknowledged_at = timezone.now()
        notice.acknowledged_by = actor
        notice.quantity_withdrawn = quantity_withdrawn
        notice.note = note.strip()[:500]
        notice.save(
            update_fields=["acknowledged_at", "acknowledged_by", "quantity_withdrawn", "note"]
        )
        audit_record(
            actor=actor,
            action="traceability.recall.acknowledge",
            obj=notice,
            organisation=notice.recall.organisation,
            changes={"quantity_withdrawn": quantity_withdrawn},
        )
    return notice


def recall_close(*, actor: User, recall: Recall) -> Recall:
    require(actor, "traceability.recall.start", recall)
    with transaction.atomic():
        recall.state = Recall.State.CLOSED
        recall.save(update_fields=["state"])
        audit_record(actor=actor, action="traceability.recall.close", obj=recall)
    return recall

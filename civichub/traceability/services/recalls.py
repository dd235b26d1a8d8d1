"""Recalls: the regulator marks a lot suspect, the trace finds every participant that received
any of it (through transformations and aggregations), each gets a notice through the outbox,
the public is told through whichever module publishes announcements (broadcast, through core's
registry) in the areas of those places, and each participant acknowledges the notice with the
quantity withdrawn; those who have not are reminded."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from civichub.core import registry
from civichub.core.audit import audit_record
from civichub.core.conf import core_settings
from civichub.core.config import module_config
from civichub.core.context import acting
from civichub.core.errors import Conflict, ValidationFailed
from civichub.core.models import Organisation, OrganisationKind, User
from civichub.core.permissions import require
from civichub.notify.choices import Priority
from civichub.notify.services import notification_send
from civichub.traceability import selectors
from civichub.traceability.conf import TraceabilitySettings
from civichub.traceability.gs1.digital_link import DigitalLink
from civichub.traceability.models import Lot, Participant, Recall, RecallNotice

ANNOUNCEMENT_MAX_REASON = 200


def recall_start(*, actor: User, lot: Lot, reason: str, organisation: Organisation) -> Recall:
    """Traces the lot backward (origins, for the regulator's graph) and forward, sends a notice
    to every participant downstream and announces the recall to the public in their areas."""
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
            _notify(actor, recall, notice, kind="traceability.recall")
        _announce(actor, recall, trace.participants_downstream)
    return recall


def recall_start_scoped(
    *,
    actor: User,
    reason: str,
    organisation: Organisation,
    farm: Participant | None = None,
    feed: Lot | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Recall:
    """A recall by scope the regulator chooses: a farm (within a date range if given), a feed
    batch, or a date range. The trace starts from every identifier in scope
    (selectors.recall_scope_codes); the recall holds the union of their traces, notifies every
    participant downstream of any of them once and announces it like a recall of one lot. Its
    `lot` is the first lot the traces reach (the shopper's page and the announcement name it);
    `scope` records the choice and the starting identifiers."""
    require(actor, "traceability.recall.start", organisation)
    reason = reason.strip()
    if not reason:
        raise ValidationFailed.on("reason", _("请填写召回原因。"))
    if since is not None and until is not None and until <= since:
        raise ValidationFailed.on("until", _("结束时间须晚于开始时间。"))
    found = selectors.recall_scope_trace(farm=farm, feed=feed, since=since, until=until)
    if found.too_wide:
        raise ValidationFailed.on(
            "scope",
            _("召回范围内的起始标识超过 %(limit)s 个，请缩小时间范围后再发起。")
            % {"limit": f"{found.limit:,}"},
        )
    traces, affected, participants = found.traces, found.affected, found.participants
    lot = Lot.objects.filter(epc_class__in=affected).order_by("pk").first() if affected else None
    if lot is None:
        raise ValidationFailed.on("scope", _("召回范围内没有任何批次。"))
    scope: dict[str, Any] = {
        "kind": found.kind,
        "farm": farm.pk if farm is not None else None,
        "feed": feed.pk if feed is not None else None,
        "since": since.isoformat() if since is not None else None,
        "until": until.isoformat() if until is not None else None,
        "starts": found.starts,
    }
    with transaction.atomic():
        if Recall.objects.filter(lot=lot, state=Recall.State.OPEN, scope=scope).exists():
            raise Conflict(_("该批次已在召回中。"))
        recall = Recall.objects.create(
            lot=lot,
            reason=reason,
            organisation=organisation,
            started_by=actor,
            graph=_merged_graph(traces),
            affected_codes=affected,
            scope=scope,
        )
        notices = RecallNotice.objects.bulk_create(
            [RecallNotice(recall=recall, participant=p) for p in participants]
        )
        audit_record(
            actor=actor,
            action="traceability.recall.start",
            obj=recall,
            changes={"notices": len(notices), "codes": len(affected), "scope": scope},
        )
        for notice in notices:
            _notify(actor, recall, notice, kind="traceability.recall")
        _announce(actor, recall, participants)
    return recall


def _merged_graph(traces: list[selectors.Trace]) -> dict[str, Any]:
    """The graphs of several traces as one: each node and edge once, every start a start."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for trace in traces:
        graph = trace.as_graph()
        for node in graph["nodes"]:
            if node["kind"] == "start" or node["id"] not in nodes:
                nodes[node["id"]] = node
        for edge in graph["edges"]:
            edges[(edge["from"], edge["to"], edge["via"], edge["event"])] = edge
    return {
        "nodes": list(nodes.values()),
        "edges": list(edges.values()),
        "hops": max((t.hops for t in traces), default=0),
    }


def recall_areas(participants: list[Participant]) -> list[Organisation]:
    """The areas of the places that received the food: each one's own area, else the nearest
    area at or above its organisation; an area inside another one listed is left out (a notice
    to a district reaches its communities)."""
    found: dict[int, Organisation] = {}
    for participant in participants:
        area = participant.area or _area_at_or_above(participant.organisation)
        if area is not None:
            found[area.pk] = area
    areas = sorted(found.values(), key=lambda a: a.path)
    return [a for a in areas if not any(a.pk != b.pk and a.is_within(b) for b in areas)]


def _area_at_or_above(organisation: Organisation) -> Organisation | None:
    if organisation.kind != OrganisationKind.DEPARTMENT:
        return organisation
    above = [int(pk) for pk in organisation.path.strip("/").split("/") if pk]
    return (
        Organisation.objects.filter(pk__in=above)
        .exclude(kind=OrganisationKind.DEPARTMENT)
        .order_by("-depth")
        .first()
    )


def _announcement_texts(recall: Recall) -> tuple[str, str]:
    lot = recall.lot
    product = lot.product
    reason = recall.reason[:ANNOUNCEMENT_MAX_REASON]
    page = _site(DigitalLink(gtin=product.gtin, lot=lot.lot).path())
    # The public text is Chinese and English side by side, whatever the regulator's language.
    name = product.name
    text = (
        f"【食品召回】{name}（批号 {lot.lot}，追溯码 {lot.trace_code}）已被监管部门召回，"
        f"原因：{reason}。已购买的请勿食用，可退回购买处。"
        f"扫描包装或小票上的追溯码可查看是否受影响：{page}"
    )
    text_en = (
        f"[Food recall] {product.name_en or product.name} (lot {lot.lot}, trace code "
        f"{lot.trace_code}) has been recalled by the regulator. Reason: {reason}. Do not eat it "
        f"if you bought some; return it where you bought it. Scan the trace code on the "
        f"package or receipt to see whether yours is affected: {page}"
    )
    return text, text_en


def _announcement_alert(recall: Recall) -> dict[str, Any]:
    """The CAP `info` fields of the recall's public alert: a health danger observed (the
    regulator's finding), to act on now, in Chinese and English."""
    lot = recall.lot
    product = lot.product
    return {
        "category": "Health",
        "event": "食品召回",
        "event_en": "Food recall",
        "urgency": "Immediate",
        "severity": "Severe",
        "certainty": "Observed",
        "expires": timezone.now()
        + timedelta(days=module_config(TraceabilitySettings).recall_alert_days),
        "headline": f"食品召回：{product.name}（批号 {lot.lot}）"[:80],
        "headline_en": f"Food recall: {product.name_en or product.name} (lot {lot.lot})"[:80],
        "instruction": "已购买的请勿食用，退回购买处；扫描小票或包装上的追溯码查看是否受影响。",
        "instruction_en": (
            "Do not eat it; return it where you bought it. Scan the trace code on the receipt "
            "or package to see whether yours is affected."
        ),
    }


def _announce(actor: User, recall: Recall, participants: list[Participant]) -> None:
    """Publishes the public announcement where a module provides one; the recall goes on
    without it otherwise (the regulator's page says so)."""
    publish = registry.provided("public_announcement")
    areas = recall_areas(participants)
    if publish is None or not areas:
        return
    text, text_en = _announcement_texts(recall)
    published: dict[str, Any] | None = publish(
        actor=actor,
        organisation=recall.organisation,
        authorised_by="traceability.recall.start",
        text=text,
        text_en=text_en,
        area_ids=[a.pk for a in areas],
        account_handle=module_config(TraceabilitySettings).recall_announcement_account,
        alert=_announcement_alert(recall),
    )
    if published is None:
        return
    recall.announcement_url = str(published["url"])
    recall.announcement_areas = [a.pk for a in areas]
    recall.save(update_fields=["announcement_url", "announcement_areas"])
    audit_record(
        actor=actor,
        action="traceability.recall.announce",
        obj=recall,
        changes={
            "announcement": recall.announcement_url,
            "areas": recall.announcement_areas,
            "alert": bool(published.get("alert")),
        },
    )


def _site(path: str) -> str:
    return core_settings().site_url.rstrip("/") + path


def _notify(actor: User | None, recall: Recall, notice: RecallNotice, *, kind: str) -> bool:
    recipients = list(notice.participant.members.all())
    if not recipients:
        return False
    product = recall.lot.product
    notification_send(
        recipients=recipients,
        kind=kind,
        context={
            "participant": notice.participant.name,
            "participant_en": notice.participant.name_en or notice.participant.name,
            "product": product.name,
            "product_en": product.name_en or product.name,
            "lot": recall.lot.lot,
            "reason": recall.reason,
            "recall_id": recall.pk,
            "link": _site(reverse("traceability:recall", args=[recall.pk])),
            "reminder": notice.reminders_sent,
        },
        priority=Priority.EMERGENCY,
        actor=actor,
        dedupe_key=f"{kind}:{recall.pk}:{notice.participant_id}:{notice.reminders_sent}",
    )
    return True


def recall_acknowledge(
    *, actor: User, notice: RecallNotice, quantity_withdrawn: float, note: str = ""
) -> RecallNotice:
    """The participant confirms the food is off sale, with the quantity withdrawn."""
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


def _remind(actor: User | None, notices: list[RecallNotice]) -> int:
    now = timezone.now()
    sent = 0
    for notice in notices:
        notice.reminders_sent += 1
        notice.last_reminded_at = now
        notice.save(update_fields=["reminders_sent", "last_reminded_at"])
        sent += _notify(actor, notice.recall, notice, kind="traceability.recall_reminder")
    return sent


def recall_remind(*, actor: User, recall: Recall) -> int:
    """The regulator reminds every participant that has not acknowledged yet; returns how many
    were reminded (a participant with no members on the platform cannot be)."""
    require(actor, "traceability.recall.start", recall)
    with transaction.atomic():
        recall = Recall.objects.select_for_update().get(pk=recall.pk)
        if recall.state != Recall.State.OPEN:
            raise Conflict(_("该召回已结束。"))
        notices = list(
            recall.notices.filter(acknowledged_at=None).select_related(
                "participant", "recall__lot__product"
            )
        )
        sent = _remind(actor, notices)
        audit_record(
            actor=actor,
            action="traceability.recall.remind",
            obj=recall,
            changes={"outstanding": len(notices), "reminded": sent},
        )
    return sent


def recall_reminders_due() -> int:
    """The periodic check: every open recall's unacknowledged notices, once
    `recall_reminder_hours` have passed since the notice or its last reminder, up to
    `recall_max_reminders` each. Idempotent: a second run at once finds none due."""
    conf = module_config(TraceabilitySettings)
    due_before = timezone.now() - timedelta(hours=conf.recall_reminder_hours)
    with transaction.atomic():
        notices = list(
            RecallNotice.objects.select_for_update(skip_locked=True)
            .filter(
                recall__state=Recall.State.OPEN,
                acknowledged_at=None,
                reminders_sent__lt=conf.recall_max_reminders,
            )
            .filter(
                Q(last_reminded_at=None, notified_at__lte=due_before)
                | Q(last_reminded_at__lte=due_before)
            )
            .select_related("participant", "recall__lot__product")
            .order_by("pk")
        )
        sent = _remind(None, notices)
        if notices:
            audit_record(
                actor=None,
                action="traceability.recall.remind",
                changes={"due": len(notices), "reminded": sent},
            )
    return sent


@task()
def recall_reminders_task() -> int:
    with acting(channel="task"):
        return recall_reminders_due()


def recall_close(*, actor: User, recall: Recall) -> Recall:
    require(actor, "traceability.recall.start", recall)
    with transaction.atomic():
        recall.state = Recall.State.CLOSED
        recall.save(update_fields=["state"])
        audit_record(actor=actor, action="traceability.recall.close", obj=recall)
    return recall

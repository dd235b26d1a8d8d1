"""Traceability's measures for the statistics module (declared in the manifest): recalls
started, and the notices they sent, by the kind of participant notified, read after a watermark
(the last recall id counted); and notices acknowledged (the stall, market or canteen confirming
the lot is withdrawn), with the hours from notice to acknowledgement, read after a watermark of
the last acknowledgement time and id counted ("<time>|<id>", as a notice is acknowledged long
after it is sent). All count under the organisation that started the recall."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q
from django.utils import timezone

from civichub.core.measures import Collected, Contribution
from civichub.traceability.models import ParticipantKind, Recall, RecallNotice

RECALLS = "traceability.recalls"
NOTICES = "traceability.notices"
ACKNOWLEDGED = "traceability.acknowledged"
ACKNOWLEDGE_HOURS = "traceability.acknowledge_hours"


def _day(at: dt.datetime) -> dt.date:
    return timezone.localtime(at).date()


def recall_measures(*, after: str, until: dt.datetime, limit: int) -> Collected:
    last = int(after or 0)
    batch = list(
        Recall.objects.filter(pk__gt=last)
        .order_by("pk")
        .values("pk", "created_at", "organisation_id")[: limit + 1]
    )
    more = len(batch) > limit
    recalls = []
    for recall in batch[:limit]:
        if recall["created_at"] >= until:
            more = False
            break
        recalls.append(recall)
        last = recall["pk"]
    out = [Contribution(RECALLS, _day(r["created_at"]), r["organisation_id"]) for r in recalls]
    by_recall = {r["pk"]: r for r in recalls}
    sent = (
        RecallNotice.objects.filter(recall_id__in=by_recall)
        .values("recall_id", "participant__kind")
        .annotate(notices=Count("pk"))
    )
    for row in sent:
        recall = by_recall[row["recall_id"]]
        out.append(
            Contribution(
                NOTICES,
                _day(recall["created_at"]),
                recall["organisation_id"],
                breakdown=row["participant__kind"],
                value=float(row["notices"]),
                count=row["notices"],
            )
        )
    return Collected(contributions=out, watermark=str(last), more=more)


def acknowledgement_measures(*, after: str, until: dt.datetime, limit: int) -> Collected:
    """Notices acknowledged before `until` and after the watermark "<time>|<id>"."""
    queryset = RecallNotice.objects.filter(acknowledged_at__isnull=False, acknowledged_at__lt=until)
    if after:
        at_text, _sep, pk_text = after.partition("|")
        at = dt.datetime.fromisoformat(at_text)
        queryset = queryset.filter(
            Q(acknowledged_at__gt=at) | Q(acknowledged_at=at, pk__gt=int(pk_text))
        )
    batch = list(
        queryset.order_by("acknowledged_at", "pk").values(
            "pk", "notified_at", "acknowledged_at", "participant__kind", "recall__organisation_id"
        )[: limit + 1]
    )
    out: list[Contribution] = []
    watermark = after
    for notice in batch[:limit]:
        acknowledged_at = notice["acknowledged_at"]
        assert acknowledged_at is not None  # filtered above
        day = _day(acknowledged_at)
        organisation = notice["recall__organisation_id"]
        kind = notice["participant__kind"]
        hours = round((acknowledged_at - notice["notified_at"]).total_seconds() / 3600, 4)
        out.append(Contribution(ACKNOWLEDGED, day, organisation, breakdown=kind))
        out.append(Contribution(ACKNOWLEDGE_HOURS, day, organisation, breakdown=kind, value=hours))
        watermark = f"{acknowledged_at.isoformat()}|{notice['pk']}"
    return Collected(contributions=out, watermark=watermark, more=len(batch) > limit)


def participant_kind_names() -> dict[str, str]:
    return {str(value): str(label) for value, label in ParticipantKind.choices}

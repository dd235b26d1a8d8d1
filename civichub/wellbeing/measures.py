"""Wellbeing's measures for the statistics module (declared in the manifest): alerts raised, by
kind, after a watermark (the last alert id counted), and visits made, by outcome, after a
watermark of the last visit time and id counted. Both count under the household's community.
Only counts leave the module: no household, resident or reading."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils import timezone

from civichub.core.measures import Collected, Contribution
from civichub.wellbeing.models import Alert, VisitOutcome, VisitTask
from civichub.wellbeing.wording import KINDS

ALERTS = "wellbeing.alerts"
VISITS = "wellbeing.visits"


def alert_measures(*, after: str, until: dt.datetime, limit: int) -> Collected:
    last = int(after or 0)
    batch = list(
        Alert.objects.filter(pk__gt=last)
        .order_by("pk")
        .values("pk", "created_at", "kind", "household__community_id")[: limit + 1]
    )
    more = len(batch) > limit
    out: list[Contribution] = []
    for alert in batch[:limit]:
        if alert["created_at"] >= until:
            more = False
            break
        community = alert["household__community_id"]
        day = timezone.localtime(alert["created_at"]).date()
        out.append(Contribution(ALERTS, day, community, community, alert["kind"]))
        last = alert["pk"]
    return Collected(contributions=out, watermark=str(last), more=more)


def visit_measures(*, after: str, until: dt.datetime, limit: int) -> Collected:
    """Visits recorded (`visited_at`) after the watermark "<time>|<id>" and before `until`."""
    queryset = VisitTask.objects.filter(visited_at__isnull=False, visited_at__lt=until)
    if after:
        at_text, _sep, pk_text = after.partition("|")
        at = dt.datetime.fromisoformat(at_text)
        queryset = queryset.filter(Q(visited_at__gt=at) | Q(visited_at=at, pk__gt=int(pk_text)))
    batch = list(
        queryset.order_by("visited_at", "pk").values(
            "pk", "visited_at", "outcome", "alert__household__community_id"
        )[: limit + 1]
    )
    out: list[Contribution] = []
    watermark = after
    for visit in batch[:limit]:
        community = visit["alert__household__community_id"]
        visited_at = visit["visited_at"]
        assert visited_at is not None  # filtered above
        day = timezone.localtime(visited_at).date()
        out.append(Contribution(VISITS, day, community, community, visit["outcome"] or ""))
        watermark = f"{visited_at.isoformat()}|{visit['pk']}"
    return Collected(contributions=out, watermark=watermark, more=len(batch) > limit)


def alert_kind_names() -> dict[str, str]:
    return {key: str(label) for key, label in KINDS.items()}


def visit_outcome_names() -> dict[str, str]:
    return {str(value): str(label) for value, label in VisitOutcome.choices}

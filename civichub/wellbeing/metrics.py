"""Wellbeing's figures for /metrics (`core.metrics`): how far behind the meters' readings are
(ingestion lag) and how many households wait for detection (its backlog)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Max, Min
from django.utils import timezone

from civichub.core.metrics import Reading
from civichub.wellbeing.models import Household
from civichub.wellbeing.models import Reading as MeterReading

# The newest reading is looked for in the last day first: on PostgreSQL the BRIN index on `at`
# and the monthly partitions keep that cheap; only when nothing came for a day is it all read.
RECENT = dt.timedelta(days=1)


def readings() -> list[Reading]:
    now = timezone.now()
    recent = MeterReading.objects.filter(at__gte=now - RECENT).aggregate(at=Max("at"))["at"]
    latest = recent or MeterReading.objects.aggregate(at=Max("at"))["at"]
    out = []
    if latest is not None:
        out.append(
            Reading(
                "wellbeing_ingestion_lag_seconds",
                "Now minus the time of the newest meter reading stored",
                max(0.0, (now - latest).total_seconds()),
            )
        )
    due = Household.objects.filter(detection_queued_at__isnull=False)
    waiting = due.aggregate(oldest=Min("detection_queued_at"))["oldest"]
    out += [
        Reading("wellbeing_detection_backlog", "Households due for detection", due.count()),
        Reading(
            "wellbeing_detection_oldest_age_seconds",
            "How long the longest-waiting household has been due for detection",
            (now - waiting).total_seconds() if waiting else 0.0,
        ),
        Reading(
            "wellbeing_households",
            "Households enrolled with consent",
            Household.objects.filter(consent_withdrawn_at__isnull=True).count(),
        ),
    ]
    return out

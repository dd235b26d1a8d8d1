"""Demo data for wellbeing: in the demo community worker's community, the oldest residents are
enrolled (with their recorded consent, water and electricity meters, a family contact) so that
the dashboard's map and list have homes on them. Two days ago three homes went quiet after
breakfast: their readings go through ingestion and detection like any other, so one alert waits
for the family and one has become a visit task; a fourth home is marked away. Nothing here is
real."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from civichub.core.models import Organisation, Resident, User
from civichub.wellbeing import services
from civichub.wellbeing.services import ContactSpec, MeterSpec

HOUSEHOLDS = 12
WORKER_USERNAME = "worker"  # the demo community worker (core's demo logins)


def _day(household: int, start: dt.datetime, *, quiet_after: int | None) -> list[dict[str, Any]]:
    """A day of half-hourly readings: water and electricity through the day, or, for a home that
    goes quiet, nothing after `quiet_after` half hours but the fridge's standby."""
    rows = []
    register = 1000.0 + household
    for step in range(48):
        at = (start + dt.timedelta(minutes=30 * (step + 1))).isoformat()
        awake = 14 <= step <= 44 and (quiet_after is None or step < quiet_after)
        water = 0.012 if awake and step % 3 else 0.0
        register += 0.15 if awake else 0.03
        rows.append({"meter_id": f"DEMO-W-{household}", "at": at, "value": water})
        rows.append({"meter_id": f"DEMO-E-{household}", "at": at, "value": round(register, 3)})
    return rows


def seed(*, city: Organisation, size: str) -> None:
    worker = User.objects.filter(username=WORKER_USERNAME).first()
    if worker is None:
        return
    community = (
        worker.role_assignments.filter(role="community_worker")
        .select_related("organisation")
        .first()
    )
    if community is None:
        return
    residents = list(
        Resident.objects.filter(
            community=community.organisation, birth_year__isnull=False
        ).order_by("birth_year", "pk")[:HOUSEHOLDS]
    )
    households = []
    for index, resident in enumerate(residents):
        households.append(
            services.household_enrol(
                actor=None,
                resident=resident,
                worker=worker,
                consent_by="worker" if index % 3 else "resident",
                consent_method="signed_form" if index % 3 else "app",
                consent_document=f"DEMO-{index + 1:03d}" if index % 3 else "",
                consent_note="本人在社区服务中心签署同意书" if index % 3 else "",
                meters=[
                    MeterSpec("water", f"DEMO-W-{index}", cumulative=False),
                    MeterSpec("electricity", f"DEMO-E-{index}", cumulative=True),
                ],
                contacts=[ContactSpec(f"{resident.name[0]}女士", f"1390000{index:04d}")],
            )
        )
    local_today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    start = local_today - dt.timedelta(days=2)
    rows: list[dict[str, Any]] = []
    for index in range(len(households)):
        rows += _day(index, start, quiet_after=16 if index in (1, 2) else None)
    services.readings_ingest(actor=None, rows=rows)
    for household in households:
        services.detection_run(household_id=household.pk)
    if len(households) > 3:
        now = timezone.now()
        services.away_mark(
            actor=None,
            household=households[3],
            starts_at=now - dt.timedelta(days=1),
            ends_at=now + dt.timedelta(days=6),
            kind="children",
            reason="去女儿家住一周",
        )
    # The alert of the third home went unanswered: it is a visit task already.
    if len(households) > 2:
        for alert in households[2].alerts.filter(status="family"):
            alert.family_deadline = timezone.now() - dt.timedelta(minutes=1)
            alert.save(update_fields=["family_deadline"])
        services.alerts_escalate()

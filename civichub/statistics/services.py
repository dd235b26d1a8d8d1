"""The only writer of the daily figures: the rollup. Each measure source (declared in a
module's manifest) is asked for the contributions of its rows after its watermark; they are
added to the daily table and the watermark moves, in one transaction, so a step is counted
once or not at all. A step reads at most `batch_rows` source rows; a rollup takes steps until
every source has caught up with the settled past (rows younger than `settle_minutes` wait)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from civichub.core.audit import audit_record
from civichub.core.config import module_config
from civichub.core.measures import Collected, Contribution, MeasureSource
from civichub.core.registry import measure_sources
from civichub.statistics.conf import StatisticsSettings
from civichub.statistics.models import DailyFigure, Watermark

Key = tuple[dt.date, str, int | None, int | None, str]

# steps one source may take in one rollup, so that one busy source cannot hold the worker
MAX_STEPS = 200


def figures_roll_up(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Adds every source's new rows to the daily figures; returns the contributions counted
    per source. Idempotent: a second run at once finds nothing new."""
    config = module_config(StatisticsSettings)
    until = (now or timezone.now()) - dt.timedelta(minutes=config.settle_minutes)
    counted: dict[str, int] = {}
    for source in measure_sources():
        counted[source.name] = 0
        for _step in range(MAX_STEPS):
            added, more = _step_source(source, until, config.batch_rows)
            counted[source.name] += added
            if not more:
                break
    return counted


def _step_source(source: MeasureSource, until: dt.datetime, limit: int) -> tuple[int, bool]:
    collect = import_string(source.collect.replace(":", "."))
    with transaction.atomic():
        mark, _created = Watermark.objects.select_for_update().get_or_create(source=source.name)
        collected: Collected = collect(after=mark.position, until=until, limit=limit)
        if collected.watermark == mark.position and not collected.contributions:
            return 0, False
        _merge(collected.contributions)
        audit_record(
            actor=None,
            action="statistics.rollup",
            object_type="statistics.watermark",
            object_id=source.name,
            changes={
                "from": mark.position,
                "to": collected.watermark,
                "contributions": len(collected.contributions),
            },
        )
        mark.position = collected.watermark
        mark.updated_at = timezone.now()
        mark.save(update_fields=["position", "updated_at"])
    return len(collected.contributions), collected.more


def _merge(contributions: Iterable[Contribution]) -> None:
    """Adds the contributions to the rows of their keys, creating the rows that are missing."""
    sums: dict[Key, list[float]] = defaultdict(lambda: [0.0, 0])
    for c in contributions:
        total = sums[(c.day, c.measure, c.organisation_id, c.area_id, c.breakdown)]
        total[0] += c.value
        total[1] += c.count
    if not sums:
        return
    existing: dict[Key, DailyFigure] = {}
    candidates = DailyFigure.objects.select_for_update().filter(
        measure__in={k[1] for k in sums}, day__in={k[0] for k in sums}
    )
    for row in candidates:
        existing[(row.day, row.measure, row.organisation_id, row.area_id, row.breakdown)] = row
    changed: list[DailyFigure] = []
    new: list[DailyFigure] = []
    for key, (value, count) in sums.items():
        found = existing.get(key)
        if found is None:
            day, measure, organisation_id, area_id, breakdown = key
            new.append(
                DailyFigure(
                    day=day,
                    measure=measure,
                    organisation_id=organisation_id,
                    area_id=area_id,
                    breakdown=breakdown,
                    value=round(value, 6),
                    count=int(count),
                )
            )
        else:
            found.value = round(found.value + value, 6)
            found.count += int(count)
            changed.append(found)
    DailyFigure.objects.bulk_update(changed, ["value", "count"], batch_size=1000)
    DailyFigure.objects.bulk_create(new, batch_size=1000)

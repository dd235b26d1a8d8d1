"""The daily figures every module's measures roll up into, and each source's watermark."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civichub.core.models import Organisation


class DailyFigure(models.Model):
    """One measure's figure for one day, organisation, area and breakdown (a service, an alert's
    kind): `value` is the sum of the contributions, `count` the number it is over (a mean is
    value / count). Written only by the rollup (`services.figures_roll_up`), which merges into
    the row for its key, so there is one row per key."""

    day = models.DateField()
    measure = models.CharField(max_length=64)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    area = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    breakdown = models.CharField(max_length=64, blank=True, default="")
    value = models.FloatField(default=0)
    count = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("每日统计")
        verbose_name_plural = _("每日统计")
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["measure", "day"], name="statistics_measure_day"),
            models.Index(fields=["organisation", "day"], name="statistics_org_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.measure} {self.organisation_id}: {self.value}/{self.count}"


class Watermark(models.Model):
    """How far a measure source has been rolled up (the source's own position: an id, a time)."""

    source = models.CharField(max_length=64, primary_key=True)
    position = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.source} @ {self.position}"

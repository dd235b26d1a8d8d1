"""Measures: the figures a module declares in its manifest for the statistics module's daily
rollups. A module names a source (`MeasureSource.collect`, a dotted path to a read of its own
tables) that turns its rows after a watermark into contributions; the statistics module keeps
the watermark and adds the contributions to its daily table, so no request ever scans a
module's tables. Core holds only these shapes: it names no module and no statistics table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from django.utils.functional import Promise

# count: the figure is the sum of the values (messages received);
# mean: the sum of the values over the sum of the counts (hours to the first reply);
# rate: the same ratio as a share (satisfied ratings over ratings).
MeasureKind = Literal["count", "mean", "rate"]


@dataclass(frozen=True)
class Measure:
    key: str  # "<module>.<name>", e.g. "casework.received"
    label: str | Promise  # zh-Hans source text, translated with gettext
    kind: MeasureKind = "count"
    unit: str | Promise = ""
    # dotted path "pkg.selectors:function" returning {breakdown key: label} in the current
    # language (a case's service, an alert's kind, a visit's outcome)
    breakdown_labels: str | None = None
    breakdown_title: str | Promise = ""
    order: int = 100


@dataclass(frozen=True)
class Contribution:
    """What one source row adds to one day's figure: `value` to the sum and `count` to the
    number it is over (both may be negative to take back an earlier contribution, such as a
    rating replaced by the sender's later one)."""

    measure: str
    day: dt.date
    organisation_id: int | None
    area_id: int | None = None
    breakdown: str = ""
    value: float = 1.0
    count: int = 1


@dataclass(frozen=True)
class Collected:
    """A source's answer: the contributions of the rows after the watermark it was given, the
    watermark to give it next time, and whether rows are left (it stopped at its limit)."""

    contributions: list[Contribution]
    watermark: str
    more: bool = False


# collect(after=<watermark>, until=<datetime>, limit=<rows>) -> Collected. Rows dated at or
# after `until` are left for a later run: their transactions may not have committed yet.
Collect = Callable[..., Collected]


@dataclass(frozen=True)
class MeasureSource:
    name: str  # the watermark's key, e.g. "casework.cases"
    collect: str  # dotted path "pkg.selectors:function" of a `Collect`
    measures: tuple[Measure, ...] = field(default_factory=tuple)

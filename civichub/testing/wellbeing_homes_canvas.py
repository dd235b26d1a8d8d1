"""The drawing surface of the household simulator (`wellbeing_homes`): a five-minute grid per
household and utility onto which appliances and people draw their use, the city's calendar
(weather, daylight, the heating season) and interval masks.

Use is drawn as boxes: an amount per minute from a start to an end, both at any fraction of a
minute. A box is deposited as two ramps in a second-difference array, so that one bincount and
one cumulative sum give every bin's exact share of every box, however many millions of boxes a
chunk of households draws (fridge cycles alone are a few thousand per household per quarter).
Units inside the simulator are the meters' base units: litres of water, watt-hours of
electricity and litres of gas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from civichub.wellbeing.detection import Bool, Float, Int

# Minutes, households and rates passed around in bulk: integer or float arrays alike.
Array = npt.NDArray[Any]

BIN_MINUTES = 5
BINS_PER_DAY = 24 * 60 // BIN_MINUTES
DAY_MINUTES = 24 * 60
WATER_L, ELECTRICITY_WH, GAS_L = 0, 1, 2


@dataclass(frozen=True)
class Calendar:
    """The simulated days of one run: the same weather and daylight for every household."""

    start: date
    days: int
    bins: int
    day_of_year: Int  # (days,)
    weekday: Int  # (days,) Monday 0
    daily_mean_c: Float  # (days,) outdoor daily mean temperature
    official_heating: Bool  # (days,) inside the official heating season (Nov 15 - Mar 15)
    hour: Float  # (bins,) hour of the day at the bin's start
    day: Int  # (bins,) day of each bin
    temperature_c: Float  # (bins,) outdoor temperature
    dark: Bool  # (bins,) before sunrise or after sunset

    @classmethod
    def of(cls, start: date, days: int, rng: np.random.Generator) -> Calendar:
        """A northern Chinese city's year (Beijing-like: January -3 °C, July 27 °C on average),
        with weather that wanders from day to day and a daily swing peaking mid-afternoon."""
        dates = [start + timedelta(days=d) for d in range(days)]
        doy = np.array([d.timetuple().tm_yday for d in dates])
        noise = np.zeros(days)
        step = rng.normal(0.0, 3.0 * np.sqrt(1 - 0.7**2), days)
        noise[0] = rng.normal(0.0, 3.0)
        for d in range(1, days):
            noise[d] = 0.7 * noise[d - 1] + step[d]
        mean = 12.0 + 15.0 * np.cos(2 * np.pi * (doy - 200) / 365) + noise
        official = np.array(
            [(d.month, d.day) >= (11, 15) or (d.month, d.day) <= (3, 15) for d in dates]
        )
        bins = days * BINS_PER_DAY
        hour = (np.arange(bins) % BINS_PER_DAY) * BIN_MINUTES / 60
        day = np.arange(bins) // BINS_PER_DAY
        temperature = mean[day] + 4.0 * np.cos(2 * np.pi * (hour - 15) / 24)
        swing = 1.4 * np.cos(2 * np.pi * (doy + 10) / 365)
        dark = (hour < (6.1 + swing)[day]) | (hour >= (18.2 - swing)[day])
        return cls(
            start=start,
            days=days,
            bins=bins,
            day_of_year=doy,
            weekday=np.array([d.weekday() for d in dates]),
            daily_mean_c=mean,
            official_heating=official,
            hour=hour,
            day=day,
            temperature_c=temperature,
            dark=dark,
        )

    @property
    def minutes(self) -> int:
        return self.days * DAY_MINUTES


class Canvas:
    """Use per five-minute bin, (3, households, bins), drawn as boxes and as power grids."""

    def __init__(self, households: int, bins: int) -> None:
        self.households = households
        self.bins = bins
        self.use = np.zeros((3, households, bins))
        self._parts: list[list[tuple[Int, Float]]] = [[], [], []]

    def box(
        self,
        utility: int,
        household: Array,
        start: Array,
        end: Array,
        per_minute: Array | float,
    ) -> None:
        """Draw `per_minute` (litres or watt-hours per minute) from minute `start` to `end`."""
        n = self.bins
        shape = np.broadcast_shapes(np.shape(household), np.shape(start), np.shape(end))
        h = np.broadcast_to(household, shape).ravel()
        s = np.clip(np.broadcast_to(start, shape).ravel() / BIN_MINUTES, 0, n)
        e = np.clip(np.broadcast_to(end, shape).ravel() / BIN_MINUTES, 0, n)
        rate = np.broadcast_to(np.asarray(per_minute, dtype=float) * BIN_MINUTES, shape).ravel()
        keep = e > s
        h, s, e, rate = h[keep], s[keep], e[keep], rate[keep]
        for position, sign in ((s, 1.0), (e, -1.0)):
            whole = np.floor(position).astype(np.int64)
            fraction = position - whole
            index = h.astype(np.int64) * (n + 3) + whole
            self._parts[utility].append((index + 1, sign * rate * (1 - fraction)))
            self._parts[utility].append((index + 2, sign * rate * fraction))

    def power(self, watts: Float) -> None:
        """Add a steady electric load given per bin, (households, bins) in watts."""
        self.use[ELECTRICITY_WH] += watts * (BIN_MINUTES / 60)

    def render(self) -> Float:
        """Every box drawn so far, added to the grids: (3, households, bins), never negative."""
        n, h = self.bins, self.households
        for utility, parts in enumerate(self._parts):
            if not parts:
                continue
            index = np.concatenate([p[0] for p in parts])
            weight = np.concatenate([p[1] for p in parts])
            second = np.bincount(index, weight, minlength=h * (n + 3)).reshape(h, n + 3)
            self.use[utility] += np.cumsum(second, axis=1)[:, 1 : n + 1]
            parts.clear()
        np.maximum(self.use, 0.0, out=self.use)
        return self.use


def interval_mask(households: int, bins: int, household: Array, start: Array, end: Array) -> Bool:
    """(households, bins): the bins whose start lies in [start, end) minutes, for each interval
    (household[i], start[i], end[i]); intervals may overlap."""
    first = np.clip(np.ceil(np.asarray(start) / BIN_MINUTES), 0, bins).astype(np.int64)
    last = np.clip(np.ceil(np.asarray(end) / BIN_MINUTES), 0, bins).astype(np.int64)
    h = np.broadcast_to(household, first.shape).astype(np.int64)
    keep = last > first
    h, first, last = h[keep].ravel(), first[keep].ravel(), last[keep].ravel()
    width = bins + 1
    index = np.concatenate([h * width + first, h * width + last])
    weight = np.concatenate([np.ones(first.size), -np.ones(last.size)])
    counts = np.cumsum(
        np.bincount(index, weight, minlength=households * width).reshape(households, width),
        axis=1,
    )
    return counts[:, :bins] > 0.5


def cycles(
    rng: np.random.Generator, period: Float, minutes: int, jitter: float = 0.15
) -> tuple[Int, Float, Float]:
    """Cycle starts of a free-running appliance per household: (household, start, gap) of every
    cycle in [0, minutes), each gap `period` (per household, minutes) give or take `jitter`."""
    households = int(period.shape[0])
    count = int(minutes / (period.min() * (1 - jitter))) + 2
    gaps = period[:, None] * rng.uniform(1 - jitter, 1 + jitter, (households, count))
    starts = (
        np.cumsum(gaps, axis=1) - gaps + rng.uniform(0, 1, households)[:, None] * period[:, None]
    )
    household = np.broadcast_to(np.arange(households)[:, None], starts.shape)
    keep = starts < minutes
    return household[keep], starts[keep], gaps[keep]


def at(grid: np.ndarray, household: Array, minute: Array) -> Array:
    """The value of a (households, bins) grid at each (household, minute)."""
    index = np.clip((np.asarray(minute) // BIN_MINUTES).astype(np.int64), 0, grid.shape[1] - 1)
    return grid[household, index]


def daily(households: int, days: int) -> tuple[Array, Array]:
    """(household, day) of every household-day, flat."""
    h, d = np.meshgrid(np.arange(households), np.arange(days), indexing="ij")
    return h.ravel(), d.ravel()

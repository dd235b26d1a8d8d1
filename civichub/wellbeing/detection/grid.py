"""The half-hour grid the detector works on: slot numbers, the utilities' columns and the array
types."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

SLOT_MINUTES = 30
SLOTS_PER_HOUR = 60 // SLOT_MINUTES
SLOTS_PER_DAY = 24 * SLOTS_PER_HOUR
SLOTS_PER_WEEK = 7 * SLOTS_PER_DAY
HOURS_PER_WEEK = 7 * 24
# Slot 0 starts on a Monday at 00:00 local time, so slot arithmetic gives the hour of the week.
EPOCH = datetime(1970, 1, 5)  # noqa: DTZ001 - local wall-clock time of the deployment

WATER, ELECTRICITY, GAS = 0, 1, 2
UTILITIES = ("water", "electricity", "gas")
UNITS = ("m³", "kWh", "m³")

# The activity day starts at 04:00, so that "first use of the day" never wraps round midnight.
DAY_START_SLOT = 4 * SLOTS_PER_HOUR

Float = npt.NDArray[np.float64]
Bool = npt.NDArray[np.bool_]
Int = npt.NDArray[np.int64]


def slot_of(moment: datetime) -> int:
    """The slot holding `moment` (naive local time, or aware and taken in its own zone)."""
    naive = moment.replace(tzinfo=None)
    return int((naive - EPOCH) // timedelta(minutes=SLOT_MINUTES))


def slot_start(slot: int) -> datetime:
    return EPOCH + timedelta(minutes=SLOT_MINUTES * slot)


def slot_end(slot: int) -> datetime:
    return slot_start(slot + 1)


def clock(slot_in_day: float) -> str:
    minutes = int(round(slot_in_day * SLOT_MINUTES)) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"

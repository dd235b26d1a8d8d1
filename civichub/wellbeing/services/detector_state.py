"""A household's detector as saved in the database: its state arrays, the day-boundary
checkpoints and the readings seen since the oldest of them, in one compressed NumPy archive."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from civichub.wellbeing import detection
from civichub.wellbeing.models import Household, Utility

UTILITY_INDEX = {Utility.WATER: detection.WATER, Utility.ELECTRICITY: detection.ELECTRICITY}
UTILITY_INDEX[Utility.GAS] = detection.GAS


def _state_arrays(state: detection.DetectorState, prefix: str = "") -> dict[str, Any]:
    arrays: dict[str, Any] = {
        prefix + name: value for name, value in vars(state).items() if isinstance(value, np.ndarray)
    }
    arrays[prefix + "slot"] = np.array(state.slot)
    for kind, flags in state.active.items():
        arrays[f"{prefix}active__{kind}"] = flags
    return arrays


def _state_fill(state: detection.DetectorState, saved: Any, prefix: str = "") -> None:
    for full in saved.files:
        if not full.startswith(prefix) or (not prefix and full.startswith("checkpoint")):
            continue
        name = full.removeprefix(prefix)
        if name == "slot":
            state.slot = int(saved[full])
        elif name.startswith("active__"):
            state.active[name.removeprefix("active__")] = saved[full]
        elif "__" not in name:
            setattr(state, name, saved[full])


def detector_load(household: Household) -> detection.WellbeingDetector:
    """The household's saved detector, over the utilities it has meters for."""
    mask = np.zeros((1, 3), dtype=bool)
    for utility in household.meters.values_list("utility", flat=True):
        mask[0, UTILITY_INDEX[Utility(utility)]] = True
    return state_load(household, mask)


def state_load(household: Household, meters: np.ndarray) -> detection.WellbeingDetector:
    """The household's detector as last saved, with its day-boundary checkpoints and the
    readings it has seen since the oldest of them (`seen`, one row per half hour)."""
    detector = detection.WellbeingDetector(meters)
    if household.detector_state:
        with np.load(io.BytesIO(bytes(household.detector_state))) as saved:
            _state_fill(detector.state, saved)
            count = int(saved["checkpoints"]) if "checkpoints" in saved.files else 0
            for n in range(count):
                checkpoint = detection.DetectorState(meters=detector.state.meters)
                _state_fill(checkpoint, saved, f"checkpoint{n}__")
                detector.checkpoints.append(checkpoint)
            if "seen" in saved.files:
                detector.seen = saved["seen"]
    return detector


def state_dump(detector: detection.WellbeingDetector) -> bytes:
    arrays = _state_arrays(detector.state)
    arrays["checkpoints"] = np.array(len(detector.checkpoints))
    for n, checkpoint in enumerate(detector.checkpoints):
        arrays.update(_state_arrays(checkpoint, f"checkpoint{n}__"))
    arrays["seen"] = detector.seen
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()

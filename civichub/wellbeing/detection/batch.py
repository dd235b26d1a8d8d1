"""Many households' detector states as one, for a single vectorised pass, and back again.

`stack` puts the states of households that stand at the same half hour one under the other (one
row per household on axis 0 of every array) and `take` cuts rows out again. Both walk
`dataclasses.fields(DetectorState)` and decide by what each field holds, never by its name, so a
field added to the state is stacked and split with the others:

- an array with rows is joined along axis 0 (a dict of such arrays, key by key);
- anything else (the slot, a 0-d array) is the same for every household of a pass, and must be
  equal to be stacked.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from civichub.wellbeing.detection.state import DetectorState


def _has_rows(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.ndim > 0


def _joined(name: str, values: list[Any]) -> Any:
    first = values[0]
    if _has_rows(first):
        return np.concatenate(values, axis=0)
    if isinstance(first, dict):
        if any(value.keys() != first.keys() for value in values):
            raise ValueError(f"{name}: the households' states hold different keys")
        return {key: _joined(f"{name}.{key}", [value[key] for value in values]) for key in first}
    for value in values[1:]:
        if not np.array_equal(value, first):
            raise ValueError(f"{name}: households at different values cannot share a pass")
    return copy.deepcopy(first)


def _rows(value: Any, rows: np.ndarray | slice) -> Any:
    if _has_rows(value):
        return np.ascontiguousarray(value[rows])  # fancy indexing and copies keep rows apart
    if isinstance(value, dict):
        return {key: _rows(item, rows) for key, item in value.items()}
    return copy.deepcopy(value)


def stack(states: Sequence[DetectorState]) -> DetectorState:
    """One state holding every household of `states`, in order (row i is `states[i]`'s row)."""
    if not states:
        raise ValueError("nothing to stack")
    stacked = copy.copy(states[0])  # no __post_init__: every field is set below
    for field in dataclasses.fields(DetectorState):
        values = [getattr(state, field.name) for state in states]
        setattr(stacked, field.name, _joined(field.name, values))
    return stacked


def take(state: DetectorState, rows: Sequence[int] | np.ndarray | slice) -> DetectorState:
    """A state of its own holding the given rows of `state`."""
    picked = copy.copy(state)
    index = rows if isinstance(rows, slice) else np.asarray(rows, dtype=np.int64)
    for field in dataclasses.fields(DetectorState):
        setattr(picked, field.name, _rows(getattr(state, field.name), index))
    return picked


def split(state: DetectorState) -> list[DetectorState]:
    """One state per household (row) of `state`."""
    return [take(state, slice(row, row + 1)) for row in range(int(state.meters.shape[0]))]

"""A household's detector as saved in the database: its state arrays, the day-boundary
checkpoints and the readings seen since the oldest of them, in one compressed blob.

The blob is a short JSON header naming each array (its dtype and shape) followed by the arrays'
bytes, compressed once: a batch pass loads and saves hundreds of households, and a NumPy zip
archive costs a file entry per array (well over a hundred with the checkpoints). Blobs saved
as NumPy archives (`np.savez_compressed`) are still read. No pickle: nothing in the blob is
executed."""

from __future__ import annotations

import io
import json
import struct
import zlib
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


_MAGIC = b"CHDS1"
_ZIP = b"PK"


class _Saved(dict[str, np.ndarray]):
    """The saved arrays by name, read the way a NumPy archive is (`files`, `[name]`)."""

    @property
    def files(self) -> list[str]:
        return list(self)

    def __enter__(self) -> _Saved:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _pack(arrays: dict[str, Any]) -> bytes:
    header: list[list[Any]] = []
    body: list[bytes] = []
    for name, value in arrays.items():
        array = np.asarray(value)  # tobytes() writes C order; a 0-d array stays 0-d
        header.append([name, array.dtype.str, list(array.shape)])
        body.append(array.tobytes())
    head = json.dumps(header, separators=(",", ":")).encode()
    return _MAGIC + zlib.compress(struct.pack("<I", len(head)) + head + b"".join(body), 1)


def _unpack(blob: bytes) -> _Saved:
    # A bytearray, so that the arrays read from it are writable without a copy each.
    raw = bytearray(zlib.decompress(blob[len(_MAGIC) :]))
    (length,) = struct.unpack_from("<I", raw)
    offset = 4 + length
    saved = _Saved()
    for name, dtype, shape in json.loads(bytes(raw[4:offset])):
        kind = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        saved[name] = np.frombuffer(raw, dtype=kind, count=count, offset=offset).reshape(
            tuple(shape)
        )
        offset += count * kind.itemsize
    return saved


def _open(blob: bytes) -> Any:
    if blob.startswith(_ZIP):
        return np.load(io.BytesIO(blob))
    return _unpack(blob)


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
        with _open(bytes(household.detector_state)) as saved:
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
    return _pack(arrays)

"""A household's detector as saved in the database, in two columns: its state with the readings
seen since its oldest day-boundary checkpoint (`Household.detector_state`, read and written by
every pass), and the checkpoints themselves (`Household.detector_checkpoints`, decoded only when
a late reading forces a replay, and appended to once a day).

A state is saved as one row of bytes in a fixed layout (every array of a one-household state,
end to end, named in a short JSON header): a pass decodes the states of a whole group at once,
one array copy per field rather than per household, and encodes them back the same way. A blob
whose header differs from today's layout (a field added since) is read field by field by name.
Blobs of the older kinds, the state and its checkpoints in one compressed blob or a NumPy
archive (`np.savez_compressed`), are still read. No pickle: nothing in the blob is executed.

States and checkpoints are compressed with LZ4 (the codec pyarrow ships): as small as zlib's
fastest level on these rows and more than ten times faster both ways, where zlib had been a
fifth of a pass's work. Those saved with zlib are still read."""

from __future__ import annotations

import functools
import io
import json
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
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
        count = math.prod(shape)
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
    blob = bytes(household.detector_state) if household.detector_state else b""
    if is_row_blob(blob):
        saved = saved_state(blob)
        detector.state = rows_decode(saved.row[np.newaxis], saved.slot)
        detector.seen = saved.seen
        for slot, payload in checkpoints_split(household.detector_checkpoints):
            detector.checkpoints.append(rows_decode(checkpoint_row(payload)[np.newaxis], slot))
    elif blob:
        with _open(blob) as saved_arrays:
            _state_fill(detector.state, saved_arrays)
            count = int(saved_arrays["checkpoints"]) if "checkpoints" in saved_arrays.files else 0
            for n in range(count):
                checkpoint = detection.DetectorState(meters=detector.state.meters)
                _state_fill(checkpoint, saved_arrays, f"checkpoint{n}__")
                detector.checkpoints.append(checkpoint)
            if "seen" in saved_arrays.files:
                detector.seen = saved_arrays["seen"]
    return detector


def state_dump(detector: detection.WellbeingDetector) -> bytes:
    """The detector with its checkpoints in one blob (the older kind, still read)."""
    arrays = _state_arrays(detector.state)
    arrays["checkpoints"] = np.array(len(detector.checkpoints))
    for n, checkpoint in enumerate(detector.checkpoints):
        arrays.update(_state_arrays(checkpoint, f"checkpoint{n}__"))
    arrays["seen"] = detector.seen
    return _pack(arrays)


def detector_blobs(detector: detection.WellbeingDetector) -> tuple[bytes, bytes]:
    """The detector as its two columns: the state with what it has seen, and its checkpoints."""
    checkpoints = [
        (checkpoint.slot, checkpoint_compress(rows_encode(checkpoint)[0]))
        for checkpoint in detector.checkpoints
    ]
    state = state_pack(
        detector.state.slot,
        [slot for slot, _ in checkpoints],
        detector.seen,
        rows_encode(detector.state)[0],
    )
    return state, checkpoints_pack(checkpoints)


# The layout of a state as one row of bytes.

_MAGIC2 = b"CHDS2"  # zlib (still read)
_MAGIC3 = b"CHDS3"  # LZ4
# A checkpoint's payload compressed with LZ4 starts with this (a zlib stream starts with "x").
_LZ4_CHECKPOINT = b"CHL4"
_LENGTH = struct.Struct("<I")
_CHECKPOINTS = b"CHCP1"
_SEGMENT = struct.Struct("<qI")  # a checkpoint's half hour and its compressed length


@dataclass(frozen=True, slots=True)
class _Field:
    name: str  # the state's attribute, or active__<kind> for an entry of `active`
    dtype: np.dtype[Any]
    shape: tuple[int, ...]  # one household's, without the leading axis
    offset: int
    size: int  # bytes


@dataclass(frozen=True)
class _Layout:
    fields: tuple[_Field, ...]
    nbytes: int
    head: bytes


def _layout_of(head: bytes) -> _Layout:
    fields, offset = [], 0
    for name, dtype, shape in json.loads(head):
        kind = np.dtype(dtype)
        size = math.prod(shape) * kind.itemsize
        fields.append(_Field(name, kind, tuple(shape), offset, size))
        offset += size
    return _Layout(tuple(fields), offset, head)


@functools.cache
def _layout() -> _Layout:
    """Today's layout, from a one-household state: every array but the slot, in field order."""
    template = detection.DetectorState(meters=np.zeros((1, 3), dtype=bool))
    arrays = _state_arrays(template)
    del arrays["slot"]
    head = [[name, value.dtype.str, list(value.shape[1:])] for name, value in arrays.items()]
    return _layout_of(json.dumps(head, separators=(",", ":")).encode())


@functools.lru_cache(maxsize=64)
def _older_layout(head: bytes) -> _Layout:
    return _layout_of(head)


def rows_encode(state: detection.DetectorState) -> np.ndarray:
    """Each household (row) of `state` as a row of bytes in today's layout: (households, bytes)."""
    layout = _layout()
    count = int(state.meters.shape[0])
    rows = np.empty((count, layout.nbytes), dtype=np.uint8)
    for field in layout.fields:
        if field.name.startswith("active__"):
            value = state.active[field.name.removeprefix("active__")]
        else:
            value = getattr(state, field.name)
        flat = np.ascontiguousarray(value, dtype=field.dtype).reshape(count, -1)
        rows[:, field.offset : field.offset + field.size] = flat.view(np.uint8)
    return rows


def fresh_row(meters: tuple[bool, bool, bool]) -> np.ndarray:
    """A new household's state as a row (`rows_encode`), for the utilities it has meters for:
    every household's first pass starts from one of eight rows."""
    return _fresh_row(tuple(bool(m) for m in meters)).copy()


@functools.lru_cache(maxsize=8)
def _fresh_row(meters: tuple[bool, ...]) -> np.ndarray:
    state = detection.DetectorState(meters=np.array([meters], dtype=bool))
    return rows_encode(state)[0]


def rows_decode(rows: np.ndarray, slot: int) -> detection.DetectorState:
    """One state holding every row of `rows` (today's layout), all at half hour `slot`."""
    count = rows.shape[0]
    state = detection.DetectorState.__new__(detection.DetectorState)
    state.slot = int(slot)
    state.active = {}
    for field in _layout().fields:
        part = rows[:, field.offset : field.offset + field.size].copy()
        value = part.view(field.dtype).reshape((count, *field.shape))
        if field.name.startswith("active__"):
            state.active[field.name.removeprefix("active__")] = value
        else:
            setattr(state, field.name, value)
    return state


def _row_of(head: bytes, body: bytes) -> np.ndarray:
    """A state's row in today's layout, from a row saved in another one: read by name, so a
    field added since starts as a new state's does."""
    if head == _layout().head:
        return np.frombuffer(body, dtype=np.uint8)
    layout = _older_layout(head)
    saved = _Saved()
    for field in layout.fields:
        flat = np.frombuffer(
            body, dtype=field.dtype, count=field.size // field.dtype.itemsize, offset=field.offset
        )
        saved[field.name] = flat.reshape((1, *field.shape))
    state = detection.DetectorState(meters=saved.get("meters", np.zeros((1, 3), dtype=bool)))
    _state_fill(state, saved)
    return rows_encode(state)[0]


@dataclass(frozen=True)
class SavedState:
    """A household's saved state, not yet decoded: its half hour, the half hours of its
    checkpoints (oldest first), the readings it has seen since the oldest, and its row."""

    slot: int
    checkpoint_slots: list[int]
    seen: np.ndarray
    row: np.ndarray


def state_pack(
    slot: int, checkpoint_slots: Sequence[int], seen: np.ndarray, row: np.ndarray
) -> bytes:
    layout = _layout()
    extras = np.array([slot, seen.shape[0], len(checkpoint_slots), *checkpoint_slots], dtype="<i8")
    body = b"".join(
        (
            struct.pack("<II", len(layout.head), extras.size),
            layout.head,
            extras.tobytes(),
            row.tobytes(),
            np.ascontiguousarray(seen, dtype="<f8").tobytes(),
        )
    )
    return _MAGIC3 + _lz4_compress(body)


@functools.cache
def _lz4() -> Any:
    # Imported on first use: pyarrow is large, and most processes never decode a state.
    import pyarrow  # noqa: PLC0415

    return pyarrow.Codec("lz4")


def _lz4_compress(body: bytes) -> bytes:
    """The body's length, then its LZ4 frame (the decoder needs the length up front)."""
    return _LENGTH.pack(len(body)) + _lz4().compress(body, asbytes=True)


def _lz4_decompress(payload: bytes | memoryview) -> bytes:
    (length,) = _LENGTH.unpack_from(payload)
    return bytes(_lz4().decompress(memoryview(payload)[_LENGTH.size :], length, asbytes=True))


def saved_state(blob: bytes) -> SavedState:
    """A state saved by `state_pack` (callers check the blob's kind with `is_row_blob`)."""
    if blob.startswith(_MAGIC3):
        raw = _lz4_decompress(memoryview(blob)[len(_MAGIC3) :])
    else:
        raw = zlib.decompress(memoryview(blob)[len(_MAGIC2) :])
    head_length, count = struct.unpack_from("<II", raw)
    offset = 8 + head_length
    head = raw[8:offset]
    extras = np.frombuffer(raw, dtype="<i8", count=count, offset=offset).tolist()
    offset += 8 * count
    slot, seen_rows, checkpoints = extras[:3]
    nbytes = _layout().nbytes if head == _layout().head else _older_layout(head).nbytes
    row = _row_of(head, raw[offset : offset + nbytes])
    offset += nbytes
    seen = np.frombuffer(raw, dtype="<f8", count=seen_rows * 3, offset=offset).reshape(-1, 3)
    return SavedState(slot, extras[3 : 3 + checkpoints], seen, row)


def is_row_blob(blob: bytes) -> bool:
    return blob.startswith((_MAGIC3, _MAGIC2))


def checkpoint_compress(row: np.ndarray) -> bytes:
    head = _layout().head
    return _LZ4_CHECKPOINT + _lz4_compress(struct.pack("<I", len(head)) + head + row.tobytes())


def checkpoint_row(payload: bytes) -> np.ndarray:
    if payload.startswith(_LZ4_CHECKPOINT):
        raw = _lz4_decompress(memoryview(payload)[len(_LZ4_CHECKPOINT) :])
    else:
        raw = zlib.decompress(payload)
    (length,) = struct.unpack_from("<I", raw)
    return _row_of(raw[4 : 4 + length], raw[4 + length :])


def checkpoints_pack(checkpoints: Sequence[tuple[int, bytes]]) -> bytes:
    """Checkpoints (half hour, compressed row), oldest first, as the column's bytes: each
    kept compressed, so that appending one and dropping the oldest decodes none."""
    parts = [_CHECKPOINTS]
    for slot, payload in checkpoints:
        parts.append(_SEGMENT.pack(slot, len(payload)))
        parts.append(payload)
    return b"".join(parts)


def checkpoints_split(blob: bytes | memoryview | None) -> list[tuple[int, bytes]]:
    if not blob:
        return []
    data = bytes(blob)
    found, offset = [], len(_CHECKPOINTS)
    while offset < len(data):
        slot, length = _SEGMENT.unpack_from(data, offset)
        offset += _SEGMENT.size
        found.append((slot, data[offset : offset + length]))
        offset += length
    return found

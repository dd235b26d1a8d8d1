"""Image checks shared by every module that accepts pictures (casework photos, broadcast post
images and avatars), done before anything is stored: the real type (from the bytes, not the
name or the declared type), the size in bytes and in pixels, and a decode of the whole image.
Every accepted image is re-encoded, which drops all metadata (EXIF, GPS, XMP, ICC profiles,
comments and text chunks); when the sender chose to keep the location, only the GPS block is
written back.

Decoding is the costly part (a 131 KB PNG can hold 40 million pixels: 120 MB and seconds of
work), so the header is checked first against a pixel budget and against the file's size
(`core.conf.CoreSettings`: `image_max_pixels`, `image_max_pixels_per_byte`, `probe_image`),
and large images are decoded a few at a time per process, each in a child process with a time
and memory limit (`reencode_isolated`). Above `image_background_pixels` a module that can wait
(`accept_image`) takes the image after its header checks and re-encodes it in a background
task, in the same child process, so that the request decodes nothing."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess  # nosec B404
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from civichub.core.audit import audit_record
from civichub.core.conf import core_settings
from civichub.core.errors import DomainError, RateLimited, ValidationFailed
from civichub.core.files import files_kept_on_commit
from civichub.core.imagecodec import GPS_IFD, Encoded, reencode
from civichub.core.models import Organisation

__all__ = [
    "GPS_IFD",
    "CheckedImage",
    "DeferredImage",
    "ImageDecodeFailed",
    "PendingAudit",
    "PendingStates",
    "ImageUpload",
    "ProbedImage",
    "accept_image",
    "check_image",
    "pending_image_reencode",
    "probe_image",
    "reencode_isolated",
]

CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


@dataclass(frozen=True)
class ImageUpload:
    """What a page or the API received: the bytes and the name the sender gave."""

    name: str
    data: bytes


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    format: str
    content_type: str
    extension: str
    width: int
    height: int
    original_name: str
    location_kept: bool
    gps: dict[int, Any] | None


@dataclass(frozen=True)
class ProbedImage:
    """What the header said of an image that passed the header checks; nothing decoded."""

    format: str
    content_type: str
    extension: str
    width: int
    height: int
    original_name: str
    # The EXIF GPS block as the header carries it, read only when asked (`keep_location`).
    gps: dict[int, Any] | None = None

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class DeferredImage:
    """An image over `image_background_pixels` that passed the header checks and was not
    decoded: the bytes as received (metadata and all, so never to be served), to be re-encoded
    by a task with `reencode_isolated`."""

    probed: ProbedImage
    data: bytes
    keep_location: bool

    @property
    def gps(self) -> dict[int, Any] | None:
        return self.probed.gps


class ImageDecodeFailed(Exception):
    """A decode in the child process failed: the file is broken, or it passed the time or
    memory limit. `reason` is a short code for records ("timeout", "memory", an error name)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors={field: [message]})


_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def _large_decode_slots(count: int) -> threading.BoundedSemaphore:
    with _slots_lock:
        slots = _slots.get(count)
        if slots is None:
            slots = _slots[count] = threading.BoundedSemaphore(max(1, count))
        return slots


@contextlib.contextmanager
def _decode_turn(pixels: int, *, name: str, field: str) -> Iterator[None]:
    """Decoding a large image takes its memory (3-4 bytes a pixel) for a second or two: at
    most `image_large_decodes` of them at once in a process, and a request that cannot have
    its turn within `image_large_wait_seconds` is refused rather than queued without end."""
    conf = core_settings()
    if pixels <= int(conf.image_free_pixels):
        yield
        return
    slots = _large_decode_slots(int(conf.image_large_decodes))
    if not slots.acquire(timeout=float(conf.image_large_wait_seconds)):
        raise RateLimited(
            _("%(name)s：服务器正在处理其他大图片，请稍后再试。") % {"name": name},
            errors={field: [_("服务器正在处理其他大图片，请稍后再试。")]},
        )
    try:
        yield
    finally:
        slots.release()


def _header_check(
    probe: Image.Image,
    *,
    name: str,
    field: str,
    size: int,
    max_pixels: int,
    allowed_formats: list[str],
) -> None:
    """What the file's header tells, before a pixel is decoded: the format, and whether the
    pixels fit the budget (the module's and the deployment's) and the file's size."""
    image_format = probe.format or ""
    width, height = probe.size
    if image_format not in allowed_formats:
        kinds = {"name": name, "format": image_format, "formats": ", ".join(allowed_formats)}
        if image_format:
            message = _("%(name)s：不接受 %(format)s 格式，请发送 %(formats)s。")
        else:
            message = _("%(name)s：不接受这种文件类型，请发送 %(formats)s。")
        raise _refuse(field, message % kinds)
    conf = core_settings()
    pixels = width * height
    budget = min(max_pixels, int(conf.image_max_pixels))
    values: dict[str, str | int] = {"name": name, "width": width, "height": height}
    if pixels > budget:
        raise _refuse(
            field,
            _("%(name)s：图片的像素过多（%(width)d×%(height)d），最多接受 %(max)s 像素。")
            % {**values, "max": f"{budget:,}"},
        )
    amplified = pixels > size * int(conf.image_max_pixels_per_byte)
    if amplified and pixels > int(conf.image_free_pixels):
        raise _refuse(
            field,
            _(
                "%(name)s：图片的像素（%(width)d×%(height)d）与文件大小（%(size)d KiB）"
                "不相称，解码代价过高，不予接受。"
            )
            % {**values, "size": size // 1024},
        )


def _name(upload: ImageUpload) -> str:
    return (upload.name or "photo")[:200]


def _unreadable(field: str, name: str, error: str) -> ValidationFailed:
    return _refuse(
        field, _("%(name)s：无法读取这个图片（%(error)s）。") % {"name": name, "error": error}
    )


def probe_image(
    upload: ImageUpload,
    *,
    field: str,
    max_bytes: int,
    max_pixels: int,
    allowed_formats: list[str],
    keep_location: bool = False,
) -> ProbedImage:
    """The header checks alone (size in bytes, real format, pixel budget, pixels per byte):
    cheap, so a request can refuse a decompression bomb at once; ValidationFailed naming
    `field` otherwise. No pixel is decoded here; with `keep_location` the GPS block is read
    from the EXIF segment that JPEG and WebP carry ahead of the pixels."""
    name = _name(upload)
    if not upload.data:
        raise _refuse(field, _("%(name)s：文件是空的。") % {"name": name})
    if len(upload.data) > max_bytes:
        raise _refuse(
            field,
            _("%(name)s：照片大小为 %(size)d KiB，最大接受 %(max)d KiB。")
            % {"name": name, "size": len(upload.data) // 1024, "max": max_bytes // 1024},
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(upload.data)) as probe:
                _header_check(
                    probe,
                    name=name,
                    field=field,
                    size=len(upload.data),
                    max_pixels=max_pixels,
                    allowed_formats=allowed_formats,
                )
                image_format = probe.format or ""
                width, height = probe.size
                gps = _header_gps(probe) if keep_location else None
    except DomainError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own limit, met while it opens a header claiming far more pixels than ours.
        budget = _pixel_budget(max_pixels)
        raise _refuse(
            field,
            _("%(name)s：图片的像素过多，最多接受 %(max)s 像素。")
            % {"name": name, "max": f"{budget:,}"},
        ) from exc
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
    ) as exc:
        raise _unreadable(field, name, type(exc).__name__) from exc
    return ProbedImage(
        format=image_format,
        content_type=CONTENT_TYPES[image_format],
        extension=EXTENSIONS[image_format],
        width=width,
        height=height,
        original_name=name,
        gps=gps,
    )


def _header_gps(probe: Image.Image) -> dict[int, Any] | None:
    """The GPS block from the EXIF bytes the header gave (`info["exif"]`), never through
    `getexif()`, which loads the whole picture of a PNG to look for a late eXIf chunk."""
    raw = probe.info.get("exif")
    if not isinstance(raw, bytes):
        return None
    exif = Image.Exif()
    exif.load(raw)
    return dict(exif.get_ifd(GPS_IFD)) or None


def _pixel_budget(max_pixels: int) -> int:
    return min(max_pixels, int(core_settings().image_max_pixels))


def _checked(encoded: Encoded, *, name: str, location_kept: bool) -> CheckedImage:
    return CheckedImage(
        data=encoded.data,
        format=encoded.format,
        content_type=CONTENT_TYPES[encoded.format],
        extension=EXTENSIONS[encoded.format],
        width=encoded.width,
        height=encoded.height,
        original_name=name,
        location_kept=location_kept and bool(encoded.gps),
        gps=encoded.gps if location_kept else None,
    )


def reencode_isolated(
    data: bytes, *, keep_location: bool = False, max_pixels: int | None = None
) -> Encoded:
    """Decodes and re-encodes an image in a child process with a time limit
    (`image_decode_seconds`) and an address-space limit (`image_decode_memory_mb`), so a
    decode that runs away is stopped and takes nothing of the caller's memory. Raises
    ImageDecodeFailed with the reason when the child fails or passes a limit."""
    conf = core_settings()
    budget = _pixel_budget(max_pixels or int(conf.image_max_pixels))
    limit = int(conf.image_decode_memory_mb) * 1024 * 1024
    try:
        done = subprocess.run(  # noqa: S603  # nosec B603
            [
                sys.executable,
                "-m",
                "civichub.core.imagecodec",
                "1" if keep_location else "0",
                str(budget),
                str(limit),
            ],
            input=data,
            capture_output=True,
            timeout=float(conf.image_decode_seconds),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ImageDecodeFailed("timeout") from exc
    if done.returncode != 0:
        error = done.stderr.decode("utf-8", "replace").strip().splitlines()
        last = error[-1][:60] if error else f"exit {done.returncode}"
        raise ImageDecodeFailed("memory" if "MemoryError" in last else last)
    head, _newline, body = done.stdout.partition(b"\n")
    try:
        found = json.loads(head)
        image_format = str(found["format"])
        width, height = int(found["width"]), int(found["height"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ImageDecodeFailed("bad output") from exc
    if image_format not in CONTENT_TYPES:
        raise ImageDecodeFailed("bad output")
    gps = None
    if keep_location:
        # The output's own header: only the GPS block was written back.
        with Image.open(io.BytesIO(body)) as written:
            gps = dict(written.getexif().get_ifd(GPS_IFD)) or None
    return Encoded(data=body, format=image_format, width=width, height=height, gps=gps)


def check_image(
    upload: ImageUpload,
    *,
    field: str,
    max_bytes: int,
    max_pixels: int,
    allowed_formats: list[str],
    keep_location: bool = False,
) -> CheckedImage:
    """The re-encoded image, or ValidationFailed naming `field` with a sentence for people.
    The header is checked before anything is decoded (`probe_image`); a small image is decoded
    here, a large one (over `image_free_pixels`) waits for its turn (`_decode_turn`) and is
    decoded in a child process with a time and memory limit (`reencode_isolated`). Modules
    that can wait for an image use `accept_image` instead."""
    probed = probe_image(
        upload,
        field=field,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        allowed_formats=allowed_formats,
    )
    return _decoded(upload, probed, field=field, max_pixels=max_pixels, keep_location=keep_location)


def accept_image(
    upload: ImageUpload,
    *,
    field: str,
    max_bytes: int,
    max_pixels: int,
    allowed_formats: list[str],
    keep_location: bool = False,
) -> CheckedImage | DeferredImage:
    """For a module that can show an image later: one over `image_background_pixels` is taken
    after the header checks alone and comes back as a DeferredImage for a task to re-encode
    (`reencode_isolated`); a smaller one is re-encoded now, as by `check_image`. A bomb is
    refused here either way, from its header."""
    probed = probe_image(
        upload,
        field=field,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        allowed_formats=allowed_formats,
        keep_location=keep_location,
    )
    if probed.pixels > int(core_settings().image_background_pixels):
        return DeferredImage(probed=probed, data=upload.data, keep_location=keep_location)
    return _decoded(upload, probed, field=field, max_pixels=max_pixels, keep_location=keep_location)


def _decoded(
    upload: ImageUpload,
    probed: ProbedImage,
    *,
    field: str,
    max_pixels: int,
    keep_location: bool,
) -> CheckedImage:
    name = probed.original_name
    budget = _pixel_budget(max_pixels)
    if probed.pixels <= int(core_settings().image_free_pixels):
        try:
            encoded = reencode(upload.data, keep_gps=keep_location, max_pixels=budget)
        except (
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
            OSError,
            ValueError,
            SyntaxError,
        ) as exc:
            raise _unreadable(field, name, type(exc).__name__) from exc
        return _checked(encoded, name=name, location_kept=keep_location)
    with _decode_turn(probed.pixels, name=name, field=field):
        try:
            encoded = reencode_isolated(upload.data, keep_location=keep_location, max_pixels=budget)
        except ImageDecodeFailed as exc:
            raise _unreadable(field, name, exc.reason) from exc
    return _checked(encoded, name=name, location_kept=keep_location)


# Background re-encoding ----------------------------------------------------------------------
# A module that takes a large image after its header checks (`accept_image`) stores it as
# received with a `processing` state, served to no one, and re-encodes it in a task. The task's
# steps are the same for every such module; what differs (the states, how it decodes, what the
# audit names) is passed in.

PendingRow = TypeVar("PendingRow", bound=models.Model)


@dataclass(frozen=True)
class PendingStates:
    """Where a row awaiting its re-encode keeps its state, the state's three values, and the
    fields holding the file and a failure's reason."""

    processing: str
    ready: str
    failed: str
    state_field: str = "state"
    file_field: str = "image"
    error_field: str = "error"


@dataclass(frozen=True)
class PendingAudit:
    """How the outcome is audited: the two actions, the object the record names (None: the
    row itself), its organisation (None: the object's scope), the keys every record carries
    and the row's fields a `ready` record adds."""

    ready: str
    failed: str
    obj: models.Model | None = None
    organisation: Organisation | None = None
    keys: Mapping[str, Any] = field(default_factory=dict)
    ready_fields: Sequence[str] = ("size", "width", "height")


def pending_image_reencode(
    row: PendingRow,
    *,
    states: PendingStates,
    reencode: Callable[[bytes], Encoded],
    stem: str,
    audit: PendingAudit,
    on_ready: Callable[[PendingRow, Encoded], Sequence[str]] | None = None,
    on_failed: Callable[[PendingRow], None] | None = None,
    lost: Callable[[], Exception] | None = None,
) -> PendingRow | None:
    """Re-encodes a `processing` row's file with `reencode` (in a child process, with its
        limits: `reencode_isolated`). The re-encoded file, named `stem` and its extension, replaces
        the original, and the row becomes `ready` (`on_ready` may set more of its fields and names
        them); a failed decode makes it `failed` with the reason (`on_failed` is then called with
    the row, in the same transaction, once: to tell someone). The original, which still carries
        its metadata, is deleted once either outcome has committed. A row no longer `processing`
        is returned untouched, so running twice is harmless; one that another run finished (or
        that was deleted) while this one decoded keeps its state and loses the new file, and is
        returned (None when deleted), or `lost()` is raised."""
    if getattr(row, states.state_field) != states.processing:
        return row
    original = getattr(row, states.file_field)
    with original.open("rb") as handle:
        data = handle.read()
    try:
        encoded = reencode(data)
    except ImageDecodeFailed as exc:
        return _pending_failed(row, exc.reason, states=states, audit=audit, on_failed=on_failed)
    fresh = original.field.generate_filename(row, f"{stem}.{EXTENSIONS[encoded.format]}")
    new_name = default_storage.save(fresh, ContentFile(encoded.data))
    with files_kept_on_commit(new_name):
        manager = type(row)._default_manager
        locked = manager.select_for_update().filter(pk=row.pk).first()
        if locked is None or getattr(locked, states.state_field) != states.processing:
            if lost is not None:
                raise lost()
            default_storage.delete(new_name)
            return locked
        _pending_ready(locked, encoded, new_name, states=states, on_ready=on_ready)
        changes = {name: getattr(locked, name) for name in audit.ready_fields}
        audit_record(
            actor=None,
            action=audit.ready,
            obj=audit.obj if audit.obj is not None else locked,
            organisation=audit.organisation,
            changes={**audit.keys, **changes},
        )
        original_name = original.name
        transaction.on_commit(lambda: default_storage.delete(original_name))
    return locked


def _pending_ready(
    row: PendingRow,
    encoded: Encoded,
    new_name: str,
    *,
    states: PendingStates,
    on_ready: Callable[[PendingRow, Encoded], Sequence[str]] | None,
) -> None:
    getattr(row, states.file_field).name = new_name
    row.content_type = CONTENT_TYPES[encoded.format]  # type: ignore[attr-defined]
    row.width, row.height = encoded.width, encoded.height  # type: ignore[attr-defined]
    row.size = len(encoded.data)  # type: ignore[attr-defined]
    setattr(row, states.state_field, states.ready)
    extra = list(on_ready(row, encoded)) if on_ready is not None else []
    fields = [
        states.file_field,
        "content_type",
        "width",
        "height",
        "size",
        *extra,
        states.state_field,
    ]
    row.save(update_fields=fields)


def _pending_failed(
    row: PendingRow,
    reason: str,
    *,
    states: PendingStates,
    audit: PendingAudit,
    on_failed: Callable[[PendingRow], None] | None,
) -> PendingRow:
    error = reason[:200]
    with transaction.atomic():
        manager = type(row)._default_manager
        updated = manager.filter(pk=row.pk, **{states.state_field: states.processing}).update(
            **{states.state_field: states.failed, states.error_field: error}
        )
        if updated:
            audit_record(
                actor=None,
                action=audit.failed,
                obj=audit.obj if audit.obj is not None else row,
                organisation=audit.organisation,
                changes={**audit.keys, "error": error},
            )
            if on_failed is not None:
                setattr(row, states.state_field, states.failed)
                setattr(row, states.error_field, error)
                on_failed(row)
            original = getattr(row, states.file_field).name
            transaction.on_commit(lambda: default_storage.delete(original))
    row.refresh_from_db()
    return row

"""Image checks shared by every module that accepts pictures (casework photos, broadcast post
images and avatars), done before anything is stored: the real type (from the bytes, not the
name or the declared type), the size in bytes and in pixels, and a decode of the whole image.
Every accepted image is re-encoded, which drops all metadata (EXIF, GPS, XMP, ICC profiles,
comments and text chunks); when the sender chose to keep the location, only the GPS block is
written back.

Decoding is the costly part (a 131 KB PNG can hold 40 million pixels: 120 MB and seconds of
work), so the header is checked first against a pixel budget and against the file's size
(`core.conf.CoreSettings`: `image_max_pixels`, `image_max_pixels_per_byte`), and large images
are decoded a few at a time per process."""

from __future__ import annotations

import contextlib
import io
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from civichub.core.conf import core_settings
from civichub.core.errors import DomainError, RateLimited, ValidationFailed

GPS_IFD = 0x8825
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
KEPT_INFO = {"transparency"}


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
    The header is checked before anything is decoded (`_header_check`); a large image waits
    for its turn to be decoded (`_decode_turn`)."""
    name = (upload.name or "photo")[:200]
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
                exif = probe.getexif()
                gps = dict(exif.get_ifd(GPS_IFD)) if keep_location else None
                with _decode_turn(probe.width * probe.height, name=name, field=field):
                    probe.load()
                    # In place: a copy would double the memory a large image takes.
                    ImageOps.exif_transpose(probe, in_place=True)
                    return _reencode(probe, name=name, gps=gps)
    except DomainError:
        raise
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        ValueError,
        SyntaxError,
    ) as exc:
        raise _refuse(
            field,
            _("%(name)s：无法读取这个图片（%(error)s）。")
            % {"name": name, "error": type(exc).__name__},
        ) from exc


def _reencode(image: Image.Image, *, name: str, gps: dict[int, Any] | None) -> CheckedImage:
    image_format = image.format or ""
    # Pillow's save() writes back what `info` carries (a JPEG comment, XMP, the ICC profile,
    # EXIF); only the transparency, which is part of the picture, is kept.
    image.info = {key: value for key, value in image.info.items() if key in KEPT_INFO}
    out = io.BytesIO()
    save_args: dict[str, Any] = {}
    if image_format == "JPEG":
        if image.mode not in {"RGB", "L"}:
            image = image.convert("RGB")
        save_args.update(quality=88, optimize=True)
    elif image_format == "WEBP":
        save_args.update(quality=88)
    if gps:
        fresh = Image.Exif()
        fresh[GPS_IFD] = gps
        save_args["exif"] = fresh.tobytes()
    image.save(out, format=image_format, **save_args)
    data = out.getvalue()
    return CheckedImage(
        data=data,
        format=image_format,
        content_type=CONTENT_TYPES[image_format],
        extension=EXTENSIONS[image_format],
        width=image.width,
        height=image.height,
        original_name=name,
        location_kept=bool(gps),
        gps=gps or None,
    )

"""Image checks shared by every module that accepts pictures (casework photos, broadcast post
images and avatars), done before anything is stored: the real type (from the bytes, not the
name or the declared type), the size in bytes and in pixels, and a decode of the whole image.
Every accepted image is re-encoded, which drops all metadata (EXIF, GPS, XMP, ICC profiles,
comments and text chunks); when the sender chose to keep the location, only the GPS block is
written back."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from civichub.core.errors import ValidationFailed

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


def check_image(
    upload: ImageUpload,
    *,
    field: str,
    max_bytes: int,
    max_pixels: int,
    allowed_formats: list[str],
    keep_location: bool = False,
) -> CheckedImage:
    """The re-encoded image, or ValidationFailed naming `field` with a sentence for people."""
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
                image_format = probe.format or ""
                width, height = probe.size
                if image_format not in allowed_formats:
                    values = {
                        "name": name,
                        "format": image_format,
                        "formats": ", ".join(allowed_formats),
                    }
                    if image_format:
                        message = _("%(name)s：不接受 %(format)s 格式，请发送 %(formats)s。")
                    else:
                        message = _("%(name)s：不接受这种文件类型，请发送 %(formats)s。")
                    raise _refuse(field, message % values)
                if width * height > max_pixels:
                    raise _refuse(field, _("%(name)s：图片的像素过多。") % {"name": name})
                exif = probe.getexif()
                gps = dict(exif.get_ifd(GPS_IFD)) if keep_location else None
                probe.load()
                image = ImageOps.exif_transpose(probe)
    except ValidationFailed:
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

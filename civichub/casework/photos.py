"""Photo checks for intake (core.images: real type, size in bytes and pixels, a full decode,
re-encoding that drops all metadata unless the sender keeps the location) and the reading of
a kept location. A large photo (over the profile's `image_background_pixels`) is only checked
from its header here and re-encoded later by a task (`services.photo_processing`); its kept
location is read from the header's EXIF block, so the case is placed at intake all the same."""

from __future__ import annotations

from typing import Any

from civichub.core.images import GPS_IFD, CheckedImage, DeferredImage, ImageUpload, accept_image

__all__ = [
    "GPS_IFD",
    "CheckedPhoto",
    "DeferredPhoto",
    "PhotoUpload",
    "check_photo",
    "gps_point",
]

# The checks and the re-encoding are core's, shared with other modules that take images.
PhotoUpload = ImageUpload
CheckedPhoto = CheckedImage
DeferredPhoto = DeferredImage


def check_photo(
    upload: PhotoUpload,
    *,
    index: int,
    keep_location: bool,
    max_bytes: int,
    max_pixels: int,
    allowed_formats: list[str],
) -> CheckedPhoto | DeferredPhoto:
    return accept_image(
        upload,
        field=f"photos.{index}",
        keep_location=keep_location,
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        allowed_formats=allowed_formats,
    )


def _rational(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return 0.0


def gps_point(gps: dict[int, Any] | None) -> tuple[float, float] | None:
    """(lat, lng) in WGS-84 from an EXIF GPS block, or None."""
    if not gps or 2 not in gps or 4 not in gps:
        return None
    try:
        lat = sum(_rational(v) / 60**i for i, v in enumerate(gps[2]))
        lng = sum(_rational(v) / 60**i for i, v in enumerate(gps[4]))
    except TypeError:
        return None
    if str(gps.get(1, "N")).upper().startswith("S"):
        lat = -lat
    if str(gps.get(3, "E")).upper().startswith("W"):
        lng = -lng
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or (lat == 0 and lng == 0):
        return None
    return lat, lng

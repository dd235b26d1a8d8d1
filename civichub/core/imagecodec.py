"""Decoding and re-encoding one image, with Pillow alone (no Django), so that the same code runs
in the process that received a small image and, for a large one, in a child process with a
time and memory limit (`python -m civichub.core.imagecodec`, see `core.images`).

Re-encoding drops all metadata (EXIF, GPS, XMP, ICC profiles, comments and text chunks); when
the sender chose to keep the location, only the GPS block is written back."""

from __future__ import annotations

import io
import json
import resource
import sys
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps

GPS_IFD = 0x8825
KEPT_INFO = {"transparency"}


@dataclass(frozen=True)
class Encoded:
    data: bytes
    format: str
    width: int
    height: int
    gps: dict[int, Any] | None


def reencode(data: bytes, *, keep_gps: bool, max_pixels: int) -> Encoded:
    """The image decoded (refused by Pillow past `max_pixels`), turned upright and written
    again in its own format without its metadata. Raises what Pillow raises on a bad file."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > max_pixels:
                raise Image.DecompressionBombError(f"{image.width}x{image.height}")
            gps = dict(image.getexif().get_ifd(GPS_IFD)) if keep_gps else None
            image.load()
            # In place: a copy would double the memory a large image takes.
            ImageOps.exif_transpose(image, in_place=True)
            return _write(image, gps=gps)


def _write(image: Image.Image, *, gps: dict[int, Any] | None) -> Encoded:
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
    return Encoded(
        data=out.getvalue(),
        format=image_format,
        width=image.width,
        height=image.height,
        gps=gps or None,
    )


def main() -> int:
    """The child's side: arguments `keep_gps` (0/1), `max_pixels` and `memory_bytes` (its own
    address-space limit, 0 for none; set here rather than by the parent between fork and exec,
    which is not safe in a threaded server), the image on standard input; one JSON line
    (format, width, height) then the re-encoded bytes on standard output, or the error's name
    on standard error and exit status 3."""
    keep_gps, max_pixels, memory = sys.argv[1] == "1", int(sys.argv[2]), int(sys.argv[3])
    if memory > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        done = reencode(sys.stdin.buffer.read(), keep_gps=keep_gps, max_pixels=max_pixels)
    except (Image.DecompressionBombError, MemoryError, OSError, ValueError, SyntaxError) as exc:
        sys.stderr.write(type(exc).__name__)
        return 3
    head = {"format": done.format, "width": done.width, "height": done.height}
    sys.stdout.buffer.write(json.dumps(head).encode() + b"\n" + done.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())

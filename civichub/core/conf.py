"""Core's part of the deployment profile (`CIVICHUB_PROFILE`): what every module may read about
the deployment itself. The environment variables that set each key are in settings.py and the
README."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from civichub.core.config import ModuleConfig, module_config


@dataclass(frozen=True)
class CoreSettings(ModuleConfig):
    setting: ClassVar[str] = "CIVICHUB_PROFILE"

    # The deployment's name.
    city_name: str = ""
    # The public address of the site (scheme, host, optional port and path), put in front of
    # every link that leaves the request it was made in: CAP identifiers and senders, Atom ids
    # and links. Never taken from a request's Host header, which the client chooses. The
    # default is the address `civichub serve` and `civichub demo` listen on.
    site_url: str = "http://127.0.0.1:8000"
    # The coordinate system assumed for incoming coordinates that do not name one (a value of
    # `core.models.CoordinateSystem`): "gcj02" (Chinese maps) or "wgs84" (GPS).
    default_crs: str = "gcj02"
    # Images (core.images, for every module that takes pictures). The most pixels any image
    # may have, whatever a module allows: read from the file's header and refused before
    # anything is decoded (a 40-megapixel RGB picture takes 120 MB decoded).
    image_max_pixels: int = 40_000_000
    # Decode amplification: above `image_free_pixels`, an image may have at most this many
    # pixels per byte of its file. Photographs have under 20 and line-art scans under 100; a
    # few hundred is a picture made to be expensive to decode (a plain 6300×6300 PNG is
    # 131 KB: 303 pixels per byte, 120 MB and seconds of work).
    image_max_pixels_per_byte: int = 200
    image_free_pixels: int = 4_000_000
    # Large images (above `image_free_pixels`) decoded at once per process, and how long a
    # request waits for its turn before it is refused (429): memory stays bounded when many
    # arrive together.
    image_large_decodes: int = 2
    image_large_wait_seconds: float = 10.0


def core_settings() -> CoreSettings:
    return module_config(CoreSettings)

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
    # Maps (core.maps, for every page that shows or takes a place). The base map's tile
    # address as a URL template with {z}/{x}/{y} (and {s} for `map_tiles_subdomains`, {key}
    # for `map_tiles_key`), e.g. OpenStreetMap "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
    # Tianditu "https://t{s}.tianditu.gov.cn/vec_w/wmts?...&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}"
    # or AMap "https://webrd0{s}.is.autonavi.com/appmaptile?style=8&x={x}&y={y}&z={z}".
    # Empty: no outside tiles at all; maps show the platform's own base map, drawn from the
    # communities' areas on a plain background, so a demo or a test never needs the internet.
    map_tiles: str = ""
    # A second tile layer drawn over the first (Tianditu's labels, "cva_w"); empty for none.
    map_label_tiles: str = ""
    map_tiles_key: str = ""
    map_tiles_subdomains: str = "abc"
    # The coordinate system the tiles are drawn in (a `core.models.CoordinateSystem` value):
    # "wgs84" for OpenStreetMap and Tianditu (CGCS2000 agrees with WGS-84 to centimetres),
    # "gcj02" for AMap, Tencent and other Chinese commercial maps. Pages hand the browser
    # coordinates in this system and the map form says which system its pin is in.
    map_tiles_crs: str = "wgs84"
    # The tiles' attribution, shown on every map (required by every provider's terms).
    map_tiles_attribution: str = ""
    map_max_zoom: int = 18
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
    # A large image is decoded in a child process that is stopped after this many seconds and
    # may take at most this much memory (address space; 0: no memory limit).
    image_decode_seconds: float = 30.0
    image_decode_memory_mb: int = 1536
    # Above this many pixels a module that can wait (casework photos) takes an image after its
    # header checks alone and re-encodes it in a background task, in the same child process;
    # the request decodes nothing. An ordinary 12-megapixel phone photo (4032×3024, ~6 MB)
    # re-encodes in about a quarter of a second of CPU and 35 MB, so it stays in the request.
    image_background_pixels: int = 16_000_000


def core_settings() -> CoreSettings:
    return module_config(CoreSettings)

"""Images for tests and benchmarks."""

from __future__ import annotations

import struct
import zlib


def plain_png(width: int, height: int) -> bytes:
    """A white RGB PNG, written row by row so that the test never holds the picture: a 6300×6300
    one is about 131 KB of file for 119 MB of pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    compressor = zlib.compressobj(9)
    row = b"\0" + b"\xff" * (width * 3)
    parts = [compressor.compress(row) for _ in range(height)]
    idat = b"".join(parts) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )

"""Key files in the data directory, created once even when several processes start together.

A key is written to a private temporary file and then linked into place; `os.link` fails if the
name exists, so exactly one process's key wins and every process reads that one. Losing this race
silently would leave data encrypted under a key nobody kept."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, generate: Callable[[], bytes]) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".key-")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(generate())
        os.chmod(temporary, 0o600)
        # If another process created it first, its key is the one everybody reads.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return path.read_bytes().strip()

"""How far the demo's background seeding has come, in a small JSON file beside the database.

`civichub demo` starts the web server before the modules' demo data is written; the seeding writes
its progress here after every phase, and the web server's demo middleware reads it to answer
"演示数据正在生成…" with the progress until the state is `ready`. A file left in the `seeding`
state means a seed was interrupted (Ctrl-C, a crash): the next `civichub demo` starts afresh.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

SEEDING = "seeding"
READY = "ready"
FAILED = "failed"
# The phase while the first run of a code version migrates the database behind the progress page.
MIGRATING = "migrations"


@dataclass(frozen=True)
class SeedingStatus:
    state: str  # SEEDING, READY or FAILED
    done: int = 0  # phases finished
    total: int = 0  # phases in all
    phase: str = ""  # the phase under way (or the last one)

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0


def status_write(path: Path, status: SeedingStatus) -> None:
    """Replaces the file in one step, so a reader never sees half of it."""
    partial = path.with_name(f"{path.name}.partial")
    partial.write_text(json.dumps(asdict(status)), encoding="utf-8")
    os.replace(partial, path)


def status_read(path: Path) -> SeedingStatus | None:
    """The status, or None when there is no (readable) file: nothing is being seeded."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return SeedingStatus(
            state=str(data["state"]),
            done=int(data["done"]),
            total=int(data["total"]),
            phase=str(data["phase"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None

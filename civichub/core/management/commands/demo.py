"""`civichub demo`: a demo city on this machine in one command.

It brings the database up to date (a fresh SQLite database is copied from a migrated template kept
once per code version, `core.demo.template`), starts the web server as a child process, and, when
the database is empty (`--reset` wipes it first), seeds the demo city in the background: the
address and a login for each role are printed as soon as the server answers, pages show
"演示数据正在生成…" with the progress until the data is complete, and the task worker starts
then. Ctrl-C stops both; a seed cut short is started afresh the next time. The demo runs on plain
http:// on the loopback address, so it refuses production mode (which would redirect to https
and, with `--reset`, could wipe a production database).
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from civichub.core import demo
from civichub.core.context import acting
from civichub.core.demo.processes import (
    Supervisor,
    answers,
    browser_host,
    civichub_command,
    port_is_free,
)
from civichub.core.demo.status import (
    FAILED,
    MIGRATING,
    READY,
    SEEDING,
    SeedingStatus,
    status_read,
    status_write,
)
from civichub.core.demo.template import database_migrate, first_migration_needed

READY_TIMEOUT_SECONDS = 90
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class Command(BaseCommand):
    help = "Run a demo city on this machine: database, demo data, web server and task worker."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=8000, help="Port to listen on.")
        parser.add_argument(
            "--reset", action="store_true", help="Wipe the database and seed the demo afresh."
        )
        parser.add_argument(
            "--size",
            choices=demo.SIZES,
            default="small",
            help="small: a few communities (seconds); city: a city-sized data set (minutes).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError(
                "civichub demo runs a demo on http://; unset CIVICHUB_PRODUCTION to use it. "
                "For a real deployment use `civichub serve` and `civichub worker`."
            )
        host: str = options["host"]
        port: int = options["port"]
        if not port_is_free(host, port):
            raise CommandError(f"Port {port} on {host} is in use; choose another with --port.")
        status_file = settings.DATA_DIR / "demo-status.json"
        size, migrate_first = self._prepare_database(
            status_file, reset=options["reset"], size=options["size"]
        )
        # The children and the seeding thread open their own connections.
        connections.close_all()
        self._run(host, port, status_file, size, migrate_first)

    def _prepare_database(
        self, status_file: Path, *, reset: bool, size: str
    ) -> tuple[str | None, bool]:
        """Migrates; returns the size to seed in the background (None to seed nothing) and
        whether the background must migrate first. The
        first run of a code version on a fresh database leaves the migrations to the background
        too, so that the server answers (with the progress page) within seconds."""
        previous = status_read(status_file)
        if not reset and previous is not None and previous.state != READY:
            self._say("The last seeding of the demo data did not finish: starting afresh.")
            reset = True
        if reset:
            self._say("Wiping the database...")
            demo.database_reset()
        if first_migration_needed():
            self._say(
                "Preparing the database for the first run of this version "
                "(about a minute, in the background)..."
            )
            status_write(status_file, SeedingStatus(state=SEEDING, phase=MIGRATING))
            return size, True
        self._say("Preparing the database...")
        how = database_migrate()
        if how == "copied":
            self._say("  (copied from the migrated template of this version)")
        if demo.database_is_empty():
            status_write(status_file, SeedingStatus(state=SEEDING))
            return size, False
        status_file.unlink(missing_ok=True)
        self._say("The database already holds data: not seeding (--reset starts afresh).")
        return None, False

    def _run(
        self, host: str, port: int, status_file: Path, size: str | None, migrate_first: bool
    ) -> None:
        """The web server at once, the seeding in a thread, the task worker once the data is
        complete; until Ctrl-C or a child stops."""
        env = os.environ.copy()
        env.setdefault("DJANGO_SETTINGS_MODULE", "civichub.settings")
        env["PYTHONUNBUFFERED"] = "1"
        env["CIVICHUB_DEMO_STATUS_FILE"] = str(status_file)
        if host not in LOOPBACK and not os.environ.get("CIVICHUB_ALLOWED_HOSTS"):
            env["CIVICHUB_ALLOWED_HOSTS"] = "*"
            self._say(
                "Listening beyond this machine: anyone who can reach it can sign in with "
                "the demo logins below."
            )

        supervisor = Supervisor()
        with supervisor.handling_signals():
            supervisor.start(
                "web server",
                civichub_command("serve", "--host", host, "--port", str(port), "--workers", "1"),
                env,
            )
            seeding = None
            if size is not None:
                # A daemon thread: Ctrl-C must not wait for a city to be written; the status
                # file, still "seeding", makes the next run start afresh.
                seeding = threading.Thread(
                    target=_seed_in_background,
                    args=(size, status_file, migrate_first),
                    daemon=True,
                )
                seeding.start()
            address = f"http://{browser_host(host)}:{port}/"
            if not supervisor.wait_until(lambda: answers(host, port), READY_TIMEOUT_SECONDS):
                failed = supervisor.stop()
                if supervisor.stop_requested:
                    return
                raise CommandError(
                    f"The web server did not answer within {READY_TIMEOUT_SECONDS} s"
                    + (f" ({failed})" if failed else "")
                )
            self._say("")
            self._say(f"civichub demo is running at {address}")
            self._say("")
            self._say(demo.logins_table(demo.demo_logins()))
            self._say("")
            self._say("Press Ctrl-C to stop.")
            if seeding is not None:
                self._say(
                    f"Generating the demo data ({size}) in the background; "
                    "pages show the progress until it is done."
                )
                if not self._follow_seeding(supervisor, seeding, status_file):
                    failed = supervisor.stop()
                    if supervisor.stop_requested:
                        self._say("Stopped (the demo data was not finished).")
                        return
                    if failed:
                        raise CommandError(f"The {failed} stopped unexpectedly.")
                    raise CommandError("Generating the demo data failed; see the error above.")
            # The worker logs every task and every (logged, not sent) SMS; in the demo's terminal
            # that would bury the address and the logins, so it reports only problems.
            worker_env = {**env, "CIVICHUB_LOG_LEVEL": env.get("CIVICHUB_LOG_LEVEL", "WARNING")}
            supervisor.start("task worker", civichub_command("worker"), worker_env)
            unexpected = supervisor.supervise()
            self._say("Stopping the web server and the task worker...")
            supervisor.stop()
            self._say("Stopped.")
            if unexpected:
                raise CommandError(f"The {unexpected} stopped unexpectedly; see its output above.")

    def _follow_seeding(
        self, supervisor: Supervisor, seeding: threading.Thread, status_file: Path
    ) -> bool:
        """Prints each phase of the seeding as it starts; True once the data is complete."""
        started = time.monotonic()
        shown: object = None
        while True:
            if supervisor.stop_requested or supervisor.exited():
                return False
            status = status_read(status_file)
            migrating = status is not None and status.phase == MIGRATING
            if status is not None and migrating and shown != MIGRATING:
                shown = MIGRATING  # once, not once per migration
                self._say("  migrating the database...")
            elif status is not None and not migrating and (status.done, status.phase) != shown:
                shown = (status.done, status.phase)
                if status.state == SEEDING and status.phase:
                    self._say(f"  demo data {status.done}/{status.total}: {status.phase}...")
            if not seeding.is_alive():
                status = status_read(status_file)
                if status is None or status.state != READY:
                    return False
                self._say(f"The demo data is ready ({time.monotonic() - started:.0f} s).")
                return True
            seeding.join(0.25)

    def _say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()


def _seed_in_background(size: str, status_file: Path, migrate_first: bool = False) -> None:
    """Seeds the demo city (migrating the database first when asked), writing the progress for
    the web server after every phase."""

    def progress(done: int, total: int, phase: str) -> None:
        state = SEEDING if phase else READY
        status_write(status_file, SeedingStatus(state=state, done=done, total=total, phase=phase))

    def migrating(done: int, total: int) -> None:
        status_write(
            status_file, SeedingStatus(state=SEEDING, done=done, total=total, phase=MIGRATING)
        )

    try:
        if migrate_first:
            database_migrate(progress=migrating)
            connections.close_all()
        with acting(channel="cli"):
            demo.seed_city(size=size, progress=False, on_phase=progress)
    except Exception:
        traceback.print_exc()
        previous = status_read(status_file) or SeedingStatus(state=FAILED)
        status_write(
            status_file,
            SeedingStatus(
                state=FAILED, done=previous.done, total=previous.total, phase=previous.phase
            ),
        )
    finally:
        connections.close_all()

"""`civichub demo`: a demo city on this machine in one command.

It migrates the database, seeds the demo city when the database is empty (`--reset` wipes it
first), then runs the web server and one task worker as child processes in this terminal, prints
the address and a login for each role, and stops both on Ctrl-C. The demo runs on plain http:// on
the loopback address, so it refuses production mode (which would redirect to https and, with
`--reset`, could wipe a production database).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import unicodedata
from argparse import ArgumentParser
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections

from civichub.core.context import acting

READY_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 20
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
            choices=["small", "city"],
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
        if not _port_is_free(host, port):
            raise CommandError(f"Port {port} on {host} is in use; choose another with --port.")

        from civichub.core import demo

        if options["reset"]:
            self._say("Wiping the database...")
            reset_database()
        self._say("Preparing the database...")
        call_command("migrate", interactive=False, verbosity=0)
        if demo.database_is_empty():
            self._say(f"Seeding the demo city ({options['size']})...")
            with acting(channel="cli"):
                demo.seed_city(size=options["size"], progress=True)
        else:
            self._say("The database already holds data: not seeding (--reset starts afresh).")
        # The children open their own connections; this process only supervises.
        connections.close_all()

        env = os.environ.copy()
        env.setdefault("DJANGO_SETTINGS_MODULE", "civichub.settings")
        env["PYTHONUNBUFFERED"] = "1"
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
                _civichub("serve", "--host", host, "--port", str(port), "--workers", "1"),
                env,
            )
            # The worker logs every task and every (logged, not sent) SMS; in the demo's terminal
            # that would bury the address and the logins, so it reports only problems.
            worker_env = {**env, "CIVICHUB_LOG_LEVEL": env.get("CIVICHUB_LOG_LEVEL", "WARNING")}
            supervisor.start("task worker", _civichub("worker"), worker_env)
            address = f"http://{_browser_host(host)}:{port}/"
            if not supervisor.wait_until(lambda: _answers(host, port), READY_TIMEOUT_SECONDS):
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
            self._say(logins_table(demo.demo_logins()))
            self._say("")
            self._say("Press Ctrl-C to stop.")
            unexpected = supervisor.supervise()
            self._say("Stopping the web server and the task worker...")
            supervisor.stop()
            self._say("Stopped.")
            if unexpected:
                raise CommandError(f"The {unexpected} stopped unexpectedly; see its output above.")

    def _say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()


def reset_database() -> None:
    """Wipe the demo database. SQLite: delete the database files (before any connection is
    open). PostgreSQL: flush every table, lifting the audit log's append-only guard."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        connections.close_all()
        name = Path(str(db["NAME"]))
        for path in (name, *(Path(f"{name}{suffix}") for suffix in ("-wal", "-shm", "-journal"))):
            path.unlink(missing_ok=True)
        return
    from civichub.core import dbguard

    call_command("migrate", interactive=False, verbosity=0)
    with dbguard.lifted(connection):
        call_command("flush", interactive=False, verbosity=0)


def logins_table(logins: Sequence[Any]) -> str:
    """The demo logins as an aligned text table (CJK characters count two columns)."""
    header = ("role", "username", "password", "description")
    rows = [header] + [
        (str(x.role), str(x.username), str(x.password), str(x.description)) for x in logins
    ]
    widths = [max(_width(row[i]) for row in rows) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)]
        return "  " + " | ".join(cells).rstrip()

    rule = "  " + "-+-".join("-" * w for w in widths)
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


class Supervisor:
    """Runs the demo's child processes, each in its own process group so that Ctrl-C reaches
    this process only and the children are stopped in order; on Linux the children also die if
    this process is killed outright, so none is left behind."""

    def __init__(self) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stop_requested = False

    @contextlib.contextmanager
    def handling_signals(self) -> Any:
        signals = [signal.SIGINT, signal.SIGTERM]
        if hasattr(signal, "SIGHUP"):
            signals.append(signal.SIGHUP)
        previous = {s: signal.getsignal(s) for s in signals}

        def request_stop(signum: int, frame: FrameType | None) -> None:
            self.stop_requested = True

        for s in signals:
            signal.signal(s, request_stop)
        try:
            yield self
        finally:
            self.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        child = subprocess.Popen(
            command, env=env, start_new_session=True, preexec_fn=_die_with_parent
        )
        self.children.append((name, child))
        return child

    def exited(self) -> str | None:
        """The name of a child that has exited, if any."""
        for name, child in self.children:
            if child.poll() is not None:
                return name
        return None

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stop_requested or self.exited():
                return False
            if ready():
                return True
            time.sleep(0.25)
        return False

    def supervise(self) -> str | None:
        """Wait for a stop request (returns None) or a child's exit (returns its name)."""
        while not self.stop_requested:
            gone = self.exited()
            if gone:
                return gone
            time.sleep(0.2)
        return None

    def stop(self) -> str:
        """Stop every child (SIGTERM to its group, SIGKILL after a timeout); returns the names
        of children that had already exited, for error messages."""
        already = ", ".join(f"{n} exited" for n, c in self.children if c.poll() is not None)
        for _, child in self.children:
            if child.poll() is None:
                _signal_group(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for _, child in self.children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(child.pid, signal.SIGKILL)
                child.wait()
            # Anything the child left in its group (a server's worker processes) goes too.
            _signal_group(child.pid, signal.SIGKILL)
        self.children = []
        return already


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when the demo process dies."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _civichub(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "civichub.cli", *arguments]


def _connect_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104


def _browser_host(host: str) -> str:
    connect = _connect_host(host)
    return f"[{connect}]" if ":" in connect else connect


def _port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As the server will: a port left in TIME_WAIT by a stopped server counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _answers(host: str, port: int) -> bool:
    client = http.client.HTTPConnection(_connect_host(host), port, timeout=2)
    try:
        client.request("GET", "/healthz")
        return client.getresponse().status == 200
    except OSError:
        return False
    finally:
        client.close()

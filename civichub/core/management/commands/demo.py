"""`civichub demo`: a demo city on this machine in one command.

It migrates the database, seeds the demo city when the database is empty (`--reset` wipes it
first), then runs the web server and one task worker as child processes in this terminal, prints
the address and a login for each role, and stops both on Ctrl-C. The demo runs on plain http:// on
the loopback address, so it refuses production mode (which would redirect to https and, with
`--reset`, could wipe a production database).
"""

from __future__ import annotations

import os
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management import call_command
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
        self._prepare_database(reset=options["reset"], size=options["size"])
        # The children open their own connections; this process only supervises.
        connections.close_all()
        self._run(host, port)

    def _prepare_database(self, *, reset: bool, size: str) -> None:
        if reset:
            self._say("Wiping the database...")
            demo.database_reset()
        self._say("Preparing the database...")
        call_command("migrate", interactive=False, verbosity=0)
        if demo.database_is_empty():
            self._say(f"Seeding the demo city ({size})...")
            with acting(channel="cli"):
                demo.seed_city(size=size, progress=True)
        else:
            self._say("The database already holds data: not seeding (--reset starts afresh).")

    def _run(self, host: str, port: int) -> None:
        """The web server and a task worker as children, until Ctrl-C or one of them stops."""
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
                civichub_command("serve", "--host", host, "--port", str(port), "--workers", "1"),
                env,
            )
            # The worker logs every task and every (logged, not sent) SMS; in the demo's terminal
            # that would bury the address and the logins, so it reports only problems.
            worker_env = {**env, "CIVICHUB_LOG_LEVEL": env.get("CIVICHUB_LOG_LEVEL", "WARNING")}
            supervisor.start("task worker", civichub_command("worker"), worker_env)
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
            unexpected = supervisor.supervise()
            self._say("Stopping the web server and the task worker...")
            supervisor.stop()
            self._say("Stopped.")
            if unexpected:
                raise CommandError(f"The {unexpected} stopped unexpectedly; see its output above.")

    def _say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

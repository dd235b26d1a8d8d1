"""`civichub serve`: the production web server, uvicorn running civichub's ASGI application.

ASGI rather than WSGI because the broadcast module holds many server-sent-event connections
open, mostly idle; an event loop keeps each one for the price of a coroutine, where a WSGI server
would tie up a thread or process per subscriber. Ordinary pages and API calls go to Django's
WSGI handler on a fixed pool of threads in each process (`civichub.core.serving`,
`CIVICHUB_WEB_THREADS`), where each runs from the first middleware to the response.

Put it behind a reverse proxy (nginx) that terminates TLS. uvicorn's own proxy-header handling is
off: it would believe X-Forwarded-For from any client on its FORWARDED_ALLOW_IPS (127.0.0.1 by
default), so a local client could name any address to the lock-out and the audit log. Django
reads the headers instead: the client address from the proxies in CIVICHUB_TRUSTED_PROXIES
(civichub.core.http.client_address), the https scheme from X-Forwarded-Proto in production mode
(SECURE_PROXY_SSL_HEADER). SIGTERM or Ctrl-C stops it gracefully: it stops accepting, lets
requests in flight finish (open event streams are closed after --graceful-timeout), then exits.
"""

from __future__ import annotations

import os
from argparse import ArgumentParser
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

MAX_DEFAULT_WORKERS = 16


def default_workers() -> int:
    """Two processes per core, capped: each process is a full Django (~100 MB of memory)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(2 * (cores or 1), MAX_DEFAULT_WORKERS))


class Command(BaseCommand):
    help = "Run the production web server (uvicorn, several worker processes)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument("--port", type=int, default=8000, help="Port to listen on.")
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help=f"Worker processes (default: 2 per core, at most {MAX_DEFAULT_WORKERS}).",
        )
        parser.add_argument(
            "--graceful-timeout",
            type=int,
            default=10,
            help="Seconds to let open connections finish on shutdown (default: 10).",
        )
        parser.add_argument(
            "--no-collectstatic",
            action="store_true",
            help="Skip collectstatic in production mode (when it ran at deployment).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workers = options["workers"] or default_workers()
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        if settings.PRODUCTION and not options["no_collectstatic"]:
            # The manifest storage needs the hashed files before the first request.
            call_command("collectstatic", interactive=False, verbosity=0)
            self.stdout.write(f"civichub serve: static files collected in {settings.STATIC_ROOT}")

        self.stdout.write(
            f"civichub serve: http://{_url_host(options['host'])}:{options['port']}/ "
            f"with {workers} worker process{'es' if workers > 1 else ''}"
        )
        self.stdout.flush()
        # Worker processes import the application afresh, so they need the settings module.
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civichub.settings")
        uvicorn.run(
            "civichub.asgi:application",
            host=options["host"],
            port=options["port"],
            workers=workers,
            proxy_headers=False,  # civichub.core.http.client_address decides
            lifespan="off",  # Django has no lifespan handler
            ws="none",  # no websockets: live updates are server-sent events over HTTP
            timeout_graceful_shutdown=options["graceful_timeout"],
            server_header=False,
            log_level=str(os.environ.get("CIVICHUB_LOG_LEVEL", "info")).lower(),
        )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host

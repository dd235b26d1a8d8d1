"""`civichub worker`: runs queued tasks with the configured backend, and the periodic scheduler.

The backend follows settings.TASKS: the database backend (the embedded default) runs
django-tasks-db's worker loop in this process; the RQ backend (REDIS_URL set) runs an RQ worker
with django-tasks-rq's Job class. Either way tasks run one at a time in this process: RQ's usual
fork per job would hand the child the parent's database connections (the scheduler thread's, a
connection pool's) to use behind their owners' backs, and civichub's tasks are short, idempotent
database work. For more parallelism run more worker processes.

The periodic scheduler (civichub.core.scheduler) runs in a background thread; however many
workers run it, each periodic slot is enqueued once.

SIGTERM and SIGINT stop the worker gracefully: the task in progress finishes, then the process
exits with status 0. A second signal while a task runs abandons it.
"""

from __future__ import annotations

import socket
import threading
from argparse import ArgumentParser
from typing import Any

import django_rq
from django.core.management.base import BaseCommand, CommandError
from django.utils.crypto import get_random_string
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django_tasks.signals import task_finished, task_started
from django_tasks_db.management.commands.db_worker import Worker

from civichub.core import context, metrics
from civichub.core.scheduler import Scheduler


def backend_kind() -> str:
    """`database` or `rq`, from the default task backend."""
    backend = task_backends[DEFAULT_TASK_BACKEND_ALIAS]
    backend_path = f"{type(backend).__module__}.{type(backend).__name__}"
    if backend_path.startswith("django_tasks_db."):
        return "database"
    if backend_path.startswith("django_tasks_rq."):
        return "rq"
    raise CommandError(
        f"The task backend {backend_path} has no worker: `civichub worker` runs the database "
        "backend (default) or the RQ backend (REDIS_URL)."
    )


def _connect_acting_context() -> None:
    """Tasks act in the `task` channel, with the task id as request id, so that audit events
    written by a task say so. The signals fire in the thread (and, for RQ, the work horse) that
    runs the task."""
    open_contexts: dict[str, Any] = {}

    def started(sender: Any, task_result: Any, **kwargs: Any) -> None:
        manager = context.acting(channel="task", request_id=str(task_result.id))
        manager.__enter__()
        open_contexts[str(task_result.id)] = manager

    def finished(sender: Any, task_result: Any, **kwargs: Any) -> None:
        manager = open_contexts.pop(str(task_result.id), None)
        if manager is not None:
            manager.__exit__(None, None, None)

    task_started.connect(started, weak=False, dispatch_uid="civichub.worker.acting.started")
    task_finished.connect(finished, weak=False, dispatch_uid="civichub.worker.acting.finished")


class Command(BaseCommand):
    help = "Run the task worker for the configured backend, with the periodic scheduler."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--queue",
            default="default",
            help="Queues to take tasks from, comma-separated (default: %(default)s).",
        )
        parser.add_argument(
            "--no-scheduler",
            action="store_true",
            help="Do not run the periodic scheduler in this worker.",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="Database backend: seconds between polls of an empty queue (default: 1).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        queues = [q.strip() for q in options["queue"].split(",") if q.strip()]
        if not queues:
            raise CommandError("--queue needs at least one queue name")
        kind = backend_kind()
        _connect_acting_context()
        metrics.connect_task_signals()

        stop = threading.Event()
        scheduler_thread: threading.Thread | None = None
        if not options["no_scheduler"]:
            scheduler = Scheduler()
            scheduler_thread = threading.Thread(
                target=scheduler.run, args=(stop,), name="civichub-scheduler", daemon=True
            )
            scheduler_thread.start()

        self.stdout.write(
            f"civichub worker: {kind} backend, queues {', '.join(queues)}, "
            f"scheduler {'off' if scheduler_thread is None else 'on'}"
        )
        self.stdout.flush()
        try:
            if kind == "database":
                self._run_database_worker(queues, options["interval"])
            else:
                self._run_rq_worker(queues)
        except SystemExit as exit_:
            # django-tasks-db's worker leaves through sys.exit() from its signal handler.
            if exit_.code not in (0, None):
                raise
        finally:
            stop.set()
            if scheduler_thread is not None:
                scheduler_thread.join(timeout=10)
            self.stdout.write("civichub worker: stopped")
            self.stdout.flush()

    def _run_database_worker(self, queues: list[str], interval: float) -> None:
        worker = Worker(
            queue_names=queues,
            interval=interval,
            batch=False,
            backend_name=DEFAULT_TASK_BACKEND_ALIAS,
            startup_delay=False,
            max_tasks=None,
            worker_id=f"{socket.gethostname()[:40]}-{get_random_string(12)}",
            excluded_queue_names=[],
        )
        worker.configure_signals()
        worker.run()

    def _run_rq_worker(self, queues: list[str]) -> None:
        worker = django_rq.get_worker(
            *queues, job_class="django_tasks_rq.Job", worker_class="rq.SimpleWorker"
        )
        # with_scheduler moves deferred tasks (run_after) to their queue when they are due.
        worker.work(with_scheduler=True, logging_level="INFO")

"""civichub scaled out: two web processes and a task worker sharing PostgreSQL and Redis, as in a
production deployment. A test notification sent through the first web process is delivered by
the worker, and the second web process reports the delivery as sent; a post published through
the second web process reaches a Mastodon stream held open by the first (Redis pub/sub).

Needs PostgreSQL (CIVICHUB_TEST_DATABASE_URL, or postgres@127.0.0.1:5432) and Redis (REDIS_URL,
or 127.0.0.1:6379). The test creates its own database and uses its own Redis database number, and
removes both afterwards."""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from civichub.core.tests.test_commands import Output, civichub, civichub_env, free_port, start
from tests.services import redis_database, scratch_postgres

pytestmark = [pytest.mark.postgres, pytest.mark.system]

# Not the database number the test run itself uses (CI: 15), so the flush touches only ours.
SCALE_OUT_REDIS_DB = 13
PHONE = "13800138000"

SETUP_OPERATOR = """
import json
from civichub.core import services
city = services.organisation_create(actor=None, kind="city", name="青山市", name_en="Qingshan",
                                    code="S1")
operator = services.user_create(actor=None, username="operator", password=None,
                                phone="{phone}", validate=False)
services.role_grant(actor=None, user=operator, role="operator", organisation=city)
token, secret = services.api_token_create(actor=operator, name="scale-out test")
print("SETUP " + json.dumps({{"user_id": operator.pk, "token": secret}}))
"""


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, migrated database on the test run's PostgreSQL server."""
    with scratch_postgres("civichub_scale_out") as url:
        yield url


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A flushed Redis database of its own."""
    with redis_database(SCALE_OUT_REDIS_DB) as url:
        yield url


@pytest.fixture
def deployment(postgres_url: str, redis_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Migrated database, an operator with an API token, two web processes and one worker."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = civichub_env(
        data_dir,
        DATABASE_URL=postgres_url,
        REDIS_URL=redis_url,
        CIVICHUB_SECRET_KEY=secrets.token_urlsafe(48),
    )
    setup = subprocess.run(  # the database is migrated already (scratch_postgres)
        civichub("shell", "--command", SETUP_OPERATOR.format(phone=PHONE)),
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    operator = json.loads(setup.stdout.split("SETUP ", 1)[1])

    ports = [free_port(), free_port()]
    started: list[tuple[subprocess.Popen[str], Output]] = []
    try:
        for port in ports:
            started.append(start(civichub("serve", "--port", str(port), "--workers", "1"), env))
        started.append(start(civichub("worker"), env))
        for process, output in started[:2]:
            output.wait_for("Uvicorn running on", process, 60)
        worker, worker_output = started[2]
        worker_output.wait_for("civichub worker: rq backend", worker, 60)
        yield {
            "env": env,
            "web": [f"http://127.0.0.1:{port}" for port in ports],
            "token": operator["token"],
            "user_id": operator["user_id"],
            "worker_output": worker_output,
            "outputs": {
                "web 1": started[0][1],
                "web 2": started[1][1],
                "worker": worker_output,
            },
        }
    finally:
        for process, _ in started:
            if process.poll() is None:
                process.terminate()
        for process, _ in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def logs(deployment: dict[str, Any]) -> str:
    """What the processes printed, for the failure message."""
    return "\n".join(
        f"--- {name} ---\n{output.text}" for name, output in deployment["outputs"].items()
    )


def test_a_notification_sent_through_one_web_process_is_delivered_and_seen_by_another(
    deployment: dict[str, Any],
) -> None:
    web1, web2 = deployment["web"]
    auth = {"Authorization": f"Bearer {deployment['token']}"}
    with httpx.Client(base_url=web1, headers=auth, timeout=30) as first:
        # Quiet hours would defer the SMS when the test runs at night.
        preferences = first.put(
            "/api/notifications/preferences",
            json={
                "quiet_hours_enabled": False,
            },
        )
        assert preferences.status_code == 200, preferences.text + logs(deployment)
        sent = first.post(
            "/api/notifications/test",
            json={
                "user_id": deployment["user_id"],
                "channels": ["inapp", "sms"],
                "message": "scale-out check",
            },
        )
    assert sent.status_code == 202, sent.text + logs(deployment)
    dispatch = sent.json()
    assert [d["channel"] for d in dispatch["deliveries"]] == ["sms"]

    deadline = time.monotonic() + 60
    with httpx.Client(base_url=web2, headers=auth, timeout=30) as second:
        while True:
            report = second.get(f"/api/notifications/dispatches/{dispatch['id']}")
            assert report.status_code == 200, report.text + logs(deployment)
            states = {d["channel"]: d["state"] for d in report.json()["deliveries"]}
            if states.get("sms") == "sent" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert states == {"sms": "sent"}, logs(deployment)
        inbox = second.get("/api/notifications/")
        assert inbox.status_code == 200, inbox.text + logs(deployment)
        assert [n["kind"] for n in inbox.json()["items"]] == ["notify.test"]

    # The worker, not a web process, ran the delivery task.
    assert "civichub.notify.tasks.deliveries_send" in deployment["worker_output"].text, logs(
        deployment
    )


# Streaming across processes ---------------------------------------------------------------------

STREAMS_BEYOND_THE_POOL = 10
SETUP_BROADCAST = """
import json
from civichub.broadcast import services as broadcast
from civichub.core import services
from civichub.core.models import Organisation
city = Organisation.objects.get(code="S1")
publisher = services.user_create(actor=None, username="publisher", password=None,
                                 phone="13800138001", validate=False)
services.role_grant(actor=None, user=publisher, role="broadcast_publisher", organisation=city)
reader = services.user_create(actor=None, username="reader", password=None,
                              phone="13800138002", validate=False)
account = broadcast.account_create(actor=None, organisation=city, handle="safe-qingshan",
                                   name="平安青山")
broadcast.follow_create(actor=reader, account_id=account.pk)
_, publisher_token = services.api_token_create(actor=publisher, name="scale-out publisher")
_, reader_token = services.api_token_create(actor=reader, name="scale-out reader")
print("SETUP " + json.dumps({"publisher": publisher_token, "reader": reader_token}))
"""


def test_a_post_published_through_one_web_process_reaches_a_stream_held_by_another(
    deployment: dict[str, Any],
) -> None:
    env = deployment["env"]
    setup = subprocess.run(
        civichub("shell", "--command", SETUP_BROADCAST),
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    tokens = json.loads(setup.stdout.split("SETUP ", 1)[1])
    web1, web2 = deployment["web"]
    stream_url = f"{web1}/broadcast/mastodon/api/v1/streaming/user"
    publish_url = f"{web2}/api/broadcast/accounts/safe-qingshan/posts"
    publisher = {"Authorization": f"Bearer {tokens['publisher']}"}
    reader = {"access_token": tokens["reader"]}

    timeout = httpx.Timeout(30, read=30)
    with (
        contextlib.ExitStack() as idle,
        httpx.stream("GET", stream_url, params=reader, timeout=timeout) as stream,
    ):
        # More open streams than the process's pool has database connections (8): a stream
        # holds none while it waits, so ordinary requests to the same process still get one.
        for _ in range(STREAMS_BEYOND_THE_POOL):
            other = idle.enter_context(
                httpx.stream("GET", stream_url, params=reader, timeout=timeout)
            )
            assert other.status_code == 200, logs(deployment)
            assert next(other.iter_lines()) == ":)"
        started = time.monotonic()
        home = httpx.get(
            f"{web1}/api/broadcast/home",
            headers={"Authorization": f"Bearer {tokens['reader']}"},
            timeout=30,
        )
        assert home.status_code == 200, home.text + logs(deployment)
        assert time.monotonic() - started < 5, "the request waited for a pooled connection"
        assert stream.status_code == 200, logs(deployment)
        lines = stream.iter_lines()
        assert next(lines) == ":)", "the stream subscribes before its first line"
        time.sleep(0.5)  # Redis confirms the subscription a moment after it is sent
        published = httpx.post(
            publish_url,
            headers=publisher,
            json={"text": "跨进程：青山隧道恢复通行", "category": "traffic"},
            timeout=30,
        )
        assert published.status_code == 201, published.text + logs(deployment)
        post_id = str(published.json()["id"])
        event, data = None, None
        deadline = time.monotonic() + 20
        for line in lines:
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "update":
                data = json.loads(line[6:])
                break
            assert time.monotonic() < deadline, "no update arrived" + logs(deployment)
    assert data is not None, logs(deployment)
    assert data["id"] == post_id
    assert data["content"] == "<p>跨进程：青山隧道恢复通行</p>"
    assert data["account"]["acct"] == "safe-qingshan"

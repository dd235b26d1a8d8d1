"""Streams across processes without Redis: two `civichub serve` processes sharing one SQLite
data directory, as an embedded install runs its web server beside its task worker. A post
published through the second reaches a Mastodon stream held open by the first."""

from __future__ import annotations

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

pytestmark = pytest.mark.once  # the same on any database: the SQLite run runs it

SETUP = """
import json
from civichub.broadcast import services as broadcast
from civichub.core import services

city = services.organisation_create(actor=None, kind="city", name="青山市", name_en="Qingshan",
                                    code="S1")
publisher = services.user_create(actor=None, username="publisher", password=None,
                                 phone="13800138001", validate=False)
services.role_grant(actor=None, user=publisher, role="broadcast_publisher", organisation=city)
reader = services.user_create(actor=None, username="reader", password=None,
                              phone="13800138002", validate=False)
account = broadcast.account_create(actor=None, organisation=city, handle="safe-qingshan",
                                   name="平安青山")
broadcast.follow_create(actor=reader, account_id=account.pk)
_, publisher_token = services.api_token_create(actor=publisher, name="publisher")
_, reader_token = services.api_token_create(actor=reader, name="reader")
print("SETUP " + json.dumps({"publisher": publisher_token, "reader": reader_token}))
"""


@pytest.fixture
def two_web_processes(tmp_path: Path) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = civichub_env(data_dir, CIVICHUB_SECRET_KEY=secrets.token_urlsafe(48))
    subprocess.run(civichub("migrate", "--verbosity", "0"), env=env, check=True, timeout=300)
    setup = subprocess.run(
        civichub("shell", "--command", SETUP),
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    tokens = json.loads(setup.stdout.split("SETUP ", 1)[1])
    ports = [free_port(), free_port()]
    started: list[tuple[subprocess.Popen[str], Output]] = []
    try:
        for port in ports:
            started.append(start(civichub("serve", "--port", str(port), "--workers", "1"), env))
        for process, output in started:
            output.wait_for("Uvicorn running on", process, 60)
        yield {
            "web": [f"http://127.0.0.1:{port}" for port in ports],
            "tokens": tokens,
            "outputs": [output for _, output in started],
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


def test_without_redis_a_post_published_through_one_process_reaches_a_stream_in_another(
    two_web_processes: dict[str, Any],
) -> None:
    web1, web2 = two_web_processes["web"]
    tokens = two_web_processes["tokens"]
    logs = "\n".join(o.text for o in two_web_processes["outputs"])
    timeout = httpx.Timeout(30, read=30)
    with httpx.stream(
        "GET",
        f"{web1}/broadcast/mastodon/api/v1/streaming/user",
        params={"access_token": tokens["reader"]},
        timeout=timeout,
    ) as stream:
        assert stream.status_code == 200, logs
        lines = stream.iter_lines()
        assert next(lines) == ":)", "the stream listens before its first line"
        published = httpx.post(
            f"{web2}/api/broadcast/accounts/safe-qingshan/posts",
            headers={"Authorization": f"Bearer {tokens['publisher']}"},
            json={"text": "同一台机器上的另一个进程发布", "category": "notice"},
            timeout=30,
        )
        assert published.status_code == 201, published.text + logs
        event, data = None, None
        deadline = time.monotonic() + 20
        for line in lines:
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "update":
                data = json.loads(line[6:])
                break
            assert time.monotonic() < deadline, "no update arrived"
    assert data is not None
    assert data["id"] == str(published.json()["id"])
    assert data["content"] == "<p>同一台机器上的另一个进程发布</p>"

"""The users of `benchmarks/load.py`, for locust: residents browsing the message board, the
broadcast pages and feeds and sending messages (Open311 and the API), staff working the inbox,
and one publisher who sends an alert to a district halfway through the run.

`load.py` starts locust with this file and passes the world it seeded in `CIVICHUB_LOAD_WORLD`
(a JSON file: tokens, the Open311 key, account handles, the district) and the run's length in
`CIVICHUB_LOAD_SECONDS`. Every request goes through nginx over TLS with a test certificate, so
certificate checks are off. Request names group URLs by page (`name=`), so the report has one
line per page, not per tracking number.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import random
import time
from pathlib import Path
from typing import Any

import gevent.ssl
from locust import between, task
from locust.contrib.fasthttp import FastHttpUser

WORLD: dict[str, Any] = json.loads(Path(os.environ["CIVICHUB_LOAD_WORLD"]).read_text())
RUN_SECONDS = float(os.environ.get("CIVICHUB_LOAD_SECONDS", "60"))
_numbers = itertools.count(1)
# Tracking numbers seen in the run, for staff to open; seeded with the demo city's cases.
TRACKING: list[str] = list(WORLD["tracking_numbers"])


def _check(response: Any, status: int) -> None:
    if response.status_code != status:
        response.failure(f"{response.status_code}: {response.text[:200]}")


def _tls_context() -> gevent.ssl.SSLContext:
    """One TLS client context for every simulated user, certificate checks off (the test
    certificate). locust's default makes a context per user, loading the system's CA
    certificates each time (about 20 ms of CPU): 500 users spawned at 50 a second kept locust's
    one core busy for the whole spawn, and every request it timed meanwhile waited for it (p99
    of 9-15 s in locust's figures while an independent client saw the same pages answered in
    under 0.5 s)."""
    context = gevent.ssl.SSLContext(gevent.ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = gevent.ssl.CERT_NONE
    return context


_TLS = _tls_context()


class CityUser(FastHttpUser):
    """A simulated user on a connection of its own, through the shared TLS context."""

    abstract = True
    insecure = True
    ssl_context_factory = staticmethod(lambda *_args, **_kwargs: _TLS)


class Resident(CityUser):
    """A resident: reads far more than writes, with a few seconds between pages."""

    weight = 12
    wait_time = between(1, 5)

    def on_start(self) -> None:
        self.token = random.choice(WORLD["resident_tokens"])
        self.auth = {"Authorization": f"Bearer {self.token}"}

    @task(4)
    def board_page(self) -> None:
        with self.client.get(
            "/messages/board/", name="page: message board", catch_response=True
        ) as r:
            _check(r, 200)

    @task(3)
    def board_api(self) -> None:
        with self.client.get(
            "/api/casework/board?limit=20", name="api: message board", catch_response=True
        ) as r:
            _check(r, 200)

    @task(4)
    def broadcast_home(self) -> None:
        with self.client.get("/broadcast/", name="page: broadcast home", catch_response=True) as r:
            _check(r, 200)

    @task(3)
    def account_feed(self) -> None:
        handle = random.choice(WORLD["handles"])
        with self.client.get(
            f"/broadcast/@{handle}/feed.atom", name="feed: account (Atom)", catch_response=True
        ) as r:
            _check(r, 200)

    @task(3)
    def home_timeline(self) -> None:
        with self.client.get(
            "/api/broadcast/home", headers=self.auth, name="api: home feed", catch_response=True
        ) as r:
            _check(r, 200)

    @task(2)
    def own_messages(self) -> None:
        with self.client.get(
            "/api/casework/cases/mine",
            headers=self.auth,
            name="api: my messages",
            catch_response=True,
        ) as r:
            _check(r, 200)

    @task(1)
    def send_message_api(self) -> None:
        number = next(_numbers)
        with self.client.post(
            "/api/casework/cases",
            json={
                "kind": "complaint",
                "title": "路灯不亮",
                "text": f"幸福路第 {number} 号门口的路灯连续三晚不亮，夜里行人看不清路。",
                "is_public": number % 2 == 0,
                "address": f"幸福路 {number} 号",
            },
            headers=self.auth,
            name="api: send a message",
            catch_response=True,
        ) as r:
            _check(r, 201)
            if r.status_code == 201:
                TRACKING.append(r.json()["tracking_number"])

    @task(1)
    def send_message_open311(self) -> None:
        number = next(_numbers)
        with self.client.post(
            "/open311/v2/requests.json",
            data={
                "api_key": WORLD["open311_key"],
                "service_code": WORLD["service_code"],
                "lat": f"{WORLD['lat'] + (number % 50) * 1e-4:.6f}",
                "long": f"{WORLD['long'] + (number % 37) * 1e-4:.6f}",
                "description": f"第 {number} 号楼前的路面有坑，请尽快修补。",
                "email": f"reporter{number}@example.org",
            },
            name="open311: send a request",
            catch_response=True,
        ) as r:
            ok = r.status_code == 200 and "service_request_id" in r.text
            if not ok:
                r.failure(f"{r.status_code}: {r.text[:200]}")


class Staff(CityUser):
    """A member of staff working the inbox: the list, a case, now and then a note."""

    weight = 2
    wait_time = between(2, 6)

    def on_start(self) -> None:
        self.auth = {"Authorization": f"Bearer {random.choice(WORLD['staff_tokens'])}"}

    @task(4)
    def inbox(self) -> None:
        with self.client.get(
            "/api/casework/cases?limit=50",
            headers=self.auth,
            name="api: staff inbox",
            catch_response=True,
        ) as r:
            _check(r, 200)

    @task(3)
    def open_case(self) -> None:
        tracking = random.choice(TRACKING)
        with self.client.get(
            f"/api/casework/cases/{tracking}?purpose=处理诉求",
            headers=self.auth,
            name="api: staff opens a case",
            catch_response=True,
        ) as r:
            # A case outside the caller's scope is a correct 403 or 404, not an error.
            if r.status_code in (403, 404):
                r.success()
            else:
                _check(r, 200)


class Publisher(CityUser):
    """One publisher who sends a weather alert to a district halfway through the run."""

    fixed_count = 1
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.auth = {"Authorization": f"Bearer {WORLD['publisher_token']}"}
        self.alert_at = time.monotonic() + RUN_SECONDS / 2
        self.sent = False

    @task
    def alert_the_district(self) -> None:
        if self.sent or time.monotonic() < self.alert_at:
            return
        self.sent = True
        with self.client.post(
            f"/api/broadcast/accounts/{WORLD['district_handle']}/posts",
            json={
                "text": "今夜有大到暴雨，低洼地带居民请注意防范。",
                "category": "weather",
                "target_area_ids": [WORLD["district_id"]],
                "alert": {
                    "category": "Met",
                    "event": "暴雨橙色预警",
                    "urgency": "Expected",
                    "severity": "Severe",
                    "certainty": "Likely",
                    "instruction": "请远离低洼地带和地下空间，非必要不外出。",
                    "expires": (dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)).isoformat(),
                },
            },
            headers={**self.auth, "Idempotency-Key": f"load-alert-{os.getpid()}"},
            name="api: alert to a district",
            catch_response=True,
        ) as r:
            _check(r, 201)

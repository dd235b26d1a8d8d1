"""The load test's quick run (`benchmarks/load.py --quick`): two `civichub serve` processes and a
worker behind nginx with TLS, on PostgreSQL and Redis, 20 locust users for 20 s. It must finish
without a single failed request and store every message it acknowledged; no timing is asserted
(the figures depend on the machine). Needs nginx (Debian: `apt-get install nginx`)."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from conftest import require_service
from tests.services import system_redis_number

pytestmark = [pytest.mark.postgres, pytest.mark.system]

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
# Not the test run's own database number (CI: 15), nor the scale-out test's (13).
LOAD_REDIS_DB = 5


def _server(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def test_the_quick_load_run_behind_nginx_has_no_errors() -> None:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        require_service("nginx", "not installed (apt-get install nginx)")
    postgres = _server(os.environ.get("CIVICHUB_TEST_DATABASE_URL") or DEFAULT_POSTGRES, "")
    number = system_redis_number(LOAD_REDIS_DB)
    redis_url = _server(os.environ.get("REDIS_URL") or DEFAULT_REDIS, f"/{number}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIVICHUB_", "DATABASE_"))}
    env.pop("REDIS_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    command = [sys.executable, str(ROOT / "benchmarks" / "load.py"), "--quick"]
    command += ["--postgres", postgres, "--redis", redis_url]
    command += ["--database", f"civichub_load_{secrets.token_hex(4)}"]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]
    figures = dict(re.findall(r"^([\w.]+): (.*)$", run.stdout, re.MULTILINE))
    assert int(figures["load.users_20.all.requests"]) > 0, output
    assert figures["load.users_20.all.errors"] == "0", output
    # nginx's micro-cache: a visitor's public page is shared, nothing personal ever is.
    assert figures["load.micro_cache.visitor_board_page"] == "HIT", output
    assert figures["load.micro_cache.visitor_board_api"] == "HIT", output
    for personal in ("bearer_board_api", "bearer_own_messages", "session_board_page"):
        assert figures[f"load.micro_cache.{personal}"] == "BYPASS", output
    assert figures["load.micro_cache.visitor_login_page"] != "HIT", output
    for channel in ("api", "open311"):
        acknowledged = int(figures[f"load.users_20.messages.{channel}.acknowledged"])
        stored = int(figures[f"load.users_20.messages.{channel}.stored"])
        # Nothing acknowledged is lost. A message in flight when the run stops can be stored
        # without its answer reaching the client: at most one per user (20). Doubling is the
        # fault tests' to catch, message by message (tests/test_faults.py).
        assert acknowledged <= stored <= acknowledged + 20, output
    # The alert to a district went out during the run.
    assert figures["load.users_20.page.api_alert_to_a_district.requests"] == "1", output
    assert figures["load.users_20.page.api_alert_to_a_district.errors"] == "0", output

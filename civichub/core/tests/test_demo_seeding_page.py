"""While `civichub demo` seeds in the background, pages say so with the progress, the API answers
503, the health check answers; once the status file says ready (or there is none), pages are
served as usual. Without the demo's status file the middleware is not used at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client, override_settings

from civichub.core.demo.status import FAILED, READY, SEEDING, SeedingStatus, status_write


@pytest.fixture
def status_file(tmp_path: Path) -> Path:
    return tmp_path / "demo-status.json"


def test_pages_show_the_progress_while_the_demo_data_is_seeded(db: Any, status_file: Path) -> None:
    status_write(status_file, SeedingStatus(state=SEEDING, done=4, total=12, phase="broadcast"))
    with override_settings(DEMO_STATUS_FILE=str(status_file)):
        client = Client()
        for path in ("/", "/accounts/login/"):
            page = client.get(path)
            assert page.status_code == 200
            text = page.content.decode()
            assert "演示数据正在生成…" in text
            assert '<progress max="12" value="4">' in text
            assert "broadcast" in text
            assert 'http-equiv="refresh"' in text
        api = client.get("/api/me")
        assert api.status_code == 503
        assert api["Retry-After"]
        assert client.get("/healthz").status_code == 200

        status_write(status_file, SeedingStatus(state=READY, done=12, total=12))
        login = client.get("/accounts/login/")
        assert login.status_code == 200
        assert "演示数据正在生成" not in login.content.decode()
        assert "csrfmiddlewaretoken" in login.content.decode()


def test_a_failed_seed_is_said_and_the_page_stops_reloading(db: Any, status_file: Path) -> None:
    status_write(status_file, SeedingStatus(state=FAILED, done=3, total=12, phase="casework"))
    with override_settings(DEMO_STATUS_FILE=str(status_file)):
        text = Client().get("/").content.decode()
    assert "演示数据生成失败" in text
    assert 'http-equiv="refresh"' not in text


def test_english_readers_read_the_progress_in_english(db: Any, status_file: Path) -> None:
    status_write(status_file, SeedingStatus(state=SEEDING, done=1, total=12, phase="residents"))
    with override_settings(DEMO_STATUS_FILE=str(status_file)):
        text = Client(headers={"accept-language": "en"}).get("/").content.decode()
    assert "Generating the demo data" in text
    assert '<html lang="en">' in text


def test_without_a_status_file_setting_pages_are_served_as_usual(
    db: Any, status_file: Path
) -> None:
    status_write(status_file, SeedingStatus(state=SEEDING, done=1, total=12, phase="residents"))
    with override_settings(DEMO_STATUS_FILE=None):
        text = Client().get("/accounts/login/").content.decode()
    assert "演示数据正在生成" not in text
    assert "csrfmiddlewaretoken" in text

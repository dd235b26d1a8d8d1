"""The outbox's figures on /metrics: deliveries waiting by channel and state, zeros included."""

from __future__ import annotations

from typing import Any

from civichub.core.models import User
from civichub.notify import services
from civichub.notify.metrics import readings
from civichub.notify.tests.conftest import no_quiet_hours


def _backlog() -> dict[tuple[str, str], float]:
    return {
        (r.labels["channel"], r.labels["state"]): r.value
        for r in readings()
        if r.name == "notify_outbox_backlog"
    }


def test_the_backlog_counts_queued_deliveries_per_channel(resident: User, db: Any) -> None:
    assert set(_backlog().values()) == {0}
    assert ("inapp", "queued") not in _backlog()  # in-app is the inbox row itself
    no_quiet_hours(resident)
    services.notification_send(
        recipients=[resident],
        kind="notify.test",
        context={"sender": "运维", "message": ""},
        channels=["email", "sms"],
    )
    backlog = _backlog()
    assert backlog[("email", "queued")] == 1
    assert backlog[("sms", "queued")] == 1
    assert backlog[("push", "queued")] == 0
    oldest = next(r for r in readings() if r.name == "notify_outbox_oldest_age_seconds")
    assert 0 <= oldest.value < 60

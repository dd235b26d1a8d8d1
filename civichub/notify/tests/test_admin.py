from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from civichub.core.models import User
from civichub.notify import services


@pytest.mark.parametrize(
    "model",
    [
        "dispatch",
        "notification",
        "delivery",
        "notificationpreference",
        "pushsubscription",
        "smslog",
    ],
)
def test_operators_read_the_outbox_in_the_admin_but_cannot_change_it(
    model: str, operator: User, resident: User
) -> None:
    services.notification_send(
        recipients=[resident],
        kind="notify.test",
        context={},
        channels=["inapp", "sms"],
        priority="emergency",
    )
    client = Client()
    client.force_login(operator)
    listing = client.get(f"/admin/notify/{model}/")
    assert listing.status_code == 200
    assert client.get(f"/admin/notify/{model}/add/").status_code == 403


def test_residents_have_no_admin(resident: User) -> None:
    client = Client()
    client.force_login(resident)
    response: Any = client.get("/admin/notify/delivery/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]

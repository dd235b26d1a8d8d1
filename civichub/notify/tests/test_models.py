from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import override_settings

from civichub.core.models import User
from civichub.notify.models import (
    Delivery,
    Dispatch,
    Notification,
    NotificationPreference,
    parse_quiet_hours,
    quiet_hours_end,
)

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
LONDON = zoneinfo.ZoneInfo("Europe/London")


def at(hour: int, minute: int = 0, *, day: int = 10, tz: dt.tzinfo = SHANGHAI) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=tz)


@pytest.mark.parametrize(
    ("now", "expected_end"),
    [
        (at(23, 30), at(7, 0, day=11)),  # late evening: ends tomorrow morning
        (at(2, 15), at(7, 0)),  # after midnight: ends this morning
        (at(22, 0), at(7, 0, day=11)),  # the start minute is inside
        (at(7, 0), None),  # the end minute is outside
        (at(12, 0), None),
        (at(21, 59), None),
    ],
)
def test_quiet_hours_across_midnight(now: dt.datetime, expected_end: dt.datetime | None) -> None:
    end = quiet_hours_end(now=now, start=dt.time(22), end=dt.time(7), tz=SHANGHAI)
    assert end == expected_end


@pytest.mark.parametrize(
    ("now", "expected_end"),
    [(at(13, 0), at(14, 30)), (at(12, 59), None), (at(14, 30), None)],
)
def test_quiet_hours_within_one_day(now: dt.datetime, expected_end: dt.datetime | None) -> None:
    end = quiet_hours_end(now=now, start=dt.time(13), end=dt.time(14, 30), tz=SHANGHAI)
    assert end == expected_end


def test_quiet_hours_are_read_in_the_users_time_zone() -> None:
    # 23:30 in London is 07:30 the next morning in Shanghai.
    now = dt.datetime(2025, 1, 10, 23, 30, tzinfo=dt.UTC)
    in_london = quiet_hours_end(now=now, start=dt.time(22), end=dt.time(7), tz=LONDON)
    in_shanghai = quiet_hours_end(now=now, start=dt.time(22), end=dt.time(7), tz=SHANGHAI)
    assert in_london == dt.datetime(2025, 1, 11, 7, 0, tzinfo=LONDON)
    assert in_london is not None and in_london.astimezone(dt.UTC).hour == 7
    assert in_shanghai is None


def test_quiet_hours_profile_string_is_parsed() -> None:
    assert parse_quiet_hours("22:00-07:00") == (dt.time(22), dt.time(7))
    assert parse_quiet_hours(" 12:30 - 13:30 ") == (dt.time(12, 30), dt.time(13, 30))
    assert parse_quiet_hours("off") is None
    assert parse_quiet_hours("") is None
    assert parse_quiet_hours("08:00-08:00") is None


@override_settings(CIVICHUB_PROFILE={"quiet_hours_default": "23:00-06:30"})
def test_preference_without_times_uses_the_deployment_default() -> None:
    preference = NotificationPreference()
    assert preference.quiet_hours() == (dt.time(23), dt.time(6, 30))
    preference.quiet_hours_enabled = False
    assert preference.quiet_hours() is None
    assert preference.quiet_until(at(23, 30)) is None


def test_preference_switches_default_to_on_and_blocks_are_hard() -> None:
    preference = NotificationPreference(
        channels={"service": {"sms": False}}, blocked_channels=["email"]
    )
    assert preference.channel_enabled("service", "push")
    assert not preference.channel_enabled("service", "sms")
    assert preference.channel_enabled("alert", "sms")
    assert preference.is_blocked("email")
    assert not preference.is_blocked("sms")


def test_unknown_time_zone_falls_back_to_the_servers() -> None:
    assert NotificationPreference(time_zone="Mars/Olympus").tzinfo() == zoneinfo.ZoneInfo(
        "Asia/Shanghai"
    )


def test_dedupe_key_is_unique_per_recipient_but_blank_keys_repeat(resident: User) -> None:
    dispatch = Dispatch.objects.create(kind="notify.test", category="system")
    Notification.objects.create(dispatch=dispatch, recipient=resident, dedupe_key="case-1")
    Notification.objects.create(dispatch=dispatch, recipient=resident)
    Notification.objects.create(dispatch=dispatch, recipient=resident)
    with pytest.raises(IntegrityError), transaction.atomic():
        Notification.objects.create(dispatch=dispatch, recipient=resident, dedupe_key="case-1")
    assert Notification.objects.filter(recipient=resident).count() == 3


def test_a_notification_has_at_most_one_delivery_per_channel(resident: User) -> None:
    dispatch = Dispatch.objects.create(kind="notify.test", category="system")
    notification = Notification.objects.create(dispatch=dispatch, recipient=resident)
    Delivery.objects.create(notification=notification, channel="sms")
    with pytest.raises(IntegrityError), transaction.atomic():
        Delivery.objects.create(notification=notification, channel="sms")


def test_deleting_a_recipient_or_a_dispatch_removes_their_inbox_rows_and_deliveries(
    resident: User, make_user: Any
) -> None:
    """The outbox's references have no constraint in the database; the ORM's cascades keep
    them whole."""
    other = make_user(None, None)
    dispatch = Dispatch.objects.create(kind="notify.test", category="system")
    mine = Notification.objects.create(dispatch=dispatch, recipient=resident)
    theirs = Notification.objects.create(dispatch=dispatch, recipient=other)
    Delivery.objects.create(notification=mine, channel="sms")
    Delivery.objects.create(notification=theirs, channel="sms")
    resident.delete()
    assert list(Notification.objects.values_list("pk", flat=True)) == [theirs.pk]
    assert list(Delivery.objects.values_list("notification_id", flat=True)) == [theirs.pk]
    dispatch.delete()
    assert not Notification.objects.exists()
    assert not Delivery.objects.exists()


def test_notification_text_follows_its_language_and_falls_back_to_chinese(resident: Any) -> None:
    dispatch = Dispatch.objects.create(
        kind="notify.test",
        category="system",
        texts={"zh-hans": {"subject": "标题", "body": "正文"}},
    )
    english = Notification(dispatch=dispatch, recipient=resident, language="en")
    assert english.subject == "标题"
    dispatch.texts["en"] = {"subject": "Title", "body": "Body"}
    assert english.subject == "Title"
    assert english.body == "Body"


@pytest.mark.parametrize(
    ("model", "columns"),
    [(Notification, "NOTIFICATION_COLUMNS"), (Delivery, "DELIVERY_COLUMNS")],
)
def test_the_bulk_insert_names_every_column_of_the_big_tables(model: Any, columns: str) -> None:
    # notification_send writes these tables without the ORM; a new column must be added there.
    from civichub.notify.services import planning as services

    expected = {f.column for f in model._meta.concrete_fields if not f.primary_key}
    assert set(getattr(services, columns)) == expected

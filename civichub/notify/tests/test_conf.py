"""Notify's part of the deployment profile: each default written once, in NotifySettings, and a
deployment's value (or a test's override) wins key by key."""

from __future__ import annotations

import datetime as dt

from django.test import override_settings

from civichub.core.conf import CoreSettings, core_settings
from civichub.notify.apps import NotifyConfig as NotifyAppConfig
from civichub.notify.conf import NotifySettings, notify_settings
from civichub.notify.models import NotificationPreference


@override_settings(CIVICHUB_PROFILE={})
def test_an_empty_profile_gives_the_documented_defaults() -> None:
    assert notify_settings() == NotifySettings(
        quiet_hours_default="22:00-07:00",
        notification_max_attempts=6,
        notification_backoff_seconds=30,
    )
    assert NotificationPreference().quiet_hours() == (dt.time(22), dt.time(7))
    assert core_settings() == CoreSettings(city_name="", default_crs="gcj02")


@override_settings(CIVICHUB_PROFILE={"quiet_hours_default": "off", "city_name": "Testville"})
def test_a_deployment_value_replaces_only_its_own_key() -> None:
    assert notify_settings().quiet_hours_default == "off"
    assert notify_settings().notification_max_attempts == 6
    assert NotificationPreference().quiet_hours() is None
    assert core_settings().city_name == "Testville"


def test_the_manifest_names_the_configuration() -> None:
    assert NotifyAppConfig.manifest.config is NotifySettings

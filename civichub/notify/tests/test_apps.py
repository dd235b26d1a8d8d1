from __future__ import annotations

from django.apps import apps
from django.utils.module_loading import import_string
from django_tasks.base import Task

from civichub.core import registry
from civichub.core.models import User
from civichub.core.permissions import allowed
from civichub.notify.apps import NotifyConfig


def test_the_manifest_mounts_pages_and_api_and_schedules_the_sweep() -> None:
    config = apps.get_app_config("notify")
    assert isinstance(config, NotifyConfig)
    manifest = config.manifest
    assert (manifest.url_prefix, manifest.urls) == ("notifications/", "civichub.notify.urls")
    assert (manifest.api_router, manifest.api_prefix) == (
        "civichub.notify.api:router",
        "/notifications/",
    )
    [sweep] = [t for t in registry.periodic_tasks() if t.name == "notify.delivery_sweep"]
    assert isinstance(import_string(sweep.task), Task)
    assert sweep.every_seconds == 60


def test_everyone_has_an_inbox_and_only_operators_test_the_channels(
    resident: User, operator: User
) -> None:
    assert allowed(resident, "notify.inbox.view")
    assert not allowed(resident, "notify.test.send")
    assert not allowed(resident, "notify.dispatch.view")
    assert allowed(operator, "notify.test.send")
    assert allowed(operator, "notify.dispatch.view")


def test_navigation_and_tile_point_at_the_inbox() -> None:
    [item] = [i for i in registry.navigation() if i.url_name == "notify:inbox"]
    assert (str(item.label), item.action) == ("通知", "notify.inbox.view")
    [tile] = [t for t in registry.tiles() if t.url_name == "notify:inbox"]
    assert str(tile.label) == "未读通知"

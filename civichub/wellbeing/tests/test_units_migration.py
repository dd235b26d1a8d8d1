"""Migration 0009: meters enrolled before units were explicit keep what detection assumed of
them: m³ for water and gas, kWh for electricity, a reading every 30 minutes sent with it."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from civichub.core import services as core

BEFORE = [("wellbeing", "0008_away_review_on")]
AFTER = [("wellbeing", "0009_meter_units")]


@pytest.fixture
def migrated_back() -> Any:
    """The test moves the shared test database back in time: it leaves it at the latest
    migration again, whatever came after 0009, for the tests that follow."""
    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("migrated_back")
def test_existing_meters_become_cubic_metres_and_kilowatt_hours(city: Any, make_user: Any) -> None:
    worker = make_user("community_worker", city.community_a1)
    resident = core.resident_create(actor=None, name="王秀英", community=city.community_a1)
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    household = old.get_model("wellbeing", "Household").objects.create(
        resident_id=resident.pk,
        community_id=city.community_a1.pk,
        worker_id=worker.pk,
        consent_by="resident",
    )
    meter = old.get_model("wellbeing", "Meter")
    for utility in ("water", "electricity", "gas"):
        meter.objects.create(household=household, utility=utility, meter_id=f"M-{utility}")
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps.get_model("wellbeing", "Meter")
    found = {
        m.utility: (m.unit, m.interval_minutes, m.report_every_minutes)
        for m in new.objects.filter(household_id=household.pk)
    }
    assert found == {
        "water": ("m3", 30, 30),
        "electricity": ("kWh", 30, 30),
        "gas": ("m3", 30, 30),
    }

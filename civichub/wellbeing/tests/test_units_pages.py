"""Enrolment asks each meter's unit, reading interval and reporting, with the defaults shown; the
household page and the API say how late detection can be, from the slowest meter."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from civichub.core import services as core
from civichub.wellbeing import services
from civichub.wellbeing.models import Household, Meter
from civichub.wellbeing.tests.test_services import home  # noqa: F401

pytestmark = pytest.mark.django_db


def _selected(page: str, name: str) -> str:
    """The value of the option chosen in the select called `name`."""
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select is not None, name
    chosen = re.search(r'<option value="([^"]*)" selected>', select.group(1))
    assert chosen is not None, name
    return chosen.group(1)


def test_the_enrolment_page_asks_for_unit_interval_and_reporting_with_the_defaults_chosen(
    home: dict[str, Any],  # noqa: F811
) -> None:
    resident = core.resident_create(actor=None, name="陈淑芬", community=home["city"].community_a1)
    client = Client()
    client.force_login(home["worker"])
    page = client.get("/wellbeing/enrol/", {"q": "陈淑"}).content.decode()
    assert _selected(page, "meter_water_unit") == "m3"
    assert _selected(page, "meter_electricity_unit") == "kWh"
    assert _selected(page, "meter_gas_interval") == "30"
    assert _selected(page, "meter_water_report") == "0"
    assert '<option value="L">' in page and '<option value="Wh">' in page
    form = {
        "resident": str(resident.pk),
        "worker": str(home["worker"].pk),
        "consent_by": "worker",
        "consent_method": "in_person",
        "consent_note": "本人当面同意",
        "meter_water": "W-NB",
        "meter_water_kind": "interval",
        "meter_water_unit": "L",
        "meter_water_interval": "60",
        "meter_water_report": "1440",
        "meter_electricity": "E-WH",
        "meter_electricity_unit": "L",  # not a unit of electricity
    }
    refused = client.post("/wellbeing/enrol/", form).content.decode()
    assert 'role="alert"' in refused
    # What was chosen is shown again.
    assert _selected(refused, "meter_water_unit") == "L"
    assert _selected(refused, "meter_water_interval") == "60"
    assert _selected(refused, "meter_water_report") == "1440"
    assert not Household.objects.filter(resident=resident).exists()
    client.post("/wellbeing/enrol/", {**form, "meter_electricity_unit": "Wh"})
    water = Meter.objects.get(meter_id="W-NB")
    assert (water.unit, water.interval_minutes, water.report_every_minutes) == ("L", 60, 1440)
    assert Meter.objects.get(meter_id="E-WH").unit == "Wh"


def test_the_household_page_adds_a_meter_with_its_unit_and_shows_the_detection_delay(
    home: dict[str, Any],  # noqa: F811
) -> None:
    household = home["household"]
    client = Client()
    client.force_login(home["worker"])
    url = f"/wellbeing/households/{household.pk}/"
    page = client.get(url).content.decode()
    assert "检测延迟：最长约 30 分钟" in page
    assert _selected(page, "unit") == ""  # the utility's canonical unit
    assert _selected(page, "interval_minutes") == "30"
    client.post(
        f"{url}meters/",
        {
            "utility": "water",
            "meter_id": "W-DAY",
            "kind": "interval",
            "unit": "L",
            "interval_minutes": "60",
            "report_every_minutes": "1440",
        },
    )
    added = Meter.objects.get(meter_id="W-DAY")
    assert (added.unit, added.interval_minutes, added.report_every_minutes) == ("L", 60, 1440)
    page = client.get(url).content.decode()
    assert "检测延迟：最长约 24 小时" in page
    assert "升（L）" in page
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.get(url).content.decode()
    assert "Detection delay: up to 24 hours" in english


def test_the_api_enrols_meters_with_units_and_shows_the_detection_delay(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
) -> None:
    resident = core.resident_create(actor=None, name="孙玉珍", community=home["city"].community_a1)
    client = api_as(home["worker"])
    body = {
        "resident_id": resident.pk,
        "worker_id": home["worker"].pk,
        "consent_by": "worker",
        "consent_method": "in_person",
        "consent_note": "本人当面同意",
        "meters": [
            {"utility": "water", "meter_id": "W-API", "cumulative": False, "unit": "L"},
            {
                "utility": "electricity",
                "meter_id": "E-API",
                "unit": "Wh",
                "interval_minutes": 15,
                "report_every_minutes": 240,
            },
        ],
    }
    created = client.post("/api/wellbeing/households", body)
    assert created.status_code == 201
    shown = created.json()
    meters = {m["meter_id"]: m for m in shown["meters"]}
    assert (meters["W-API"]["unit"], meters["W-API"]["interval_minutes"]) == ("L", 30)
    assert meters["W-API"]["report_every_minutes"] == 30
    assert (meters["E-API"]["unit"], meters["E-API"]["report_every_minutes"]) == ("Wh", 240)
    assert shown["detection_delay_minutes"] == 240
    assert shown["detection_delay"] == "检测延迟：最长约 4 小时"
    read = client.get(f"/api/wellbeing/households/{shown['id']}").json()
    assert read["detection_delay_minutes"] == 240
    electricity = Meter.objects.get(meter_id="E-API")
    services.meter_remove(actor=None, meter=electricity)
    assert (
        client.get(f"/api/wellbeing/households/{shown['id']}").json()["detection_delay_minutes"]
        == 30
    )
    refused = client.post(
        f"/api/wellbeing/households/{shown['id']}/meters",
        {"utility": "gas", "meter_id": "G-API", "unit": "kWh", "interval_minutes": 7},
    )
    assert refused.status_code == 422
    assert {"unit", "interval_minutes"} <= set(refused.json()["errors"])
    added = client.post(
        f"/api/wellbeing/households/{shown['id']}/meters",
        {"utility": "gas", "meter_id": "G-API", "unit": "L", "interval_minutes": 60},
    )
    assert added.json()["unit"] == "L"


def test_a_household_without_an_active_meter_says_nothing_is_detected(
    home: dict[str, Any],  # noqa: F811
    api_as: Any,
) -> None:
    household = home["household"]
    for meter in household.meters.all():
        services.meter_remove(actor=None, meter=meter)
    shown = api_as(home["worker"]).get(f"/api/wellbeing/households/{household.pk}").json()
    assert shown["detection_delay_minutes"] is None
    assert "没有在用的表计" in shown["detection_delay"]

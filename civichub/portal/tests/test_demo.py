"""The demo catalogue: about sixty services of five departments, each published with the
standard elements, coded in the 事项编码 style."""

from __future__ import annotations

import re

import pytest

from civichub.portal import demo
from civichub.portal.guide import guide_errors
from civichub.portal.models import Service
from civichub.portal.tests.conftest import Portal

pytestmark = pytest.mark.django_db


def test_the_demo_publishes_sixty_services_of_five_departments_once(catalogue: Portal) -> None:
    services = Service.objects.select_related("published")
    assert 55 <= services.count() <= 65
    assert services.values("department").distinct().count() == 5
    for service in services:
        assert re.fullmatch(r"\d{8}[A-Z]{2}-(XK|QR|JF|GG|QT)-\d{4}", service.code)
        assert service.published is not None and not guide_errors(service.published.content)
        assert service.published.name_en
    assert demo.seed(city=catalogue.city.city, size="small") == 0

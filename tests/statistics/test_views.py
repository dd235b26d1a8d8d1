"""The staff figures page (filters, SVG charts beside their tables, CSV) and the public
evaluation page."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from civichub.casework.tests.conftest import Casework
from civichub.testing.summaries import described_by, summary_targets

pytestmark = pytest.mark.django_db
MARCH = {"since": "2026-03-01", "until": "2026-03-31"}


def client_for(user: Any = None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_figures_page_draws_charts_and_tables(rolled: Casework) -> None:
    answer = client_for(rolled.dispatcher).get(reverse("statistics:figures"), MARCH)

    page = answer.content.decode()
    assert answer.status_code == 200
    assert page.count("<svg") == 2 and "<rect" in page
    assert rolled.city.health_a.name in page and "医疗卫生" in page
    assert "format=csv" in page


def test_figures_page_exports_csv(rolled: Casework) -> None:
    answer = client_for(rolled.head).get(
        reverse("statistics:figures"), {**MARCH, "format": "csv", "period": "month"}
    )

    assert answer["Content-Type"].startswith("text/csv")
    assert "attachment" in answer["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.content.decode())))
    assert {r["organisation"] for r in rows} == {rolled.city.health_a.name}


def test_figures_page_shows_a_bad_range_as_an_error(rolled: Casework) -> None:
    """The problem is at the end of the range, which the summary links to and which names it;
    an unknown measure, at the list of measures."""
    answer = client_for(rolled.dispatcher).get(
        reverse("statistics:figures"), {"since": "2026-03-31", "until": "2026-03-01"}
    )

    assert answer.status_code == 200
    html = answer.content.decode()
    assert summary_targets(html) == ["f-until"]
    assert described_by(html, "f-until") == ["until-error"]
    measure = client_for(rolled.dispatcher).get(
        reverse("statistics:figures"), {**MARCH, "measure": "casework.nothing"}
    )
    html = measure.content.decode()
    assert summary_targets(html) == ["f-measure"]
    assert described_by(html, "f-measure") == ["measure-error"]


def test_figures_page_needs_a_login_and_the_permission(rolled: Casework) -> None:
    anonymous = client_for().get(reverse("statistics:figures"))
    handler = client_for(rolled.handler).get(reverse("statistics:figures"))

    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert handler.status_code == 403


def test_evaluation_page_is_public_in_both_languages(rolled: Casework) -> None:
    chinese = client_for().get(reverse("statistics:evaluation"))
    english = client_for().get(
        reverse("statistics:evaluation"), {"month": "2026-03"}, HTTP_ACCEPT_LANGUAGE="en"
    )

    page = chinese.content.decode()
    assert chinese.status_code == 200 and "政务服务好差评" in page
    assert rolled.city.health_a.name in page and "66.7%" in page
    assert english.status_code == 200
    assert rolled.city.health_a.name_en in english.content.decode()
    assert "Public service ratings" in english.content.decode()

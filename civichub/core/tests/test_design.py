"""The design system page: staff see the components rendered from the real includes; residents
are refused."""

from __future__ import annotations

from typing import Any

from django.test import Client

from civichub.core.charts import column_chart


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_design_page_renders_the_shared_components(city: Any, make_user: Any) -> None:
    worker = make_user("community_worker", city.community_a1)
    response = _client(worker).get("/design/")
    assert response.status_code == 200
    page = response.content.decode()
    # The error summary of a form sent incomplete, linking to its fields.
    assert 'class="error-summary"' in page and 'href="#id_title"' in page
    assert 'class="cards"' in page and 'data-label="状态"' in page
    assert 'class="chart chart-columns"' in page and 'class="axis"' in page
    assert 'class="empty-state"' in page and 'class="notice danger"' in page


def test_design_page_is_refused_to_a_resident(city: Any, make_user: Any) -> None:
    resident = make_user(None, None)
    assert _client(resident).get("/design/").status_code == 403


def test_columns_keep_empty_periods_in_time_order() -> None:
    chart = column_chart([("11-02", 4), ("11-09", None), ("11-16", 8)], unit="件")
    xs = [float(str(c["x"])) for c in chart.columns]
    assert xs == sorted(xs) and len(xs) == 3
    assert chart.columns[1]["height"] == 0 and chart.top == 8 and chart.unit == "件"
    assert chart.columns[2]["y"] == chart.axis["top"]

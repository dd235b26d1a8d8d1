"""What the wellbeing pages tell people after they act: each of the worker's visit actions and
the family's answer on the household page confirm what happened at the top of the page they
return to (focus goes there, the new state shows); a missing outcome is summarised at the top
and shown at its field; the visit chart has axes and local times; seven days without readings
is a sentence, not a table of dashes; the household's alerts come before its consent record."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from civichub.wellbeing import services
from civichub.wellbeing.models import Alert, VisitTask
from civichub.wellbeing.tests.test_services import home, quiet_day  # noqa: F401
from civichub.wellbeing.views import chart_svg_points

pytestmark = pytest.mark.django_db


def _visit(home: dict[str, Any]) -> tuple[Client, VisitTask]:  # noqa: F811
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    services.detection_run(household_id=home["household"].pk)
    services.alerts_escalate(now=timezone.now() + timedelta(minutes=30))
    client = Client()
    client.force_login(home["worker"])
    return client, VisitTask.objects.get(alert__kind="no_use")


def _top(page: str) -> str:
    """The page from its heading to its first section heading (the error summary's heading is
    part of the top)."""
    start = page.index("<h1")
    end = page.index("<h2", start)
    while page.startswith('<h2 id="error-summary-title"', end):
        end = page.index("<h2", end + 1)
    return page[start:end]


def test_each_visit_action_confirms_at_the_top_with_focus_and_the_new_state(
    home: dict[str, Any],  # noqa: F811
) -> None:
    client, task = _visit(home)
    steps = [
        ("accept", {}, "已接单。", "已接单"),
        ("on-the-way", {}, "已标记为“在路上”。", "在路上"),
        ("outcome", {"outcome": "fine", "real": "no"}, "已记录上门结果", "已上门"),
    ]
    for action, data, said, state in steps:
        response = client.post(f"/wellbeing/visits/{task.pk}/{action}/", data)
        assert response.status_code == 302
        assert response["Location"] == f"/wellbeing/visits/{task.pk}/#wb-notice"
        top = _top(client.get(response["Location"]).content.decode())
        assert 'id="wb-notice" role="status" tabindex="-1" autofocus' in top
        assert said in top
        task.refresh_from_db()
        assert f'<strong id="wb-status" tabindex="-1">{task.get_status_display()}</strong>' in top
        assert state in task.get_status_display()
    # Once shown, the confirmation is gone.
    assert "wb-notice" not in client.get(f"/wellbeing/visits/{task.pk}/").content.decode()


def test_a_missing_outcome_is_summarised_at_the_top_and_shown_at_its_field(
    home: dict[str, Any],  # noqa: F811
) -> None:
    client, task = _visit(home)
    client.post(f"/wellbeing/visits/{task.pk}/accept/")
    client.get(f"/wellbeing/visits/{task.pk}/")  # the confirmation is read
    response = client.post(f"/wellbeing/visits/{task.pk}/outcome/", {"real": "no"})
    assert response["Location"] == f"/wellbeing/visits/{task.pk}/#error-summary"
    page = client.get(response["Location"]).content.decode()
    top = _top(page)
    assert 'class="error-summary" id="error-summary" role="alert" tabindex="-1" autofocus' in top
    assert '<a href="#outcome-fieldset">请选择上门结果。</a>' in top
    field = page[page.index('id="outcome-fieldset"') :]
    field = field[: field.index("</fieldset>")]
    assert 'aria-describedby="outcome-error"' in field
    assert '<span id="outcome-error" class="field-error">请选择上门结果。</span>' in field
    task.refresh_from_db()
    assert task.status == "accepted"  # nothing recorded


def test_the_family_cannot_be_reached_answer_says_what_happens_next(
    home: dict[str, Any],  # noqa: F811
) -> None:
    services.readings_ingest(actor=home["feed"], rows=quiet_day())
    services.detection_run(household_id=home["household"].pk)
    alert = Alert.objects.get(kind="no_use", status="family")
    client = Client()
    client.force_login(home["worker"])
    url = f"/wellbeing/households/{home['household'].pk}/"
    response = client.post(f"/wellbeing/alerts/{alert.pk}/acknowledge/", {"answer": "unreachable"})
    assert response["Location"] == url
    top = _top(client.get(url).content.decode())
    assert 'id="wb-notice" role="status" tabindex="-1" autofocus' in top
    assert "已记录：联系不上家属。已立即转为上门查看任务" in top
    alert.refresh_from_db()
    assert alert.status != "family"


def test_the_household_page_puts_alerts_before_consent_and_says_when_nothing_was_read(
    home: dict[str, Any],  # noqa: F811
) -> None:
    client = Client()
    client.force_login(home["worker"])
    page = client.get(f"/wellbeing/households/{home['household'].pk}/").content.decode()
    assert page.index('id="alerts-heading"') < page.index("同意记录")
    assert 'class="wb-daily"' not in page  # no table of empty days
    assert "近 7 天还没有收到任何读数" in page


def test_the_visit_chart_has_a_litres_axis_a_share_axis_and_local_times() -> None:
    start = timezone.make_aware(datetime(2026, 3, 2, 0, 0))  # noqa: DTZ001
    hours = [
        {
            "at": (start + timedelta(hours=i)).isoformat(),
            "water_l": None if i == 5 else float(i % 7),
            "usual": 0.5,
        }
        for i in range(48)
    ]
    chart = chart_svg_points({"hours": hours})
    assert [t["label"] for t in chart["y_ticks"]] == ["0", "5", "10"]  # peak 6 → axis to 10
    assert [t["share"] for t in chart["y_ticks"]] == ["0%", "50%", "100%"]
    times = [t["label"] for t in chart["x_ticks"]]
    assert times == ["03-02 00:00", "12:00", "03-03 00:00", "12:00"]
    assert chart["first"] == "03-02 00:00" and chart["last"] == "23:00"
    assert all(chart["left"] <= b["x"] < chart["right"] for b in chart["bars"])
    assert chart["bars"][5]["missing"]


def test_the_visit_page_draws_the_axes(home: dict[str, Any]) -> None:  # noqa: F811
    client, task = _visit(home)
    page = client.get(f"/wellbeing/visits/{task.pk}/").content.decode()
    assert '<g class="wb-axis" aria-hidden="true">' in page
    assert page.count('class="wb-tick-x"') >= 3 and page.count('class="wb-tick-y"') == 3
    assert "本地时间" in page

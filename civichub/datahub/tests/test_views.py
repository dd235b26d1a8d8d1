"""Pages of the hub: the clerical review page names the compared fields and their levels in
the reader's language, never the linkage's internal names."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from civichub.datahub.linkage import field_label, level_label
from civichub.datahub.models import ImportBatch, ReviewItem
from civichub.datahub.tests.conftest import Hub, police_row
from civichub.testing.summaries import summary_targets

pytestmark = pytest.mark.django_db

# A cell holding a field or level as the linkage names it.
INTERNAL = re.compile(
    r">(name|birth_date|gender|address|phone|identity|prior|exact|pinyin|similar|close|numbers"
    r"|different|missing|same [a-z ]+|All other comparisons|[a-z_]+ is NULL)<"
)


@pytest.fixture
def review(
    hub: Hub,
    police_import: Callable[..., ImportBatch],
    health_import: Callable[..., ImportBatch],
) -> ReviewItem:
    police_import([police_row("P2", "王芳", "", "1975-03-04", "女", phone="13800000000")])
    # A homophone surname and day and month swapped: close, not sure.
    health_import([["D2", "汪芳", "", "1975-04-03", "女", "", "", "刘医生", "无", "B", None]])
    return ReviewItem.objects.get()


def _comparison(hub: Hub, review: ReviewItem, language: str) -> str:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    client.force_login(hub.worker)
    html = client.get(f"/datahub/reviews/{review.pk}/").content.decode()
    return html[html.index("<table>") : html.index("</table>")]


def test_the_review_page_names_fields_and_levels_in_chinese(hub: Hub, review: ReviewItem) -> None:
    table = _comparison(hub, review, "zh-hans")
    for text in (
        "姓名",
        "出生日期",
        "拼音相同",
        "相近（一位数字不同或日月颠倒）",
        "一方缺少，不计",
    ):
        assert text in table, text
    assert not INTERNAL.findall(table)


def test_the_review_page_names_fields_and_levels_in_english(hub: Hub, review: ReviewItem) -> None:
    table = _comparison(hub, review, "en")
    for text in ("Name", "Date of birth", "Same pinyin", "Close (one digit off", "Missing on"):
        assert text in table, text
    assert not INTERNAL.findall(table)
    assert "拼音" not in table and "出生日期" not in table


@pytest.mark.parametrize(
    ("level", "chinese", "english"),
    [
        ("same hanzi", "汉字相同", "Same characters"),
        ("day and month swapped", "日月颠倒", "Day and month swapped"),
        ("phone is NULL", "一方缺少，不计", "Missing on one side (not counted)"),
        ("Exact match on gender", "相同", "The same"),
        ("All other comparisons", "不同", "Different"),
    ],
)
def test_splink_levels_read_as_words(level: str, chinese: str, english: str) -> None:
    with translation.override("zh-hans"):
        assert level_label(level) == chinese
        assert field_label("identity") == "身份证号"
    with translation.override("en"):
        assert level_label(level) == english
        assert field_label("birth_date") == "Date of birth"


def test_an_unknown_label_is_shown_as_it_is() -> None:
    assert level_label("a level of a later model") == "a level of a later model"
    assert field_label("shoe_size") == "shoe_size"


def test_an_upload_without_a_file_is_summarised_and_linked_to_the_file_box(hub: Hub) -> None:
    client = Client()
    client.force_login(hub.steward)
    html = client.post("/datahub/sources/public_security/", {}).content.decode()
    summary = html[html.index('id="error-summary"') :]
    summary = summary[: summary.index("</div>")]
    assert 'role="alert" tabindex="-1" autofocus' in summary
    assert '<a href="#id_file">' in summary
    assert 'aria-describedby="id_file_error"' in html and 'id="id_file_error"' in html


def test_a_review_decided_twice_links_to_the_decision(hub: Hub, review: ReviewItem) -> None:
    """The refusal is about the decision as a whole: the summary links to its first button."""
    client = Client()
    client.force_login(hub.worker)
    page = f"/datahub/reviews/{review.pk}/"
    client.post(page, {"same": "1"})
    html = client.post(page, {"same": "1"}).content.decode()
    assert summary_targets(html) == ["review-same"] and "该待审核记录已处理。" in html

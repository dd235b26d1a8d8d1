"""The compose pages: a map of the city's districts and communities to draw on, a
circle or polygon entered beside the community checkboxes, the CAP preview checked like a real
alert, and an error summary that names each field and keeps everything typed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from civichub.broadcast.models import DrawnArea, Post
from civichub.core import services as core_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def publisher(bc: Any) -> Client:
    cache.clear()
    client = Client()
    client.force_login(bc.police_publisher)
    return client


def homes(bc: Any, make_user: Any) -> None:
    for n, (community, lat, lon) in enumerate(
        [
            (bc.city.community_a1, 30.250, 120.150),
            (bc.city.community_a2, 30.260, 120.170),
            (bc.city.community_b1, 30.200, 120.100),
        ]
    ):
        resident = core_services.resident_create(
            actor=None,
            name=f"居民{n}",
            community=community,
            latitude=lat,
            longitude=lon,
            crs="wgs84",
        )
        make_user(None, None, resident=resident)


def test_the_compose_page_draws_the_city_map_with_districts_and_communities(
    bc: Any, make_user: Any, publisher: Client
) -> None:
    homes(bc, make_user)
    page = publisher.get("/broadcast/@safe-qingshan/compose/").content.decode()
    assert 'id="area-map"' in page and 'data-map="draw"' in page
    assert 'data-areas-data="area-map-areas"' in page and "civichub/map.js" in page
    # The drawing tools wait for the script; without it the fields are typed in.
    assert 'id="draw-tools" hidden' in page and 'name="circle_lat"' in page
    block = page.split('<script id="area-map-areas" type="application/json">', 1)[1]
    areas = json.loads(block.split("</script>", 1)[0])
    kinds = [f["properties"]["kind"] for f in areas["features"]]
    assert kinds.count("community") == 3 and kinds.count("district") == 2
    names = {f["properties"]["name"] for f in areas["features"]}
    assert {"东湖区", "松风社区"} <= names
    for feature in areas["features"]:
        if feature["properties"]["kind"] == "district":
            ring = feature["geometry"]["coordinates"][0]
            assert ring[0] == ring[-1] and len(ring) > 4  # a closed outline around its communities
            assert all(119 < lng < 122 and 29 < lat < 32 for lng, lat in ring)


def test_the_area_list_is_indented_by_district_and_community(bc: Any, publisher: Client) -> None:
    page = publisher.get("/broadcast/@safe-qingshan/compose/").content.decode()
    assert 'class="area-community"' in page and 'class="area-district"' in page


def test_a_circle_entered_on_the_page_targets_the_post(
    bc: Any, make_user: Any, publisher: Client
) -> None:
    homes(bc, make_user)
    answer = publisher.post(
        "/broadcast/@safe-qingshan/compose/",
        {
            "text": "体育中心周边交通管制",
            "category": "traffic",
            "shape_crs": "wgs84",
            "circle_lat": "30.25",
            "circle_lon": "120.15",
            "circle_radius": "1500",
        },
    )
    assert answer.status_code == 302
    area = DrawnArea.objects.get(post=Post.objects.get())
    assert (area.kind, area.radius_m, area.shape["lat"]) == ("circle", 1500, 30.25)


def test_a_bad_polygon_is_named_in_the_error_summary_and_nothing_typed_is_lost(
    bc: Any, publisher: Client
) -> None:
    crossing = "30.20, 120.10\n30.21, 120.11\n30.20, 120.11\n30.21, 120.10"
    answer = publisher.post(
        "/broadcast/@safe-qingshan/compose/",
        {"text": "施工提示", "category": "notice", "polygon": crossing, "shape_crs": "wgs84"},
    )
    assert answer.status_code == 422
    page = answer.content.decode()
    assert 'role="alert"' in page and 'href="#polygon"' in page
    assert 'id="polygon" name="polygon" rows="4" aria-invalid="true"' in page
    assert "施工提示" in page and "30.21, 120.11" in page
    assert not Post.objects.exists()


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"text": "长" * 501, "category": "notice"}, "text"),
        ({"text": "演练", "category": "notice", "publish_at": "2026-13-45T99:00"}, "publish_at"),
        ({"text": "演练", "category": "notice", "target_areas": "999999"}, "areas-legend"),
    ],
    ids=["oversized", "unreadable-time", "unknown-area"],
)
def test_bad_posts_are_named_in_the_error_summary(
    bc: Any, publisher: Client, form: dict[str, str], field: str
) -> None:
    answer = publisher.post("/broadcast/@safe-qingshan/compose/", form)
    assert answer.status_code == 422
    assert f'href="#{field}"' in answer.content.decode()
    assert not Post.objects.exists()


def alert_form(**overrides: str) -> dict[str, Any]:
    form: dict[str, Any] = {
        "text": "化工厂附近燃气泄漏",
        "category": "safety",
        "cap_event": "燃气泄漏",
        "cap_category": "Safety",
        "cap_urgency": "Immediate",
        "cap_severity": "Severe",
        "cap_certainty": "Observed",
        "cap_expires": "2099-01-01T08:00",
        "cap_instruction": "请向北撤离。",
        "shape_crs": "wgs84",
        "circle_lat": "30.25",
        "circle_lon": "120.15",
        "circle_radius": "800",
        "preview": "1",
    }
    form.update(overrides)
    return form


def test_the_cap_preview_shows_the_drawn_circle_and_saves_nothing(
    bc: Any, publisher: Client
) -> None:
    answer = publisher.post("/broadcast/@safe-qingshan/alert/", alert_form())
    assert answer.status_code == 200
    page = answer.content.decode()
    assert "&lt;circle&gt;30.250000,120.150000 0.800&lt;/circle&gt;" in page
    assert 'value="燃气泄漏"' in page and not Post.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"cap_urgency": "Whenever"}, "cap_urgency"),
        ({"cap_expires": "2001-01-01T08:00"}, "cap_expires"),
        ({"cap_expires": "not a time"}, "cap_expires"),
        ({"circle_lat": "", "circle_lon": "", "circle_radius": ""}, "areas-legend"),
    ],
    ids=["unknown-urgency", "expired", "unreadable-expiry", "no-area"],
)
def test_malformed_cap_fields_are_refused_in_the_preview_too(
    bc: Any, publisher: Client, overrides: dict[str, str], field: str
) -> None:
    answer = publisher.post("/broadcast/@safe-qingshan/alert/", alert_form(**overrides))
    assert answer.status_code == 422
    page = answer.content.decode()
    assert f'href="#{field}"' in page
    assert "&lt;alert" not in page  # no preview of a document that would be refused
    assert not Post.objects.exists()


def test_the_alert_form_preselects_no_level_and_names_each_in_words(
    bc: Any, publisher: Client
) -> None:
    page = publisher.get("/broadcast/@safe-qingshan/alert/").content.decode()
    for field in ("cap_category", "cap_urgency", "cap_severity", "cap_certainty"):
        select = page[page.index(f'<select id="{field}"') :]
        select = select[: select.index("</select>")]
        assert " selected" not in select, field
        assert '<option value="">请选择</option>' in select, field
    assert "特别严重：严重威胁生命或财产" in page and "立即行动" in page
    assert ">Extreme<" not in page and ">Immediate<" not in page and ">CBRNE<" not in page
    assert "Urgency" not in page and "CAP category" not in page


@pytest.mark.parametrize(
    ("field", "sentence"),
    [
        ("cap_category", "请选择预警类别。"),
        ("cap_urgency", "请选择紧急程度（居民应何时行动）。"),
        ("cap_severity", "请选择严重程度。"),
        ("cap_certainty", "请选择确定程度（是否已经发生）。"),
    ],
)
def test_an_alert_level_left_unchosen_is_asked_for_and_nothing_typed_is_lost(
    bc: Any, publisher: Client, field: str, sentence: str
) -> None:
    answer = publisher.post(
        "/broadcast/@safe-qingshan/alert/", alert_form(**{field: "", "preview": ""})
    )
    assert answer.status_code == 422
    page = answer.content.decode()
    assert f'<a href="#{field}">{sentence}</a>' in page
    assert 'value="燃气泄漏"' in page and "请向北撤离。" in page
    assert not Post.objects.exists()


def test_the_preview_shows_the_alert_as_residents_read_it_and_an_indented_document(
    bc: Any, publisher: Client
) -> None:
    page = publisher.post("/broadcast/@safe-qingshan/alert/", alert_form()).content.decode()
    card = page[page.index('class="post alert-card"') :]
    card = card[: card.index("</div>")]
    assert "燃气泄漏" in card and "严重 · 立即行动 · 已发生" in card and "请向北撤离。" in card
    assert '<pre class="cap-document"' in page and "\n  &lt;info&gt;" in page


def test_residents_read_the_levels_in_their_language(bc: Any) -> None:
    from django.utils import translation

    post = Post(
        is_alert=True, cap_severity="Extreme", cap_urgency="Expected", cap_certainty="Possible"
    )
    with translation.override("zh-hans"):
        assert post.cap_words == "特别严重 · 一小时内行动 · 可能发生"
    with translation.override("en"):
        assert post.cap_words == "Extreme · Act within the hour · Possible"
    assert Post(is_alert=False).cap_words == ""


def test_the_preview_shows_the_english_card_when_the_alert_has_english(
    bc: Any, publisher: Client
) -> None:
    english = {
        "text_en": "Gas leak near the chemical plant",
        "cap_event_en": "Gas leak",
        "cap_instruction_en": "Move north.",
    }
    page = publisher.post(
        "/broadcast/@safe-qingshan/alert/", alert_form(**english)
    ).content.decode()
    card = page.split("英文界面的居民看到的预警", 1)[1].split("</div>", 1)[0]
    assert "<strong>Gas leak</strong>" in card and "Move north." in card
    assert "Severe" in card and "燃气泄漏" not in card  # levels in English words too
    without = publisher.post("/broadcast/@safe-qingshan/alert/", alert_form()).content.decode()
    assert "英文界面的居民看到的预警" not in without


def test_a_post_is_read_in_the_readers_language_with_the_other_one_folded(
    bc: Any, publisher: Client
) -> None:
    answer = publisher.post(
        "/broadcast/@safe-qingshan/compose/",
        {"text": "周日封路", "text_en": "Road closed on Sunday", "category": "notice"},
    )
    assert answer.status_code == 302
    post = Post.objects.get(text="周日封路")
    url = f"/broadcast/posts/{post.pk}/"
    chinese = publisher.get(url, HTTP_ACCEPT_LANGUAGE="zh-Hans").content.decode()
    assert '<p lang="zh-Hans">周日封路</p>' in chinese
    assert '<summary lang="en">English</summary><p lang="en">Road closed on Sunday</p>' in chinese
    publisher.cookies["django_language"] = "en"
    english = publisher.get(url).content.decode()
    assert '<p lang="en">Road closed on Sunday</p><details class="other-language">' in english
    assert '<summary lang="zh-Hans">中文</summary><p lang="zh-Hans">周日封路</p>' in english

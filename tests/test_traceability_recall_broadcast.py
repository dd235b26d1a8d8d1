"""A food recall is announced to the public through broadcast, in the areas of the places that
received the food and nowhere else: across two modules that import each other nowhere
(traceability reads broadcast's `public_announcement` capability from core's registry)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone
from lxml import etree

from civichub.broadcast import selectors as broadcast_selectors
from civichub.broadcast import services as broadcast
from civichub.broadcast.models import Post
from civichub.core import registry
from civichub.core.errors import PermissionDenied
from civichub.core.models import AuditEvent
from civichub.testing.city import SmallCity, staff_user
from civichub.traceability import services
from civichub.traceability.models import Recall
from civichub.traceability.tests.conftest import Chain, chain_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def placed(city: SmallCity) -> Chain:
    """The chain with its places in communities: what received the carcass or the mince is in
    Taoyuan and Xinghua (district A); the unrelated stall is in Songfeng (district B)."""
    chain = chain_build(city)
    for participant, area in (
        (chain.stall, city.community_a1),
        (chain.canteen, city.community_a2),
        (chain.processor, city.community_a1),
        (chain.market, city.community_a2),
        (chain.other_stall, city.community_b1),
        (chain.farm, city.community_b1),
        (chain.slaughterhouse, city.community_b1),
    ):
        participant.area = area
        participant.save(update_fields=["area"])
    return chain


def _recall(chain: Chain) -> Recall:
    return services.recall_start(
        actor=chain.regulator,
        lot=chain.carcass,
        reason="瘦肉精抽检阳性",
        organisation=chain.city.city,
    )


def _notices(area: object) -> list[str]:
    return [n.text for n in broadcast_selectors.area_notices(area, limit=10)]  # type: ignore[arg-type]


def test_the_recall_is_announced_to_the_receivers_areas_only(placed: Chain) -> None:
    city = placed.city
    broadcast.account_create(
        actor=None, organisation=city.city, handle="qingshan", name="青山发布", verified=True
    )
    recall = _recall(placed)
    assert recall.announcement_url.startswith("/broadcast/")
    assert sorted(recall.announcement_areas) == sorted([city.community_a1.pk, city.community_a2.pk])
    for area in (city.community_a1, city.community_a2):
        texts = _notices(area)
        assert len(texts) == 1 and "冷鲜猪肉" in texts[0] and "瘦肉精抽检阳性" in texts[0]
    assert _notices(city.community_b1) == []  # the unrelated stall's, the farm's community
    assert _notices(None) == []  # not a city-wide notice
    published = AuditEvent.objects.get(action="broadcast.alert.publish")
    assert published.actor == placed.regulator
    assert published.changes["vouched_by"] == "traceability.recall.start"
    assert AuditEvent.objects.filter(action="traceability.recall.announce").count() == 1
    page = Client().get(recall.announcement_url).content.decode()
    assert "冷鲜猪肉" in page and "Food recall" in page


def test_the_recall_announcement_is_a_health_alert_in_chinese_and_english(
    placed: Chain,
) -> None:
    city = placed.city
    broadcast.account_create(
        actor=None, organisation=city.city, handle="qingshan", name="青山发布", verified=True
    )
    recall = _recall(placed)
    post = Post.objects.get(pk=int(recall.announcement_url.rstrip("/").rsplit("/", 1)[1]))
    assert post.is_alert and post.cap_category == "Health"
    assert (post.cap_event, post.cap_event_en) == ("食品召回", "Food recall")
    assert post.cap_expires is not None and post.cap_expires > timezone.now()
    cap = Client().get(f"/broadcast/posts/{post.pk}/cap.xml")
    assert cap.status_code == 200
    root = etree.fromstring(cap.content)
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    infos = root.findall("cap:info", ns)
    languages = [i.findtext("cap:language", namespaces=ns) for i in infos]
    assert sorted(languages) == ["en-US", "zh-CN"]
    for info in infos:
        assert info.findtext("cap:category", namespaces=ns) == "Health"
        assert info.findtext("cap:urgency", namespaces=ns) == "Immediate"
    english = next(i for i in infos if i.findtext("cap:language", namespaces=ns) == "en-US")
    assert "瘦肉精抽检阳性" in english.findtext("cap:description", namespaces=ns)  # type: ignore[operator]
    assert english.findtext("cap:event", namespaces=ns) == "Food recall"
    audit = AuditEvent.objects.get(action="traceability.recall.announce")
    assert audit.changes["alert"] is True


def test_the_nearest_account_above_the_regulator_announces(placed: Chain) -> None:
    city = placed.city
    broadcast.account_create(actor=None, organisation=city.city, handle="qingshan", name="青山发布")
    broadcast.account_create(
        actor=None, organisation=city.district_b, handle="xiling", name="西岭发布"
    )
    regulator_a = staff_user("food_regulator", city.district_a)
    recall = services.recall_start(
        actor=regulator_a, lot=placed.carcass, reason="抽检不合格", organisation=city.district_a
    )
    # District A has no account of its own: the city's announces, never district B's.
    assert "qingshan" in Client().get(recall.announcement_url).content.decode()


def test_without_an_account_the_recall_still_reaches_every_stall(placed: Chain) -> None:
    recall = _recall(placed)
    assert recall.announcement_url == "" and recall.notices.count() == 4
    regulator = Client()
    regulator.force_login(placed.regulator)
    page = regulator.get(f"/trace/recalls/{recall.pk}/").content.decode()
    assert "未发布公告" in page


def test_the_capability_checks_the_vouching_permission(placed: Chain) -> None:
    broadcast.account_create(actor=None, organisation=placed.city.city, handle="qs", name="青山")
    publish = registry.provided("public_announcement")
    assert publish is not None
    with pytest.raises(PermissionDenied):  # a stall keeper holds no recall duty
        publish(
            actor=placed.keeper,
            organisation=placed.city.city,
            authorised_by="traceability.recall.start",
            text="假公告",
            area_ids=[placed.city.community_a1.pk],
        )
    with pytest.raises(LookupError):  # a caller that names no permission of its own
        publish(
            actor=placed.regulator,
            organisation=placed.city.city,
            authorised_by="",
            text="公告",
        )

"""A recall reaches the members of exactly the places downstream of the lot, the regulator
sees who has acknowledged it and who has not, those who have not are reminded (by hand and by
the periodic check, a bounded number of times), and every code the trace reached shows the
recall on the shopper's page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from civichub.core.errors import Conflict, PermissionDenied
from civichub.core.models import AuditEvent
from civichub.notify.selectors import notification_list
from civichub.testing.city import staff_user
from civichub.traceability import selectors, services
from civichub.traceability.gs1.digital_link import DigitalLink
from civichub.traceability.models import Lot, Recall, RecallNotice
from civichub.traceability.tests.conftest import Chain


def _start(chain: Chain) -> Recall:
    return services.recall_start(
        actor=chain.regulator,
        lot=chain.carcass,
        reason="瘦肉精抽检阳性",
        organisation=chain.city.city,
    )


def _kinds(user: Any) -> list[str]:
    return [n.dispatch.kind for n in notification_list(actor=user).items]


def test_the_recall_notifies_the_members_of_downstream_places_only(chain: Chain) -> None:
    cook = staff_user(None, None)
    chain.canteen.members.add(cook)
    stranger = staff_user(None, None)  # keeps the unrelated stall, which had another lot
    chain.other_stall.members.add(stranger)
    recall = _start(chain)
    assert _kinds(chain.keeper) == ["traceability.recall"]
    assert _kinds(cook) == ["traceability.recall"]
    assert _kinds(stranger) == []
    assert not recall.notices.filter(participant=chain.other_stall).exists()
    assert not recall.notices.filter(participant__in=[chain.farm, chain.slaughterhouse]).exists()
    inbox = notification_list(actor=cook).items[0]
    assert inbox.link == f"/trace/recalls/{recall.pk}/"


def test_the_regulator_sees_who_has_acknowledged_and_who_has_not(chain: Chain) -> None:
    recall = _start(chain)
    stall_notice = recall.notices.get(participant=chain.stall)
    services.recall_acknowledge(actor=chain.keeper, notice=stall_notice, quantity_withdrawn=38.5)
    tally = selectors.recall_acknowledgements(user=chain.regulator, recall=recall)
    assert [n.participant for n in tally.acknowledged] == [chain.stall]
    assert {n.participant for n in tally.outstanding} == {
        chain.market,
        chain.processor,
        chain.canteen,
    }
    assert tally.quantity_withdrawn == 38.5 and tally.total == 4
    with pytest.raises(PermissionDenied):  # a stall keeper does not see the others
        selectors.recall_acknowledgements(user=chain.keeper, recall=recall)


def test_reminders_go_to_those_who_have_not_acknowledged(chain: Chain) -> None:
    cook = staff_user(None, None)
    chain.canteen.members.add(cook)
    recall = _start(chain)
    services.recall_acknowledge(
        actor=chain.keeper,
        notice=recall.notices.get(participant=chain.stall),
        quantity_withdrawn=10,
    )
    with pytest.raises(PermissionDenied):
        services.recall_remind(actor=chain.keeper, recall=recall)
    # Only the canteen's cook is on the platform among those outstanding.
    assert services.recall_remind(actor=chain.regulator, recall=recall) == 1
    assert _kinds(cook) == ["traceability.recall_reminder", "traceability.recall"]
    assert _kinds(chain.keeper) == ["traceability.recall"]
    reminded = recall.notices.filter(reminders_sent=1)
    assert {n.participant for n in reminded} == {chain.market, chain.processor, chain.canteen}
    assert AuditEvent.objects.filter(action="traceability.recall.remind").count() == 1


def test_the_periodic_check_reminds_when_due_and_at_most_the_limit(
    chain: Chain, settings: Any
) -> None:
    settings.CIVICHUB_TRACEABILITY = {"recall_reminder_hours": 2, "recall_max_reminders": 2}
    cook = staff_user(None, None)
    chain.canteen.members.add(cook)
    recall = _start(chain)
    assert services.recall_reminders_due() == 0  # just notified: not due yet
    notices = RecallNotice.objects.filter(recall=recall)
    # Time passes: the notices were sent three hours ago.
    notices.update(notified_at=timezone.now() - timedelta(hours=3))
    assert services.recall_reminders_due() == 2  # the stall keeper and the cook
    assert services.recall_reminders_due() == 0  # reminded just now
    notices.update(last_reminded_at=timezone.now() - timedelta(hours=3))
    assert services.recall_reminders_due() == 2
    notices.update(last_reminded_at=timezone.now() - timedelta(hours=3))
    assert services.recall_reminders_due() == 0  # two reminders each is the limit
    assert _kinds(cook).count("traceability.recall_reminder") == 2
    services.recall_close(actor=chain.regulator, recall=recall)
    with pytest.raises(Conflict):
        services.recall_remind(actor=chain.regulator, recall=recall)


def test_the_recall_areas_are_the_receivers_areas_without_nesting(chain: Chain) -> None:
    city = chain.city
    chain.stall.area = city.community_a1
    chain.canteen.area = city.community_a2
    chain.market.area = city.community_b1
    areas = services.recall_areas([chain.stall, chain.canteen, chain.market])
    assert {a.pk for a in areas} == {
        city.community_a1.pk,
        city.community_a2.pk,
        city.community_b1.pk,
    }
    chain.processor.area = city.subdistrict_a  # holds both of district A's communities
    areas = services.recall_areas([chain.stall, chain.canteen, chain.market, chain.processor])
    assert {a.pk for a in areas} == {city.subdistrict_a.pk, city.community_b1.pk}
    chain.other_stall.area = None  # no area of its own: its organisation's (the city)
    assert services.recall_areas([chain.other_stall]) == [city.city]


def _shopper(lot: Lot, language: str = "zh-hans") -> str:
    path = DigitalLink(gtin=lot.product.gtin, lot=lot.lot).path()
    response = Client(headers={"accept-language": language}).get(path)
    assert response.status_code == 200
    return response.content.decode()


def test_the_shoppers_page_of_every_affected_code_shows_the_recall_first(chain: Chain) -> None:
    assert "召回警示" not in _shopper(chain.mince)
    _start(chain)
    for lot in (chain.carcass, chain.mince):  # the lot and the mince made from it
        page = _shopper(lot)
        assert "召回警示：请勿食用" in page and "瘦肉精抽检阳性" in page
        assert page.index("trace-recall") < page.index('id="lot-title"')
    assert "召回警示" not in _shopper(chain.other)
    english = _shopper(chain.mince, "en")
    assert "Recall warning: do not eat" in english


def test_the_regulators_page_shows_the_tally_and_reminds(chain: Chain) -> None:
    recall = _start(chain)
    services.recall_acknowledge(
        actor=chain.keeper,
        notice=recall.notices.get(participant=chain.stall),
        quantity_withdrawn=12,
    )
    regulator = Client()
    regulator.force_login(chain.regulator)
    page = regulator.get(f"/trace/recalls/{recall.pk}/").content.decode()
    assert "1 / 4" in page and chain.canteen.name in page
    response = regulator.post(f"/trace/recalls/{recall.pk}/", {"remind": "1"})
    assert response.status_code == 302
    assert recall.notices.filter(reminders_sent=1).count() == 3
    keeper = Client()
    keeper.force_login(chain.keeper)
    mine = keeper.get(f"/trace/recalls/{recall.pk}/").content.decode()
    assert "1 / 4" not in mine  # the stall sees its own notice, not the tally


def test_a_recall_by_farm_starts_from_everything_seen_there(chain: Chain) -> None:
    recall = services.recall_start_scoped(
        actor=chain.regulator, reason="非洲猪瘟", organisation=chain.city.city, farm=chain.farm
    )
    assert recall.scope["kind"] == "farm" and chain.carcass.epc_class in recall.scope["starts"]
    assert any("/21/PIG-1" in code for code in recall.scope["starts"])
    assert recall.lot == chain.carcass
    assert {chain.carcass.epc_class, chain.mince.epc_class} <= set(recall.affected_codes)
    notified = set(recall.notices.values_list("participant", flat=True))
    assert {chain.slaughterhouse.pk, chain.stall.pk, chain.canteen.pk} <= notified
    assert chain.other_stall.pk not in notified and chain.farm.pk not in notified
    assert len(notified) == recall.notices.count()  # each participant once
    starts = [n for n in recall.graph["nodes"] if n["kind"] == "start"]
    assert len(starts) == len(recall.scope["starts"])


def test_a_recall_by_date_range_starts_from_the_lots_made_in_it(chain: Chain) -> None:
    from civichub.core.errors import ValidationFailed
    from civichub.traceability.models import Event

    killing = Event.objects.get(biz_step="killing").event_time
    recall = services.recall_start_scoped(
        actor=chain.regulator,
        reason="屠宰线消毒失败",
        organisation=chain.city.city,
        since=killing - timedelta(minutes=30),
        until=killing + timedelta(minutes=30),
    )
    assert recall.scope["kind"] == "dates" and recall.scope["starts"] == [chain.carcass.epc_class]
    notified = set(recall.notices.values_list("participant", flat=True))
    assert {chain.stall.pk, chain.canteen.pk} <= notified
    assert chain.other_stall.pk not in notified
    with pytest.raises(ValidationFailed):
        services.recall_start_scoped(
            actor=chain.regulator,
            reason="x",
            organisation=chain.city.city,
            since=killing + timedelta(days=3),
            until=killing + timedelta(days=4),
        )
    with pytest.raises(PermissionDenied):
        services.recall_start_scoped(
            actor=chain.keeper, reason="x", organisation=chain.city.city, farm=chain.farm
        )


def test_a_recall_by_feed_batch_reaches_what_the_feed_went_into(chain: Chain) -> None:
    from civichub.traceability.tests.conftest import at, document, place

    feed_product = services.product_register(actor=None, gtin="06901234000078", name="饲料")
    feed = services.lot_register(actor=None, product=feed_product, lot="F1")
    pig = f"https://id.gs1.org/01/{chain.pig.gtin}/21/PIG-9"
    when = timezone.now() - timedelta(hours=3)
    services.events_capture(
        actor=None,
        document=document(
            at(
                when,
                type="TransformationEvent",
                inputQuantityList=[{"epcClass": feed.epc_class, "quantity": 50, "uom": "KGM"}],
                outputEPCList=[pig],
                bizLocation=place(chain.farm),
            ),
            at(
                when + timedelta(hours=1),
                type="TransformationEvent",
                bizStep="killing",
                inputEPCList=[pig],
                outputQuantityList=[{"epcClass": chain.other.epc_class}],
                bizLocation=place(chain.slaughterhouse),
            ),
        ),
    )
    recall = services.recall_start_scoped(
        actor=chain.regulator, reason="饲料霉变", organisation=chain.city.city, feed=feed
    )
    assert recall.scope["starts"] == [feed.epc_class] and recall.lot == chain.other
    notified = set(recall.notices.values_list("participant", flat=True))
    assert {chain.farm.pk, chain.other_stall.pk} <= notified
    assert chain.stall.pk not in notified and chain.canteen.pk not in notified

"""Traceability's measures for the statistics module: recalls started and the notices they
sent, read once after the last recall counted, and notices acknowledged with the hours they
took, read after the last acknowledgement counted, under the organisation that recalled."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from civichub.traceability import services
from civichub.traceability.measures import acknowledgement_measures, recall_measures
from civichub.traceability.tests.conftest import Chain

pytestmark = pytest.mark.django_db


def test_recalls_notices_and_acknowledgements_count_once(chain: Chain) -> None:
    recall = services.recall_start(
        actor=chain.regulator, lot=chain.carcass, reason="抽检不合格", organisation=chain.city.city
    )
    notice = recall.notices.get(participant=chain.stall)
    later = timezone.now() + dt.timedelta(minutes=1)
    nothing = acknowledgement_measures(after="", until=later, limit=100)
    assert nothing.contributions == [] and nothing.watermark == ""

    services.recall_acknowledge(actor=chain.keeper, notice=notice, quantity_withdrawn=38.5)
    later = timezone.now() + dt.timedelta(minutes=1)

    started = recall_measures(after="", until=later, limit=100)
    again = recall_measures(after=started.watermark, until=later, limit=100)
    acknowledged = acknowledgement_measures(after="", until=later, limit=100)
    ack_again = acknowledgement_measures(after=acknowledged.watermark, until=later, limit=100)

    city = chain.city.city.pk
    recalls = [c for c in started.contributions if c.measure == "traceability.recalls"]
    assert [(c.organisation_id, c.value) for c in recalls] == [(city, 1.0)]
    notices = {
        c.breakdown: c.value for c in started.contributions if c.measure == "traceability.notices"
    }
    assert sum(notices.values()) == recall.notices.count() and notices["stall"] >= 1
    assert again.contributions == [] and again.watermark == started.watermark
    figures = {(c.measure, c.organisation_id, c.breakdown) for c in acknowledged.contributions}
    assert figures == {
        ("traceability.acknowledged", city, "stall"),
        ("traceability.acknowledge_hours", city, "stall"),
    }
    assert ack_again.contributions == [] and ack_again.watermark == acknowledged.watermark


def test_a_recall_not_yet_settled_waits(chain: Chain) -> None:
    services.recall_start(
        actor=chain.regulator, lot=chain.carcass, reason="抽检不合格", organisation=chain.city.city
    )
    early = recall_measures(after="", until=timezone.now() - dt.timedelta(minutes=1), limit=100)
    assert early.contributions == [] and early.watermark == "0"

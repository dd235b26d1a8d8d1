"""The data hub's measures for the statistics module: reads of personal data under an
agreement, by purpose, read once from the access log after the last entry counted, under the
reading organisation in the person's community. A refused read is not counted."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.utils import timezone

from civichub.core.errors import PermissionDenied
from civichub.datahub import selectors
from civichub.datahub.measures import purpose_names, read_measures
from civichub.datahub.models import ImportBatch, Person
from civichub.datahub.tests.conftest import ZHANG_WEI, Hub, agreement_make, police_row

pytestmark = pytest.mark.django_db

CARE = "家庭医生签约服务"


def test_reads_under_an_agreement_are_counted_once_by_purpose(
    hub: Hub,
    police_import: Callable[..., ImportBatch],
    health_import: Callable[..., ImportBatch],
) -> None:
    police_import([police_row("P1", "张伟", ZHANG_WEI, "1980-01-01", "男")])
    health_import(
        [["D1", "张伟", ZHANG_WEI, "1980-01-01", "男", "", "", "刘医生", "高血压", "A", None]]
    )
    city = hub.city
    agreement_make(hub, area=city.district_a, attributes=["chronic_condition", "blood_group"])
    person = Person.objects.get()
    for _read in range(2):
        selectors.person_attributes(actor=hub.doctor, person=person, names=None, purpose=CARE)
    with pytest.raises(PermissionDenied):
        selectors.person_attributes(actor=hub.worker, person=person, names=None, purpose=CARE)
    later = timezone.now() + dt.timedelta(minutes=1)

    early = read_measures(after="", until=timezone.now() - dt.timedelta(minutes=1), limit=100)
    first = read_measures(after="", until=later, limit=100)
    again = read_measures(after=first.watermark, until=later, limit=100)
    step = read_measures(after="", until=later, limit=1)

    assert early.contributions == [] and early.watermark == "0"
    assert [(c.organisation_id, c.area_id, c.breakdown) for c in first.contributions] == [
        (city.health_a.pk, person.community_id, CARE)
    ] * 2
    assert again.contributions == [] and again.watermark == first.watermark
    assert len(step.contributions) == 1 and step.more
    assert purpose_names() == {CARE: CARE}

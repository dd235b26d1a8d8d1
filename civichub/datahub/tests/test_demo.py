"""The demo city's data hub: the departments' extracts imported and linked, one refused row,
agreements, and a demo resident whose record shows who looked at it. Seeded over the small
test city (the whole demo city takes longer than the module's test budget)."""

from __future__ import annotations

from random import Random

import pytest

from civichub.core import services as core_services
from civichub.core.demo import demo_logins
from civichub.core.identity import check_digit
from civichub.datahub import demo, selectors
from civichub.datahub.models import Agreement, ImportBatch, RowError, SourceRecord
from civichub.datahub.tests.conftest import Hub
from civichub.testing.city import staff_user

pytestmark = pytest.mark.django_db


def test_the_demo_city_has_a_hub_to_show(hub: Hub) -> None:
    rng = Random(3)
    for n in range(40):
        first17 = f"650202{1930 + n}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{n:03d}"
        core_services.resident_create(
            actor=None,
            name=f"居民{n}",
            community=hub.city.community_a2,
            identity_number=first17 + check_digit(first17),
            address=f"幸福路{n}号",
        )
    hub.resident_user.username = "resident"
    hub.resident_user.save()
    staff_user("department_head", hub.city.police_city, username="policehead")

    demo.seed(city=hub.city.city, size="small", seed=5)

    assert ImportBatch.objects.filter(status="done").count() == 3
    assert RowError.objects.get().code == "choice_invalid"
    linked = SourceRecord.objects.exclude(person=None).count()
    assert linked / SourceRecord.objects.count() > 0.9
    assert Agreement.objects.count() == 5
    mine = selectors.my_record(actor=hub.resident_user)
    assert mine is not None
    # the family doctor read as the resident's contracted doctor
    assert {a.purpose for a in mine.accesses} == {"家庭医生签约服务", "入户走访"}
    assert [(c.agreement.basis, c.consent) for c in mine.consents] == [("consent", None)]
    demo.seed(city=hub.city.city, size="small", seed=5)  # a second run adds nothing
    assert ImportBatch.objects.count() == 3


def test_the_demo_logins_name_the_hubs_staff() -> None:
    usernames = {login.username for login in demo_logins()}
    assert {"datasteward", "healthhead", "familydoctor"} <= usernames

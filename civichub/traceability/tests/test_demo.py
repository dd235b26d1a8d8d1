"""The demo chain is seeded through the services: the shopper's page of its lot shows the
journey from the farm to the stall, and the stall keeper's login is a member of the stall."""

from __future__ import annotations

from civichub.testing.city import SmallCity
from civichub.traceability import demo, selectors
from civichub.traceability.models import Lot, Participant


def test_demo_seed_builds_a_chain_the_shopper_can_follow(city: SmallCity) -> None:
    demo.seed(city=city.city, size="small")
    demo.seed(city=city.city, size="small")  # a second run adds nothing

    lot = Lot.objects.get()
    journey = selectors.lot_journey(lot=lot)
    assert [s.step for s in journey.steps][:2] == ["killing", "inspecting"]
    assert journey.steps[-1].participant is not None
    stall = Participant.objects.get(kind="stall")
    assert stall.members.get().username == demo.STALL_USERNAME
    trace = selectors.trace_code(lot.epc_class)
    assert {p.kind for p in trace.participants_downstream} >= {"stall", "canteen"}
    assert {login.username for login in demo.demo_logins()} == {
        demo.REGULATOR_USERNAME,
        demo.STALL_USERNAME,
    }

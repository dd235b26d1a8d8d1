"""The trace: backward to the farm, forward through the transformation and the pallet to every
place that received any of the lot, and nowhere else."""

from __future__ import annotations

from civichub.traceability import selectors
from civichub.traceability.tests.conftest import SSCC, Chain


def test_trace_of_a_carcass_lot_reaches_the_farm_and_every_receiver(chain: Chain) -> None:
    trace = selectors.trace_code(chain.carcass.epc_class)

    assert {p.name for p in trace.participants_upstream} == {
        chain.farm.name,
        chain.slaughterhouse.name,
    }
    assert {p.name for p in trace.participants_downstream} == {
        chain.processor.name,
        chain.market.name,
        chain.stall.name,
        chain.canteen.name,
    }
    assert trace.downstream == {chain.mince.epc_class, SSCC}
    assert len(trace.upstream) == 2  # the two pigs


def test_trace_of_the_mince_goes_back_through_the_carcass_to_the_pigs(chain: Chain) -> None:
    trace = selectors.trace_code(chain.mince.epc_class)

    assert chain.carcass.epc_class in trace.upstream
    assert trace.hops == 2
    assert chain.farm in trace.participants_upstream
    assert [p.name for p in trace.participants_downstream] == [chain.canteen.name]


def test_journey_shows_origin_inspection_and_stall_in_time_order(chain: Chain) -> None:
    journey = selectors.lot_journey(lot=chain.carcass)

    steps = [s.step for s in journey.steps]
    assert steps[:3] == ["commissioning", "killing", "inspecting"]
    assert "receiving" in steps
    inspection = journey.steps[2]
    assert inspection.results == ["clenbuterol 0 59"]
    assert journey.steps[1].certificates == ["urn:civichub:certificate:A6101"]
    assert journey.fresh is True
    assert journey.recalls == []

"""The trace: backward to the farm, forward through the transformation and the pallet to every
place that received any of the lot, and nowhere else."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from civichub.traceability import selectors, services
from civichub.traceability.models import Event
from civichub.traceability.tests.conftest import SSCC, Chain, document


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


def test_a_trace_is_two_queries_however_many_hops_it_goes(
    chain: Chain, django_assert_num_queries: Any
) -> None:
    # Both walks and their events' places in one statement, then the participants: a
    # database over the network pays a round trip per query, not per hop.
    with django_assert_num_queries(2):
        trace = selectors.trace_code(chain.mince.epc_class)
    assert trace.hops == 2 and chain.carcass.epc_class in trace.upstream


def test_a_code_met_again_is_followed_once_and_its_edges_come_from_its_first_hop(
    chain: Chain,
) -> None:
    trace = selectors.trace_code(chain.carcass.epc_class)
    edges = [(a, b) for a, b, _kind, _event in trace.edges]
    assert len(edges) == len(set(edges))
    assert (chain.carcass.epc_class, chain.mince.epc_class) in edges
    assert (chain.carcass.epc_class, SSCC) in edges


def test_a_transformation_declared_an_error_is_no_longer_followed(chain: Chain) -> None:
    assert chain.mince.epc_class in selectors.trace_code(chain.carcass.epc_class).downstream
    mincing = Event.objects.get(event_type="TransformationEvent", biz_step="commissioning")
    body = {k: v for k, v in mincing.body.items() if k not in ("@context", "recordTime")}
    declared = body | {
        "errorDeclaration": {
            "declarationTime": timezone.now().isoformat(),
            "reason": "incorrect_data",
        }
    }
    services.events_capture(actor=None, document=document(declared))

    trace = selectors.trace_code(chain.carcass.epc_class)
    assert chain.mince.epc_class not in trace.downstream
    assert SSCC in trace.downstream  # the pallet still carried the carcass
    assert chain.processor.name not in {p.name for p in trace.participants_downstream}
    assert chain.carcass.epc_class not in selectors.trace_code(chain.mince.epc_class).upstream

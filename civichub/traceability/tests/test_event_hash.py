"""The capture-speed CBV 2.0 event hash gives the reference generator's hash: on events of every
type with the fields food traceability uses, bare and full vocabulary values, user extensions,
fractional and offset time stamps (GS1's own examples are compared in test_epcis)."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest
from epcis_event_hash_generator import hash_generator, json_to_py

from civichub.traceability.gs1 import event_hash
from civichub.traceability.gs1.epcis import DEFAULT_CONTEXT

pytestmark = pytest.mark.once  # the same on any database: the SQLite run runs it

CONTEXT: list[Any] = [DEFAULT_CONTEXT, {"example": "http://ns.example.com/epcis/"}]


def _reference(event: dict[str, Any]) -> str:
    json_to_py._namespaces = {}  # the reference carries namespaces over between documents
    document = {"@context": CONTEXT, "type": "EPCISDocument", "epcisBody": {"eventList": [event]}}
    parsed = json_to_py.event_list_from_epcis_document_json(copy.deepcopy(document))
    return str(hash_generator.epcis_hashes_from_events(parsed, "sha256")[0])


def _events(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    steps = ["receiving", "shipping", "https://ref.gs1.org/cbv/BizStep-inspecting", "killing"]
    dispositions = ["in_progress", "recalled", "https://ref.gs1.org/cbv/Disp-in_transit"]
    times = [
        "2026-12-01T08:00:00+08:00",
        "2026-12-01T08:00:00.1234+08:00",
        "2026-12-01T00:00:00.9994Z",
        "2026-11-30T23:59:59.5005-05:30",
    ]
    lot = "https://id.gs1.org/01/06901234000016/10/K{n}"
    events = []
    for n in range(40):
        kind = rng.choice(["ObjectEvent", "AggregationEvent", "TransformationEvent"])
        event: dict[str, Any] = {
            "type": kind,
            "eventTime": rng.choice(times),
            "eventTimeZoneOffset": rng.choice(["+08:00", "-05:30", "+00:00"]),
            "bizStep": rng.choice(steps),
            "disposition": rng.choice(dispositions),
            "readPoint": {"id": "urn:epc:id:sgln:6901234.00001.0"},
            "bizLocation": {"id": "https://id.gs1.org/414/6901234000016"},
        }
        if kind == "ObjectEvent":
            event |= {
                "action": rng.choice(["OBSERVE", "ADD"]),
                "epcList": [
                    f"urn:epc:id:sgtin:6901234.000001.{n}",
                    f"urn:epc:id:sgtin:6901234.000001.{n + 7}",
                ],
                "quantityList": [
                    {
                        "epcClass": lot.format(n=n),
                        "quantity": rng.choice([1, 2.5, 10.0]),
                        "uom": "KGM",
                    }
                ],
                "ilmd": {"example:slaughterCertificate": f"QC-{n}", "example:grade": "A"},
            }
        elif kind == "AggregationEvent":
            event |= {
                "action": "ADD",
                "parentID": "https://id.gs1.org/00/069012340000000017",
                "childQuantityList": [{"epcClass": lot.format(n=n), "quantity": 3}],
                "bizTransactionList": [
                    {"type": "po", "bizTransaction": f"urn:epcglobal:cbv:bt:6901234000016:{n}"}
                ],
            }
        else:
            event |= {
                "inputQuantityList": [{"epcClass": lot.format(n=n), "quantity": 4, "uom": "KGM"}],
                "outputQuantityList": [
                    {"epcClass": lot.format(n=n + 1), "quantity": 3.5, "uom": "KGM"}
                ],
                "sourceList": [{"type": "owning_party", "source": "urn:epc:id:pgln:6901234.00001"}],
                "destinationList": [
                    {"type": "location", "destination": "urn:epc:id:sgln:6901234.00002.0"}
                ],
            }
        if rng.random() < 0.3:
            event["example:temperature"] = {"#text": "4.5", "example:unit": "CEL"}
        if rng.random() < 0.3:
            event["sensorElementList"] = [
                {
                    "sensorMetadata": {
                        "time": rng.choice(times),
                        "deviceID": "urn:epc:id:giai:6901234.1",
                    },
                    "sensorReport": [{"type": "gs1:Temperature", "value": 3.5, "uom": "CEL"}],
                }
            ]
        events.append(event)
    return events


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_capture_hash_equals_the_reference_generators(seed: int) -> None:
    events = _events(seed)
    for event in events:
        assert event_hash.cbv_event_hash(event, CONTEXT) == _reference(event), event


def test_capture_hash_leaves_the_event_as_it_was() -> None:
    event = _events(4)[0]
    before = copy.deepcopy(event)
    event_hash.cbv_event_hash(event, CONTEXT)
    assert event == before


def test_a_bare_vocabulary_value_hashes_as_its_uri() -> None:
    bare = _events(5)[0] | {"bizStep": "receiving"}
    full = bare | {"bizStep": "https://ref.gs1.org/cbv/BizStep-receiving"}
    assert event_hash.cbv_event_hash(bare, CONTEXT) == event_hash.cbv_event_hash(full, CONTEXT)
    assert "bizStep=https://ref.gs1.org/cbv/BizStep-receiving" in event_hash.pre_hash(bare, CONTEXT)


@pytest.mark.parametrize(
    "value",
    [
        "https://id.gs1.org/01/06901234000016/10/K1-2",
        "https://id.gs1.org/01/06901234000016/21/P7.a_b",
        "https://id.gs1.org/01/06901234000016",
        "https://id.gs1.org/00/069012340000000017",
        "https://id.gs1.org/414/6901234000016",
        "https://id.gs1.org/01/06901234000016/10/K?1",  # a query to the reference
        "https://id.gs1.org/01/6901234000016/10/K1",  # GTIN-13, padded
        "https://id.gs1.org/01/06901234000016/10/K1/21/7",  # the serial wins
        "https://example.com/01/06901234000016/10/K1",  # another domain
        "https://id.gs1.org/01/06901234000016/10/%25",
        "urn:epc:id:sgtin:6901234.000001.7",
        "urn:epc:class:lgtin:6901234.000001.K1",
        "urn:epcglobal:cbv:bizstep:receiving",
        "+010.50",
    ],
)
def test_canonical_values_are_the_reference_generators(value: str) -> None:
    assert event_hash._canonical_value(value) == hash_generator._canonize_value(value)


@pytest.mark.parametrize("seed", [6, 7])
def test_structure_correction_is_the_reference_generators(seed: int) -> None:
    from epcis_event_hash_generator.json_xml_model_mismatch_correction import (
        deep_structure_correction,
    )

    namespaces = event_hash._context_namespaces(CONTEXT)
    epcs = ["urn:epc:id:sgtin:6901234.000001.1", "urn:epc:id:sgtin:6901234.000001.2"]
    lists = [
        {"type": "AggregationEvent", "action": "ADD", "parentID": epcs[0], "childEPCs": epcs},
        {"type": "TransformationEvent", "inputEPCList": epcs, "outputEPCList": epcs[:1]},
        {"type": "ObjectEvent", "quantityList": [{"epcClass": epcs[0], "quantity": 1}]},
    ]
    for event in _events(seed) + lists:
        tree = event_hash._tree(event, dict(namespaces))
        expected = deep_structure_correction(copy.deepcopy(tree))
        assert event_hash._corrected(tree) == expected, event


@pytest.mark.parametrize("seed", [8, 9])
def test_single_pass_gives_the_ported_steps_string(seed: int) -> None:
    """The single pass reads the capture shapes (lists, quantities, pairs, extensions) and gives
    the string of the ported steps; the shapes it does not read go to those steps."""
    namespaces = event_hash._namespaces_of(event_hash._key_of(CONTEXT))
    read = 0
    for event in _events(seed):
        event = event | {"persistentDisposition": {"set": ["completeness_verified"]}}
        index = event_hash._suffix_index(frozenset(event_hash.vocabulary_uris(event, CONTEXT)))
        ported = event_hash._ported_pre_hash(event, CONTEXT, index)
        try:
            single = event_hash._single_pass(event, index, namespaces)
        except event_hash._Unusual:
            assert "sensorElementList" in event or "example:temperature" in event
            continue
        read += 1
        assert single == ported, event
    assert read >= 10


def _outcome(read: Any, *args: Any) -> str:
    try:
        return str(read(*args))
    except Exception as exc:  # the reference fails on some shapes (a pair of one field)
        return type(exc).__name__


def test_single_pass_hands_unusual_shapes_to_the_ported_steps() -> None:
    event = _events(10)[0]
    namespaces = event_hash._namespaces_of(event_hash._key_of(CONTEXT))
    unusual = [
        event | {"example:temperature": {"#text": "4.5", "example:unit": "CEL"}},
        event | {"bizTransactionList": [{"bizTransaction": "urn:epcglobal:cbv:bt:1:2"}]},
        event | {"quantityList": [{}]},
        {k: v for k, v in event.items() if k != "eventTime"},
    ]
    for shape in unusual:
        with pytest.raises(event_hash._Unusual):
            event_hash._single_pass(shape, {}, namespaces)
        index = event_hash._suffix_index(frozenset(event_hash.vocabulary_uris(shape, CONTEXT)))
        ported = _outcome(event_hash._ported_pre_hash, shape, CONTEXT, index)
        assert _outcome(event_hash.pre_hash, shape, CONTEXT) == ported

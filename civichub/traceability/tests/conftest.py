"""A small supply chain built through the services: a farm's pigs slaughtered into a carcass
lot, the lot packed on a pallet (SSCC) and shipped to a wholesale market, part of it minced at
a processor, the parts received by a stall and a school canteen; an unrelated lot at another
stall. Also the GS1 example data, read in place when it is present."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from civichub.core.models import User
from civichub.testing.city import SmallCity, staff_user
from civichub.traceability import services
from civichub.traceability.gs1.epcis import DEFAULT_CONTEXT
from civichub.traceability.gs1.identifiers import sgln_location
from civichub.traceability.models import Lot, Participant, ParticipantKind, Product

PIGS = "06901234000016"
CARCASS = "06901234000023"
MINCE = "06901234000030"
SSCC = "https://id.gs1.org/00/069012340000000016"


def epcis_data() -> Path:
    """GS1's EPCIS artefacts in the shared data, or skip with the reason."""
    root = os.environ.get("CIVICHUB_SHARED_DATA")
    base = Path(root) if root else Path(__file__).resolve().parents[4] / "shared" / "data"
    folder = base / "epcis"
    if not (folder / "schema" / "EPCIS-JSON-Schema.json").is_file():
        pytest.skip(f"GS1 EPCIS data not found in {folder}: set CIVICHUB_SHARED_DATA")
    return folder


@pytest.fixture
def gs1_schema(settings: Any) -> Path:
    """GS1's own JSON Schema in force for the test (as a deployment configures it)."""
    folder = epcis_data()
    settings.CIVICHUB_TRACEABILITY = {
        "epcis_json_schema_path": str(folder / "schema" / "EPCIS-JSON-Schema.json")
    }
    return folder


def document(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": [DEFAULT_CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-12-01T08:00:00+08:00",
        "epcisBody": {"eventList": list(events)},
    }


def at(when: datetime, **fields: Any) -> dict[str, Any]:
    local = timezone.localtime(when)
    return {"eventTime": local.isoformat(), "eventTimeZoneOffset": "+08:00"} | fields


def place(participant: Participant) -> dict[str, str]:
    return {"id": participant.location_uri}


@dataclass
class Chain:
    city: SmallCity
    regulator: User
    keeper: User
    farm: Participant
    slaughterhouse: Participant
    processor: Participant
    market: Participant
    stall: Participant
    canteen: Participant
    other_stall: Participant
    carcass: Lot
    mince: Lot
    other: Lot
    pig: Product


def _node(city: SmallCity, kind: str, name: str, gln: str, **extra: Any) -> Participant:
    return services.participant_register(
        actor=None, kind=kind, name=name, gln=gln, organisation=city.city, **extra
    )


def chain_build(city: SmallCity) -> Chain:
    regulator = staff_user("food_regulator", city.city)
    keeper = staff_user("trace_operator", city.city)
    farm = _node(city, ParticipantKind.FARM, "秦川养殖场", "6901234000016")
    slaughterhouse = _node(city, ParticipantKind.SLAUGHTERHOUSE, "城北屠宰场", "6901234000023")
    processor = _node(city, ParticipantKind.PROCESSOR, "肉制品加工厂", "6901234000061")
    market = _node(
        city,
        ParticipantKind.WHOLESALE_MARKET,
        "朱雀批发市场",
        "6901234000030",
        latitude=34.22,
        longitude=108.93,
    )
    stall = _node(
        city, ParticipantKind.STALL, "东关市场 12 号摊位", "6901234000047", members=[keeper]
    )
    canteen = _node(city, ParticipantKind.CANTEEN, "第一中学食堂", "6901234000054")
    other_stall = _node(city, ParticipantKind.STALL, "西关市场 3 号摊位", "6901234000078")
    pig = services.product_register(actor=None, gtin=PIGS, name="生猪")
    carcass_product = services.product_register(
        actor=None, gtin=CARCASS, name="冷鲜猪肉", name_en="Chilled pork"
    )
    mince_product = services.product_register(actor=None, gtin=MINCE, name="猪肉馅")
    carcass = services.lot_register(actor=None, product=carcass_product, lot="C1", origin=farm)
    mince = services.lot_register(actor=None, product=mince_product, lot="M1")
    other = services.lot_register(actor=None, product=carcass_product, lot="C2")
    pigs = [f"https://id.gs1.org/01/{PIGS}/21/PIG-{n}" for n in (1, 2)]
    t = timezone.now() - timedelta(days=1)
    h = timedelta(hours=1)
    services.events_capture(
        actor=None,
        document=document(
            at(
                t,
                type="ObjectEvent",
                action="ADD",
                bizStep="commissioning",
                epcList=pigs,
                bizLocation=place(farm),
            ),
            at(
                t + h,
                type="TransformationEvent",
                bizStep="killing",
                inputEPCList=pigs,
                outputQuantityList=[{"epcClass": carcass.epc_class, "quantity": 200, "uom": "KGM"}],
                certificationInfo="urn:civichub:certificate:A6101",
                bizLocation=place(slaughterhouse),
            ),
            at(
                t + 2 * h,
                type="ObjectEvent",
                action="OBSERVE",
                bizStep="inspecting",
                quantityList=[{"epcClass": carcass.epc_class}],
                sensorElementList=[
                    {
                        "sensorReport": [
                            {
                                "type": "gs1:MassFraction",
                                "chemicalSubstance": "urn:civichub:substance:clenbuterol",
                                "value": 0,
                                "uom": "59",
                            }
                        ]
                    }
                ],
                bizLocation=place(slaughterhouse),
            ),
            at(
                t + 3 * h,
                type="AggregationEvent",
                action="ADD",
                bizStep="packing",
                parentID=SSCC,
                childQuantityList=[{"epcClass": carcass.epc_class, "quantity": 120, "uom": "KGM"}],
                bizLocation=place(slaughterhouse),
            ),
            at(
                t + 4 * h,
                type="ObjectEvent",
                action="OBSERVE",
                bizStep="receiving",
                epcList=[SSCC],
                bizLocation=place(market),
            ),
            at(
                t + 5 * h,
                type="TransformationEvent",
                bizStep="commissioning",
                inputQuantityList=[{"epcClass": carcass.epc_class, "quantity": 80, "uom": "KGM"}],
                outputQuantityList=[{"epcClass": mince.epc_class, "quantity": 80, "uom": "KGM"}],
                bizLocation=place(processor),
            ),
            at(
                t + 6 * h,
                type="ObjectEvent",
                action="OBSERVE",
                bizStep="receiving",
                quantityList=[{"epcClass": carcass.epc_class, "quantity": 40, "uom": "KGM"}],
                bizLocation=place(stall),
            ),
            at(
                t + 7 * h,
                type="ObjectEvent",
                action="OBSERVE",
                bizStep="receiving",
                quantityList=[{"epcClass": mince.epc_class, "quantity": 30, "uom": "KGM"}],
                bizLocation=place(canteen),
            ),
            at(
                t + 8 * h,
                type="ObjectEvent",
                action="OBSERVE",
                bizStep="receiving",
                quantityList=[{"epcClass": other.epc_class, "quantity": 10, "uom": "KGM"}],
                bizLocation=place(other_stall),
            ),
        ),
    )
    return Chain(
        city,
        regulator,
        keeper,
        farm,
        slaughterhouse,
        processor,
        market,
        stall,
        canteen,
        other_stall,
        carcass,
        mince,
        other,
        pig,
    )


@pytest.fixture
def chain(city: SmallCity) -> Chain:
    return chain_build(city)


@pytest.fixture
def immediate_tasks(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}


__all__ = ["Chain", "at", "chain_build", "document", "epcis_data", "place", "sgln_location"]

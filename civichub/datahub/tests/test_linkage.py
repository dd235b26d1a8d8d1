"""Linkage's comparisons one by one, and the whole linkage on a generated population with
known truth (public security, health in Excel and civil affairs in JSON)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from civichub.core.identity import check_digit
from civichub.datahub import services
from civichub.datahub.linkage import (
    LEVELS,
    address_normalise,
    identity_upgrade,
    pinyin_syllables,
    record_keys,
    score,
)
from civichub.datahub.models import ReviewItem, SourceRecord
from civichub.datahub.synthetic import pair_scores, population
from civichub.datahub.tests.conftest import HEALTH_HEADER, POLICE_HEADER, Hub, csv_bytes, xlsx_bytes


def test_a_fifteen_digit_number_gains_its_century_and_check_digit() -> None:
    upgraded = identity_upgrade("110101800101123")
    assert upgraded == "11010119800101123" + check_digit("11010119800101123")
    assert identity_upgrade("１１０１０１８００１０１１２３") == upgraded  # full-width digits
    assert identity_upgrade(upgraded[:17] + ("0" if upgraded[17] != "0" else "1")) is None
    assert identity_upgrade("12345") is None


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        ("张伟", "张伟", "exact"),
        ("张伟", "張偉", "pinyin"),  # traditional characters
        ("张伟", "章伟", "pinyin"),  # a homophone surname
        ("张伟", "Wei ZHANG", "pinyin"),  # romanised, given name first
        ("张伟", "ZHANG Wei", "pinyin"),
        ("张晓伟", "张小伟", "pinyin"),
        ("张伟", "张纬明", "similar"),
        ("张伟", "李娜", "different"),
    ],
)
def test_names_compare_by_hanzi_then_pinyin(left: str, right: str, level: str) -> None:
    found = score(record_keys({"name": left}), record_keys({"name": right}))
    assert {f: lv for f, lv, _w in found.parts}["name"] == level


def test_pinyin_syllables_ignore_tones_and_script() -> None:
    assert pinyin_syllables("張偉") == ["zhang", "wei"] == pinyin_syllables("Zhang Wei")


@pytest.mark.parametrize(
    ("left", "right", "level"),
    [
        ("1980-03-04", "1980-03-04", "exact"),
        ("1980-03-04", "1980-04-03", "close"),  # day and month swapped
        ("1980-03-04", "1980-03-05", "close"),  # one digit
        ("1980-03-04", "1981-07-04", "different"),
    ],
)
def test_birth_dates_allow_one_slip(left: str, right: str, level: str) -> None:
    found = score(
        record_keys({"name": "a", "birth_date": left}),
        record_keys({"name": "a", "birth_date": right}),
    )
    assert {f: lv for f, lv, _w in found.parts}["birth_date"] == level


def test_addresses_written_differently_share_their_numbers() -> None:
    a = record_keys({"name": "a", "address": "幸福路12号3单元501室"})
    b = record_keys({"name": "a", "address": "幸福路 12栋 3-501"})
    assert address_normalise("幸福路１２號") == "幸福路12号"
    assert {f: lv for f, lv, _w in score(a, b).parts}["address"] == "numbers"


def test_every_agreeing_level_weighs_more_than_disagreeing() -> None:
    for levels in LEVELS.values():
        weights = [lv.weight for lv in levels.values()]
        assert weights == sorted(weights, reverse=True)
        assert weights[0] > 0 > weights[-1]


@pytest.mark.django_db
def test_linkage_on_a_generated_population_matches_the_truth(
    hub: Hub, django_capture_on_commit_callbacks: Any
) -> None:
    pop = population(80, seed=11)
    deliveries = [
        (
            "public_security",
            hub.steward,
            csv_bytes(POLICE_HEADER, [[r[h] for h in POLICE_HEADER] for r in pop.police]),
            "",
        ),
        (
            "health",
            hub.health_steward,
            xlsx_bytes(HEALTH_HEADER, [[r[h] for h in HEALTH_HEADER] for r in pop.health]),
            "",
        ),
        ("civil_affairs", None, json.dumps(pop.civil, ensure_ascii=False).encode(), ""),
    ]
    for key, actor, content, _name in deliveries:
        with django_capture_on_commit_callbacks(execute=True):
            services.import_start(actor=actor, source=hub.sources[key], content=content)
    predicted = {
        (r.source.key, r.record_id): r.person_id
        for r in SourceRecord.objects.select_related("source")
    }
    assert len(predicted) == len(pop.truth)
    precision, recall, *_counts = pair_scores(predicted, pop.truth)
    assert precision >= 0.98
    assert recall >= 0.9
    assert ReviewItem.objects.count() <= len(pop.health) // 10

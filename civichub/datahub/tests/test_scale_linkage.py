"""Linkage at scale with splink: the Chinese comparisons' inputs, EM-trained linkage on a
generated population with known truth, the same links on DuckDB and on a local Spark, and the
registry-wide run that only moves links and queues uncertain pairs with splink's waterfall."""

from __future__ import annotations

import functools
import os
import shutil
from typing import Any

import pytest

from civichub.core.audit import AuditEvent
from civichub.core.errors import PermissionDenied
from civichub.datahub import services
from civichub.datahub.models import AttributeValue, LinkMethod, ReviewItem, SourceRecord
from civichub.datahub.scale_linkage import Links, link, linkage_row, spark_session
from civichub.datahub.synthetic import pair_scores, person_records, population
from civichub.datahub.tests.conftest import Hub, population_deliver

LINK, REVIEW = 0.99, 0.5
# Seeds of the tests; the benchmark's held-out seeds are others (benchmarks/datahub.py).
SEED = 5


@functools.cache
def _small_set() -> tuple[list[dict[str, Any]], dict[tuple[str, str], int]]:
    pop = population(150, seed=SEED)
    rows = [linkage_row(f"{s}:{r}", f, source=s) for s, r, f in person_records(pop)]
    return rows, pop.truth


def _link(engine: str, spark: Any = None) -> Links:
    rows, _truth = _small_set()
    return link(
        rows,
        link_probability=LINK,
        review_probability=REVIEW,
        engine=engine,  # type: ignore[arg-type]
        spark=spark,
    )


@functools.cache
def _linked(engine: str) -> Links:
    return _link(engine)


def _scores(links: Links) -> tuple[float, float]:
    _rows, truth = _small_set()
    predicted = {tuple(k.split(":", 1)): v for k, v in links.groups.items()}
    precision, recall, *_counts = pair_scores(predicted, truth)  # type: ignore[arg-type]
    return precision, recall


def test_a_row_carries_the_upgraded_number_and_the_swapped_birth_date() -> None:
    row = linkage_row(
        "r1",
        {"name": "張偉", "identity_number": "110101800101123", "birth_date": "1980-01-02"},
    )
    assert row["identity"] is not None and len(row["identity"]) == 18
    assert row["name_key"] == "zhangwei"
    assert (row["birth_date"], row["birth_swapped"], row["birth_year"]) == (
        "1980-01-02",
        "1980-02-01",
        "1980",
    )
    # a number whose check digit fails is no number; empty fields are missing, not equal
    bad = linkage_row("r2", {"name": "张伟", "identity_number": "11010119800101123X"[:17] + "0"})
    assert bad["identity"] is None and bad["address"] is None and bad["birth_date"] is None


def test_linkage_on_a_small_set_with_known_truth_reaches_its_precision_and_recall() -> None:
    precision, recall = _scores(_linked("duckdb"))
    assert precision >= 0.99
    assert recall >= 0.95


def test_an_uncertain_pair_is_explained_by_its_waterfall() -> None:
    links = _linked("duckdb")
    assert links.review, "the set has uncertain pairs"
    for pair in links.review:
        assert REVIEW <= pair.probability < LINK
        fields = [part["field"] for part in pair.explanation]
        assert fields == ["prior", "identity", "name", "birth_date", "address", "phone", "gender"]
        assert sum(part["weight"] for part in pair.explanation) == pytest.approx(
            pair.weight, abs=0.05
        )


def _java() -> bool:
    return shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME"))


# A JVM is a real process started by the test: it runs once, with the system tests (CI's third run).
@pytest.mark.system
@pytest.mark.skipif(
    not _java() and os.environ.get("CI") != "true",
    reason="no Java here: the Spark engine needs a JVM (CI installs openjdk-17-jre-headless)",
)
def test_duckdb_and_spark_give_the_same_links() -> None:
    session = spark_session()
    try:
        duckdb, spark = _linked("duckdb"), _link("spark", session)
    finally:
        session.stop()
    assert spark.pairs() == duckdb.pairs()
    assert {(p.left, p.right) for p in spark.review} == {(p.left, p.right) for p in duckdb.review}
    assert spark.groups == duckdb.groups
    assert _scores(spark) == _scores(duckdb)


@pytest.mark.django_db
def test_the_registry_run_moves_only_links_and_queues_uncertain_pairs(
    hub: Hub, django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    pop = population(120, seed=SEED + 1)
    # Imported with the record-by-record scorer switched off: a record without a number that
    # its identity does not link starts a person of its own, for the registry run to join.
    settings.CIVICHUB_DATAHUB = {"link_weight": 1000.0, "review_weight": 1000.0}
    population_deliver(hub, pop, django_capture_on_commit_callbacks)
    settings.CIVICHUB_DATAHUB = {}
    values = sorted(AttributeValue.objects.values_list("record_id", "name", "value", "valid_to"))
    before = dict(SourceRecord.objects.values_list("pk", "person_id"))
    _precision, recall_before, *_counts = pair_scores(_assignment(), pop.truth)
    with pytest.raises(PermissionDenied):
        services.registry_link(actor=hub.worker)

    found = services.registry_link(actor=hub.steward)

    assert found["records"] == len(pop.truth)
    # Linkage links: no source's value changed, added or closed.
    assert (
        sorted(AttributeValue.objects.values_list("record_id", "name", "value", "valid_to"))
        == values
    )
    event = AuditEvent.objects.get(action="datahub.registry.link")
    moves = event.changes["moved"]
    assert len(moves) == found["moved"]
    for record_id, from_person, to_person in moves:
        assert before[record_id] == from_person
        assert SourceRecord.objects.get(pk=record_id).person_id == to_person
    # Records linked by their identity number stay where they are.
    for record in SourceRecord.objects.filter(link_method=LinkMethod.IDENTITY):
        assert record.person_id == before[record.pk]
    precision, recall, *_counts = pair_scores(_assignment(), pop.truth)
    assert precision >= 0.98 and recall >= 0.95
    assert recall_before < 0.9 and found["moved"] > 0
    for item in ReviewItem.objects.filter(explanation__0__field="prior"):
        assert sum(p["weight"] for p in item.explanation) == pytest.approx(item.weight, abs=0.05)


def _assignment() -> dict[tuple[str, str], int | None]:
    return {
        (r.source.key, r.record_id): r.person_id
        for r in SourceRecord.objects.select_related("source")
    }

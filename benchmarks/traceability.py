"""Benchmarks for food traceability.

    python benchmarks/traceability.py [--quick] [--events N] [--chains N] [--postgres URL]
                                      [--parts capture,hash,trace,shopper]

Prints `name: value` lines on stdout (progress on stderr):

- `capture`: EPCIS 2.0 documents of 100 ObjectEvents each through `events_capture` (JSON Schema
  validation with format checking, the CBV 2.0 event hash, duplicate check, storage of events
  and their identifiers in one transaction per document): events per second on one process,
  by the wall clock and by the process's own CPU time.
- `hash`: the CBV 2.0 hash of the same events alone, civichub's (`gs1/event_hash.py`) against
  the baseline, the reference generator `epcis-event-hash-generator` reading each document
  in one pass (what capture used before), on the first `--hash-baseline` events, each after
  one event to warm up.
- `trace`: backward + forward trace of a lot through 6 hops (pigs → carcass → cuts → mince →
  pack → case → pallet: transformations, then aggregations) among `--events` stored events
  (the target of the issue is 10,000,000; the default here is what one run on a shared laptop
  takes in minutes), p50 and p99 over 200 lots.
- `shopper`: the shopper's page (resolver → journey → template) rendered by Django's test
  client, one client in this process, then `--clients` (8) clients at once, each a process of
  its own opening the page `--pages` times: p50 and p99 of every page, and pages per second.

The background events are written with bulk inserts (rows of the same shape the service writes,
without validating each) so that a large repository can be built in minutes; the chains that
are traced are captured through the service. SQLite by default, in a temporary directory;
`--postgres postgresql://user@host:port` runs on a fresh PostgreSQL database, dropped after.
`--quick` is a smoke test of the script, not a timing. `--parts` runs some of the four (all by
default): `--parts capture --capture 6000` times the capture alone, in about a minute.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import (  # noqa: E402
    backend_cpu_seconds,
    line,
    load_average,
    migrate_database,
    note,
    percentile,
    postgres_database,
    print_machine,
)

CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
GTINS = ("06901234000016", "06901234000023", "06901234000030")
PARTS = ("capture", "hash", "trace", "shopper")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--events", type=int, default=1_000_000, help="background events stored")
    parser.add_argument("--chains", type=int, default=1000, help="6-hop chains captured")
    parser.add_argument("--capture", type=int, default=3000, help="events captured for timing")
    parser.add_argument("--workers", type=int, default=2, help="capture workers run at once")
    parser.add_argument("--clients", type=int, default=8, help="shopper's page clients at once")
    parser.add_argument("--pages", type=int, default=50, help="pages each shopper client opens")
    parser.add_argument(
        "--hash-baseline", type=int, default=500, help="events hashed by the reference too"
    )
    parser.add_argument(
        "--postgres", default="", help="server URL, e.g. postgresql://postgres@127.0.0.1:5432"
    )
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}"
    )
    args = parser.parse_args()
    args.parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if args.parts - set(PARTS):
        parser.error(f"--parts: unknown {', '.join(sorted(args.parts - set(PARTS)))}")
    if args.quick:
        args.events, args.chains, args.capture, args.hash_baseline = 300, 5, 400, 20
    return args


def _document(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-12-01T08:00:00+08:00",
        "epcisBody": {"eventList": events},
    }


def _event(kind: str, when: Any, location: str, **fields: Any) -> dict[str, Any]:
    event = {
        "type": kind,
        "eventTime": when.isoformat(),
        "eventTimeZoneOffset": "+08:00",
        "bizLocation": {"id": location},
    }
    if kind != "TransformationEvent":
        event["action"] = "ADD" if kind == "AggregationEvent" else "OBSERVE"
    return event | fields


def _lot(gtin: str, lot: str) -> str:
    return f"https://id.gs1.org/01/{gtin}/10/{lot}"


def _chain(n: int, start: Any, places: list[str]) -> tuple[list[dict[str, Any]], str]:
    """Seven events, six hops: 2 pigs → carcass → cuts → mince → pack (transformations),
    pack → case → pallet (aggregations), and the pallet received at a stall."""
    pigs = [f"https://id.gs1.org/01/{GTINS[0]}/21/P{n}-{i}" for i in (1, 2)]
    lots = [_lot(GTINS[1], f"K{n}-{step}") for step in range(4)]
    case = f"https://id.gs1.org/00/0690123400{n:07d}"
    pallet = f"https://id.gs1.org/00/1690123400{n:07d}"
    case, pallet = (_sscc(case), _sscc(pallet))
    h = timedelta(hours=1)
    events = [
        _event(
            "TransformationEvent",
            start,
            places[0],
            inputEPCList=pigs,
            outputQuantityList=[{"epcClass": lots[0]}],
            bizStep="killing",
        )
    ]
    for step in range(3):
        events.append(
            _event(
                "TransformationEvent",
                start + (step + 1) * h,
                places[1],
                inputQuantityList=[{"epcClass": lots[step]}],
                outputQuantityList=[{"epcClass": lots[step + 1]}],
            )
        )
    events.append(
        _event(
            "AggregationEvent",
            start + 4 * h,
            places[1],
            parentID=case,
            childQuantityList=[{"epcClass": lots[3]}],
            bizStep="packing",
        )
    )
    events.append(
        _event(
            "AggregationEvent",
            start + 5 * h,
            places[1],
            parentID=pallet,
            childEPCs=[case],
            bizStep="packing",
        )
    )
    events.append(
        _event("ObjectEvent", start + 6 * h, places[2], epcList=[pallet], bizStep="receiving")
    )
    return events, lots[1]


def _sscc(uri: str) -> str:
    from biip.checksums import gs1_standard_check_digit

    body = uri.rsplit("/", 1)[1][:17]
    return f"https://id.gs1.org/00/{body}{gs1_standard_check_digit(body)}"


# The generated chains: the same six hops as `_chain`, one row per event and per identifier
# named, written by the database itself (INSERT … SELECT over a series of chain numbers), so
# that ten million events are stored in minutes rather than hours. They are rows of the tables
# the trace reads, of the shape the capture service writes, but not captured through it: no
# validation, no hash (the hash column holds a unique placeholder), a body naming the type only.
_STEPS = (  # step, event type, action, bizStep, place
    (0, "TransformationEvent", "", "killing", 0),
    (1, "TransformationEvent", "", "", 1),
    (2, "TransformationEvent", "", "", 1),
    (3, "TransformationEvent", "", "", 1),
    (4, "AggregationEvent", "ADD", "packing", 1),
    (5, "AggregationEvent", "ADD", "packing", 1),
    (6, "ObjectEvent", "OBSERVE", "receiving", 2),
)
_STEP_EDGES = (  # step, role, is a class, what: a pig, a lot (by its step), the case, the pallet
    (0, "input", False, "pig", 1),
    (0, "input", False, "pig", 2),
    (0, "output", True, "lot", 0),
    (1, "input", True, "lot", 0),
    (1, "output", True, "lot", 1),
    (2, "input", True, "lot", 1),
    (2, "output", True, "lot", 2),
    (3, "input", True, "lot", 2),
    (3, "output", True, "lot", 3),
    (4, "parent", False, "case", 0),
    (4, "child", True, "lot", 3),
    (5, "parent", False, "pallet", 0),
    (5, "child", False, "case", 0),
    (6, "epc", False, "pallet", 0),
)


def generated_lot(chain: int) -> str:
    """The lot a generated chain's trace starts from (its second, as for the captured ones)."""
    return _lot(GTINS[1], f"G{chain:09d}-1")


def _generate_chains(count: int, places: list[str], start: Any) -> int:
    """`count` chains of seven events each; returns the first chain's event id."""
    from django.db import connection, transaction

    from civichub.traceability.models import Event, EventEpc

    postgres = connection.vendor == "postgresql"
    q = connection.ops.quote_name
    events, epcs = q(Event._meta.db_table), q(EventEpc._meta.db_table)

    def pad(expression: str, width: int) -> str:
        if postgres:
            return f"lpad(({expression})::text, {width}, '0')"
        return f"printf('%%0{width}d', {expression})"

    def literal(value: Any) -> str:
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, int):
            return str(value)
        return "'" + str(value).replace("'", "''") + "'"

    steps = ", ".join(
        "(" + ", ".join(literal(v) for v in (*row[:4], places[row[4]])) + ")" for row in _STEPS
    )
    edges = ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in _STEP_EDGES)
    series = (
        "(SELECT generate_series(%s, %s - 1) AS c) chains"
        if postgres
        else "(WITH RECURSIVE n(c) AS (SELECT %s UNION ALL SELECT c + 1 FROM n WHERE c + 1 < %s)"
        " SELECT c FROM n) chains"
    )
    pk = "(%s + chains.c * 7 + s.k)"
    when = (
        f"(%s::timestamptz + {pk} * interval '1 second')"
        if postgres
        else f"strftime('%%Y-%%m-%%d %%H:%%M:%%f', %s, '+' || {pk} || ' seconds')"
    )
    body = "('{\"type\": \"' || s.t || '\"}')" + ("::jsonb" if postgres else "")
    insert_events = (  # nosec B608 - table names are the models' own, values are parameters
        f"WITH s(k, t, a, b, p) AS (VALUES {steps}) "  # noqa: S608
        f"INSERT INTO {events} (id, event_id, event_hash, event_type, event_time, record_time, "
        "action, biz_step, disposition, read_point, biz_location, declared_error, body) "
        f"SELECT {pk}, 'urn:uuid:00000000-0000-4000-8000-' || {pad(pk, 12)}, "
        f"'ni:///sha-256;generated' || {pad(pk, 12)} || '?ver=bench', s.t, {when}, {when}, "
        f"s.a, s.b, '', '', s.p, FALSE, {body} FROM {series} CROSS JOIN s"
    )
    code = (
        f"CASE e.w WHEN 'pig' THEN 'https://id.gs1.org/01/{GTINS[0]}/21/GP' || "
        f"{pad('chains.c', 9)} || '-' || e.n "
        f"WHEN 'lot' THEN 'https://id.gs1.org/01/{GTINS[1]}/10/G' || {pad('chains.c', 9)} "
        "|| '-' || e.n "
        f"WHEN 'case' THEN 'https://id.gs1.org/00/3' || {pad('chains.c', 17)} "
        f"ELSE 'https://id.gs1.org/00/4' || {pad('chains.c', 17)} END"
    )
    insert_edges = (  # nosec B608 - table names are the models' own, values are parameters
        f"WITH e(k, r, i, w, n) AS (VALUES {edges}) "  # noqa: S608
        f"INSERT INTO {epcs} (event_id, epc, role, is_class, quantity, uom) "
        f"SELECT %s + chains.c * 7 + e.k, {code}, e.r, e.i, NULL, '' FROM {series} CROSS JOIN e"
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {events}")  # noqa: S608  # nosec B608
        base = int(cursor.fetchone()[0])
    began = time.perf_counter()
    first = start.isoformat() if postgres else start.strftime("%Y-%m-%d %H:%M:%S")
    batch = 50_000
    for offset in range(0, count, batch):
        end = min(count, offset + batch)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(insert_events, [base, base, base, first, base, first, base, offset, end])
            cursor.execute(insert_edges, [base, offset, end])
        rate = end * 7 / (time.perf_counter() - began)
        note(f"generated chains: {end}/{count} ({rate:.0f} events/s)")
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{Event._meta.db_table}', 'id'), "  # noqa: S608  # nosec B608
                f"(SELECT MAX(id) FROM {events}))"
            )
    return base


def _gs1_schema() -> str:
    """GS1's JSON Schema from the shared data when it is there (what a deployment installs)."""
    root = os.environ.get("CIVICHUB_SHARED_DATA")
    base = Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "data"
    schema = base / "epcis" / "schema" / "EPCIS-JSON-Schema.json"
    if schema.is_file():
        return str(schema)
    note(f"GS1's schema not found at {schema}: capture validates with civichub's own schema")
    return ""


def _hash_figures(documents: list[dict[str, Any]], count: int) -> None:
    """Hashes per second, ours and the reference generator's, on the same events."""
    import copy

    from epcis_event_hash_generator import hash_generator, json_to_py

    from civichub.traceability.gs1 import epcis

    events = [e for doc in documents for e in epcis.events_of(doc)][:count]
    # One event first, for each: the contexts are loaded and the expansion's answers for these
    # positions learnt once per process, as in a running server.
    epcis.event_hashes(events[:1], CONTEXT)
    json_to_py.event_list_from_epcis_document_json(copy.deepcopy(_document(events[:1])))
    began = time.perf_counter()
    ours = epcis.event_hashes(events, CONTEXT)
    line(
        "traceability.hash_events_per_second", f"{len(events) / (time.perf_counter() - began):.0f}"
    )
    reference: list[str] = []
    began = time.perf_counter()
    for start in range(0, len(events), 100):
        document = copy.deepcopy(_document(events[start : start + 100]))
        parsed = json_to_py.event_list_from_epcis_document_json(document)
        reference += [str(h) for h in hash_generator.epcis_hashes_from_events(parsed, "sha256")]
    seconds = time.perf_counter() - began
    line("traceability.hash_reference_events_per_second", f"{len(events) / seconds:.0f}")
    line(
        "traceability.hash_agreement",
        f"{sum(a == b for a, b in zip(ours, reference, strict=False))}/{len(events)}",
    )


def _capture_one_process(documents: list[dict[str, Any]]) -> None:
    """Documents through `events_capture` one after another in this process."""
    from civichub.traceability import services

    began = time.perf_counter()
    cpu = time.process_time()
    server = backend_cpu_seconds() or 0.0
    captured = 0
    for doc in documents:
        captured += len(services.events_capture(actor=None, document=doc).captured)
    seconds = time.perf_counter() - began
    cpu = time.process_time() - cpu
    server = (backend_cpu_seconds() or 0.0) - server
    line("traceability.capture_events", captured)
    line("traceability.capture_events_per_second", f"{captured / seconds:.0f}")
    # On a shared machine the wall clock counts the other work too: the capture's own CPU time
    # (this process; SQLite works inside it), and with PostgreSQL also its server process's.
    line("traceability.capture_events_per_cpu_second", f"{captured / cpu:.0f}")
    if server:
        line(
            "traceability.capture_events_per_cpu_second_with_server",
            f"{captured / (cpu + server):.0f}",
        )


def _capture_worker(job_ids: list[str]) -> tuple[int, float, float]:
    """One task worker's share: each job run as the capture task runs it."""
    from django.db import connections

    from civichub.traceability import services

    cpu = time.process_time()
    server = backend_cpu_seconds() or 0.0
    captured = sum(services.capture_job_run(job_id=j).captured for j in job_ids)
    server = (backend_cpu_seconds() or 0.0) - server
    cpu = time.process_time() - cpu
    connections.close_all()
    return captured, cpu, server


def _capture_workers(documents: list[dict[str, Any]], workers: int) -> None:
    """Capture jobs (`POST /epcis/capture`) submitted, then run by `workers` processes at once,
    each taking every `workers`-th job, as that many task workers would share the queue.
    Events per second from the first job started to the last finished; per CPU second of the
    workers (and their PostgreSQL server processes)."""
    import multiprocessing

    from django.db import connections

    from civichub.traceability import services
    from civichub.traceability.models import CaptureJob

    jobs = [str(services.capture_job_submit(actor=None, document=d).pk) for d in documents]
    connections.close_all()  # each worker opens its own connection (and its own pool)
    for connection in connections.all():
        close_pool = getattr(connection, "close_pool", None)  # PostgreSQL's pool, if pooled
        if close_pool is not None:
            close_pool()
    shares = [jobs[i::workers] for i in range(workers)]
    began = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        results = pool.map(_capture_worker, shares)
    seconds = time.perf_counter() - began
    captured = sum(r[0] for r in results)
    cpu = sum(r[1] for r in results)
    server = sum(r[2] for r in results)
    failed = CaptureJob.objects.filter(pk__in=jobs).exclude(state=CaptureJob.State.SUCCESS)
    line("traceability.capture_workers", workers)
    line("traceability.capture_workers_jobs_failed", failed.count())
    line("traceability.capture_workers_events", captured)
    line("traceability.capture_workers_events_per_second", f"{captured / seconds:.0f}")
    line("traceability.capture_workers_events_per_cpu_second", f"{captured / cpu:.0f}")
    if server:
        line(
            "traceability.capture_workers_events_per_cpu_second_with_server",
            f"{captured / (cpu + server):.0f}",
        )
    line("machine.load_average_after_capture", load_average())


def measure(args: argparse.Namespace) -> None:
    import django
    from django.conf import settings

    schema = _gs1_schema()
    django.setup()
    settings.CIVICHUB_TRACEABILITY = {"epcis_json_schema_path": schema}
    from django.db import connection
    from django.utils import timezone

    from civichub.testing.city import build_city
    from civichub.traceability import services
    from civichub.traceability.models import ParticipantKind

    migrate_database()
    print_machine(sqlite=connection.vendor == "sqlite")
    line("traceability.database", connection.vendor)
    line("traceability.capture_schema", "gs1" if schema else "civichub")
    city = build_city()
    glns = ("6901234000016", "6901234000023", "6901234000030", "6901234000047")
    kinds = (
        ParticipantKind.SLAUGHTERHOUSE,
        ParticipantKind.PROCESSOR,
        ParticipantKind.STALL,
        ParticipantKind.FARM,
    )
    places = [
        services.participant_register(
            actor=None, kind=k, name=f"node {g}", gln=g, organisation=city.city
        ).location_uri
        for k, g in zip(kinds, glns, strict=True)
    ]
    product = services.product_register(actor=None, gtin=GTINS[1], name="猪肉")

    start = timezone.now() - timedelta(days=2)
    documents = []
    for d in range(max(1, args.capture // 100)):
        documents.append(
            _document(
                [
                    _event(
                        "ObjectEvent",
                        start + timedelta(seconds=d * 100 + i),
                        places[2],
                        quantityList=[
                            {"epcClass": _lot(GTINS[2], f"C{d}-{i}"), "quantity": 1, "uom": "KGM"}
                        ],
                        bizStep="receiving",
                    )
                    for i in range(min(100, args.capture))
                ]
            )
        )
    if "hash" in args.parts:
        _hash_figures(documents, args.hash_baseline)
    if "capture" in args.parts:
        half = len(documents) // 2
        _capture_one_process(documents[:half])
        _capture_workers(documents[half:], args.workers)
    if "trace" in args.parts:
        _trace_figures(args, places)
    if "shopper" in args.parts:
        _shopper_figures(args, product)


def _trace_figures(args: argparse.Namespace, places: list[str]) -> None:
    from django.db import connection
    from django.utils import timezone

    from civichub.traceability import selectors, services
    from civichub.traceability.models import Event, EventEpc

    start = timezone.now() - timedelta(days=2)

    note(f"capturing {args.chains} chains")
    starts = []
    for n in range(args.chains):
        events, traced = _chain(n, start, places)
        services.events_capture(actor=None, document=_document(events))
        starts.append(traced)
    chains = args.events // 7
    began = time.perf_counter()
    _generate_chains(chains, places, start - timedelta(days=400))
    line("traceability.generated_chains", chains)
    line("traceability.generated_seconds", f"{time.perf_counter() - began:.0f}")
    with connection.cursor() as cursor:  # what autovacuum does after a bulk load
        cursor.execute("ANALYZE")
    line("traceability.events_stored", Event.objects.count())
    line("traceability.event_identifiers_stored", EventEpc.objects.count())
    line("machine.load_average_before_trace", load_average())

    rng = random.Random(14)
    timings = []
    reached = hops = 0
    fewest = 10**9
    # Half the lots from the chains captured through the service, half from the generated ones.
    codes = rng.choices(starts, k=100)
    codes += [generated_lot(rng.randrange(chains)) for _ in range(100 if chains else 0)]
    rng.shuffle(codes)
    cpu_timings = []
    for code in codes:
        began = time.perf_counter()
        cpu = time.process_time()
        trace = selectors.trace_code(code)
        timings.append((time.perf_counter() - began) * 1000)
        cpu_timings.append((time.process_time() - cpu) * 1000)
        hops = max(hops, trace.hops)
        reached = max(reached, len(trace.upstream) + len(trace.downstream))
        fewest = min(fewest, len(trace.upstream) + len(trace.downstream))
    line("traceability.trace_longest_direction_hops", hops)
    line("traceability.trace_codes_reached", reached)
    line("traceability.trace_codes_reached_fewest", fewest)
    line("traceability.trace_p50_ms", f"{percentile(timings, 0.5):.2f}")
    line("traceability.trace_p99_ms", f"{percentile(timings, 0.99):.2f}")
    # The CPU time of this process per trace (SQLite's work included, a server's not): on a
    # loaded machine the wall clock also counts the waits for a core.
    line("traceability.trace_cpu_p50_ms", f"{percentile(cpu_timings, 0.5):.2f}")
    line("traceability.trace_cpu_p99_ms", f"{percentile(cpu_timings, 0.99):.2f}")
    _scope_figures(selectors, starts, chains, 200 if args.quick else 2000)


def _shopper_figures(args: argparse.Namespace, product: Any) -> None:
    from django.test import Client

    from civichub.traceability import services

    lot = services.lot_register(actor=None, product=product, lot="K0-1")
    client = Client(SERVER_NAME="localhost")
    url = f"/01/{product.gtin}/10/{lot.lot}"
    assert client.get(url).status_code == 200  # templates loaded, as in a running server
    page_timings = []
    for _ in range(5 if args.quick else 200):
        began = time.perf_counter()
        response = client.get(url)
        page_timings.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200
    line("traceability.shopper_page_clients", 1)
    line("traceability.shopper_page_p50_ms", f"{percentile(page_timings, 0.5):.2f}")
    line("traceability.shopper_page_p99_ms", f"{percentile(page_timings, 0.99):.2f}")
    _shopper_clients(url, args.clients, 3 if args.quick else args.pages)


def _scope_figures(selectors: Any, starts: list[str], chains: int, count: int) -> None:
    """A recall by scope: many starts traced a chunk at a time (`trace_codes`), against the
    baseline of one trace per start, in the same run; each start's trace must be the same."""
    generated = [generated_lot(n) for n in range(min(chains, count))]
    scope = list(dict.fromkeys(starts + generated))[:count]
    began = time.perf_counter()
    together = selectors.trace_codes(scope)
    together_seconds = time.perf_counter() - began
    began = time.perf_counter()
    alone = [selectors.trace_code(code) for code in scope]
    alone_seconds = time.perf_counter() - began
    same = all(
        (a.upstream, a.downstream, a.hops) == (b.upstream, b.downstream, b.hops)
        for a, b in zip(together, alone, strict=True)
    )
    line("traceability.scope_trace_starts", len(scope))
    line("traceability.scope_trace_same_as_one_by_one", "yes" if same else "NO")
    line("traceability.scope_trace_ms_per_start", f"{together_seconds * 1000 / len(scope):.2f}")
    line(
        "traceability.scope_trace_one_by_one_ms_per_start_baseline",
        f"{alone_seconds * 1000 / len(scope):.2f}",
    )


def _shopper_worker(job: tuple[str, int]) -> list[float]:
    """One shopper client: its own process and connection, one page after another."""
    from django.db import connections
    from django.test import Client

    url, count = job
    client = Client(SERVER_NAME="localhost")
    assert client.get(url).status_code == 200  # its connection opened, its templates loaded
    timings = []
    for _ in range(count):
        began = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200
    connections.close_all()
    return timings


def _shopper_clients(url: str, clients: int, pages: int) -> None:
    """`clients` shoppers at once (processes, as a server's workers would serve them), each
    opening the page `pages` times: the latency of every page, and pages per second."""
    import multiprocessing

    from django.db import connections

    connections.close_all()  # each client opens its own connection (and its own pool)
    for connection in connections.all():
        close_pool = getattr(connection, "close_pool", None)
        if close_pool is not None:
            close_pool()
    line("machine.load_average_before_shopper_clients", load_average())
    began = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(clients) as pool:
        results = pool.map(_shopper_worker, [(url, pages)] * clients)
    seconds = time.perf_counter() - began
    timings = [t for r in results for t in r]
    line("traceability.shopper_page_clients", clients)
    line("traceability.shopper_page_pages", len(timings))
    line(f"traceability.shopper_page_{clients}_clients_p50_ms", f"{percentile(timings, 0.5):.2f}")
    line(f"traceability.shopper_page_{clients}_clients_p99_ms", f"{percentile(timings, 0.99):.2f}")
    line(
        f"traceability.shopper_page_{clients}_clients_pages_per_second",
        f"{len(timings) / seconds:.0f}",
    )


def main() -> None:
    args = arguments()
    data_dir = tempfile.mkdtemp(prefix="civichub-bench-traceability-")
    os.environ.update(
        CIVICHUB_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="civichub.settings", CIVICHUB_TESTING=""
    )
    os.environ.pop("DATABASE_URL", None)
    try:
        if args.postgres:
            with postgres_database(args.postgres, "bench_traceability") as url:
                os.environ["DATABASE_URL"] = url
                measure(args)
        else:
            measure(args)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

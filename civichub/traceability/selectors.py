"""Reads shared by the pages, the API, the EPCIS adapter and the tasks: lots by code or Digital
Link, the trace of a lot upstream and downstream, the shopper's journey, EPCIS queries, recalls."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from civichub.core.config import module_config
from civichub.core.errors import NotFound, ValidationFailed
from civichub.core.models import Organisation, User
from civichub.core.permissions import allowed, granted_paths, require, scope_filter
from civichub.traceability.conf import TraceabilitySettings
from civichub.traceability.gs1.identifiers import (
    IdentifierError,
    epc_canonical,
    location_canonical,
    trace_code_verified,
)
from civichub.traceability.models import (
    RETAIL_KINDS,
    Event,
    EventEpc,
    Lot,
    NamedQuery,
    Participant,
    ParticipantKind,
    Recall,
    RecallNotice,
)


def _conf() -> TraceabilitySettings:
    return module_config(TraceabilitySettings)


def location_key(uri: str) -> str:
    """The form locations are stored and matched in (GLN-based ones canonical)."""
    return location_canonical(uri) if uri else ""


# Lots --------------------------------------------------------------------------------------


def lot_by_link(*, gtin: str, lot: str) -> Lot:
    found = (
        Lot.objects.select_related("product", "origin").filter(product__gtin=gtin, lot=lot).first()
    )
    if found is None:
        raise NotFound(_("未找到该批次：%(gtin)s / %(lot)s") % {"gtin": gtin, "lot": lot})
    return found


def lot_by_trace_code(code: str) -> Lot:
    try:
        verified = trace_code_verified(code)
    except IdentifierError as exc:
        raise ValidationFailed.on("code", str(exc)) from exc
    found = Lot.objects.select_related("product", "origin").filter(trace_code=verified).first()
    if found is None:
        raise NotFound(_("未找到追溯码 %(code)s 对应的批次。") % {"code": verified})
    return found


def lot_list(*, user: User, query: str = "") -> QuerySet[Lot]:
    require(user, "traceability.event.view")
    lots = Lot.objects.select_related("product", "origin").order_by("-created_at", "-pk")
    if query:
        lots = lots.filter(
            Q(trace_code=query) | Q(lot__icontains=query) | Q(product__name__icontains=query)
        )
    return lots


# The trace ---------------------------------------------------------------------------------


@dataclass
class Trace:
    """A lot's trace: the identifiers reached backward (what it was made from) and forward
    (what it became, what carried it), the events on them, and the participants met."""

    start: str
    upstream: set[str] = field(default_factory=set)
    downstream: set[str] = field(default_factory=set)
    edges: list[tuple[str, str, str, str]] = field(default_factory=list)  # from, to, type, id
    hops: int = 0
    participants_upstream: list[Participant] = field(default_factory=list)
    participants_downstream: list[Participant] = field(default_factory=list)

    @property
    def codes(self) -> set[str]:
        return {self.start} | self.upstream | self.downstream

    def as_graph(self) -> dict[str, Any]:
        """Nodes and edges for the regulator to read (and to store with a recall)."""
        nodes = [{"id": self.start, "kind": "start"}]
        nodes += [{"id": c, "kind": "upstream"} for c in sorted(self.upstream)]
        nodes += [{"id": c, "kind": "downstream"} for c in sorted(self.downstream)]
        places = [
            {"id": p.location_uri, "kind": f"participant:{p.kind}", "name": p.name}
            for p in self.participants_upstream + self.participants_downstream
        ]
        return {
            "nodes": nodes + places,
            "edges": [
                {"from": a, "to": b, "via": kind, "event": event}
                for a, b, kind, event in self.edges
            ],
            "hops": self.hops,
        }


# (role the known code plays, role of the code reached): forward through a transformation
# (input → output) and into a container (child → parent); backward the other way round.
_FORWARD = (("input", "output"), ("child", "parent"))
_BACKWARD = (("output", "input"),)


# The hash an error declaration is stored under (capture appends this to the declared event's):
# a declaration repeats the event it corrects, identifiers and all, and is never followed.
_DECLARATION = "%#errorDeclaration"


def _walk_cte(name: str, rules: tuple[tuple[str, str], ...], *, many: bool = False) -> str:
    """A recursive walk through stored, undeclared events: every link (code, code reached, the
    event's row id, hop) from the start, up to the hop limit; with `many`, from every code of a
    `starts` table, each row carrying its start first. The event row is looked up only
    to leave declared errors and the declarations themselves out (NOT EXISTS rather than a
    join: SQLite would otherwise build a Bloom filter over the whole events table on every
    round of the recursion)."""
    epc_table = EventEpc._meta.db_table
    event_table = Event._meta.db_table
    pairs = " OR ".join(["(a.role = %s AND b.role = %s)"] * len(rules))
    live = (
        f'NOT EXISTS (SELECT 1 FROM "{event_table}" x '  # noqa: S608  # nosec B608
        "WHERE x.id = a.event_id AND (x.declared_error = %s OR x.event_hash LIKE %s))"
    )
    start, seed, carried = ("start, ", "a.epc, ", "w.start, ") if many else ("", "", "")
    # Many starts are a list to look up, not a table to join: joined, SQLite's planner built a
    # Bloom filter over the whole identifiers table, twice, on every statement (11 s for 250
    # starts at 20 million identifiers, against 0.1 s looked up).
    first = "a.epc IN (SELECT code FROM starts) AND " if many else "a.epc = %s AND "
    return (
        f"{name}({start}source, target, ev, hop) AS ("  # noqa: S608  # nosec B608
        f'SELECT {seed}a.epc, b.epc, a.event_id, 1 FROM "{epc_table}" a '
        f'JOIN "{epc_table}" b ON b.event_id = a.event_id '
        f"WHERE {first}({pairs}) AND {live} "
        "UNION "
        f"SELECT {carried}a.epc, b.epc, a.event_id, w.hop + 1 FROM {name} w "
        f'JOIN "{epc_table}" a ON a.epc = w.target '
        f'JOIN "{epc_table}" b ON b.event_id = a.event_id '
        f"WHERE w.hop < %s AND ({pairs}) AND {live})"
    )


def _trace_sql() -> str:
    """The whole trace in one statement, one round trip: the backward walk's links (`b`), the
    forward walk's (`f`), and the places of the events on every code reached (`p`: code, role,
    bizStep, bizLocation). On a database server each round trip waits for the server's turn on
    a core, and a trace of four queries spent most of its time waiting."""
    event_table = Event._meta.db_table
    epc_table = EventEpc._meta.db_table
    links = (
        "SELECT %s, w.source, w.target, "  # noqa: S608  # nosec B608
        f'(SELECT e.event_type FROM "{event_table}" e WHERE e.id = w.ev), '
        f'(SELECT e.event_id FROM "{event_table}" e WHERE e.id = w.ev), w.hop FROM {{}} w'
    )
    # Table names are the models' own and every value is a parameter.
    return (
        f"WITH RECURSIVE {_walk_cte('back', _BACKWARD)}, {_walk_cte('fwd', _FORWARD)} "  # noqa: S608  # nosec B608
        f"{links.format('back')} UNION ALL {links.format('fwd')} UNION ALL "
        f"SELECT %s, p.epc, p.role, e.biz_step, e.biz_location, 0 "
        f'FROM "{epc_table}" p JOIN "{event_table}" e ON e.id = p.event_id '
        "WHERE p.epc IN (SELECT target FROM back UNION SELECT target FROM fwd UNION SELECT %s) "
        "AND e.declared_error = %s AND e.event_hash NOT LIKE %s AND e.biz_location <> %s"
    )


def _trace_parameters(starts: list[str], limit: int, *, many: bool = False) -> list[Any]:
    """`_trace_sql`'s parameters (one start), or `_scope_trace_sql`'s (`many`)."""
    one = [] if many else starts
    parameters: list[Any] = list(starts) if many else []
    for rules in (_BACKWARD, _FORWARD):
        flat = [role for pair in rules for role in pair]
        parameters += [*one, *flat, True, _DECLARATION, limit, *flat, True, _DECLARATION]
    return [*parameters, "b", "f", "p", *one, False, _DECLARATION, ""]


def _walked(start: str, rows: list[tuple[str, str, str, str, int]], trace: Trace) -> set[str]:
    """The codes reached from `start` hop by hop (breadth first: each code at the fewest hops
    it is reached in, the links of each hop's new codes recorded as the trace's edges)."""
    by_hop: dict[int, list[tuple[str, str, str, str]]] = {}
    for source, target, kind, event_id, hop in rows:
        by_hop.setdefault(int(hop), []).append((source, target, kind, event_id))
    hop_of = {start: 0}
    hops = 0
    for hop in sorted(by_hop):
        for source, target, kind, event_id in by_hop[hop]:
            if hop_of.get(source) != hop - 1:
                continue  # a code met again later: its links were followed when first met
            trace.edges.append((source, target, kind, event_id))
            if target not in hop_of:
                hop_of[target] = hop
                hops = hop
    trace.hops = max(trace.hops, hops)
    return set(hop_of) - {start}


_MADE = ("commissioning", "https://ref.gs1.org/cbv/BizStep-commissioning")


def _place_sets(trace: Trace, rows: list[tuple[str, str, str, str]]) -> tuple[set[str], set[str]]:
    """Upstream: the places of the inputs' events and where the code was made (an output, or
    commissioned); downstream: every other place the code or what it became was seen."""
    origin: set[str] = set()
    reached: set[str] = set()
    for epc, role, biz_step, location in rows:
        if epc in trace.upstream:
            origin.add(location)
        if epc == trace.start and (role == "output" or (role == "epc" and biz_step in _MADE)):
            origin.add(location)
        if epc in trace.downstream or epc == trace.start:
            reached.add(location)
    return origin, reached


def _participants_set(
    trace: Trace, origin: set[str], reached: set[str], found: list[Participant]
) -> None:
    """The trace's participants from `found` (ordered by kind and id): upstream those at the
    places of origin, downstream those at the other places reached."""
    trace.participants_upstream = [p for p in found if p.location_uri in origin]
    trace.participants_downstream = [
        p for p in found if p.location_uri in reached and p.location_uri not in origin
    ]


# Many starts at once (a recall by scope): the walks' rows carry their start, so that every
# start's trace is the one `trace_code` gives it alone, with a round trip per chunk of starts.
_SCOPE_CHUNK = 250


def _scope_trace_sql(starts: int) -> str:
    """`_trace_sql` for `starts` identifiers at once: every row names its start first."""
    event_table = Event._meta.db_table
    epc_table = EventEpc._meta.db_table
    values = ", ".join(["(%s)"] * starts)
    links = (
        "SELECT %s, w.start, w.source, w.target, "  # noqa: S608  # nosec B608
        f'(SELECT e.event_type FROM "{event_table}" e WHERE e.id = w.ev), '
        f'(SELECT e.event_id FROM "{event_table}" e WHERE e.id = w.ev), w.hop FROM {{}} w'
    )
    back = _walk_cte("back", _BACKWARD, many=True)
    fwd = _walk_cte("fwd", _FORWARD, many=True)
    return (
        f"WITH RECURSIVE starts(code) AS (VALUES {values}), {back}, {fwd}, "  # noqa: S608  # nosec B608
        "reached(start, code) AS (SELECT start, target FROM back UNION "
        "SELECT start, target FROM fwd UNION SELECT code, code FROM starts) "
        f"{links.format('back')} UNION ALL {links.format('fwd')} UNION ALL "
        "SELECT %s, r.start, p.epc, p.role, e.biz_step, e.biz_location, 0 FROM reached r "
        f'JOIN "{epc_table}" p ON p.epc = r.code JOIN "{event_table}" e ON e.id = p.event_id '
        "WHERE e.declared_error = %s AND e.event_hash NOT LIKE %s AND e.biz_location <> %s"
    )


def trace_codes(codes: list[str]) -> list[Trace]:
    """`trace_code` of each identifier (canonical, as stored): a statement per chunk of them."""
    traces: list[Trace] = []
    hops = _conf().trace_max_hops
    for first in range(0, len(codes), _SCOPE_CHUNK):
        chunk = list(dict.fromkeys(codes[first : first + _SCOPE_CHUNK]))
        rows: dict[str, dict[str, list[Any]]] = {c: {"b": [], "f": [], "p": []} for c in chunk}
        with connection.cursor() as cursor:
            cursor.execute(_scope_trace_sql(len(chunk)), _trace_parameters(chunk, hops, many=True))
            for row in cursor.fetchall():
                rows[row[1]][row[0]].append(row[2:])
        places: dict[str, tuple[set[str], set[str]]] = {}
        chunk_traces = []
        for code in chunk:
            trace = Trace(start=code)
            trace.upstream = _walked(code, rows[code]["b"], trace)
            trace.downstream = _walked(code, rows[code]["f"], trace)
            places[code] = _place_sets(trace, [r[:4] for r in rows[code]["p"]])
            chunk_traces.append(trace)
        locations = {uri for origin, reached in places.values() for uri in origin | reached}
        found = list(Participant.objects.filter(location_uri__in=locations).order_by("kind", "pk"))
        for trace in chunk_traces:
            _participants_set(trace, *places[trace.start], found)
        traces += chunk_traces
    by_start = {t.start: t for t in traces}
    return [by_start[c] for c in codes]


# A recall by scope traces from each identifier in scope (`trace_codes`: a statement per 250):
# past this many the regulator narrows the scope (the preview says so and starting refuses).
RECALL_SCOPE_MAX_CODES = 20_000
RECALL_SCOPE_KINDS = ("farm", "feed", "dates")


def recall_scope_codes(
    *,
    farm: Participant | None = None,
    feed: Lot | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[str]:
    """The identifiers a recall by scope starts from: a feed batch itself; everything seen at a
    farm (its animals, the lots made there), within the date range if one is given; or, with a
    date range alone, every lot or item made (an output, or commissioned) in it. Events declared
    erroneous are left out. At most RECALL_SCOPE_MAX_CODES + 1: one more than the limit means
    the scope is too wide (never cut silently)."""
    if feed is not None:
        return [feed.epc_class]
    rows = EventEpc.objects.filter(event__declared_error=False)
    if farm is not None:
        rows = rows.filter(event__biz_location=farm.location_uri)
    elif since is None and until is None:
        return []
    else:
        rows = rows.filter(Q(role="output") | Q(role="epc", event__biz_step__in=_MADE))
    if since is not None:
        rows = rows.filter(event__event_time__gte=since)
    if until is not None:
        rows = rows.filter(event__event_time__lt=until)
    limit = RECALL_SCOPE_MAX_CODES + 1
    codes = set(rows.values_list("epc", flat=True).distinct()[:limit])
    if farm is not None and since is None and until is None and len(codes) < limit:
        codes |= set(Lot.objects.filter(origin=farm).values_list("epc_class", flat=True)[:limit])
    return sorted(codes)[:limit]


@dataclass
class RecallScope:
    """What a recall by scope would reach: the identifiers it starts from, the union of their
    traces, the lots among the identifiers reached and the participants downstream (notified
    once each). `too_wide`: more identifiers in scope than a recall starts from, not traced."""

    kind: str
    starts: list[str]
    too_wide: bool = False
    traces: list[Trace] = field(default_factory=list)
    affected: list[str] = field(default_factory=list)
    lots: int = 0
    participants: list[Participant] = field(default_factory=list)
    limit: int = 0

    @property
    def retail(self) -> list[Participant]:
        """The stalls, supermarkets and canteens reached: where the public buys or eats it."""
        return [p for p in self.participants if p.kind in RETAIL_KINDS]

    @property
    def stalls(self) -> list[Participant]:
        return [p for p in self.participants if p.kind == ParticipantKind.STALL]


def recall_scope_choice(
    *,
    kind: str,
    farm_id: int | None = None,
    feed_code: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """The regulator's choice of scope as the arguments of recall_scope_trace (the page and the
    API read it the same way): the kind names what is used, the rest of the form is ignored."""
    if kind not in RECALL_SCOPE_KINDS:
        raise ValidationFailed.on("kind", _("请选择召回范围。"))
    if since is not None and until is not None and until <= since:
        raise ValidationFailed.on("until", _("结束时间须晚于开始时间。"))
    dates = {"since": since, "until": until}
    if kind == "farm":
        farm = Participant.objects.filter(pk=farm_id or 0, kind=ParticipantKind.FARM).first()
        if farm is None:
            raise ValidationFailed.on("farm", _("请选择养殖场/种植基地。"))
        return {"farm": farm, **dates}
    if kind == "feed":
        if not feed_code.strip():
            raise ValidationFailed.on("feed", _("请填写饲料批次的追溯码。"))
        return {"feed": lot_by_trace_code(feed_code)}
    if since is None and until is None:
        raise ValidationFailed.on("since", _("请填写开始时间或结束时间。"))
    return dates


def recall_scope_trace(
    *,
    farm: Participant | None = None,
    feed: Lot | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> RecallScope:
    """Every identifier in scope traced, the traces joined (no permission check: the preview
    and the service check first)."""
    kind = "feed" if feed is not None else "farm" if farm is not None else "dates"
    limit = RECALL_SCOPE_MAX_CODES
    starts = recall_scope_codes(farm=farm, feed=feed, since=since, until=until)
    if len(starts) > limit:
        return RecallScope(kind=kind, starts=starts[:limit], too_wide=True, limit=limit)
    traces = trace_codes(starts)
    affected = sorted({c for t in traces for c in {t.start} | t.downstream})
    downstream: dict[int, Participant] = {}
    for trace in traces:
        for participant in trace.participants_downstream:
            downstream.setdefault(participant.pk, participant)
    return RecallScope(
        kind=kind,
        starts=starts,
        traces=traces,
        affected=affected,
        lots=Lot.objects.filter(epc_class__in=affected).count() if affected else 0,
        participants=sorted(downstream.values(), key=lambda p: (p.kind, p.pk)),
        limit=limit,
    )


def recall_scope_preview(*, user: User, **choice: Any) -> RecallScope:
    """What a recall by the scope chosen (recall_scope_choice's fields) would reach, before the
    regulator confirms it: the same check as starting one, first."""
    require(user, "traceability.recall.start", regulator_organisation(user))
    return recall_scope_trace(**recall_scope_choice(**choice))


def trace_code(code: str) -> Trace:
    """Backward and forward from one identifier, through transformations and aggregations.
    Upstream participants are where its inputs were and where it was made (an output, or
    commissioned); downstream participants are every other place it or what it became went.
    Two queries: the walks with the places of their events, then the participants."""
    try:
        start = epc_canonical(code, verify=False)[0]
    except IdentifierError as exc:
        raise ValidationFailed.on("epc", str(exc)) from exc
    trace = Trace(start=start)
    with connection.cursor() as cursor:
        cursor.execute(_trace_sql(), _trace_parameters([start], _conf().trace_max_hops))
        rows = cursor.fetchall()
    back = [(r[1], r[2], r[3], r[4], r[5]) for r in rows if r[0] == "b"]
    forward = [(r[1], r[2], r[3], r[4], r[5]) for r in rows if r[0] == "f"]
    trace.upstream = _walked(start, back, trace)
    trace.downstream = _walked(start, forward, trace)
    origin, reached = _place_sets(trace, [(r[1], r[2], r[3], r[4]) for r in rows if r[0] == "p"])
    places = Participant.objects.filter(location_uri__in=origin | reached).order_by("kind", "pk")
    _participants_set(trace, origin, reached, list(places))
    return trace


def lot_trace(*, user: User, lot: Lot) -> Trace:
    require(user, "traceability.event.view")
    return trace_code(lot.epc_class)


# The shopper's journey -------------------------------------------------------------------

STEP_LABELS: dict[str, tuple[str, str]] = {
    "commissioning": ("入栏/建档", "Registered"),
    "killing": ("屠宰", "Slaughtered"),
    "inspecting": ("检验检疫", "Inspected"),
    "sampling": ("抽样检测", "Sampled"),
    "shipping": ("发货", "Shipped"),
    "receiving": ("到货", "Received"),
    "storing": ("入库", "Stored"),
    "packing": ("包装", "Packed"),
    "unpacking": ("拆包", "Unpacked"),
    "retail_selling": ("零售", "Sold"),
    "transforming": ("加工", "Processed"),
}


def step_word(biz_step: str) -> str:
    """`shipping` from a bare word, a CBV web URI or a CBV URN alike."""
    for marker in ("BizStep-", "bizstep:"):
        if marker in biz_step:
            return biz_step.rsplit(marker, 1)[1]
    return biz_step


@dataclass
class JourneyStep:
    when: datetime
    step: str
    label_zh: str
    label_en: str
    participant: Participant | None
    certificates: list[str]
    results: list[str]
    declared_error: bool


@dataclass
class Journey:
    lot: Lot
    steps: list[JourneyStep]
    recalls: list[Recall]
    fresh: bool | None
    last_received: datetime | None


def _results(body: dict[str, Any]) -> list[str]:
    """Inspection results from the sensor reports: `type value uom` (a residue test, a
    temperature) and any exception the device raised."""
    found: list[str] = []
    for element in body.get("sensorElementList") or []:
        for report in element.get("sensorReport") or []:
            name = str(report.get("chemicalSubstance") or report.get("type") or "")
            name = unquote(name.rsplit("/", 1)[-1].rsplit(":", 1)[-1])
            value = report.get("value", report.get("stringValue", report.get("booleanValue")))
            found.append(f"{name} {value if value is not None else ''} {report.get('uom', '')}")
    return [f.strip() for f in found]


def _certificates(body: dict[str, Any]) -> list[str]:
    value = body.get("certificationInfo") or []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def lot_journey(*, lot: Lot) -> Journey:
    """What the shopper's page shows: the public trace of one lot (no personal data)."""
    trace = trace_code(lot.epc_class)
    carriers = {b for a, b, kind, _e in trace.edges if kind != "TransformationEvent"}
    codes = trace.upstream | {trace.start} | (carriers & trace.downstream)
    events = Event.objects.filter(epcs__epc__in=codes).distinct().order_by("event_time", "pk")[:200]
    places = {
        p.location_uri: p
        for p in Participant.objects.filter(
            location_uri__in={e.biz_location for e in events if e.biz_location}
        )
    }
    steps = []
    last_received = None
    for event in events:
        word = step_word(event.biz_step)
        zh, en = STEP_LABELS.get(word, (word or event.event_type, word or event.event_type))
        if word == "receiving":
            last_received = event.event_time
        steps.append(
            JourneyStep(
                when=event.event_time,
                step=word,
                label_zh=zh,
                label_en=en,
                participant=places.get(event.biz_location),
                certificates=_certificates(event.body),
                results=_results(event.body),
                declared_error=event.declared_error,
            )
        )
    fresh = None
    if last_received is not None:
        fresh = timezone.now() - last_received <= timedelta(days=_conf().freshness_days)
    return Journey(lot, steps, recalls_for_code(lot.epc_class), fresh, last_received)


def recalls_for_code(code: str) -> list[Recall]:
    """Open recalls whose trace reached this identifier."""
    return [
        r
        for r in Recall.objects.filter(state=Recall.State.OPEN).select_related("lot__product")
        if code in r.affected_codes
    ]


# EPCIS queries ---------------------------------------------------------------------------

_EQ_FIELDS = {
    "EQ_action": "action",
    "EQ_bizStep": "biz_step",
    "EQ_disposition": "disposition",
    "EQ_readPoint": "read_point",
    "EQ_bizLocation": "biz_location",
    "EQ_eventID": "event_id",
    "eventType": "event_type",
}
_TIMES = {
    "GE_eventTime": "event_time__gte",
    "LT_eventTime": "event_time__lt",
    "GE_recordTime": "record_time__gte",
    "LT_recordTime": "record_time__lt",
}
_MATCH = {
    "MATCH_epc": (("epc",), False),
    "MATCH_parentID": (("parent",), False),
    "MATCH_inputEPC": (("input",), False),
    "MATCH_outputEPC": (("output",), False),
    "MATCH_anyEPC": (("epc", "parent", "child", "input", "output"), False),
    "MATCH_epcClass": (("epc",), True),
    "MATCH_inputEPCClass": (("input",), True),
    "MATCH_outputEPCClass": (("output",), True),
    "MATCH_anyEPCClass": (("epc", "child", "input", "output"), True),
}
QUERY_CONTROLS = {"perPage", "nextPageToken", "orderBy", "orderDirection", "eventCountLimit"}


def _values(raw: str) -> list[str]:
    return [v for v in raw.split("|") if v]


def _step_values(raw: str) -> list[str]:
    out: list[str] = []
    for value in _values(raw):
        word = step_word(value)
        out += [value, word, f"https://ref.gs1.org/cbv/BizStep-{word}"]
    return out


def _epc_values(raw: str) -> list[str]:
    out: list[str] = []
    for value in _values(raw):
        try:
            out.append(epc_canonical(value, verify=False)[0])
        except IdentifierError:
            out.append(value)
    return out


def events_query(*, user: User | None, params: dict[str, str]) -> QuerySet[Event]:
    """The events matching EPCIS 2.0 query parameters (the common subset); an unknown
    parameter is refused (the standard's QueryParameterException) rather than ignored."""
    require(user, "traceability.event.view")
    events = Event.objects.all()
    for name, raw in params.items():
        if name in QUERY_CONTROLS:
            continue
        if name in _TIMES:
            when = parse_datetime(raw)
            if when is None or when.tzinfo is None:
                raise ValidationFailed.on(name, _("时间须为带时区的 ISO 8601 格式。"))
            events = events.filter(**{_TIMES[name]: when})
        elif name == "EQ_bizStep":
            events = events.filter(biz_step__in=_step_values(raw))
        elif name in ("EQ_bizLocation", "EQ_readPoint"):
            keys = [location_key(v) for v in _values(raw)]
            events = events.filter(**{f"{_EQ_FIELDS[name]}__in": keys})
        elif name in _EQ_FIELDS:
            events = events.filter(**{f"{_EQ_FIELDS[name]}__in": _values(raw)})
        elif name in _MATCH:
            roles, classes = _MATCH[name]
            match = EventEpc.objects.filter(epc__in=_epc_values(raw), role__in=roles)
            if not classes:
                match = match.filter(is_class=False)
            events = events.filter(pk__in=match.values("event_id"))
        else:
            raise ValidationFailed.on(name, _("不支持的查询参数：%(name)s") % {"name": name})
    return events


# Controls that belong to one request (a page of the results), not to a named query.
_PAGE_CONTROLS = {"perPage", "nextPageToken"}


def named_query_params(query: Any) -> dict[str, str]:
    """A named query's definition (the EPCIS query language: a value or an array of values per
    parameter) as the parameters `events_query` reads (alternatives joined by `|`)."""
    if not isinstance(query, dict):
        raise ValidationFailed.on("query", _("查询定义须为 JSON 对象。"))
    params: dict[str, str] = {}
    for name, value in query.items():
        values = value if isinstance(value, list) else [value]
        if (
            name in _PAGE_CONTROLS
            or not values
            or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values)
            or any("|" in str(v) for v in values)
        ):
            raise ValidationFailed.on(
                f"query.{name}", _("不支持的查询参数或取值：%(name)s") % {"name": name}
            )
        params[name] = "|".join(str(v) for v in values)
    return params


def named_query_list(*, user: User | None) -> QuerySet[NamedQuery]:
    require(user, "traceability.event.view")
    return NamedQuery.objects.order_by("name")


def named_query_get(*, user: User | None, name: str) -> NamedQuery:
    require(user, "traceability.event.view")
    found = NamedQuery.objects.filter(name=name).first()
    if found is None:
        raise NotFound(_("没有该查询。"))
    return found


def event_by_id(*, user: User | None, event_id: str) -> Event:
    require(user, "traceability.event.view")
    event = Event.objects.filter(event_id=event_id).first()
    if event is None:
        raise NotFound(_("没有该事件。"))
    return event


# Recalls ---------------------------------------------------------------------------------


def recall_list(*, user: User) -> QuerySet[Recall]:
    recalls = Recall.objects.select_related("lot__product").order_by("-created_at", "-pk")
    if allowed(user, "traceability.recall.start"):
        return scope_filter(user, "traceability.recall.start", recalls, "organisation__path")
    return recalls.filter(notices__participant__members=user).distinct()


def recall_detail(*, user: User, recall_id: int) -> Recall:
    recall = Recall.objects.select_related("lot__product").filter(pk=recall_id).first()
    if recall is None:
        raise NotFound(_("没有该召回。"))
    require(user, "traceability.recall.view", recall)
    return recall


def notices_for(*, user: User, recall: Recall) -> QuerySet[RecallNotice]:
    """All notices for the regulator; a stall's member sees their own."""
    notices = recall.notices.select_related("participant", "acknowledged_by").order_by("pk")
    if allowed(user, "traceability.recall.start", recall):
        return notices
    return notices.filter(participant__members=user)


@dataclass
class Acknowledgements:
    """Who has confirmed a recall's withdrawal and who has not, for the regulator."""

    acknowledged: list[RecallNotice]
    outstanding: list[RecallNotice]
    quantity_withdrawn: float

    @property
    def total(self) -> int:
        return len(self.acknowledged) + len(self.outstanding)


def recall_acknowledgements(*, user: User, recall: Recall) -> Acknowledgements:
    require(user, "traceability.recall.start", recall)
    notices = list(
        recall.notices.select_related("participant", "acknowledged_by")
        .prefetch_related("participant__members")
        .order_by("participant__name", "pk")
    )
    done = [n for n in notices if n.acknowledged_at is not None]
    return Acknowledgements(
        acknowledged=done,
        outstanding=[n for n in notices if n.acknowledged_at is None],
        quantity_withdrawn=sum(n.quantity_withdrawn or 0 for n in done),
    )


def participants_of(*, user: User) -> list[Participant]:
    """The places the user works for (a stall keeper's stall)."""
    if not user.is_authenticated:
        return []
    return list(Participant.objects.filter(members=user))


def my_notices(*, user: User) -> QuerySet[RecallNotice]:
    return (
        RecallNotice.objects.filter(participant__members=user, recall__state=Recall.State.OPEN)
        .select_related("recall__lot__product", "participant")
        .order_by("-notified_at")
    )


def notice_for_acknowledgement(*, user: User, notice_id: int) -> RecallNotice:
    notice = (
        RecallNotice.objects.select_related("recall", "participant").filter(pk=notice_id).first()
    )
    if notice is None:
        raise NotFound(_("没有该召回通知。"))
    require(user, "traceability.recall.acknowledge", notice)
    return notice


def open_recall_count(user: User) -> int:
    return recall_list(user=user).filter(state=Recall.State.OPEN).count()


def participants(*, user: User) -> QuerySet[Participant]:
    return scope_filter(
        user,
        "traceability.participant.manage",
        Participant.objects.order_by("kind", "name"),
        "organisation__path",
    )


def regulator_organisation(user: User) -> Organisation:
    """The highest organisation where the user may start recalls (their recall's scope)."""
    paths = granted_paths(user, "traceability.recall.start")
    organisation = Organisation.objects.filter(path__in=paths).order_by("depth", "pk").first()
    if organisation is None:
        require(user, "traceability.recall.start")
        raise NotFound(_("没有可发起召回的机构。"))
    return organisation

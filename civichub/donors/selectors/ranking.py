"""The ranking of donors for a request: the eligible, compatible donors to call, best first,
read from the covering indexes, with the module's settings and eligibility helpers."""

from __future__ import annotations

import functools
import math
import time as time_
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db import connection
from django.db.models import Count, ExpressionWrapper, F, FloatField, Q, QuerySet
from django.db.models import Value as V
from django.utils import timezone

from civichub.core.config import module_config
from civichub.donors import compatibility, eligibility
from civichub.donors.conf import DonorsSettings
from civichub.donors.models import (
    ABO,
    ACTIVE_STATES,
    REQUESTABLE_ANTIGENS,
    VERIFIED_SOURCES,
    BloodRequest,
    CallUp,
    Component,
    DonationKind,
    Donor,
    RhD,
    Sex,
)
from civichub.donors.selectors.antigens import antigen_sql, lacking_sql, rare_antigens
from civichub.donors.selectors.discs import (
    KM_PER_DEGREE,
    band_cells,
    coarse_cells,
    dist2,
)
from civichub.donors.selectors.history import _array, _facts_bulk, _in_window, history_column

# The donation a component is collected by: apheresis for platelets, whole blood (separated
# at the centre) for the others.
DONATION_FOR = {
    Component.RED_CELLS: DonationKind.WHOLE_BLOOD,
    Component.WHOLE_BLOOD: DonationKind.WHOLE_BLOOD,
    Component.PLASMA: DonationKind.WHOLE_BLOOD,
    Component.CRYO: DonationKind.WHOLE_BLOOD,
    Component.PLATELETS: DonationKind.PLATELETS,
}


def settings_() -> DonorsSettings:
    return module_config(DonorsSettings)


def rules() -> eligibility.RuleSet:
    conf = settings_()
    return eligibility.rule_set(conf.eligibility_profile, conf.eligibility_overrides)


def patient_of(request: BloodRequest) -> compatibility.Patient:
    return compatibility.Patient(
        abo=request.patient_abo,
        rhd=request.patient_rhd,
        anti_d=request.anti_d,
        rhd_exception_consent=request.rhd_exception_consent,
    )


def donor_facts(donor: Donor) -> eligibility.DonorFacts | None:
    """The donor's facts for the eligibility rule; None without health data."""
    if not donor.health_consent or donor.birth_date is None or donor.weight_kg is None:
        return None
    return eligibility.DonorFacts(
        birth_date=donor.birth_date,
        sex=eligibility.Sex(donor.sex),
        weight_kg=donor.weight_kg,
        donations=tuple(
            eligibility.Donation(eligibility.DonationKind(d.kind), d.on)
            for d in donor.donations.all()
        ),
        deferrals=tuple(
            eligibility.Deferral(d.starts_on, d.ends_on, d.reason) for d in donor.deferrals.all()
        ),
        had_reaction=donor.had_reaction,
    )


def donor_decision(donor: Donor, kind: str, on: date) -> eligibility.Decision | None:
    facts = donor_facts(donor)
    return None if facts is None else eligibility.assess(facts, kind, on, rules())


def month_key(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m")


@dataclass(frozen=True)
class Candidate:
    donor_id: int
    abo: str
    rhd: str
    rank: tuple[int, int]
    conditions: frozenset[str]
    distance_km: float
    verified: bool


def _callable(*, component: str, now: datetime) -> QuerySet[Donor]:
    """Donors who may be called now for `component`, whatever their group and place: both
    consents, not paused, age, weight, intervals and deferrals by the stored dates, under the
    monthly cap, and not taken by an open call-up. The full rule runs again on each donor
    before a call (`rank_candidates`)."""
    conf = settings_()
    ruleset = rules()
    today = timezone.localdate(now)
    oldest = max(ruleset.max_age_first, ruleset.max_age_repeat)
    ready_field = (
        "platelets_from"
        if DONATION_FOR[Component(component)] == DonationKind.PLATELETS
        else "whole_blood_from"
    )
    return (
        Donor.objects.filter(health_consent_at__isnull=False, health_revoked_at__isnull=True)
        .filter(location_consent_at__isnull=False, location_revoked_at__isnull=True)
        .filter(Q(paused_until__isnull=True) | Q(paused_until__lte=now))
        .filter(Q(**{f"{ready_field}__isnull": True}) | Q(**{f"{ready_field}__lte": today}))
        .filter(
            birth_date__lte=_years_before(today, ruleset.min_age),
            birth_date__gt=_years_before(today, oldest + 1),
        )
        .filter(
            Q(sex=Sex.MALE, weight_kg__gte=ruleset.min_weight_kg_male)
            | Q(sex=Sex.FEMALE, weight_kg__gte=ruleset.min_weight_kg_female)
        )
        .filter(~Q(month_key=month_key(now)) | Q(month_call_ups__lt=conf.monthly_call_up_cap))
        .exclude(pk__in=CallUp.objects.filter(state__in=ACTIVE_STATES).values("donor_id"))
    )


def _within(
    queryset: QuerySet[Donor], lat: float, lng: float, inner_km: float, outer_km: float
) -> QuerySet[Donor]:
    """The donors whose cell centre lies farther than `inner_km` and at most `outer_km` from
    the point, found through the rings of cells that cover `outer_km`."""
    field, cells = band_cells(lat, lng, inner_km, outer_km)
    cos_lat = math.cos(math.radians(lat))
    # An equirectangular distance in km², exact enough within 100 km to band and order by.
    dist2 = ExpressionWrapper(
        ((F("cell_lat") - V(lat)) * V(KM_PER_DEGREE)) ** 2
        + ((F("cell_lng") - V(lng)) * V(KM_PER_DEGREE * cos_lat)) ** 2,
        output_field=FloatField(),
    )
    queryset = queryset.filter(**{f"{field}__in": cells})
    queryset = queryset.annotate(dist2=dist2).filter(dist2__lte=outer_km * outer_km)
    if inner_km > 0:
        queryset = queryset.filter(dist2__gt=inner_km * inner_km)
    return queryset


def candidate_queryset(
    *,
    component: str,
    patient: compatibility.Patient,
    lat: float,
    lng: float,
    radius_km: float,
    now: datetime,
    antigen_negative: Iterable[str] = (),
) -> QuerySet[Donor]:
    """Every compatible donor who may be called now within `radius_km` (stored dates only),
    unordered: the pool a request can reach (with `antigen_negative`, only donors known to
    lack each of those antigens)."""
    group_q = Q(pk__in=[])
    for abo, rhd, _verdict in compatibility.donor_groups(component, patient):
        group_q |= Q(abo=abo.value, rhd=rhd.value)
    for antigen in antigen_negative:
        group_q &= Q(**{f"phenotype__{antigen}": "-"})
    return _within(_callable(component=component, now=now).filter(group_q), lat, lng, 0, radius_km)


def _years_before(day: date, years: int) -> date:
    return eligibility.Interval(months=-12 * years).after(day)


def _bands(radius_km: float) -> list[float]:
    inside = [b for b in settings_().distance_bands_km if b < radius_km]
    return [*inside, radius_km]


def _rings(radius_km: float) -> list[float]:
    """The outer radii an antigen search reads one group in: first the distance bands up to
    half the radius, then the rest. The whole disc's donors of the group lacking a common
    antigen are a few thousand index entries, each read and tested, then sorted (10 ms at a
    million donors); a quarter of the disc holds enough of them for most requests of a city,
    and the outer ring is read only when it did not. Ring by ring is the disc's order: by
    band, then the ranking."""
    inner = [b for b in settings_().distance_bands_km if b <= radius_km / 2]
    return [inner[-1], radius_km] if inner else [radius_km]


def _callable_sql(*, component: str, now: datetime) -> tuple[str, dict[str, Any]]:
    """`_callable` as a WHERE clause of plain SQL with its parameters (the ranking's hot path
    builds no ORM query), without the donors taken by an open call-up: those are read with
    the history of the rows found (`_history`), since the clause is repeated for every cell
    a query merges. The consent terms are those of the partial index `donors_donor_ranking`,
    written the same way so that both databases use it."""
    conf = settings_()
    ruleset = rules()
    ops = connection.ops
    quote = ops.quote_name
    today = timezone.localdate(now)
    oldest = max(ruleset.max_age_first, ruleset.max_age_repeat)
    ready = quote(
        "platelets_from"
        if DONATION_FOR[Component(component)] == DonationKind.PLATELETS
        else "whole_blood_from"
    )
    sql = (
        "health_consent_at IS NOT NULL AND health_revoked_at IS NULL"
        " AND location_consent_at IS NOT NULL AND location_revoked_at IS NULL"
        " AND (paused_until IS NULL OR paused_until <= %(now)s)"
        f" AND ({ready} IS NULL OR {ready} <= %(today)s)"
        " AND birth_date <= %(born_by)s AND birth_date > %(born_after)s"
        " AND ((sex = %(male)s AND weight_kg >= %(male_kg)s)"
        " OR (sex = %(female)s AND weight_kg >= %(female_kg)s))"
        " AND (month_key <> %(month)s OR month_call_ups < %(cap)s)"
    )
    params: dict[str, Any] = {
        "now": ops.adapt_datetimefield_value(now),
        "today": ops.adapt_datefield_value(today),
        "born_by": ops.adapt_datefield_value(_years_before(today, ruleset.min_age)),
        "born_after": ops.adapt_datefield_value(_years_before(today, oldest + 1)),
        "male": Sex.MALE.value,
        "male_kg": ruleset.min_weight_kg_male,
        "female": Sex.FEMALE.value,
        "female_kg": ruleset.min_weight_kg_female,
        "month": month_key(now),
        "cap": conf.monthly_call_up_cap,
    }
    return sql, params


@dataclass(frozen=True)
class _Row:
    pk: int
    sex: str
    birth_date: date
    weight_kg: float
    had_reaction: bool
    group_source: str
    dist2: float
    abo: str
    rhd: str
    # The donor's history as read with the row (`history_column`; None: none), or False
    # when it was not (SQLite: read for the rows found, `_facts_bulk`).
    history: Any = False


# The ranking's order within a group and distance band; the index `donors_donor_ranking` holds
# each cell's donors of one group in it.
RANKING_ORDER = "group_source, accepts DESC, calls, last_called_at ASC NULLS FIRST, id"
# A band of at most this many cells is read by merging the cells' ordered index entries and
# stops after the rows asked for; a wider one (rare: the nearest bands usually hold enough
# donors) is read whole and sorted. SQLite compiles a SELECT per cell (a new text for each
# number of cells), which outweighs the sort in all but the nearest, densest band;
# PostgreSQL plans the cells' read once.
MERGE_MAX_CELLS = 96
MERGE_MAX_CELLS_SQLITE = 24


def _merged(
    *,
    select: str,
    group: str,
    where: tuple[str, dict[str, Any]],
    cells: list[str],
    offset: int,
    limit: int,
) -> list[tuple[Any, ...]]:
    """Rows `offset` to `offset + limit` in ranking order of one group's callable donors in
    `cells`, each cell's read in the order of the index `donors_donor_ranking`.

    SQLite: one SELECT per cell under UNION ALL, one ORDER BY and LIMIT; its merge pulls each
    cell's entries lazily and stops after the rows asked for. PostgreSQL plans such a union
    slowly (a plan per cell) and sorts it whole, so there each cell gives its first `per_cell`
    entries (LATERAL over the array of cells: one plan) and the rows are certain up to the
    first cell that gave all it was allowed, which may hold more; when that comes before the
    rows asked for, the query runs again allowing every cell all of them."""
    sql_where, params = where
    wanted = offset + limit
    # The cell last, for counting each cell's rows (the index holds it: still index-only).
    select = select.replace(" FROM", ", cell FROM", 1)
    if connection.vendor != "postgresql":
        sql = " UNION ALL ".join(
            f"{select} WHERE cell = %(c{n})s AND {group} AND {sql_where}" for n in range(len(cells))
        )
        sql += f" ORDER BY {RANKING_ORDER} LIMIT %(limit)s OFFSET %(offset)s"
        cell_params = {f"c{n}": cell for n, cell in enumerate(cells)}
        with connection.cursor() as cursor:
            cursor.execute(sql, {**params, **cell_params, "limit": limit, "offset": offset})
            return list(cursor.fetchall())
    per_cell = min(wanted, 2 * wanted // len(cells) + 8)
    # Each row's history last (`history_column`), the cell before it.
    sql = (
        f"SELECT ranked.*, {history_column('ranked.id')}"  # noqa: S608  # nosec B608
        " FROM unnest(%(cells)s::varchar[]) AS place(place_cell)"  # noqa: S608  # nosec B608
        f" CROSS JOIN LATERAL ({select} WHERE cell = place.place_cell AND {group}"
        f" AND {sql_where} ORDER BY {RANKING_ORDER} LIMIT %(per_cell)s) AS ranked"
        f" ORDER BY {RANKING_ORDER} LIMIT %(wanted)s"
    )
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                sql, {**params, "cells": _array(cells), "per_cell": per_cell, "wanted": wanted}
            )
            rows = list(cursor.fetchall())
        given: dict[str, int] = {}
        certain = wanted  # no cell gave all it was allowed among these rows: all certain
        for position, row in enumerate(rows):
            given[row[-2]] = given.get(row[-2], 0) + 1
            if given[row[-2]] == per_cell:
                certain = position + 1
                break
        if certain >= wanted or per_cell >= wanted:
            return rows[offset:]
        per_cell = wanted


# An RhD-negative search (0.3 % of donors) reads the compatible groups' entries of the small
# partial index `donors_donor_negative` whole, with no list of cells, while it holds at most
# this many donors: a city-wide disc covers nearly all of them anyway, and finding and binding
# a few hundred region cells costs more than reading a few thousand index entries. A larger
# registry (a province) reads them through the region cells of the disc instead.
NEGATIVE_DIRECT_MAX = 20_000
# How long the count of that index is trusted (it changes slowly: registrations, consents).
NEGATIVE_COUNT_SECONDS = 600.0
_negative_counts: dict[str, tuple[float, dict[str, int]]] = {}
# A run of RhD-negative groups reads its first group alone when that group holds at least this
# many times the donors asked for (most searches of a city-sized registry: their patient's own
# group gives them all), the others together only when it did not give enough.
NEGATIVE_ALONE_FACTOR = 4


def _negative_group_counts() -> dict[str, int]:
    """How many donors of each ABO group the partial index of RhD-negative donors holds,
    counted again at most every NEGATIVE_COUNT_SECONDS (per database)."""
    key = f"{connection.alias}:{connection.settings_dict.get('NAME')}"
    now = time_.monotonic()
    known = _negative_counts.get(key)
    if known is not None and now - known[0] < NEGATIVE_COUNT_SECONDS:
        return known[1]
    counts = dict(
        Donor.objects.filter(rhd=RhD.NEG)
        .filter(health_consent_at__isnull=False, health_revoked_at__isnull=True)
        .filter(location_consent_at__isnull=False, location_revoked_at__isnull=True)
        .order_by()
        .values_list("abo")
        .annotate(count=Count("pk"))
    )
    _negative_counts[key] = (now, counts)
    return counts


def _negative_count() -> int:
    """How many donors the partial index of RhD-negative donors holds (counted as above)."""
    return sum(_negative_group_counts().values())


def _split_negative_runs(
    steps: list[list[tuple[compatibility.ABO, compatibility.RhD, compatibility.Verdict]]],
    limit: int,
) -> list[list[tuple[compatibility.ABO, compatibility.RhD, compatibility.Verdict]]]:
    """Each run of RhD-negative groups whose first group is large (NEGATIVE_ALONE_FACTOR)
    as two steps: that group alone, then the others together."""
    if all(len(step) == 1 for step in steps):
        return steps
    counts = _negative_group_counts()
    split: list[list[tuple[compatibility.ABO, compatibility.RhD, compatibility.Verdict]]] = []
    for step in steps:
        if len(step) > 1 and counts.get(step[0][0].value, 0) >= NEGATIVE_ALONE_FACTOR * limit:
            split += [step[:1], step[1:]]
        else:
            split.append(step)
    return split


def _group_condition(
    groups: list[tuple[str, str]], *, coarse: bool, one_select: bool = False
) -> tuple[str, str, list[str]]:
    """The condition on the groups, the order of preference among them (a prefix of ORDER BY)
    and, for an antigen search's later groups, one condition per SELECT (or, `one_select`,
    every group in one condition: a read of the GIN index of phenotypes, not by group)."""
    # The groups written out (constants of the models' choices), so that the planner sees
    # that the partial index of RhD-negative donors holds every row asked for.
    group_order = ""
    arms: list[str] = []
    if len(groups) == 1:
        abo, rhd = groups[0]
        group = f"abo = '{ABO(abo).value}' AND rhd = '{RhD(rhd).value}'"
    elif all(RhD(rhd) == RhD.NEG for _abo, rhd in groups):
        names = [ABO(abo).value for abo, _rhd in groups]
        listed = ", ".join(f"'{n}'" for n in names)
        group = f"rhd = 'neg' AND abo IN ({listed})"
        group_order = (
            "CASE " + " ".join(f"WHEN abo = '{n}' THEN {i}" for i, n in enumerate(names)) + " END, "
        )
    elif one_select:
        each = [f"(abo = '{ABO(abo).value}' AND rhd = '{RhD(rhd).value}')" for abo, rhd in groups]
        group = f"({' OR '.join(each)})"
        group_order = (
            "CASE " + " ".join(f"WHEN {g} THEN {i}" for i, g in enumerate(each)) + " END, "
        )
    elif coarse:
        # Groups of both RhD types (an antigen-negative search's groups after the first): one
        # SELECT per group, each an exact read of the index of phenotyped donors, their rows
        # numbered in order of preference.
        arms = [f"abo = '{ABO(abo).value}' AND rhd = '{RhD(rhd).value}'" for abo, rhd in groups]
        group, group_order = "", "grp, "
    else:
        raise ValueError("groups of both RhD types are read at once only among few donors")
    return group, group_order, arms


def _in_band(
    rows: list[Any], lat: float, lng: float, inner_km: float, outer_km: float
) -> list[_Row]:
    """The rows whose cell centre lies in the band, the distance computed here exactly as
    `dist2` computes it."""
    low, high = inner_km * inner_km, outer_km * outer_km
    with_history = connection.vendor == "postgresql"  # the last column (`_ranked_rows`)
    found = []
    for row in rows:
        distance2 = dist2(lat, lng, row[6], row[7])
        if distance2 > high or (inner_km > 0 and distance2 <= low):
            continue
        birth = row[2]
        found.append(
            _Row(
                pk=row[0],
                sex=row[1],
                birth_date=birth if isinstance(birth, date) else date.fromisoformat(birth),
                weight_kg=row[3],
                had_reaction=bool(row[4]),
                group_source=row[5],
                dist2=distance2,
                abo=row[11],
                rhd=row[12],
                history=row[-1] if with_history else False,
            )
        )
    return found


def _ranked_rows(
    *,
    callable_sql: tuple[str, dict[str, Any]],
    groups: list[tuple[str, str]],
    lat: float,
    lng: float,
    inner_km: float,
    outer_km: float,
    band_order: bool,
    offset: int,
    limit: int,
    cells_needed: bool = True,
    coarse: bool = False,
    rare: bool = False,
) -> tuple[int, list[_Row]]:
    """The callable donors of `groups` (one group, or several RhD-negative ones in order of
    preference) whose cell centre lies farther than `inner_km` and at most `outer_km` away,
    in ranking order (by group first, then by distance band when `band_order`), `limit` rows
    from `offset`; returns how many rows the database gave and those of them whose cell
    centre lies in the band (the distance computed here exactly as `dist2` computes it, from
    the centre the index holds). Parameters are named, so that each value is passed once
    however many cells repeat the conditions (and SQLite's statement cache finds the same
    text for the same number of cells). Without `cells_needed` (RhD-negative groups only) no
    cell is listed: the partial index of RhD-negative donors is read for the groups whole.
    With `rare` (a search for donors lacking a rare antigen) neither: every group at once, from
    the index of the donors lacking it (`antigens.lacking_sql`), in order of preference.

    A band of few cells is one query per cell merged in order (UNION ALL under one ORDER BY
    and LIMIT: SQLite's merge and PostgreSQL's Merge Append read each cell's entries lazily in
    index order), so the database touches about `offset + limit` entries plus one per cell
    instead of every donor in the band."""
    quote = connection.ops.quote_name
    field, cells = "", list[str]()
    if rare:
        cells_needed = False
    elif cells_needed and coarse:
        field, cells = coarse_cells(lat, lng, outer_km, inner_km)
    elif cells_needed:
        field, cells = band_cells(lat, lng, inner_km, outer_km)
    if cells_needed and not cells:
        return 0, []
    where, where_params = callable_sql
    table = quote(Donor._meta.db_table)
    group, group_order, arms = _group_condition(groups, coarse=coarse, one_select=rare)
    select = (
        "SELECT id, sex, birth_date, weight_kg, had_reaction, group_source, cell_lat,"  # noqa: S608  # nosec B608
        f" cell_lng, accepts, calls, last_called_at, abo, rhd FROM {table}"
    )
    params = {**where_params, "limit": limit, "offset": offset}
    # Every name is the model's own or a constant above; every value is a parameter.
    merge_max = MERGE_MAX_CELLS if connection.vendor == "postgresql" else MERGE_MAX_CELLS_SQLITE
    if field == "cell" and len(groups) == 1 and not band_order and len(cells) <= merge_max:
        rows = _merged(
            select=select, group=group, where=callable_sql, cells=cells, offset=offset, limit=limit
        )
    else:
        params.update(
            lat=lat,
            lng=lng,
            k_lat=KM_PER_DEGREE,
            k_lng=KM_PER_DEGREE * math.cos(math.radians(lat)),
            outer=outer_km * outer_km,
            inner=inner_km * inner_km,
        )
        dist2 = (
            "((cell_lat - %(lat)s) * %(k_lat)s) * ((cell_lat - %(lat)s) * %(k_lat)s)"
            " + ((cell_lng - %(lng)s) * %(k_lng)s) * ((cell_lng - %(lng)s) * %(k_lng)s)"
        )
        order = RANKING_ORDER
        if band_order:
            bands = settings_().distance_bands_km
            params.update({f"b{i}": b * b for i, b in enumerate(bands)})
            order = (
                "CASE "
                + " ".join(f"WHEN dist2 <= %(b{i})s THEN {i}" for i in range(len(bands)))
                + f" ELSE {len(bands)} END, {order}"
            )
        outer = "dist2 <= %(outer)s" + (" AND dist2 > %(inner)s" if inner_km > 0 else "")
        among = ""
        if cells and connection.vendor == "postgresql":
            # One array: the client binds one value however many cells. An antigen search's
            # (up to MAX_COARSE_CELLS, in a SELECT per group) is read through a subquery: the
            # index is read the same way, but the planner no longer weighs each cell against
            # the column's statistics in each SELECT, which cost more than the reading.
            cell_array = "%(cells)s::varchar[]"
            if coarse:
                cell_array = f"ARRAY(SELECT unnest({cell_array}))"
            among = f"{quote(field)} = ANY({cell_array}) AND "
            params["cells"] = _array(cells)
        elif cells:
            marks = ", ".join(f"%(c{n})s" for n in range(len(cells)))
            among = f"{quote(field)} IN ({marks}) AND "
            params.update({f"c{n}": cell for n, cell in enumerate(cells)})
        with_dist2 = select.replace(" FROM", f", {dist2} AS dist2 FROM", 1)
        if arms:
            inner_sql = " UNION ALL ".join(
                f"{with_dist2.replace(' FROM', f', {i} AS grp FROM', 1)}"
                f" WHERE {among}{arm} AND {where}"
                for i, arm in enumerate(arms)
            )
        else:
            inner_sql = f"{with_dist2} WHERE {among}{group} AND {where}"
        if connection.vendor == "postgresql":
            # Kept a subquery, so that the distance is computed once for each row, not again
            # in the filter and in each WHEN of the band's CASE.
            inner_sql += " OFFSET 0"
        # On PostgreSQL each row's history last (`history_column`): one statement, not two.
        history = ""
        if connection.vendor == "postgresql":
            history = f", {history_column('candidates.id')}"
        sql = (
            f"SELECT candidates.*{history} FROM ({inner_sql}) AS candidates"  # noqa: S608  # nosec B608
            f" WHERE {outer} ORDER BY {group_order}{order} LIMIT %(limit)s OFFSET %(offset)s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)  # nosec B608
            rows = cursor.fetchall()
    return len(rows), _in_band(rows, lat, lng, inner_km, outer_km)


def _steps(
    groups: list[tuple[compatibility.ABO, compatibility.RhD, compatibility.Verdict]],
) -> list[list[tuple[compatibility.ABO, compatibility.RhD, compatibility.Verdict]]]:
    """The groups in the order they are read: each RhD-positive group alone (band by band),
    each run of consecutive RhD-negative groups together (one read over the whole radius,
    by group, then band)."""
    steps: list[list[tuple[compatibility.ABO, compatibility.RhD, compatibility.Verdict]]] = []
    for item in groups:
        negative = item[1] == compatibility.RhD.NEG
        if negative and steps and steps[-1][-1][1] == compatibility.RhD.NEG:
            steps[-1].append(item)
        else:
            steps.append([item])
    return steps


def rank_candidates(
    *,
    component: str,
    patient: compatibility.Patient,
    lat: float,
    lng: float,
    radius_km: float,
    now: datetime,
    limit: int,
    exclude: Iterable[int] = (),
    antigen_negative: Iterable[str] = (),
) -> list[Candidate]:
    """The first `limit` donors to call, best first: the order of preference of their group,
    then their distance band, then a group tested by the centre ("centre"), then one a
    health department holds ("hub"), before a declared one ("self"), those who answer before
    those who do not, the least called and the longest rested.
    Each is checked by the full eligibility rule for the day and by their availability
    windows; donors taken by an open call-up and those in `exclude` are left out. One small
    query per group and band, nearest first, until `limit` are found: the ranking stops as
    soon as the first `limit` are certain. RhD-negative donors are few (0.3 %): each run of
    consecutive RhD-negative groups is one query over the whole radius, ordered by group and
    band, reading the small partial index of RhD-negative donors without a list of cells
    while it is small (`NEGATIVE_DIRECT_MAX`). With `antigen_negative` only donors whose
    phenotype records each of those antigens as negative are taken (unknown is not negative)."""
    kind = eligibility.DonationKind(DONATION_FOR[Component(component)])
    today = timezone.localdate(now)
    ruleset = rules()
    where, where_params = _callable_sql(component=component, now=now)
    asked = set(antigen_negative)
    wanted = [a for a in REQUESTABLE_ANTIGENS if a in asked]
    antigen_where, antigen_params = antigen_sql(wanted)
    # The antigens first: the databases test the conditions in the order written, and for a
    # rare antigen that one turns nearly every entry away.
    if antigen_where:
        where = f"{antigen_where.removeprefix(' AND ')} AND {where}"
    # Few donors lack a rare antigen: an index of them finds them (the condition says no more
    # than those above; it lets the database use that index: `antigens.lacking_sql`).
    rare = rare_antigens(wanted)
    if rare:
        lacking_where, lacking_params = lacking_sql(wanted)
        where = f"{lacking_where.removeprefix(' AND ')} AND {where}"
        antigen_params.update(lacking_params)
    callable_sql = (where, {**where_params, **antigen_params})
    # Antigen-negative donors are few too (a phenotype is on record for 1-10 % of donors):
    # each group is read in at most two rings (`_rings`), from the index of those donors.
    few = bool(antigen_where)
    skip = set(exclude)
    found: list[Candidate] = []
    direct: bool | None = None  # the negative path, decided when first needed
    steps = _steps(compatibility.donor_groups(component, patient))
    if rare:
        # Every group in one statement, by group, then band, then the ranking.
        steps = [[item for step in steps for item in step]]
    elif few and len(steps) > 2:
        # The first group (or run of RhD-negative groups) alone: its donors are enough for
        # most antigens. When they are not, the antigen is rare and every other group is read
        # anyway: together, one statement for all of them.
        steps = [steps[0], [item for step in steps[1:] for item in step]]
    check = functools.partial(
        _check,
        kind=kind,
        today=today,
        ruleset=ruleset,
        now=now,
        verdicts={(abo.value, rhd.value): v for step in steps for abo, rhd, v in step},
        found=found,
        limit=limit,
    )
    held: list[_Row] = []  # rows read, not yet checked (see below)
    pending = [(step, not few) for step in reversed(steps)]
    while pending:
        step, split = pending.pop()
        if split and len(step) > 1:
            # A run of RhD-negative groups, read in two when its first group is large:
            # decided only when the search reaches it (the count it needs is a query of its
            # own on its first use, which most searches for RhD-positive patients never need).
            step, *rest = _split_negative_runs([step], limit)
            pending += [(other, False) for other in rest]
        inner = 0.0
        negative = all(rhd == compatibility.RhD.NEG for _abo, rhd, _verdict in step)
        sparse = negative or few
        if negative and direct is None and not rare:
            direct = _negative_count() <= NEGATIVE_DIRECT_MAX
        outers = [radius_km] if sparse else _bands(radius_km)
        if few and not rare and len(step) == 1:
            outers = _rings(radius_km)
        for band in outers:
            offset = 0
            while len(found) < limit:
                # More than still needed (less the rows held from a short read, below): the
                # full rule and the windows turn some away.
                need = limit - len(found)
                batch = (need - len(held)) * 3 // 2 + 8
                given, rows = _ranked_rows(
                    callable_sql=callable_sql,
                    groups=[(abo.value, rhd.value) for abo, rhd, _v in step],
                    lat=lat,
                    lng=lng,
                    inner_km=inner,
                    outer_km=band,
                    band_order=sparse,
                    offset=offset,
                    limit=batch,
                    cells_needed=not (negative and direct),
                    coarse=few,
                    rare=rare,
                )
                offset += batch
                rows = held + [row for row in rows if row.pk not in skip]
                # A read that ended with fewer rows than still needed cannot end the search
                # even if every row passes: its rows wait for the next read's, so that one
                # query of their history serves both (an antigen search's inner ring, a sparse
                # band or group).
                held = rows if given < batch and len(rows) < need else []
                if not held and check(rows):
                    return found
                if given < batch:
                    break
            inner = band
    if held:
        check(held)
    return found


def _check(
    rows: list[_Row],
    *,
    kind: eligibility.DonationKind,
    today: date,
    ruleset: eligibility.RuleSet,
    now: datetime,
    verdicts: dict[tuple[str, str], compatibility.Verdict],
    found: list[Candidate],
    limit: int,
) -> bool:
    """Adds to `found` the rows, in order, that the full rule for the day and the availability
    windows let be called, not taken by an open call-up; True once `limit` are found. Their
    history is read for the first `usual` (enough for most searches), for the others only
    when those were not enough: a few rows more from the database cost less than running the
    ranking's query again."""
    need = limit - len(found)
    usual = need + max(need // 4, 4)
    for chunk in (rows[:usual], rows[usual:]):
        facts = _facts_bulk(chunk)
        for donor in chunk:
            donor_facts_, windows, taken = facts[donor.pk]
            if taken or not _in_window(windows, now):
                continue
            if not eligibility.assess(donor_facts_, kind, today, ruleset).eligible:
                continue
            verdict = verdicts[(donor.abo, donor.rhd)]
            found.append(
                Candidate(
                    donor_id=donor.pk,
                    abo=donor.abo,
                    rhd=donor.rhd,
                    rank=verdict.rank,
                    conditions=verdict.conditions,
                    distance_km=math.sqrt(donor.dist2),
                    verified=donor.group_source in VERIFIED_SOURCES,
                )
            )
            if len(found) == limit:
                return True
    return False

"""The ranking's index-based prefilter (rings of H3 cells, stored eligibility dates, one SQL
query per group and band) never drops or reorders a donor: on random registries its answer is
the first `limit` of a plain reading of every donor, checked in Python by the full
eligibility rule, the compatibility tables, the availability windows and the distance."""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import Any

import h3
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from civichub.donors import compatibility, eligibility, places
from civichub.donors.models import (
    ACTIVE_STATES,
    AvailabilityWindow,
    BloodRequest,
    CallUp,
    CallUpState,
    Component,
    Deferral,
    Donation,
    Donor,
)
from civichub.donors.selectors import (
    DONATION_FOR,
    candidate_queryset,
    donor_facts,
    month_key,
    rank_candidates,
    rules,
    settings_,
)
from civichub.donors.selectors import antigens as antigen_counts
from civichub.donors.selectors import ranking as selectors
from civichub.donors.selectors.history import history_column
from civichub.donors.tests.conftest import HOSPITAL_LAT, HOSPITAL_LNG, at_km

KM_PER_DEGREE = 111.195
PHENOTYPE_SAMPLE = ("K", "Fya", "Jka", "E")
COMPONENTS = ("red_cells", "plasma", "platelets", "cryo", "whole_blood")


def _rank_red_cells(
    patient: compatibility.Patient | str,
    *,
    radius_km: float,
    limit: int,
    antigen_negative: tuple[str, ...] = (),
) -> list[Any]:
    """`rank_candidates` for red cells at the test hospital, now; `patient` may be written as
    a group ("A+", "AB-")."""
    if isinstance(patient, str):
        rhd = "neg" if patient.endswith("-") else "pos"
        patient = compatibility.Patient(abo=patient[:-1], rhd=rhd)
    return rank_candidates(
        component="red_cells",
        patient=patient,
        lat=HOSPITAL_LAT,
        lng=HOSPITAL_LNG,
        radius_km=radius_km,
        now=timezone.now(),
        limit=limit,
        antigen_negative=antigen_negative,
    )


def _birth_date(rng: random.Random, today: dt.date) -> dt.date:
    """Ages across the whole range, a quarter of them a day either side of a limit."""
    if rng.random() < 0.25:
        years = rng.choice((18, 55, 56, 60, 61))
        day = rng.choice((-1, 0, 1))
        return eligibility.Interval(months=-12 * years).after(today) + dt.timedelta(days=day)
    return today - dt.timedelta(days=rng.randint(16 * 365, 64 * 365))


def _maybe_day(rng: random.Random, today: dt.date) -> dt.date | None:
    return rng.choice((None, None, today, today + dt.timedelta(days=rng.randint(-90, 90))))


def _registry(rng: random.Random, community: Any, hospital: Any, count: int) -> None:
    """`count` donors: half within 3 km of the hospital, the rest up to 60 km; every field the
    ranking reads at random, with many ties in the ordering fields."""
    now = timezone.now()
    today = timezone.localdate(now)
    this_month = month_key(now)
    conf = settings_()
    donors = []
    for n in range(count):
        reach = 3.0 if n % 2 else 60.0
        distance, bearing = reach * math.sqrt(rng.random()), rng.random() * 2 * math.pi
        lat, lng = at_km(distance * math.cos(bearing), distance * math.sin(bearing))
        place = places.coarse_place(
            lat,
            lng,
            "wgs84",
            resolution=conf.cell_resolution,
            search=conf.search_resolution,
            region=conf.region_resolution,
        )
        consented = now - dt.timedelta(days=30)
        donors.append(
            Donor(
                name="",
                phone=f"139{n:08d}",
                community=community,
                sex=rng.choice(("male", "female")),
                birth_date=_birth_date(rng, today),
                weight_kg=rng.choice((44.0, 45.0, 49.5, 50.0, 51.0, 70.0)),
                abo=rng.choice(("O", "A", "B", "AB")),
                rhd="neg" if rng.random() < 0.3 else "pos",
                group_source=rng.choice(("self", "centre", "hub")),
                had_reaction=rng.random() < 0.1,
                health_consent_at=None if rng.random() < 0.05 else consented,
                health_revoked_at=now if rng.random() < 0.05 else None,
                location_consent_at=None if rng.random() < 0.05 else consented,
                location_revoked_at=now if rng.random() < 0.05 else None,
                cell=place.cell,
                search_cell=place.search_cell,
                region_cell=place.region_cell,
                cell_lat=place.lat,
                cell_lng=place.lng,
                paused_until=rng.choice(
                    (None, None, None, now - dt.timedelta(hours=1), now + dt.timedelta(hours=1))
                ),
                whole_blood_from=_maybe_day(rng, today),
                platelets_from=_maybe_day(rng, today),
                month_key=rng.choice((this_month, this_month, "2001-01", "")),
                month_call_ups=rng.randint(0, 4),
                calls=rng.randint(0, 2),
                accepts=rng.randint(0, 1),
                last_called_at=rng.choice((None, now - dt.timedelta(days=rng.randint(1, 3)))),
                # Each of a few antigens known for most donors, negative more often.
                phenotype={a: rng.choice("+--") for a in PHENOTYPE_SAMPLE if rng.random() < 0.7},
            )
        )
    donors = Donor.objects.bulk_create(donors)
    donations, deferrals, windows = [], [], []
    for donor in donors:
        for _ in range(rng.choice((0, 0, 1, 2, 3))):
            donations.append(
                Donation(
                    donor=donor,
                    kind=rng.choice(("whole_blood", "platelets")),
                    on=today - dt.timedelta(days=rng.randint(1, 700)),
                )
            )
        if rng.random() < 0.1:
            starts = today - dt.timedelta(days=rng.randint(0, 60))
            ends = rng.choice((None, starts + dt.timedelta(days=rng.randint(0, 120))))
            deferrals.append(Deferral(donor=donor, starts_on=starts, ends_on=ends, reason="x"))
        if rng.random() < 0.1:
            local = timezone.localtime(now)
            weekday = rng.choice((local.weekday(), (local.weekday() + 1) % 7))
            windows.append(
                AvailabilityWindow(
                    donor=donor, weekday=weekday, starts=dt.time(0, 0), ends=dt.time(23, 59)
                )
            )
    Donation.objects.bulk_create(donations)
    Deferral.objects.bulk_create(deferrals)
    AvailabilityWindow.objects.bulk_create(windows)
    # Some donors are taken by another request's open call-up, some were called and are free.
    taker = BloodRequest.objects.create(
        hospital=hospital,
        component="red_cells",
        units=1,
        patient_abo="O",
        patient_rhd="pos",
        address="-",
        latitude=HOSPITAL_LAT,
        longitude=HOSPITAL_LNG,
    )
    for donor in rng.sample(donors, count // 10):
        CallUp.objects.create(
            request=taker,
            donor=donor,
            wave=1,
            distance_km=1.0,
            state=rng.choice(list(CallUpState.values)),
        )


def _ranking_sql(queries: CaptureQueriesContext) -> list[str]:
    """The ranking's statements, less the history each row is read with on PostgreSQL
    (`history_column`), which has UNION ALLs of its own: the statements as they read the
    donors' table (still valid SQL, for EXPLAIN)."""
    history = (f", {history_column('candidates.id')}", f", {history_column('ranked.id')}")
    found = []
    for query in queries.captured_queries:
        if "group_source" in query["sql"]:
            found.append(query["sql"].replace(history[0], "").replace(history[1], ""))
    return found


def _in_window(windows: list[AvailabilityWindow], now: dt.datetime) -> bool:
    local = timezone.localtime(now)
    return not windows or any(
        w.weekday == local.weekday() and w.starts <= local.time() < w.ends for w in windows
    )


def _plain_reading(
    *,
    component: str,
    patient: compatibility.Patient,
    lat: float,
    lng: float,
    radius_km: float,
    now: dt.datetime,
    exclude: set[int],
    antigen_negative: tuple[str, ...] = (),
) -> list[tuple[int, float]]:
    """Every donor read and judged in Python, in the ranking's order: (donor, distance). With
    `antigen_negative`, only donors whose phenotype records each of them as "-"."""
    kind = DONATION_FOR[Component(component)]
    today = timezone.localdate(now)
    ruleset = rules()
    bands = settings_().distance_bands_km
    cap = settings_().monthly_call_up_cap
    groups = {
        (abo.value, rhd.value): i
        for i, (abo, rhd, _v) in enumerate(compatibility.donor_groups(component, patient))
    }
    taken = set(CallUp.objects.filter(state__in=ACTIVE_STATES).values_list("donor_id", flat=True))
    k_lng = KM_PER_DEGREE * math.cos(math.radians(lat))
    found = []
    for donor in Donor.objects.prefetch_related("donations", "deferrals", "windows"):
        if (donor.abo, donor.rhd) not in groups or donor.pk in taken or donor.pk in exclude:
            continue
        if not (donor.health_consent and donor.location_consent):
            continue
        if any(donor.phenotype.get(a) != "-" for a in antigen_negative):
            continue
        if donor.paused_until is not None and donor.paused_until > now:
            continue
        ready = donor.platelets_from if kind == "platelets" else donor.whole_blood_from
        if ready is not None and ready > today:
            continue
        if donor.month_key == month_key(now) and donor.month_call_ups >= cap:
            continue
        assert donor.cell_lat is not None and donor.cell_lng is not None
        dist2 = ((donor.cell_lat - lat) * KM_PER_DEGREE) ** 2 + (
            (donor.cell_lng - lng) * k_lng
        ) ** 2
        if dist2 > radius_km * radius_km or not _in_window(list(donor.windows.all()), now):
            continue
        facts = donor_facts(donor)
        if facts is None or not eligibility.assess(facts, kind, today, ruleset).eligible:
            continue
        band = next((i for i, b in enumerate(bands) if dist2 <= b * b), len(bands))
        last = donor.last_called_at
        key = (
            groups[(donor.abo, donor.rhd)],
            band,
            donor.group_source,
            -donor.accepts,
            donor.calls,
            (last is not None, last.timestamp() if last else 0.0),
            donor.pk,
        )
        found.append((key, donor.pk, math.sqrt(dist2)))
    return [(pk, distance) for _key, pk, distance in sorted(found)]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("seed", "merge_max_cells", "negative_direct_max", "rare_antigen_max"),
    # The bands read by merging the cells' ordered index entries as deployed, every band
    # read whole and sorted, and (almost) every band merged; RhD-negative donors read from
    # their partial index whole (a small registry) or through the cells of the disc; on
    # PostgreSQL, donors lacking an antigen read through the GIN index of phenotypes (every
    # antigen is rare in a small registry) or through the cells of the disc.
    [(1, None, None, None), (2, 0, 0, -1), (3, 400, None, None), (4, None, 0, -1)],
)
def test_the_prefilter_never_drops_or_reorders_a_donor_the_plain_reading_finds(
    seed: int,
    merge_max_cells: int | None,
    negative_direct_max: int | None,
    rare_antigen_max: int | None,
    city: Any,
    hospital: Any,
    monkeypatch: Any,
) -> None:
    if merge_max_cells is not None:
        monkeypatch.setattr(selectors, "MERGE_MAX_CELLS", merge_max_cells)
        monkeypatch.setattr(selectors, "MERGE_MAX_CELLS_SQLITE", merge_max_cells)
    if negative_direct_max is not None:
        monkeypatch.setattr(selectors, "NEGATIVE_DIRECT_MAX", negative_direct_max)
    if rare_antigen_max is not None:
        monkeypatch.setattr(antigen_counts, "RARE_ANTIGEN_MAX", rare_antigen_max)
    # The counts of RhD-negative donors and of donors lacking each antigen are kept for a
    # while: counted again for this registry.
    monkeypatch.setattr(selectors, "_negative_counts", {})
    monkeypatch.setattr(antigen_counts, "_antigen_counts", {})
    rng = random.Random(seed)
    _registry(rng, city.community_a1, hospital, 500)
    now = timezone.now()
    ids = list(Donor.objects.values_list("pk", flat=True))
    checked = with_antigens = 0
    for _ in range(28):
        negative = rng.random() < 0.5
        patient = compatibility.Patient(
            abo=rng.choice(("O", "A", "B", "AB", "unknown")),
            rhd=rng.choice(("neg", "unknown")) if negative else "pos",
            anti_d=rng.random() < 0.3,
            rhd_exception_consent=rng.random() < 0.5,
        )
        component = rng.choice(COMPONENTS)
        radius = rng.choice((2.0, 3.0, 7.5, 10.0, 40.0, 100.0))
        limit = rng.choice((3, 20, 10_000))
        east, north = rng.uniform(-3, 3), rng.uniform(-3, 3)
        lat, lng = at_km(east, north)
        exclude = set(rng.sample(ids, 10))
        # Half the requests are for a patient with antibodies to one or two antigens.
        antigens = tuple(rng.sample(PHENOTYPE_SAMPLE, rng.choice((0, 0, 0, 1, 1, 2))))
        got = rank_candidates(
            component=component,
            patient=patient,
            lat=lat,
            lng=lng,
            radius_km=radius,
            now=now,
            limit=limit,
            exclude=exclude,
            antigen_negative=antigens,
        )
        expected = _plain_reading(
            component=component,
            patient=patient,
            lat=lat,
            lng=lng,
            radius_km=radius,
            now=now,
            exclude=exclude,
            antigen_negative=antigens,
        )[:limit]
        assert [c.donor_id for c in got] == [pk for pk, _d in expected], (
            component,
            patient,
            radius,
            limit,
            antigens,
        )
        with_antigens += len(expected) if antigens else 0
        if antigens:
            # The pool a request can reach (the blast's) keeps the same antigen filter.
            pool = candidate_queryset(
                component=component,
                patient=patient,
                lat=lat,
                lng=lng,
                radius_km=radius,
                now=now,
                antigen_negative=antigens,
            )
            pooled = set(pool.values_list("pk", flat=True))
            assert {c.donor_id for c in got} <= pooled
            assert all(
                all(p.get(a) == "-" for a in antigens)
                for p in Donor.objects.filter(pk__in=pooled).values_list("phenotype", flat=True)
            )
        for candidate, (_pk, distance) in zip(got, expected, strict=True):
            assert candidate.distance_km == pytest.approx(distance, abs=1e-6)
        checked += len(expected)
    # The registries are large enough that most queries find someone, those asking for
    # antigen-negative donors too.
    assert checked > 200
    assert with_antigens > 10


@pytest.mark.django_db
def test_the_rings_hold_every_donor_cell_whose_centre_is_within_the_radius() -> None:
    """The prefilter's cells: a donor's cell (resolution 8) whose centre lies within the
    radius has its parent at each search resolution among the rings, around points across
    the city (a child's centre may lie just outside its parent)."""
    rng = random.Random(7)
    conf = settings_()
    for _ in range(30):
        lat, lng = at_km(rng.uniform(-20, 20), rng.uniform(-20, 20))
        radius = rng.choice((2.0, 5.0, 10.0, 50.0))
        k_lng = KM_PER_DEGREE * math.cos(math.radians(lat))
        for resolution in (conf.cell_resolution, conf.search_resolution, conf.region_resolution):
            if places.ring_count(lat, lng, radius, resolution) > 3000:
                continue
            rings = set(places.rings_for(lat, lng, radius, resolution))
            for _ in range(100):
                distance = radius * math.sqrt(rng.random())
                bearing = rng.random() * 2 * math.pi
                point_lat = lat + distance * math.cos(bearing) / KM_PER_DEGREE
                point_lng = lng + distance * math.sin(bearing) / k_lng
                cell = h3.latlng_to_cell(point_lat, point_lng, conf.cell_resolution)
                centre_lat, centre_lng = h3.cell_to_latlng(cell)
                dist2 = ((centre_lat - lat) * KM_PER_DEGREE) ** 2 + (
                    (centre_lng - lng) * k_lng
                ) ** 2
                if dist2 <= radius * radius:
                    assert h3.cell_to_parent(cell, resolution) in rings


@pytest.mark.django_db
def test_a_band_of_few_cells_is_read_in_the_index_order_without_sorting(
    city: Any, hospital: Any
) -> None:
    """The nearest band's query reads each cell's entries of `donors_donor_ranking` in the
    ranking's order, so it stops after the rows asked for instead of sorting every donor in
    the band: SQLite merges the cells (MERGE over covering-index searches, no sorting tree);
    PostgreSQL reads each cell's first entries through an index-only scan under a LIMIT,
    sorting only the few rows those give."""
    _registry(random.Random(11), city.community_a1, hospital, 60)
    with CaptureQueriesContext(connection) as queries:
        _rank_red_cells("A+", radius_km=2.0, limit=5)
    marker = "LATERAL" if connection.vendor == "postgresql" else " UNION ALL "
    merged = [
        q["sql"]
        for q in queries.captured_queries
        if marker in q["sql"] and "group_source" in q["sql"]
    ]
    assert merged
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The table is tiny: forbid what a large one would never choose, so that a Sort
            # below the LIMIT remains only where the index cannot give the order.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
            cursor.execute(f"EXPLAIN {merged[0]}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Index Only Scan using donors_donor_ranking" in plan, plan
            # The one sort is the outer one, of the rows the cells gave.
            assert plan.count("Sort Key") == 1, plan
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {merged[0]}")
            plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
            assert "MERGE (UNION ALL)" in plan, plan
            assert "TEMP B-TREE" not in plan, plan
            assert "COVERING INDEX donors_donor_ranking" in plan, plan


@pytest.mark.django_db
@pytest.mark.parametrize("negative_direct_max", [20_000, 0])
def test_rhd_negative_groups_are_read_in_one_query_by_the_chosen_path(
    negative_direct_max: int, city: Any, hospital: Any, monkeypatch: Any
) -> None:
    """An RhD-negative patient's compatible groups (AB-: AB-, A-, B-, O-) are one query over
    the whole radius, not one per group: through no list of cells while the partial index of
    RhD-negative donors is small, through the region cells of the disc when it is large."""
    monkeypatch.setattr(selectors, "NEGATIVE_DIRECT_MAX", negative_direct_max)
    monkeypatch.setattr(selectors, "_negative_counts", {})
    _registry(random.Random(5), city.community_a1, hospital, 200)
    with CaptureQueriesContext(connection) as queries:
        got = _rank_red_cells("AB-", radius_km=100.0, limit=10_000)
    ranking = _ranking_sql(queries)
    assert len(ranking) == 1, ranking
    assert ("region_cell" in ranking[0]) is (negative_direct_max == 0), ranking[0]
    # Several groups came from the one query.
    assert len({c.abo for c in got}) >= 3, got
    # Best group first: the preference order of the table, each group by distance band.
    order = {"AB": 0, "A": 1, "B": 2, "O": 3}
    assert [order[c.abo] for c in got] == sorted(order[c.abo] for c in got)
    assert all(c.rhd == "neg" for c in got)


@pytest.mark.django_db
def test_antigen_negative_donors_are_read_from_the_index_of_phenotyped_donors(
    city: Any, hospital: Any, monkeypatch: Any
) -> None:
    """A patient who needs donors known to lack an antigen: the first compatible group is read
    in two rings (the bands up to half the radius, then the rest; each by band, then the
    ranking), answered from the small partial index of donors with a phenotype on record,
    never the whole ranking index and its rows."""
    # A common antigen (in this small registry every antigen is rare: none is).
    monkeypatch.setattr(antigen_counts, "RARE_ANTIGEN_MAX", -1)
    _registry(random.Random(7), city.community_a1, hospital, 120)
    with CaptureQueriesContext(connection) as queries:
        got = _rank_red_cells("A+", radius_km=10.0, limit=10_000, antigen_negative=("K",))
    ranking = _ranking_sql(queries)
    # The first compatible group alone in two rings, then every other (A-, O+, O-) in one
    # statement over the whole radius.
    assert len(ranking) == 3, ranking
    assert "abo = 'A' AND rhd = 'pos'" in ranking[0] and "UNION ALL" not in ranking[0]
    assert "AND dist2 > " not in ranking[0] and "AND dist2 > " in ranking[1], ranking[1]
    assert ranking[2].count("UNION ALL") == 2, ranking[2]
    assert got
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute(f"EXPLAIN {ranking[0]}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Index Only Scan using donors_donor_phenotyped" in plan, plan
        else:
            cursor.execute("ANALYZE")
            cursor.execute(f"EXPLAIN QUERY PLAN {ranking[0]}")
            plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
            assert "COVERING INDEX donors_donor_phenotyped" in plan, plan


@pytest.mark.django_db
def test_a_rare_antigens_other_groups_are_read_in_one_statement_from_the_same_index(
    city: Any, hospital: Any, monkeypatch: Any
) -> None:
    """When the patient's own group has too few donors lacking the antigen, every other
    compatible group (of both RhD types) is read in one statement, one exact read of the
    index of phenotyped donors for each group, best group first."""
    monkeypatch.setattr(antigen_counts, "RARE_ANTIGEN_MAX", -1)
    _registry(random.Random(7), city.community_a1, hospital, 120)
    with CaptureQueriesContext(connection) as queries:
        got = _rank_red_cells("AB+", radius_km=10.0, limit=10_000, antigen_negative=("K",))
    ranking = _ranking_sql(queries)
    # AB+ in two rings, then the others.
    assert len(ranking) == 3, ranking
    assert ranking[2].count("UNION ALL") == 6, ranking[2]  # AB-, A+, A-, B+, B-, O+, O-
    groups = [(c.abo, c.rhd) for c in got]
    assert len(set(groups)) >= 3, groups
    order = [
        (abo.value, rhd.value)
        for abo, rhd, _v in compatibility.donor_groups(
            "red_cells", compatibility.Patient(abo="AB", rhd="pos")
        )
    ]
    assert [order.index(g) for g in groups] == sorted(order.index(g) for g in groups)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute(f"EXPLAIN {ranking[2]}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            # On a table this small the planner may read an RhD-negative group's few rows
            # through their own partial index instead: a small index either way, never the
            # table.
            small = ("using donors_donor_phenotyped", "using donors_donor_negative")
            assert sum(plan.count(name) for name in small) == 7, plan
            assert "Seq Scan" not in plan, plan
        else:
            cursor.execute("ANALYZE")
            cursor.execute(f"EXPLAIN QUERY PLAN {ranking[2]}")
            plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
            assert plan.count("COVERING INDEX donors_donor_phenotyped") == 7, plan


@pytest.mark.django_db
def test_donors_lacking_a_rare_antigen_are_read_at_once_through_an_index_of_them(
    city: Any, hospital: Any, monkeypatch: Any
) -> None:
    """Donors lacking an antigen few donors lack: every compatible group in one statement, best
    group first, with no list of cells, found through the GIN index of phenotypes on
    PostgreSQL and through the antigen's partial index on SQLite (its condition written out as
    the index writes it, so that SQLite's planner sees the index holds every row)."""
    monkeypatch.setattr(antigen_counts, "_antigen_counts", {})
    _registry(random.Random(7), city.community_a1, hospital, 120)
    patient = compatibility.Patient(abo="AB", rhd="pos")
    with CaptureQueriesContext(connection) as queries:
        got = _rank_red_cells(patient, radius_km=10.0, limit=10_000, antigen_negative=("K",))
    ranking = _ranking_sql(queries)
    order = [(a.value, r.value) for a, r, _v in compatibility.donor_groups("red_cells", patient)]
    groups = [(c.abo, c.rhd) for c in got]
    assert len(set(groups)) >= 3, groups
    assert [order.index(g) for g in groups] == sorted(order.index(g) for g in groups)
    assert len(ranking) == 1, ranking
    assert "UNION ALL" not in ranking[0] and "search_cell" not in ranking[0], ranking[0]
    if connection.vendor != "postgresql":
        condition = "json_extract(phenotype, '$.\"K\"') = '-'"
        assert condition in ranking[0], ranking[0]
        with connection.cursor() as cursor:
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'donors_donor_lacks_04_k'")
            (definition,) = cursor.fetchone()
        assert definition.endswith(f"WHERE {condition}"), definition
        return
    assert "phenotype @> " in ranking[0], ranking[0]
    # The index the containment is for (on a table this small the planner reads any index
    # as cheaply; on a million donors it takes this one: docs/donors.md).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'donors_donor_phenotype_gin'"
        )
        (definition,) = cursor.fetchone()
    assert "USING gin (phenotype jsonb_path_ops)" in definition, definition
    assert "WHERE (NOT (phenotype = '{}'::jsonb))" in definition, definition


@pytest.mark.django_db
def test_on_postgresql_each_rows_history_is_read_with_it(city: Any, hospital: Any) -> None:
    """On PostgreSQL the ranking's read gives each row's donations, deferrals, windows and open
    call-ups too: one statement for a search that its first read answers, where SQLite reads
    the rows' history in a second. A search for an RhD-positive patient counts no RhD-negative
    donors unless it reaches their groups."""
    _registry(random.Random(11), city.community_a1, hospital, 300)
    with CaptureQueriesContext(connection) as queries:
        got = _rank_red_cells("B+", radius_km=100.0, limit=3)
    assert len(got) == 3 and all(c.abo == "B" and c.rhd == "pos" for c in got), got
    statements = [q["sql"] for q in queries.captured_queries]
    history = [sql for sql in statements if "donors_donation" in sql]
    assert history, statements
    assert not any("COUNT(" in sql.upper() for sql in statements), statements
    if connection.vendor == "postgresql":
        assert len(statements) == 1 and "group_source" in statements[0], statements
    else:
        assert len(statements) == 2 and "group_source" not in history[0], statements


@pytest.mark.django_db
def test_a_large_rhd_negative_group_is_read_alone_first(
    city: Any, hospital: Any, monkeypatch: Any
) -> None:
    """A run of RhD-negative groups whose first group the registry holds enough of reads that
    group alone; the others only when it did not give enough, in one more statement."""
    monkeypatch.setattr(selectors, "_negative_counts", {})
    monkeypatch.setattr(selectors, "NEGATIVE_ALONE_FACTOR", 0)
    _registry(random.Random(5), city.community_a1, hospital, 200)
    with CaptureQueriesContext(connection) as queries:
        got = _rank_red_cells("AB-", radius_km=100.0, limit=10_000)
    ranking = _ranking_sql(queries)
    assert len(ranking) == 2, ranking
    assert "abo = 'AB'" in ranking[0] and "abo IN" not in ranking[0], ranking[0]
    assert "abo IN ('A', 'B', 'O')" in ranking[1], ranking[1]
    # The others came after (A-, B-, O- in one statement), best group first.
    order = {"AB": 0, "A": 1, "B": 2, "O": 3}
    assert len({c.abo for c in got}) >= 3, got
    assert [order[c.abo] for c in got] == sorted(order[c.abo] for c in got)


def test_an_antigen_search_reads_only_the_coarse_cells_that_can_hold_a_donor_in_the_disc() -> None:
    """The search cells read for a search among few donors: every donor cell whose centre lies
    within the radius has its parent among them, and they are fewer than the rings."""
    rng = random.Random(9)
    conf = settings_()
    for _ in range(30):
        lat, lng = at_km(rng.uniform(-20, 20), rng.uniform(-20, 20))
        radius = rng.choice((2.0, 5.0, 10.0))
        field, cells = selectors.coarse_cells(lat, lng, radius)
        assert field == "search_cell"
        rings = places.rings_for(lat, lng, radius, conf.search_resolution)
        assert set(cells) <= set(rings)
        assert len(cells) < len(rings)
        k_lng = KM_PER_DEGREE * math.cos(math.radians(lat))
        for cell in h3.grid_disk(h3.latlng_to_cell(lat, lng, conf.cell_resolution), 40):
            centre_lat, centre_lng = h3.cell_to_latlng(cell)
            dist2 = ((centre_lat - lat) * KM_PER_DEGREE) ** 2 + ((centre_lng - lng) * k_lng) ** 2
            if dist2 <= radius * radius:
                assert h3.cell_to_parent(cell, conf.search_resolution) in cells

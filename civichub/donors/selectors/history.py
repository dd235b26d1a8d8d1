"""What the ranking reads of the donors it found, in one query for all: donations, deferrals,
availability windows and open call-ups, as eligibility facts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

from django.db import connection
from django.utils import timezone

from civichub.donors import eligibility
from civichub.donors.models import ACTIVE_STATES, AvailabilityWindow, CallUp, Deferral, Donation


def _array(values: Iterable[int | str]) -> str:
    """A PostgreSQL array literal of ids or H3 cells, bound as one text parameter and cast in
    the query: the client adapts a list value by value, which for a few dozen values costs
    more than the database's reading."""
    items = [str(value) for value in values]
    if not all(item.isalnum() for item in items):
        raise ValueError("only ids and cells are passed as an array")
    return "{" + ",".join(items) + "}"


def _history_parts(among: str) -> list[str]:
    """The SELECTs of a history read, one per table, each of the donors matching `among`
    (" = ANY(...)", " IN (...)" or " = <column>"): (donor, tag, a, b, c), every value as text
    (the tables' columns differ in type)."""
    quote = connection.ops.quote_name

    def text(column: str) -> str:
        return f"CAST({quote(column)} AS VARCHAR(200))"

    active = ", ".join(f"'{state.value}'" for state in ACTIVE_STATES)
    parts = [
        (Donation, "d", text("kind"), text("on"), "NULL", ""),
        (Deferral, "f", text("reason"), text("starts_on"), text("ends_on"), ""),
        (AvailabilityWindow, "w", text("weekday"), text("starts"), text("ends"), ""),
        (CallUp, "t", text("state"), "NULL", "NULL", f" AND {quote('state')} IN ({active})"),
    ]
    return [
        f"SELECT {quote('donor_id')}, '{tag}', {a}, {b}, {c} "  # noqa: S608  # nosec B608
        f"FROM {quote(model._meta.db_table)} WHERE {quote('donor_id')}{among}{more}"
        for model, tag, a, b, c, more in parts
    ]


def history_column(id_column: str) -> str:
    """The history of the donor whose id is `id_column` (a column of the query around it) as a
    JSON array of [tag, a, b, c] entries, or NULL without any (PostgreSQL): the ranking's read
    of the rows asks for it too, so that one statement serves both (one round trip to the
    server instead of two; a busy machine makes each one wait for a core)."""
    union = " UNION ALL ".join(_history_parts(f" = {id_column}"))
    return (
        "(SELECT json_agg(json_build_array(h.t, h.a, h.b, h.c))"  # noqa: S608  # nosec B608
        f" FROM ({union}) AS h(i, t, a, b, c))"
    )


def _history(ids: list[int]) -> list[tuple[int, str, str, str | None, str | None]]:
    """Donations, deferrals, availability windows and open call-ups of these donors in one
    query, every value as text (the tables' columns differ in type): (donor, "d", kind, on,
    None), (donor, "f", reason, starts_on, ends_on), (donor, "w", weekday, starts, ends),
    (donor, "t", state, None, None) for a donor taken by an open call-up of any request."""
    if not ids:
        return []
    params: dict[str, Any]
    if connection.vendor == "postgresql":
        # One array, not a parameter per donor: the client binds one value.
        among, params = " = ANY(%(ids)s::bigint[])", {"ids": _array(ids)}
    else:
        among = f" IN ({', '.join(f'%(i{n})s' for n in range(len(ids)))})"
        params = {f"i{n}": pk for n, pk in enumerate(ids)}
    sql = " UNION ALL ".join(_history_parts(among))
    with connection.cursor() as cursor:
        # Names and states are the models' own; the ids are parameters.
        cursor.execute(sql, params)  # nosec B608
        return [tuple(row) for row in cursor.fetchall()]


def _read_history(donors: list[Any]) -> list[tuple[int, str, str, str | None, str | None]]:
    """The history of these donors (`_Row`s): as read with the rows when each carries it (a
    JSON array, or None without any; `history_column`), else in one query for all."""
    if not donors or any(d.history is False for d in donors):
        return _history([d.pk for d in donors])
    entries: list[tuple[int, str, str, str | None, str | None]] = []
    for donor in donors:
        found = donor.history
        if isinstance(found, str):
            found = json.loads(found)
        entries += [(donor.pk, e[0], e[1], e[2], e[3]) for e in found or ()]
    return entries


# The stored sex as the rule takes it (a look-up for each row instead of the enum's call).
_SEXES = {sex.value: sex for sex in eligibility.Sex}


def _facts_bulk(donors: list[Any]) -> dict[int, tuple[eligibility.DonorFacts, list, bool]]:
    """Each callable donor's eligibility facts, availability windows and whether an open
    call-up takes them, in one query for all (`donors` are `_Row`s)."""
    ids = [d.pk for d in donors]
    donations: dict[int, list[eligibility.Donation]] = {i: [] for i in ids}
    deferrals: dict[int, list[eligibility.Deferral]] = {i: [] for i in ids}
    windows: dict[int, list] = {i: [] for i in ids}
    taken: set[int] = set()
    for donor_id, tag, a, b, c in _read_history(donors):
        if tag == "d":
            on = date.fromisoformat(str(b)[:10])
            donations[donor_id].append(eligibility.Donation(eligibility.DonationKind(a), on))
        elif tag == "f":
            ends = date.fromisoformat(str(c)[:10]) if c else None
            deferrals[donor_id].append(
                eligibility.Deferral(date.fromisoformat(str(b)[:10]), ends, a)
            )
        elif tag == "w":
            windows[donor_id].append(
                (int(a), time.fromisoformat(str(b)), time.fromisoformat(str(c)))
            )
        else:
            taken.add(donor_id)
    return {
        donor.pk: (
            eligibility.DonorFacts(
                birth_date=donor.birth_date,
                sex=_SEXES[donor.sex],
                weight_kg=donor.weight_kg,
                donations=tuple(donations[donor.pk]),
                deferrals=tuple(deferrals[donor.pk]),
                had_reaction=donor.had_reaction,
            ),
            windows[donor.pk],
            donor.pk in taken,
        )
        for donor in donors
    }


def _in_window(windows: list, moment: datetime) -> bool:
    if not windows:
        return True
    local = timezone.localtime(moment)
    return any(
        weekday == local.weekday() and starts <= local.time() < ends
        for weekday, starts, ends in windows
    )

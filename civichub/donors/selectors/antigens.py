"""The antigens of an antigen-negative search: the conditions on the phenotype of plain SQL,
and which antigens few donors lack (read through an index of the donors lacking them: the GIN
index of phenotypes on PostgreSQL, the antigen's partial index on SQLite)."""

from __future__ import annotations

import json
import time as time_
from collections.abc import Iterable
from typing import Any

from django.db import connection

from civichub.donors.models import REQUESTABLE_ANTIGENS, Donor

# How long a count of donors lacking an antigen is trusted (it changes slowly: registrations,
# consents, phenotypes recorded).
COUNT_SECONDS = 600.0


def phenotyped_sql() -> str:
    """The condition of the partial index `donors_donor_phenotyped` (a phenotype on record),
    written as Django writes it in the index, so that both databases see that the index holds
    every row a search for antigen-negative donors asks for."""
    if connection.vendor == "postgresql":
        return "NOT (phenotype = '{}'::jsonb)"
    return "NOT (phenotype = '{}')"


def antigen_sql(antigens: Iterable[str]) -> tuple[str, dict[str, Any]]:
    """Donors whose phenotype records each of `antigens` as negative, as a condition of plain
    SQL (" AND ..." or nothing) with its parameters: a donor whose phenotype leaves an antigen
    out is unknown for it, so not taken. The antigen names are parameters too. Such a donor
    has a phenotype on record: the condition says so too, for the index of those donors."""
    wanted = [a for a in REQUESTABLE_ANTIGENS if a in set(antigens)]
    clause, params = (f" AND {phenotyped_sql()}" if wanted else ""), {}
    for n, antigen in enumerate(wanted):
        if connection.vendor == "postgresql":
            clause += f" AND (phenotype ->> %(ag{n})s) = '-'"
            params[f"ag{n}"] = antigen
        else:
            clause += f" AND json_extract(phenotype, %(ag{n})s) = '-'"
            params[f"ag{n}"] = f'$."{antigen}"'
    return clause, params


def lacking_sql(antigens: Iterable[str]) -> tuple[str, dict[str, Any]]:
    """The condition (" AND ..." or nothing) that lets a database read the donors lacking each
    of `antigens` from an index of those donors alone: on PostgreSQL the containment the GIN
    index of phenotypes answers (migration 0009), on SQLite the condition of that antigen's
    partial index written out as the index writes it (migration 0010: a parameter would hide
    from SQLite's planner that the index holds every row asked for). The names are the model's
    own constants, never a request's text."""
    wanted = [a for a in REQUESTABLE_ANTIGENS if a in set(antigens)]
    if not wanted:
        return "", {}
    if connection.vendor == "postgresql":
        return " AND phenotype @> %(lacking)s::jsonb", {
            "lacking": json.dumps(dict.fromkeys(wanted, "-"))
        }
    return "".join(f" AND json_extract(phenotype, '$.\"{a}\"') = '-'" for a in wanted), {}


# An antigen search reads the donors lacking the antigens through the GIN index of phenotypes
# `donors_donor_phenotype_gin` (migration 0009) on PostgreSQL, through the antigen's partial
# index (migration 0010) on SQLite, every compatible group in one
# statement with no list of cells, when the registry holds at most this many donors lacking
# one of them (Fy(a) among Han Chinese donors: 0.5 % of those phenotyped): a few hundred rows
# read by their place in the table cost less than the phenotyped index's entries of every
# group in the disc. A commoner antigen keeps the cells of the disc, group by group.
RARE_ANTIGEN_MAX = 2_000
_antigen_counts: dict[str, tuple[float, int]] = {}


# How many phenotyped donors are read to tell a common antigen from a rare one, and how many
# of them lacking it make it common (5 %): the index of those lacking it is then not counted
# (its count reads every entry of the antigen, a read of its own for a common one). A rare
# antigen's sample is read whole, on the first request for it (1 ms for these; 4 ms for 4,000).
ANTIGEN_SAMPLE = 1_000
ANTIGEN_SAMPLE_COMMON = ANTIGEN_SAMPLE // 20


def _lacking_count(antigen: str) -> int:
    """How many donors with a phenotype on record lack `antigen`, counted up to one more than
    RARE_ANTIGEN_MAX only and again at most every COUNT_SECONDS (per database): first
    among the first ANTIGEN_SAMPLE entries of the index of phenotyped donors (a common antigen
    stops there, as more than RARE_ANTIGEN_MAX), then through the index of those lacking it (a
    few hundred entries for a rare antigen)."""
    key = f"{connection.alias}:{connection.settings_dict.get('NAME')}:{antigen}"
    now = time_.monotonic()
    known = _antigen_counts.get(key)
    if known is not None and now - known[0] < COUNT_SECONDS:
        return known[1]
    table = connection.ops.quote_name(Donor._meta.db_table)
    if connection.vendor == "postgresql":
        negative, path = "(phenotype ->> %(antigen)s)", antigen
    else:
        negative, path = "json_extract(phenotype, %(antigen)s)", f'$."{antigen}"'
    # The donors lacking it among the sample, counted up to one more than makes it common:
    # the outer LIMIT stops the reading there, after a few hundred entries for a common
    # antigen (counting all the sample's took 4 ms, on the first request for each antigen).
    sample = (
        "SELECT count(*) FROM (SELECT 1 FROM (SELECT phenotype"  # noqa: S608  # nosec B608
        f" FROM {table} WHERE {phenotyped_sql()}"
        " AND health_consent_at IS NOT NULL AND health_revoked_at IS NULL"
        " AND location_consent_at IS NOT NULL AND location_revoked_at IS NULL"
        f" LIMIT %(sample)s) AS sample WHERE {negative} = '-'"
        " LIMIT %(common)s) AS lacking"
    )
    lacking_where, lacking_params = lacking_sql([antigen])
    bounded = (
        f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {phenotyped_sql()}"  # noqa: S608  # nosec B608
        f"{lacking_where} LIMIT %(bound)s) AS lacking"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sample,
            {"antigen": path, "sample": ANTIGEN_SAMPLE, "common": ANTIGEN_SAMPLE_COMMON + 1},
        )
        row = cursor.fetchone()
        count = RARE_ANTIGEN_MAX + 1
        if row is None or int(row[0]) <= ANTIGEN_SAMPLE_COMMON:
            cursor.execute(bounded, {**lacking_params, "bound": RARE_ANTIGEN_MAX + 1})
            row = cursor.fetchone()
            count = int(row[0]) if row else 0
    _antigen_counts[key] = (now, count)
    return count


def rare_antigens(antigens: list[str]) -> bool:
    """Whether a search for donors lacking each of `antigens` reads them through an index of
    the donors lacking one (`lacking_sql`): few donors lack one of them."""
    if not antigens:
        return False
    return min(_lacking_count(a) for a in antigens) <= RARE_ANTIGEN_MAX

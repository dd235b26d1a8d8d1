"""The ranking side of search: the statements that rank each group's entries for a query's
resolved words, run as one with what the results show."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection

from civichub.portal.models import SearchEntry, SearchPosting, Service
from civichub.portal.search.query import (
    CANDIDATES,
    Alternative,
    SqlValue,
    Term,
    _resolve,
    index_version,
)

# the groups ranked apart, as numbered in a combined statement
SERVICES, OTHERS = 1, 0


def _alternative_sql(alternative: Alternative, posting: str) -> tuple[str, list[SqlValue]]:
    """The weighted impact of an alternative in the candidate entry `cand.entry_id` (0 when
    the entry does not hold every token): one index lookup per token."""
    tokens = list(alternative.tokens)
    if len(tokens) == 1:
        return (
            f"%s * COALESCE((SELECT impact FROM {posting} p WHERE p.token = %s"  # noqa: S608  # nosec B608 - names and placeholders only
            " AND p.entry_id = cand.entry_id), 0)",
            [alternative.weight, tokens[0]],
        )
    marks = ", ".join(["%s"] * len(tokens))
    return (
        f"%s * (SELECT CASE WHEN COUNT(*) = %s THEN SUM(impact) / %s ELSE 0 END FROM {posting} p"  # noqa: S608  # nosec B608 - names and placeholders only
        f" WHERE p.entry_id = cand.entry_id AND p.token IN ({marks}))",
        [alternative.weight, len(tokens), float(len(tokens)), *tokens],
    )


# The statements below are built from the posting table's quoted name, placeholders and
# generated column aliases; every value is a parameter.
def _ranked_sql(
    terms: Sequence[Sequence[Alternative]],
    *,
    every: bool,
    is_service: bool,
    limit: int,
    required: Sequence[bool] = (),
) -> tuple[str, list[SqlValue]]:
    """A statement of (entry id, score) best first among the candidates: the best postings of
    the rarest required word's alternatives (with `every`: each required word must match), or
    of every required word's (without: any word may match); optional words add to the score
    only."""
    required = list(required) or [True] * len(terms)
    posting = connection.ops.quote_name(SearchPosting._meta.db_table)
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"

    def estimate(alternatives: Sequence[Alternative]) -> int:
        return sum(min(a.held_by, CANDIDATES) for a in alternatives)

    needed = [term for term, need in zip(terms, required, strict=True) if need] or list(terms)
    starting = [min(needed, key=estimate)] if every else needed
    sources: list[str] = []
    params: list[SqlValue] = []
    for term in starting:
        # the bound is shared by the starting words' alternatives
        per_alternative = max(limit, CANDIDATES // (max(len(term), 1) * len(starting)))
        for n, alternative in enumerate(term):
            sources.append(
                f"SELECT entry_id FROM (SELECT entry_id FROM {posting} WHERE token = %s"  # noqa: S608  # nosec B608 - names and placeholders only
                " AND is_service = %s ORDER BY impact DESC, entry_id LIMIT %s)"
                f" AS c{len(sources)}_{n}"
            )
            params += [alternative.start, is_service, per_alternative]
    expressions: list[tuple[str, list[SqlValue]]] = []
    for term in terms:
        parts = [_alternative_sql(a, posting) for a in term]
        expression = (
            parts[0][0] if len(parts) == 1 else f"{greatest}({', '.join(p[0] for p in parts)})"
        )
        expressions.append((expression, [value for p in parts for value in p[1]]))
    scores = [f"{expression} AS s{n}" for n, (expression, _p) in enumerate(expressions)]
    for _expression, values in expressions:
        params += values
    names = [f"s{n}" for n in range(len(terms))]
    where = "1 = 1"
    if every:
        # A candidate must hold every required word: checked before any score is computed,
        # the rarest word first and the word the candidates were drawn from last (they mostly
        # hold it), so that most candidates cost one lookup, not one per word. Both databases
        # stop at the first false condition; the scores of the candidates kept are the same.
        checked = sorted(
            (n for n, need in enumerate(required) if need),
            key=lambda n: (terms[n] in starting, estimate(terms[n]), n),
        )
        where = " AND ".join(f"({expressions[n][0]}) > 0" for n in checked)
        for n in checked:
            params += expressions[n][1]
    sql = (
        f"WITH cand AS ({' UNION '.join(sources)}),"  # noqa: S608  # nosec B608 - names and placeholders only
        f" scored AS MATERIALIZED (SELECT cand.entry_id AS entry_id, {', '.join(scores)}"
        f" FROM cand WHERE {where})"
        f" SELECT entry_id, {' + '.join(names)} AS score FROM scored"
        " ORDER BY score DESC, entry_id LIMIT %s"
    )
    params.append(limit)
    return sql, params


def _first_postings_sql(
    alternatives: Sequence[Alternative], *, is_service: bool, limit: int
) -> tuple[str, list[SqlValue]]:
    """A statement of (entry id, score) best first for a query of one word whose alternatives
    are single tokens. An entry's score is then its best alternative's weighted impact, so the first
    `limit` entries are among each alternative's first `limit` postings: read from the
    index in its order, with no other lookup, however many entries hold the word."""
    posting = connection.ops.quote_name(SearchPosting._meta.db_table)
    parts: list[str] = []
    params: list[SqlValue] = []
    for n, alternative in enumerate(alternatives):
        parts.append(
            f"SELECT entry_id, score FROM (SELECT entry_id, %s * impact AS score FROM {posting}"  # noqa: S608  # nosec B608 - names and placeholders only
            " WHERE token = %s AND is_service = %s ORDER BY impact DESC, entry_id LIMIT %s)"
            f" AS f{n}"
        )
        params += [alternative.weight, alternative.tokens[0], is_service, limit]
    sql = (
        f"SELECT entry_id, MAX(score) AS score FROM ({' UNION ALL '.join(parts)}) AS f"  # noqa: S608  # nosec B608 - names and placeholders only
        " GROUP BY entry_id ORDER BY MAX(score) DESC, entry_id LIMIT %s"
    )
    params.append(limit)
    return sql, params


@dataclass(frozen=True)
class _Plan:
    """How one group answers a query: the statement that ranks every word (or the first
    postings of a one-word query), and the statement that lets any word match, run only
    when the first finds nothing."""

    first: tuple[str, list[SqlValue]] | None
    fallback: tuple[str, list[SqlValue]] | None


def _plan(terms: list[Term], *, version: str, is_service: bool, limit: int) -> _Plan:
    resolved = _resolve(tuple(terms), version)[is_service]
    # an optional word no entry of the group holds is left out
    kept = [
        (r, not t.optional) for r, t in zip(resolved, terms, strict=True) if r or not t.optional
    ]
    words = [r for r, _need in kept]
    if len(words) == 1 and words[0] and all(len(a.tokens) == 1 for a in words[0]):
        return _Plan(_first_postings_sql(words[0], is_service=is_service, limit=limit), None)
    first = fallback = None
    if words and all(words):
        first = _ranked_sql(
            words,
            every=True,
            is_service=is_service,
            limit=limit,
            required=[need for _r, need in kept],
        )
    if len(words) > 1 and any(words):
        # any word may match; the entries are drawn from the required words' postings
        held = [(r, need) for r, need in kept if r]
        fallback = _ranked_sql(
            [r for r, _need in held],
            every=False,
            is_service=is_service,
            limit=limit,
            required=[need for _r, need in held],
        )
    return _Plan(first, fallback)


@dataclass(frozen=True)
class Found:
    """A ranked entry with what a result shows of it."""

    entry_id: int
    score: float
    kind: str
    title: str
    title_en: str
    summary: str
    summary_en: str
    code: str  # the service's, empty for an entry without one
    url: str  # the entry's own page, empty for a service's entries


def _run(plans: Sequence[tuple[int, _Plan]]) -> dict[int, list[Found]]:
    """Runs the groups' statements as one, with the entries' shown columns (one round trip to
    the database), each group's rows in its own order. A group's statement that lets any word
    match reads only when its first found nothing (a condition the database checks once,
    before reading)."""
    found: dict[int, list[Found]] = {group: [] for group, _plan in plans}
    firsts: list[str] = []
    parts: list[str] = []
    params: list[SqlValue] = []
    later: list[SqlValue] = []
    # the group is a literal 0 or 1, never text from the query
    for group, plan in plans:
        g = int(group)
        if plan.first:
            firsts.append(f"f{g} AS MATERIALIZED ({plan.first[0]})")
            params += plan.first[1]
            parts.append(f"SELECT {g} AS grp, entry_id, score FROM f{g}")  # noqa: S608  # nosec B608 - names and placeholders only
        if plan.fallback:
            guard = f" WHERE NOT EXISTS (SELECT 1 FROM f{g})" if plan.first else ""  # noqa: S608  # nosec B608 - names and placeholders only
            parts.append(
                f"SELECT {g} AS grp, entry_id, score FROM ({plan.fallback[0]}) AS b{g}{guard}"  # noqa: S608  # nosec B608 - names and placeholders only
            )
            later += plan.fallback[1]
    if not parts:
        return found
    entry = connection.ops.quote_name(SearchEntry._meta.db_table)
    service = connection.ops.quote_name(Service._meta.db_table)
    with_firsts = f"WITH {', '.join(firsts)} " if firsts else ""
    sql = (
        f"{with_firsts}SELECT r.grp, r.entry_id, r.score, e.kind, e.title, e.title_en, e.summary,"  # noqa: S608  # nosec B608 - names and placeholders only
        f" e.summary_en, COALESCE(s.code, ''), e.url FROM ({' UNION ALL '.join(parts)}) AS r"
        f" JOIN {entry} e ON e.id = r.entry_id LEFT JOIN {service} s ON s.id = e.service_id"
        " ORDER BY r.grp, r.score DESC, r.entry_id"
    )
    with connection.cursor() as db:
        db.execute(sql, params + later)
        for group, entry_id, score, *shown in db.fetchall():
            found[group].append(Found(entry_id, float(score), *shown))
    return found


def search_groups(
    terms: list[Term],
    *,
    limit: int = 10,
    others_limit: int | None = None,
    version: str | None = None,
) -> tuple[list[Found], list[Found]]:
    """The services and everything else matching the query's terms, best first in each group:
    every word if some entry of the group has them all, else any. Both groups and what their
    results show in one statement. The other entries are of several kinds (questions, notices,
    datasets) shown apart: `others_limit` reads more of them, so that one kind crowds out the
    others less. `version`: the version of the index the terms were parsed in (read when not
    given)."""
    if not terms:
        return [], []
    version = version or index_version()
    limits = {SERVICES: limit, OTHERS: others_limit or limit}
    found = _run(
        [
            (group, _plan(terms, version=version, is_service=bool(group), limit=limits[group]))
            for group in (SERVICES, OTHERS)
        ]
    )
    return found.get(SERVICES, []), found.get(OTHERS, [])


def search_ids(
    terms: list[Term], *, is_service: bool, limit: int = 10, version: str | None = None
) -> list[tuple[int, float]]:
    """Entry ids of one group (services, or everything else) matching the query's terms, best
    first: every word if any entry has them all, else any."""
    if not terms:
        return []
    group = SERVICES if is_service else OTHERS
    plan = _plan(terms, version=version or index_version(), is_service=is_service, limit=limit)
    found = _run([(group, plan)])
    return [(f.entry_id, f.score) for f in found.get(group, [])]


def highlight_terms(terms: list[Term]) -> list[str]:
    """The strings worth marking in a shown result for the query's terms."""
    marks: set[str] = set()
    for term in terms:
        marks.update(term.phrases)
        marks.update(p for p in term.prefixes if len(p) >= 2)
    return sorted(marks, key=len, reverse=True)

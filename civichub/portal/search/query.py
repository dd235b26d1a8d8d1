"""The query side of search: a query's words (terms) and, for each group of entries, the
indexed tokens that satisfy each word with their weights."""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from functools import lru_cache

import jieba
from django.core.cache import cache
from django.db import connection, transaction
from pypinyin import lazy_pinyin
from rapidfuzz import fuzz, process

from civichub.portal.models import SearchPosting, SearchToken
from civichub.portal.search.text import (
    HAN,
    QUERY_STOPWORDS,
    TOKEN_LENGTH,
    _phrase_tokens,
    _pinyin_synonyms,
    _synonym_variants,
    fold_english,
    tokenizer,
    words_generation,
)

VOCABULARY_KEY = "portal:search:vocabulary"
_vocabulary_words: dict[str, list[str]] = {}
_vocabulary_token = ""
# The most entries a query reads from its rarest word (per group), and the most indexed words a
# typed ASCII word stands for.
CANDIDATES = 200
EXPANSIONS = 8
SqlValue = str | int | float | bool


@dataclass(frozen=True)
class Term:
    """One query word: the alternatives any of which satisfies it. `phrases` are Han strings
    (matched as character phrases), `prefixes` ASCII words (matched as prefixes)."""

    phrases: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    # A word an entry need not hold to be found (one character beside longer words: mostly a
    # verb or filler, 打/领/丢/补); it still adds to the score of the entries that hold it.
    optional: bool = False


def vocabulary_changed() -> None:
    """The index changed: every process reads its words again and forgets its parsed queries,
    now and again once the transaction commits. A search elsewhere while the transaction was
    open read the index as committed before it, under the version made after the first delete;
    without the second its parse (what the index held of its words) would be kept after the
    commit, until the next change of the index."""
    cache.delete(VOCABULARY_KEY)
    transaction.on_commit(lambda: cache.delete(VOCABULARY_KEY))


def index_version() -> str:
    """A token in the shared cache, new after every change of the index: one round trip, read
    once per search and passed on (`parse_query`, `search_groups`)."""
    token = cache.get(VOCABULARY_KEY)
    if token is None:
        token = uuid.uuid4().hex
        cache.set(VOCABULARY_KEY, token, None)
    return str(token)


def _word_vocabulary(version: str) -> dict[str, list[str]]:
    """The indexed English words and words' pinyin keys by first letter (the choices for typo
    correction; whole titles' keys are left out, there is one per entry)."""
    global _vocabulary_words, _vocabulary_token
    if version != _vocabulary_token:
        words: dict[str, list[str]] = {}
        for token in SearchToken.objects.filter(kind__in=("en", "py"), entries__gt=0).values_list(
            "token", flat=True
        ):
            words.setdefault(token[:1], []).append(token)
        _vocabulary_words, _vocabulary_token = words, version
    return _vocabulary_words


def _corrections(word: str, version: str) -> tuple[str, ...]:
    """The closest indexed words to a word no indexed word starts with (typos)."""
    choices = [
        w for w in _word_vocabulary(version).get(word[:1], []) if abs(len(w) - len(word)) <= 3
    ]
    close = process.extract(word, choices, scorer=fuzz.ratio, score_cutoff=75, limit=3)
    return tuple(c[0] for c in close) or (word,)


def _likely_typo(word: str, version: str) -> bool:
    """No word of the vocabulary in memory starts with `word` (known without a statement only
    once the vocabulary of this version has been read; whole titles' keys are not in it, so
    the index still decides)."""
    return _vocabulary_token == version and not any(
        w.startswith(word) for w in _vocabulary_words.get(word[:1], [])
    )


# What the index holds of a query's words -------------------------------------------------------


@dataclass
class _Facts:
    """What the index holds of a query's words, read in one statement: `entries` of each
    token asked for (absent: none), the words some indexed token starts (`started`), and for
    each ASCII word and group (services, the others) whether an entry of the group holds the
    word whole (`whole`), else the first words it starts that the group holds (`expanded`)."""

    entries: dict[str, int] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)  # the tokens whose `entries` were read
    started: set[str] = field(default_factory=set)
    whole: set[tuple[str, bool]] = field(default_factory=set)
    expanded: dict[tuple[str, bool], list[str]] = field(default_factory=dict)

    def asked(self, word: str) -> bool:
        return (word, True) in self.expanded


def _range_sql(word: str, limit: int) -> tuple[str, list[SqlValue]]:
    """The first indexed tokens (some entry holds them) that start with `word`, in order."""
    word = word[:TOKEN_LENGTH]
    after = word[:-1] + chr(ord(word[-1]) + 1)
    table = connection.ops.quote_name(SearchToken._meta.db_table)
    return (
        f"SELECT token, entries FROM {table} WHERE token >= %s AND token < %s"  # noqa: S608  # nosec B608 - names and placeholders only
        " AND entries > 0 ORDER BY token LIMIT %s",
        [word, after, limit],
    )


def _expansions(word: str, *, limit: int = EXPANSIONS) -> list[str]:
    """The indexed ASCII words that start with `word`, first in order (the word itself first)."""
    sql, params = _range_sql(word, limit)
    with connection.cursor() as db:
        db.execute(sql, params)
        return [row[0] for row in db.fetchall()]


def _group_word_sql(word: str, is_service: bool) -> list[tuple[str, list[SqlValue]]]:
    """Whether an entry of the group holds `word` whole (a row when it does), and otherwise
    the first `EXPANSIONS` words it starts that an entry of the group holds, looked for among
    the first `CANDIDATES * 10` words it starts (else the titles' keys of many other entries
    could fill the places of a service's). The second reads nothing when the first holds."""
    posting = connection.ops.quote_name(SearchPosting._meta.db_table)
    held = f"SELECT token FROM {posting} WHERE token = %s AND is_service = %s"  # noqa: S608  # nosec B608 - names and placeholders only
    first, params = _range_sql(word, CANDIDATES * 10)
    return [
        (
            f"SELECT token, 0 AS entries FROM ({held} LIMIT 1) AS h",  # noqa: S608  # nosec B608 - names and placeholders only
            [word, is_service],
        ),
        (
            f"SELECT t.token, t.entries FROM ({first}) AS t WHERE NOT EXISTS ({held})"  # noqa: S608  # nosec B608 - names and placeholders only
            f" AND EXISTS (SELECT 1 FROM {posting} p WHERE p.token = t.token"
            " AND p.is_service = %s) ORDER BY t.token LIMIT %s",
            [*params, word, is_service, is_service, EXPANSIONS],
        ),
    ]


def _facts_read(facts: _Facts, *, tokens: set[str], starts: set[str], words: set[str]) -> None:
    """Adds to `facts` the entries of `tokens`, which of `starts` some indexed token starts,
    and each group's whole words and expansions of `words`: one statement, one round trip."""
    table = connection.ops.quote_name(SearchToken._meta.db_table)
    parts: list[tuple[str, list[SqlValue]]] = []
    # what each part's rows tell: (what, word, group)
    meaning: list[tuple[str, str, bool]] = []
    facts.known |= tokens
    if tokens:
        marks = ", ".join(["%s"] * len(tokens))
        parts.append(
            (
                f"SELECT token, entries FROM {table} WHERE token IN ({marks})",  # noqa: S608  # nosec B608 - names and placeholders only
                sorted(tokens),
            )
        )
        meaning.append(("entries", "", False))
    for word in sorted(starts):
        parts.append(_range_sql(word, 1))
        meaning.append(("started", word, False))
    for word in sorted(words):
        for is_service in (True, False):
            parts += _group_word_sql(word, is_service)
            meaning += [("whole", word, is_service), ("expanded", word, is_service)]
            facts.expanded[(word, is_service)] = []
    if not parts:
        return
    # each part numbered by a literal, never text from the query
    sql = " UNION ALL ".join(
        f"SELECT {n} AS part, token, entries FROM ({part}) AS q{n}"  # noqa: S608  # nosec B608 - names and placeholders only
        for n, (part, _params) in enumerate(parts)
    )
    with connection.cursor() as db:
        db.execute(sql, [value for _part, params in parts for value in params])
        rows = db.fetchall()
    for part, token, entries in rows:
        what, word, is_service = meaning[part]
        if what == "entries":
            facts.entries[token] = int(entries)
        elif what == "started":
            facts.started.add(word)
        elif what == "whole":
            facts.whole.add((word, is_service))
        else:
            facts.expanded[(word, is_service)].append(token)
            facts.entries[token] = int(entries)
            facts.known.add(token)
    for found in facts.expanded.values():
        found.sort()  # ASCII words: the same order as the database's


# Parsing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _HanRun:
    """A run of Han characters cut into the words looked for, each with its synonym variants,
    and the run's pinyin (looked for instead when a word is held by no entry)."""

    words: tuple[str, ...]
    variants: tuple[tuple[str, ...], ...]
    spelled: str

    def tokens(self) -> set[str]:
        return {t for group in self.variants for phrase in group for t in _phrase_tokens(phrase)}


@dataclass(frozen=True)
class _AsciiRun:
    """A typed ASCII word (plural folded) and the synonyms its pinyin spells."""

    word: str
    phrases: tuple[str, ...]


@lru_cache(maxsize=4096)
def _query_runs(text: str, generation: int) -> tuple[_HanRun | _AsciiRun, ...]:
    """The query's runs as segmented, which depends on the segmenter's dictionary alone (not
    on the index): kept across versions of the index."""
    jieba_tokenizer = tokenizer()
    pinyin_synonyms = _pinyin_synonyms()
    runs: list[_HanRun | _AsciiRun] = []
    for run in re.findall(r"[\u3400-\u9fff]+|[a-z0-9]+", text):
        if HAN.match(run):
            runs.append(_han_run(run, jieba_tokenizer))
        elif not (run in QUERY_STOPWORDS or (len(run) < 2 and not run.isdigit())):
            phrases = tuple(sorted(pinyin_synonyms.get(run, set())))
            runs.append(_AsciiRun(fold_english(run), phrases))
    return tuple(runs)


def _han_run(run: str, jieba_tokenizer: jieba.Tokenizer) -> _HanRun:
    words = [w for w in jieba_tokenizer.cut(run) if w not in QUERY_STOPWORDS]
    if not words:  # nothing but filler words: search for what was typed
        words = [run]
    variants = tuple(tuple(sorted(_synonym_variants(word))) for word in words)
    spelled = "".join(lazy_pinyin("".join(words)))[:TOKEN_LENGTH]
    return _HanRun(tuple(words), variants, spelled)


def parse_query(text: str, *, version: str | None = None) -> list[Term]:
    """The query's words as the index of `version` (`index_version`, read when not given)
    understands them."""
    return list(_parse_query(text.lower().strip()[:100], version or index_version()))


@lru_cache(maxsize=2048)
def _parse_query(text: str, version: str) -> tuple[Term, ...]:
    """The query's words; kept per version of the index, so frequent queries are parsed once.
    What the index holds of them is read in one statement, which serves the ranking too
    (`_resolve`): a second only for a typed word no indexed word starts (its corrections) or
    a run looked for by its pinyin."""
    tokenizer()  # the place names new in the tree, at most once a minute
    runs = _query_runs(text, words_generation())
    typed = {r.word for r in runs if isinstance(r, _AsciiRun)}
    # corrections of likely typos are asked for at once, when the vocabulary is at hand
    guessed = {w: _corrections(w, version) for w in typed if _likely_typo(w, version)}
    words = typed | {c for found in guessed.values() for c in found}
    tokens = {t for r in runs if isinstance(r, _HanRun) for t in r.tokens()} | words | {""}
    tokens |= {
        t for r in runs if isinstance(r, _AsciiRun) for p in r.phrases for t in _phrase_tokens(p)
    }
    spelled = {r.spelled for r in runs if isinstance(r, _HanRun) and len(r.spelled) >= 4}
    facts = _Facts()
    _facts_read(facts, tokens=tokens, starts=typed | spelled, words=words)
    terms: list[Term] = []
    for run in runs:
        if isinstance(run, _HanRun):
            terms += _han_terms(run, facts)
            continue
        prefixes: tuple[str, ...] = (run.word,)
        if run.word not in facts.started:
            prefixes = guessed.get(run.word) or _corrections(run.word, version)
        terms.append(Term(phrases=run.phrases, prefixes=prefixes))
    resolved_keep((tuple(terms), version), _resolution(tuple(terms), facts))
    return tuple(terms)


def _han_terms(run: _HanRun, facts: _Facts) -> list[Term]:
    """The terms of a run of Han characters. A run with a word no entry holds (a wrong
    character of the same sound: 身分证, 户藉, 公基金) is looked for by its pinyin instead, when
    some indexed key starts with it; one-character words beside longer ones are optional."""
    unheld = [
        group
        for group in run.variants
        if not any(all(facts.entries.get(t, 0) > 0 for t in _phrase_tokens(p)) for p in group)
    ]
    if unheld and len(run.spelled) >= 4 and run.spelled in facts.started:
        return [Term(prefixes=(run.spelled,))]
    longer = any(len(word) > 1 for word in run.words)
    return [
        Term(phrases=group, optional=longer and len(word) == 1)
        for word, group in zip(run.words, run.variants, strict=True)
    ]


# Resolution ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alternative:
    """One way to satisfy a query word: every token held; `weight` is the idf of its rarest
    token, `start` that token and `held_by` the number of entries holding it."""

    tokens: tuple[str, ...]
    weight: float
    start: str
    held_by: int


Resolved = dict[bool, tuple[tuple[Alternative, ...], ...]]
RESOLVED_KEPT = 2048
_resolved: dict[tuple[tuple[Term, ...], str], Resolved] = {}


def resolved_keep(key: tuple[tuple[Term, ...], str], resolved: Resolved) -> None:
    """Keeps a query's resolution for its version of the index (the oldest goes first)."""
    if len(_resolved) >= RESOLVED_KEPT:
        _resolved.pop(next(iter(_resolved)), None)
    _resolved[key] = resolved


def _resolve(terms: tuple[Term, ...], version: str) -> Resolved:
    """Each query word's alternatives as indexed tokens with their weights, for each group
    (services, the others): kept from parsing the query, else read in one statement."""
    found = _resolved.get((terms, version))
    if found is None:
        found = _resolution(terms, _Facts())
        resolved_keep((terms, version), found)
    return found


def _resolution(terms: tuple[Term, ...], facts: _Facts) -> Resolved:
    """The alternatives from `facts`, first reading in one statement what they lack. An
    alternative with a token no entry holds is left out."""
    prefixes = {p for term in terms for p in term.prefixes}
    phrases = {t for term in terms for p in term.phrases for t in _phrase_tokens(p)}
    missing = {p for p in prefixes if not facts.asked(p)}
    unknown = (phrases | prefixes | {""}) - facts.known
    if missing or unknown:
        _facts_read(facts, tokens=unknown, starts=set(), words=missing)
    held = facts.entries
    total = max(held.get("", 0), 1)
    resolved: Resolved = {}
    for is_service in (True, False):
        per_word: list[tuple[Alternative, ...]] = []
        for term in terms:
            alternatives = [_phrase_tokens(p) for p in term.phrases]
            for prefix in term.prefixes:
                # A whole word the group holds stands for itself alone (plurals are folded
                # already); a part of a word for the first words it starts that the group
                # holds.
                words = (
                    [prefix]
                    if (prefix, is_service) in facts.whole
                    else facts.expanded[(prefix, is_service)]
                )
                alternatives += [(w,) for w in words]
            found = []
            for alternative in dict.fromkeys(alternatives):
                if not all(held.get(t, 0) > 0 for t in alternative):
                    continue
                start = min(alternative, key=lambda t: held[t])
                weight = math.log(1 + (total - held[start] + 0.5) / (held[start] + 0.5))
                found.append(Alternative(alternative, weight, start, held[start]))
            per_word.append(tuple(found))
        resolved[is_service] = tuple(per_word)
    return resolved

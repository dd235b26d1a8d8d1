"""The query side of search: a query's words (terms) and, for each group of entries, the
indexed tokens that satisfy each word with their weights."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import jieba
from django.core.cache import cache
from django.db import connection
from django.db.models import Exists, OuterRef, Subquery
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
    """The index changed: every process reads its words again and forgets its parsed queries."""
    cache.delete(VOCABULARY_KEY)


def _vocabulary_version() -> str:
    """A token in the shared cache, new after every change of the index."""
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


def _expansions(word: str, *, is_service: bool | None = None, limit: int = EXPANSIONS) -> list[str]:
    """The indexed ASCII words that start with `word`, first in order (the word itself first);
    with `is_service`, only words an entry of that group holds (else the titles' keys of many
    other entries could fill the places of a service's), looked for among the first
    `CANDIDATES * 10` words."""
    word = word[:TOKEN_LENGTH]
    after = word[:-1] + chr(ord(word[-1]) + 1)
    if is_service is None:  # a plain range read, the commonest: without the ORM's work
        table = connection.ops.quote_name(SearchToken._meta.db_table)
        with connection.cursor() as db:
            db.execute(
                f"SELECT token FROM {table} WHERE token >= %s AND token < %s"  # noqa: S608  # nosec B608 - names and placeholders only
                " AND entries > 0 ORDER BY token LIMIT %s",
                [word, after, limit],
            )
            return [row[0] for row in db.fetchall()]
    words = SearchToken.objects.filter(token__gte=word, token__lt=after, entries__gt=0)
    first = words.order_by("token").values_list("token", flat=True)[: CANDIDATES * 10]
    held = SearchPosting.objects.filter(token=OuterRef("token"), is_service=is_service)
    return list(
        SearchToken.objects.filter(token__in=Subquery(first))
        .filter(Exists(held))
        .order_by("token")
        .values_list("token", flat=True)[:limit]
    )


def _ascii_alternatives(word: str, version: str) -> tuple[str, ...]:
    """The word as a prefix, or the closest indexed words when no indexed word starts with it."""
    if _expansions(word, limit=1):
        return (word,)
    choices = [
        w for w in _word_vocabulary(version).get(word[:1], []) if abs(len(w) - len(word)) <= 3
    ]
    close = process.extract(word, choices, scorer=fuzz.ratio, score_cutoff=75, limit=3)
    return tuple(c[0] for c in close) or (word,)


def parse_query(text: str) -> list[Term]:
    return list(_parse_query(text.lower().strip()[:100], _vocabulary_version()))


@lru_cache(maxsize=2048)
def _parse_query(text: str, version: str) -> tuple[Term, ...]:
    """The query's words; kept per version of the index, so frequent queries are parsed once."""
    jieba_tokenizer = tokenizer()
    pinyin_synonyms = _pinyin_synonyms()
    terms: list[Term] = []
    for run in re.findall(r"[\u3400-\u9fff]+|[a-z0-9]+", text):
        if HAN.match(run):
            terms += _han_terms(run, jieba_tokenizer)
            continue
        if run in QUERY_STOPWORDS or (len(run) < 2 and not run.isdigit()):
            continue
        word = fold_english(run)
        phrases = tuple(sorted(pinyin_synonyms.get(run, set())))
        terms.append(Term(phrases=phrases, prefixes=_ascii_alternatives(word, version)))
    return tuple(terms)


def _han_terms(run: str, jieba_tokenizer: jieba.Tokenizer) -> list[Term]:
    """The terms of a run of Han characters. A run with a word no entry holds (a wrong
    character of the same sound: 身分证, 户藉, 公基金) is looked for by its pinyin instead, when
    some indexed key starts with it; one-character words beside longer ones are optional."""
    words = [w for w in jieba_tokenizer.cut(run) if w not in QUERY_STOPWORDS]
    if not words:  # nothing but filler words: search for what was typed
        words = [run]
    variants = [tuple(sorted(_synonym_variants(word))) for word in words]
    tokens = {t for group in variants for phrase in group for t in _phrase_tokens(phrase)}
    held_tokens = set(
        SearchToken.objects.filter(token__in=tokens, entries__gt=0).values_list("token", flat=True)
    )
    unheld = [
        group
        for group in variants
        if not any(all(t in held_tokens for t in _phrase_tokens(p)) for p in group)
    ]
    if unheld:
        spelled = "".join(lazy_pinyin("".join(words)))[:TOKEN_LENGTH]
        if len(spelled) >= 4 and _expansions(spelled, limit=1):
            return [Term(prefixes=(spelled,))]
    longer = any(len(word) > 1 for word in words)
    return [
        Term(phrases=group, optional=longer and len(word) == 1)
        for word, group in zip(words, variants, strict=True)
    ]


@dataclass(frozen=True)
class Alternative:
    """One way to satisfy a query word: every token held; `weight` is the idf of its rarest
    token, `start` that token and `held_by` the number of entries holding it."""

    tokens: tuple[str, ...]
    weight: float
    start: str
    held_by: int


def _held_by_groups(tokens: Sequence[str]) -> dict[bool, set[str]]:
    """The tokens an entry of each group (services, the others) holds: one statement, one
    index probe per token and group."""
    tokens = list(dict.fromkeys(tokens))
    held: dict[bool, set[str]] = {True: set(), False: set()}
    if not tokens:
        return held
    posting = connection.ops.quote_name(SearchPosting._meta.db_table)
    probes = [
        f"SELECT token, is_service FROM (SELECT token, is_service FROM {posting}"  # noqa: S608  # nosec B608 - names and placeholders only
        f" WHERE token = %s AND is_service = %s LIMIT 1) AS h{n}"
        for n in range(len(tokens) * 2)
    ]
    params: list[SqlValue] = []
    for token in tokens:
        params += [token, True, token, False]
    with connection.cursor() as db:
        db.execute(" UNION ALL ".join(probes), params)
        for token, is_service in db.fetchall():
            held[bool(is_service)].add(token)
    return held


@lru_cache(maxsize=2048)
def _resolve(
    terms: tuple[Term, ...], version: str
) -> dict[bool, tuple[tuple[Alternative, ...], ...]]:
    """Each query word's alternatives as indexed tokens with their weights, for each group
    (services, the others): the same statements serve both. An alternative with a token no
    entry holds is left out."""
    wanted: dict[bool, list[list[tuple[str, ...]]]] = {True: [], False: []}
    whole = _held_by_groups([p for term in terms for p in term.prefixes])
    for is_service, group_wanted in wanted.items():
        for term in terms:
            alternatives = [_phrase_tokens(p) for p in term.phrases]
            for prefix in term.prefixes:
                # A whole word the group holds stands for itself alone (plurals are folded
                # already); a part of a word for the first words it starts that the group
                # holds.
                words = (
                    [prefix]
                    if prefix in whole[is_service]
                    else _expansions(prefix, is_service=is_service)
                )
                alternatives += [(w,) for w in words]
            group_wanted.append(list(dict.fromkeys(alternatives)))
    tokens = {t for group in wanted.values() for a in group for alt in a for t in alt} | {""}
    held = dict(SearchToken.objects.filter(token__in=tokens).values_list("token", "entries"))
    total = max(held.get("", 0), 1)
    resolved: dict[bool, tuple[tuple[Alternative, ...], ...]] = {}
    for is_service, group_wanted in wanted.items():
        per_word: list[tuple[Alternative, ...]] = []
        for alternatives in group_wanted:
            found = []
            for alternative in alternatives:
                if not all(held.get(t, 0) > 0 for t in alternative):
                    continue
                start = min(alternative, key=lambda t: held[t])
                weight = math.log(1 + (total - held[start] + 0.5) / (held[start] + 0.5))
                found.append(Alternative(alternative, weight, start, held[start]))
            per_word.append(tuple(found))
        resolved[is_service] = tuple(per_word)
    return resolved

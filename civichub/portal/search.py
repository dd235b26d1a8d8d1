"""Chinese and English search over the service catalogue.

An inverted index of our own, two tables the same on SQLite and PostgreSQL (`SearchToken`,
`SearchPosting`), ranked inside the database. The earlier full-text indexes (FTS5, tsvector)
ranked every match of a query, and a 1-character query matches tens of thousands of entries at
scale; here each posting carries its weight in its entry, read best-first from an index, so a
query reads a bounded number of postings however common its words are:

- Han text is indexed as single characters and pairs of adjacent characters; a Chinese query
  word of one character asks for that character, a longer one for all its pairs, so any
  substring is found whatever the segmenter made of the document (1- and 2-character queries
  work; SQLite's trigram tokenizer returns nothing for them on SQLite 3.40, and jieba's
  `cut_for_search` splits 克拉玛依 into 克拉/拉玛).
- jieba (with a user dictionary of the deployment's place and department names, read from
  the organisation tree) splits the query into words, so 我要办社保卡 asks for 社保卡 and not for
  the filler words; every word must match, and if nothing matches any word may.
- pinyin keys of each title word and of the whole title, full and initials, so `shebao`,
  `shebaoka` and `sbk` find 社保卡 (a typed ASCII word stands for the indexed words it starts).
- synonym groups from the profile (社保/社会保险, 户口/户籍) expand a query word, also when the
  synonym is part of it (社保卡 → 社会保险卡) or typed in pinyin.
- English words are matched as prefixes after a light plural fold, and a word that no indexed
  word starts with is replaced by its closest indexed words (typos: `pasport` → passport).

Ranking: a posting's `impact` is a BM25 weight with fixed field weights (title 10, pinyin 6,
body 1) and fixed average lengths, so it needs no other row; a query word weighs its inverse
document frequency (from `SearchToken`). A query starts from its rarest word: at most
`CANDIDATES` entries in the order of that word's impact, then every other word is looked up for
those entries alone (an index lookup each). Where the rarest word is held by more entries than
that, the answer is the best of those candidates, not of every entry: the bound that keeps the
time flat. Each group (services; guides' questions, notices and datasets) is ranked apart.
"""

from __future__ import annotations

import math
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import jieba
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Subquery
from pypinyin import Style, lazy_pinyin
from rapidfuzz import fuzz, process

from civichub.core.config import module_config
from civichub.core.models import Organisation
from civichub.portal.conf import PortalSettings
from civichub.portal.models import SearchEntry, SearchPosting, SearchToken, Service

HAN = re.compile(r"[\u3400-\u9fff]")
HAN_RUN = re.compile(r"[\u3400-\u9fff]+")
ASCII_WORD = re.compile(r"[a-z0-9]+")
# Words residents wrap a request in; they say nothing about which service is meant.
QUERY_STOPWORDS = frozenset(
    {
        "我",
        "我要",
        "要",
        "想",
        "怎么",
        "怎么办",
        "怎样",
        "哪些",
        "手续",
        "条件",
        "家里",
        "带什么",
        "如何",
        "哪里",
        "在哪",
        "在哪里",
        "去哪",
        "什么",
        "的",
        "了",
        "吗",
        "呢",
        "和",
        "与",
        "及",
        "办",
        "办理",
        "申请",
        "需要",
        "要求",
        "可以",
        "能",
        "能否",
        "一下",
        "请问",
        "多久",
        "多少",
        "the",
        "a",
        "an",
        "of",
        "to",
        "for",
        "in",
        "on",
        "my",
        "how",
        "do",
        "i",
        "can",
        "what",
        "where",
        "apply",
        "get",
    }
)
VOCABULARY_KEY = "portal:search:vocabulary"
_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None
_user_words: set[str] = set()
_words_read_at = 0.0
_vocabulary_words: dict[str, list[str]] = {}
_vocabulary_token = ""
WORDS_REFRESH_SECONDS = 60.0

# Field weights and the fixed average field lengths (in tokens) of the BM25 impact.
FIELD_WEIGHTS = {"title": 10.0, "pinyin": 6.0, "body": 1.0}
AVERAGE_LENGTHS = {"title": 16.0, "pinyin": 12.0, "body": 300.0}
K1 = 1.2
B = 0.75
# The most entries a query reads from its rarest word (per group), and the most indexed words a
# typed ASCII word stands for.
CANDIDATES = 200
EXPANSIONS = 8
# the groups ranked apart, as numbered in a combined statement
SERVICES, OTHERS = 1, 0
TOKEN_LENGTH = 64
SqlValue = str | int | float | bool


# Segmentation ----------------------------------------------------------------------------------


def tokenizer(*, refresh: bool = False) -> jieba.Tokenizer:
    """jieba's tokenizer, loaded once a process, with the deployment's place and department
    names as a user dictionary; names new in the tree are added when the index is rebuilt
    (`refresh`) and at most once a minute otherwise."""
    global _tokenizer, _words_read_at
    with _lock:
        if _tokenizer is None:
            _tokenizer = jieba.Tokenizer()
            _tokenizer.initialize()
            refresh = True
        if refresh or time.monotonic() - _words_read_at > WORDS_REFRESH_SECONDS:
            words = set(Organisation.objects.values_list("name", flat=True))
            for group in module_config(PortalSettings).synonyms:
                words.update(group)
            for word in words - _user_words:
                if word and HAN.search(word):
                    _tokenizer.add_word(word, freq=2000)
            _user_words.update(words)
            _words_read_at = time.monotonic()
        return _tokenizer


def fold_english(word: str) -> str:
    """A light plural fold, the same for documents and queries (passports → passport)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def han_chars(text: str) -> str:
    return " ".join(HAN.findall(text))


def english_words(text: str) -> list[str]:
    return [fold_english(w) for w in ASCII_WORD.findall(text.lower())]


def han_tokens(text: str) -> list[str]:
    """Each Han character and each pair of adjacent ones, in order."""
    tokens: list[str] = []
    for run in HAN_RUN.findall(text):
        tokens += list(run)
        tokens += [run[i : i + 2] for i in range(len(run) - 1)]
    return tokens


def pinyin_keys(text: str, jieba_tokenizer: jieba.Tokenizer) -> tuple[list[str], list[str]]:
    """Full pinyin and initials of each word of `text` and of each two adjacent words (异地就医:
    `yidijiuyi`, `ydjy`), and of its whole Han text. A longer key is its words' keys joined
    (each word's pinyin is read once a process)."""
    keys: list[tuple[str, str]] = []
    sequence: list[tuple[str, str]] = []
    for run in HAN_RUN.findall(text):
        keys += [_word_keys(w) for w in jieba_tokenizer.cut_for_search(run)]
        cut = [_word_keys(w) for w in jieba_tokenizer.cut(run)]
        keys += [(a[0] + b[0], a[1] + b[1]) for a, b in zip(cut, cut[1:], strict=False)]
        sequence += cut
    whole = ["".join(k[0] for k in sequence), "".join(k[1] for k in sequence)] if sequence else []
    return [k for pair in dict.fromkeys(keys) for k in pair], whole


@lru_cache(maxsize=65536)
def _word_keys(word: str) -> tuple[str, str]:
    return (
        "".join(lazy_pinyin(word)),
        "".join(lazy_pinyin(word, style=Style.FIRST_LETTER)),
    )


def _impact(counts: dict[str, int], lengths: dict[str, int]) -> float:
    """BM25's term weight without the idf, summed over the fields the token is in."""
    total = 0.0
    for field_name, tf in counts.items():
        norm = 1 - B + B * lengths[field_name] / AVERAGE_LENGTHS[field_name]
        total += FIELD_WEIGHTS[field_name] * tf * (K1 + 1) / (tf + K1 * norm)
    return total


def document_tokens(
    *, title: str, title_en: str, body: str, body_en: str
) -> dict[str, tuple[str, float]]:
    """The index tokens of a document: token -> (kind, impact). The title's pinyin keys cover
    its synonym variants too, so `sbk` finds 社会保障卡 (as 社保卡)."""
    jieba_tokenizer = tokenizer()
    kinds: dict[str, str] = {}
    fields: dict[str, list[str]] = {"title": [], "pinyin": [], "body": []}
    for field_name, han, english in (("title", title, title_en), ("body", body, body_en)):
        for token in han_tokens(han):
            kinds[token] = "han"
            fields[field_name].append(token)
        for token in english_words(english):
            kinds.setdefault(token, "en")
            fields[field_name].append(token)
    for variant in sorted(_synonym_variants(title)):
        words, whole = pinyin_keys(variant, jieba_tokenizer)
        for kind, keys in (("py", words), ("pyt", whole)):
            for key in keys:
                if key not in fields["pinyin"]:
                    kinds.setdefault(key[:TOKEN_LENGTH], kind)
                    fields["pinyin"].append(key)
    lengths = {name: len(tokens) for name, tokens in fields.items()}
    counts: dict[str, dict[str, int]] = {}
    for name, tokens in fields.items():
        for token in tokens:
            token = token[:TOKEN_LENGTH]
            per_field = counts.setdefault(token, {})
            per_field[name] = per_field.get(name, 0) + 1
    return {token: (kinds[token], _impact(c, lengths)) for token, c in counts.items()}


@dataclass(frozen=True)
class Document:
    """A saved entry with the text it is found by beyond its title."""

    entry: SearchEntry
    body: str
    body_en: str


def entries_index(documents: Sequence[Document]) -> None:
    """Writes the postings of saved entries and counts their tokens."""
    postings: list[tuple[str, int, bool, float]] = []
    counts: Counter[str] = Counter()
    kinds: dict[str, str] = {"": ""}
    for document in documents:
        entry = document.entry
        tokens = document_tokens(
            title=entry.title, title_en=entry.title_en, body=document.body, body_en=document.body_en
        )
        for token, (kind, impact) in tokens.items():
            postings.append((token, entry.pk, entry.kind == "service", impact))
            counts[token] += 1
            kinds.setdefault(token, kind)
    counts[""] += len(documents)
    # plain rows rather than model instances: a bulk load writes millions
    table = connection.ops.quote_name(SearchPosting._meta.db_table)
    # one transaction: in autocommit each row of a bulk load would be a commit of its own
    with transaction.atomic(), connection.cursor() as db:
        db.executemany(
            f"INSERT INTO {table} (token, entry_id, is_service, impact)"  # noqa: S608  # nosec B608
            " VALUES (%s, %s, %s, %s)",
            postings,
        )
        _count_tokens(counts, kinds)
    vocabulary_changed()


def entries_unindex(entry_ids: Iterable[int]) -> None:
    """Removes the postings of entries about to be deleted, and their counts."""
    ids = list(entry_ids)
    if not ids:
        return
    held = SearchPosting.objects.filter(entry_id__in=ids)
    counts: Counter[str] = Counter(
        {row["token"]: -row["n"] for row in held.values("token").annotate(n=Count("id"))}
    )
    counts[""] -= len(ids)
    held.delete()
    _count_tokens(counts, {})
    vocabulary_changed()


def _count_tokens(counts: Counter[str], kinds: dict[str, str]) -> None:
    """Adds to the tokens' entry counts; in token order, so that two writers never wait on
    each other's rows in opposite orders."""
    table = connection.ops.quote_name(SearchToken._meta.db_table)
    rows = [(token, kinds.get(token, "han"), n) for token, n in sorted(counts.items()) if n]
    with connection.cursor() as db:
        db.executemany(
            f"INSERT INTO {table} (token, kind, entries) VALUES (%s, %s, %s)"  # noqa: S608  # nosec B608
            f" ON CONFLICT (token) DO UPDATE SET entries = {table}.entries + excluded.entries",
            rows,
        )


# Queries ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One query word: the alternatives any of which satisfies it. `phrases` are Han strings
    (matched as character phrases), `prefixes` ASCII words (matched as prefixes)."""

    phrases: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    # A word an entry need not hold to be found (one character beside longer words: mostly a
    # verb or filler, 打/领/丢/补); it still adds to the score of the entries that hold it.
    optional: bool = False


def _synonym_variants(word: str) -> set[str]:
    variants = {word}
    for group in module_config(PortalSettings).synonyms:
        for member in group:
            if member in word:
                variants.update(word.replace(member, other) for other in group)
    return variants


def _pinyin_synonyms() -> dict[str, set[str]]:
    return _pinyin_keys_of(module_config(PortalSettings).synonyms)


@lru_cache(maxsize=4)
def _pinyin_keys_of(synonyms: tuple[tuple[str, ...], ...]) -> dict[str, set[str]]:
    """Pinyin and initials of every synonym -> the synonym's group."""
    found: dict[str, set[str]] = {}
    for group in synonyms:
        for member in group:
            for key in (
                "".join(lazy_pinyin(member)),
                "".join(lazy_pinyin(member, style=Style.FIRST_LETTER)),
            ):
                if len(key) >= 2:
                    found.setdefault(key, set()).update(group)
    return found


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


# Ranking ---------------------------------------------------------------------------------------


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


def _phrase_tokens(phrase: str) -> tuple[str, ...]:
    if len(phrase) == 1:
        return (phrase,)
    return tuple(dict.fromkeys(phrase[i : i + 2] for i in range(len(phrase) - 1)))


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
    scores = []
    for n, term in enumerate(terms):
        parts = [_alternative_sql(a, posting) for a in term]
        expression = (
            parts[0][0] if len(parts) == 1 else f"{greatest}({', '.join(p[0] for p in parts)})"
        )
        scores.append(f"{expression} AS s{n}")
        params += [value for p in parts for value in p[1]]
    names = [f"s{n}" for n in range(len(terms))]
    where = (
        " AND ".join(f"{name} > 0" for name, need in zip(names, required, strict=True) if need)
        if every
        else "1 = 1"
    )
    sql = (
        f"WITH cand AS ({' UNION '.join(sources)}),"  # noqa: S608  # nosec B608 - names and placeholders only
        f" scored AS MATERIALIZED (SELECT cand.entry_id AS entry_id, {', '.join(scores)} FROM cand)"
        f" SELECT entry_id, {' + '.join(names)} AS score FROM scored WHERE {where}"
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


def _plan(terms: list[Term], *, is_service: bool, limit: int) -> _Plan:
    resolved = _resolve(tuple(terms), _vocabulary_version())[is_service]
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


def _run(statements: Sequence[tuple[int, tuple[str, list[SqlValue]]]]) -> dict[int, list[Found]]:
    """Runs the groups' statements as one, with the entries' shown columns (one round trip to
    the database), each group's rows in its own order."""
    found: dict[int, list[Found]] = {group: [] for group, _s in statements}
    if not statements:
        return found
    parts: list[str] = []
    params: list[SqlValue] = []
    for group, (sql, values) in statements:
        # the group is a literal 0 or 1, never text from the query
        parts.append(
            f"SELECT {int(group)} AS grp, entry_id, score FROM ({sql}) AS g{int(group)}"  # noqa: S608  # nosec B608 - names and placeholders only
        )
        params += values
    entry = connection.ops.quote_name(SearchEntry._meta.db_table)
    service = connection.ops.quote_name(Service._meta.db_table)
    sql = (
        "SELECT r.grp, r.entry_id, r.score, e.kind, e.title, e.title_en, e.summary,"  # noqa: S608  # nosec B608 - names and placeholders only
        f" e.summary_en, COALESCE(s.code, ''), e.url FROM ({' UNION ALL '.join(parts)}) AS r"
        f" JOIN {entry} e ON e.id = r.entry_id LEFT JOIN {service} s ON s.id = e.service_id"
        " ORDER BY r.grp, r.score DESC, r.entry_id"
    )
    with connection.cursor() as db:
        db.execute(sql, params)
        for group, entry_id, score, *shown in db.fetchall():
            found[group].append(Found(entry_id, float(score), *shown))
    return found


def search_groups(
    terms: list[Term], *, limit: int = 10, others_limit: int | None = None
) -> tuple[list[Found], list[Found]]:
    """The services and everything else matching the query's terms, best first in each group:
    every word if some entry of the group has them all, else any. Both groups and what their
    results show in one statement; a second only for a group none of whose entries holds every
    word of the query. The other entries are of several kinds (questions, notices, datasets)
    shown apart: `others_limit` reads more of them, so that one kind crowds out the others
    less."""
    if not terms:
        return [], []
    limits = {SERVICES: limit, OTHERS: others_limit or limit}
    plans = {
        group: _plan(terms, is_service=bool(group), limit=limits[group])
        for group in (SERVICES, OTHERS)
    }
    found = _run([(group, plan.first) for group, plan in plans.items() if plan.first])
    retry = [
        (group, plan.fallback)
        for group, plan in plans.items()
        if plan.fallback and not found.get(group)
    ]
    found.update(_run(retry))
    return found.get(SERVICES, []), found.get(OTHERS, [])


def search_ids(terms: list[Term], *, is_service: bool, limit: int = 10) -> list[tuple[int, float]]:
    """Entry ids of one group (services, or everything else) matching the query's terms, best
    first: every word if any entry has them all, else any."""
    if not terms:
        return []
    group = SERVICES if is_service else OTHERS
    plan = _plan(terms, is_service=is_service, limit=limit)
    found = _run([(group, plan.first)] if plan.first else [])
    if plan.fallback and not found.get(group):
        found = _run([(group, plan.fallback)])
    return [(f.entry_id, f.score) for f in found.get(group, [])]


def highlight_terms(terms: list[Term]) -> list[str]:
    """The strings worth marking in a shown result for the query's terms."""
    marks: set[str] = set()
    for term in terms:
        marks.update(term.phrases)
        marks.update(p for p in term.prefixes if len(p) >= 2)
    return sorted(marks, key=len, reverse=True)

"""Chinese and English search over the service catalogue.

The measured choice (research notes, "Bilingual portal search"): a full-text index on
pre-segmented text, SQLite FTS5 (`unicode61`) when embedded and PostgreSQL `simple` tsvector
with GIN at scale, queried the same way on both:

- Han text is indexed character by character, in order, and a Chinese query word becomes a
  phrase of its characters, so any substring is found whatever the segmenter made of the
  document; 1- and 2-character queries work (SQLite's trigram tokenizer returns nothing for
  them on SQLite 3.40, and jieba's `cut_for_search` splits 克拉玛依 into 克拉/拉玛).
- jieba (with a user dictionary of the deployment's place and department names, read from
  the organisation tree) splits the query into words, so 我要办社保卡 asks for 社保卡 and not for
  the filler words; every word must match, and if nothing matches any word may.
- pinyin keys of each title word and of the whole title, full and initials, so `shebao`,
  `shebaoka` and `sbk` find 社保卡 (prefix queries).
- synonym groups from the profile (社保/社会保险, 户口/户籍) expand a query word, also when the
  synonym is part of it (社保卡 → 社会保险卡) or typed in pinyin.
- English words are matched as prefixes after a light plural fold, and a word that no indexed
  word starts with is replaced by its closest indexed words (typos: `pasport` → passport).
"""

from __future__ import annotations

import bisect
import difflib
import re
import threading
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache

import jieba
from django.core.cache import cache
from django.db import connection
from pypinyin import Style, lazy_pinyin

from civichub.core.config import module_config
from civichub.core.models import Organisation
from civichub.portal.conf import PortalSettings
from civichub.portal.models import SearchEntry

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
        "怎样",
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
_vocabulary_words: list[str] = []
_vocabulary_token = ""
WORDS_REFRESH_SECONDS = 60.0


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


def pinyin_keys(text: str, jieba_tokenizer: jieba.Tokenizer) -> list[str]:
    """Full pinyin and initials of each word of `text` and of the whole Han text."""
    keys: list[str] = []
    runs = HAN_RUN.findall(text)
    words = [w for run in runs for w in jieba_tokenizer.cut_for_search(run) if HAN.search(w)]
    for word in [*words, "".join(runs)]:
        if not word:
            continue
        keys.append("".join(lazy_pinyin(word)))
        keys.append("".join(lazy_pinyin(word, style=Style.FIRST_LETTER)))
    return keys


@dataclass(frozen=True)
class IndexTerms:
    title_terms: str
    body_terms: str
    pinyin_terms: str


def index_terms(*, title: str, title_en: str, body: str, body_en: str) -> IndexTerms:
    """The index terms of a document. The title's pinyin keys cover its synonym variants too,
    so `sbk` finds 社会保障卡 (as 社保卡)."""
    jieba_tokenizer = tokenizer()
    keys: list[str] = []
    for variant in sorted(_synonym_variants(title)):
        keys += [k for k in pinyin_keys(variant, jieba_tokenizer) if k not in keys]
    return IndexTerms(
        title_terms=" ".join([han_chars(title), *english_words(title_en)]),
        body_terms=" ".join([han_chars(body), *english_words(body_en)]),
        pinyin_terms=" ".join(keys),
    )


def vocabulary_changed() -> None:
    cache.delete(VOCABULARY_KEY)


# Queries ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One query word: the alternatives any of which satisfies it. `phrases` are Han strings
    (matched as character phrases), `prefixes` ASCII words (matched as prefixes)."""

    phrases: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()


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


def _vocabulary() -> list[str]:
    """The indexed ASCII words (English and pinyin keys), sorted; kept in the process and read
    again when another process's publication changed the index (a token in the cache)."""
    global _vocabulary_words, _vocabulary_token
    token = cache.get(VOCABULARY_KEY)
    if token is None:
        token = uuid.uuid4().hex
        cache.set(VOCABULARY_KEY, token, None)
    if token != _vocabulary_token:
        seen: set[str] = set()
        for row in SearchEntry.objects.values_list("title_terms", "pinyin_terms").iterator():
            seen.update(w for w in " ".join(row).split() if w.isascii())
        _vocabulary_words, _vocabulary_token = sorted(seen), token
    return _vocabulary_words


def _ascii_alternatives(word: str, vocabulary: list[str]) -> tuple[str, ...]:
    """The word as a prefix, or the closest indexed words when no indexed word starts with it."""
    at = bisect.bisect_left(vocabulary, word)
    if at < len(vocabulary) and vocabulary[at].startswith(word):
        return (word,)
    close = difflib.get_close_matches(word, vocabulary, n=3, cutoff=0.75)
    return tuple(close) or (word,)


def parse_query(text: str) -> list[Term]:
    text = text.lower().strip()[:100]
    jieba_tokenizer = tokenizer()
    pinyin_synonyms = _pinyin_synonyms()
    terms: list[Term] = []
    for run in re.findall(r"[\u3400-\u9fff]+|[a-z0-9]+", text):
        if HAN.match(run):
            words = [w for w in jieba_tokenizer.cut(run) if w not in QUERY_STOPWORDS]
            if not words:  # nothing but filler words: search for what was typed
                words = [run]
            for word in words:
                terms.append(Term(phrases=tuple(sorted(_synonym_variants(word)))))
            continue
        if run in QUERY_STOPWORDS or (len(run) < 2 and not run.isdigit()):
            continue
        word = fold_english(run)
        phrases = tuple(sorted(pinyin_synonyms.get(run, set())))
        terms.append(Term(phrases=phrases, prefixes=_ascii_alternatives(word, _vocabulary())))
    return terms


def _fts5_term(term: Term) -> str:
    parts = [f'{{title_terms body_terms}} : "{" ".join(p)}"' for p in term.phrases]
    parts += [f'"{p}"*' for p in term.prefixes]
    return "(" + " OR ".join(parts) + ")"


def _tsquery_term(term: Term) -> str:
    parts = [" <-> ".join(f"'{c}'" for c in p) for p in term.phrases]
    parts += [f"'{p}':*" for p in term.prefixes]
    return "(" + " | ".join(f"({p})" for p in parts) + ")"


def _run(terms: list[Term], joiner: str, limit: int) -> list[tuple[int, float]]:
    """(entry id, score) best first; terms joined by AND or OR."""
    table = connection.ops.quote_name(SearchEntry._meta.db_table)
    with connection.cursor() as db:
        if connection.vendor == "postgresql":
            query = f" {'&' if joiner == 'AND' else '|'} ".join(_tsquery_term(t) for t in terms)
            db.execute(
                f"SELECT id, ts_rank(search_vector, q) AS rank FROM {table},"  # noqa: S608  # nosec B608
                " to_tsquery('simple', %s) q WHERE search_vector @@ q"
                " ORDER BY rank DESC, id LIMIT %s",
                [query, limit],
            )
            return [(row[0], float(row[1])) for row in db.fetchall()]
        query = f" {joiner} ".join(_fts5_term(t) for t in terms)
        db.execute(
            "SELECT rowid, bm25(portal_search_fts, 10.0, 1.0, 6.0) AS rank"
            " FROM portal_search_fts WHERE portal_search_fts MATCH %s"
            " ORDER BY rank, rowid LIMIT %s",
            [query, limit],
        )
        return [(row[0], -float(row[1])) for row in db.fetchall()]


def search_ids(terms: list[Term], *, limit: int = 50) -> list[tuple[int, float]]:
    """Entry ids matching the query's terms, best first: every word if any entry has them all,
    else any."""
    if not terms:
        return []
    found = _run(terms, "AND", limit)
    if not found and len(terms) > 1:
        found = _run(terms, "OR", limit)
    return found


def highlight_terms(terms: list[Term]) -> list[str]:
    """The strings worth marking in a shown result for the query's terms."""
    marks: set[str] = set()
    for term in terms:
        marks.update(term.phrases)
        marks.update(p for p in term.prefixes if len(p) >= 2)
    return sorted(marks, key=len, reverse=True)


# On PostgreSQL the document is the stored column `search_vector` (migration 0002): title (A),
# pinyin (B), body (C), all pre-segmented, in the 'simple' configuration.

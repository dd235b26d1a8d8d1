"""The index side of search: each document's tokens with their BM25 impacts, written as
postings, and the tokens' entry counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count

from civichub.portal.models import SearchEntry, SearchPosting, SearchToken
from civichub.portal.search.query import vocabulary_changed
from civichub.portal.search.text import (
    TOKEN_LENGTH,
    _synonym_variants,
    english_words,
    han_tokens,
    pinyin_keys,
    tokenizer,
)

# Field weights and the fixed average field lengths (in tokens) of the BM25 impact.
FIELD_WEIGHTS = {"title": 10.0, "pinyin": 6.0, "body": 1.0}
AVERAGE_LENGTHS = {"title": 16.0, "pinyin": 12.0, "body": 300.0}
K1 = 1.2
B = 0.75


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

"""The text side of search, the same for documents and queries: segmentation (jieba with the
deployment's place and department names), English folding, Han tokens, pinyin keys, synonyms."""

from __future__ import annotations

import re
import threading
import time
from functools import lru_cache

import jieba
from pypinyin import Style, lazy_pinyin

from civichub.core.config import module_config
from civichub.core.models import Organisation
from civichub.portal.conf import PortalSettings

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
_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None
_user_words: set[str] = set()
_words_read_at = 0.0
WORDS_REFRESH_SECONDS = 60.0
TOKEN_LENGTH = 64


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


def words_generation() -> int:
    """Grows whenever the segmenter's user dictionary does: what a query's words were cut
    with (a cut kept in memory is valid while it stays the same)."""
    return len(_user_words)


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


def _phrase_tokens(phrase: str) -> tuple[str, ...]:
    if len(phrase) == 1:
        return (phrase,)
    return tuple(dict.fromkeys(phrase[i : i + 2] for i in range(len(phrase) - 1)))

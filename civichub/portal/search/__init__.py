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

from civichub.portal.search.index import (
    Document,
    document_tokens,
    entries_index,
    entries_unindex,
)
from civichub.portal.search.query import (
    CANDIDATES,
    EXPANSIONS,
    Term,
    index_version,
    parse_query,
    vocabulary_changed,
)
from civichub.portal.search.ranking import Found, highlight_terms, search_groups, search_ids
from civichub.portal.search.text import (
    english_words,
    fold_english,
    han_chars,
    han_tokens,
    pinyin_keys,
    tokenizer,
)

__all__ = [
    "CANDIDATES",
    "EXPANSIONS",
    "Document",
    "Found",
    "Term",
    "document_tokens",
    "english_words",
    "entries_index",
    "entries_unindex",
    "fold_english",
    "han_chars",
    "han_tokens",
    "highlight_terms",
    "index_version",
    "parse_query",
    "pinyin_keys",
    "search_groups",
    "search_ids",
    "tokenizer",
    "vocabulary_changed",
]

"""Search over the demo catalogue with queries residents type: Chinese words and sentences,
1- and 2-character queries, pinyin and initials, synonyms, English with typos."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.cache import caches
from django.db import connection, transaction
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from civichub.core import registry
from civichub.portal import search, selectors, services
from civichub.portal.models import SearchEntry, SearchPosting, SearchToken
from civichub.portal.search import query as search_query
from civichub.portal.tests.conftest import Portal

pytestmark = pytest.mark.django_db

# (query, a service name expected among the first three results)
QUERIES = [
    ("社保卡", "社会保障卡申领"),
    ("社会保险", "城乡居民基本养老保险参保登记"),
    ("医保", "城乡居民医疗保险参保登记"),
    ("户口迁移", "户口迁移（市内迁移）"),
    ("户籍证明", "户籍证明开具"),
    ("我要办居住证", "居住证申领"),
    ("怎么申请公租房", "公共租赁住房申请"),
    ("结婚", "内地居民婚姻登记（结婚登记）"),
    ("低保", "最低生活保障申请"),
    ("小孩上学", "小学一年级入学报名"),
    ("公积金提取", "住房公积金提取（租房）"),
    ("护照", "出入境通行证件申领（护照）"),
    ("电梯", "既有住宅加装电梯申请"),
    ("殡葬", "殡葬服务预约与惠民殡葬补贴"),
    ("婚", "内地居民婚姻登记（结婚登记）"),
    ("shebao", "社会保障卡申领"),
    ("sbk", "社会保障卡申领"),
    ("hukou", "户口迁移（市内迁移）"),
    ("gongjijin tiqu", "住房公积金提取（租房）"),
    ("passport", "出入境通行证件申领（护照）"),
    ("pasport", "出入境通行证件申领（护照）"),
    ("kindergarten", "幼儿园入园报名"),
    ("kindergarden", "幼儿园入园报名"),
    ("marriage registration", "内地居民婚姻登记（结婚登记）"),
    ("social security card", "社会保障卡申领"),
    ("residence permit", "居住证申领"),
]


RESIDENT_QUERIES = (
    Path(__file__).resolve().parents[3] / "benchmarks/data/portal_resident_queries.json"
)


def _top(query: str, n: int = 3) -> list[str]:
    return [hit.title for hit in selectors.service_search(text=query, limit=10).services[:n]]


def test_residents_queries_find_the_service_in_the_first_three(catalogue: Portal) -> None:
    missed = [(q, expected, _top(q)) for q, expected in QUERIES if expected not in _top(q)]
    assert missed == []


def test_short_queries_find_every_name_and_results_are_grouped_and_marked(
    catalogue: Portal,
) -> None:
    for query in ("证", "婚", "卡", "户口", "补贴"):
        names = {hit.title for hit in selectors.service_search(text=query, limit=50).services}
        published = [s.published for s in selectors.service_list() if s.published]
        containing = {v.name for v in published if query in v.name}
        assert containing and containing <= names
    found = selectors.service_search(text="社保卡")
    assert found.services and all(h.kind == "service" for h in found.services)
    assert found.faqs and found.faqs[0].title == "社保卡多久能拿到？"
    assert "<mark>社保卡</mark>" in str(found.faqs[0].summary) or "<mark>" in str(
        found.services[0].summary
    )
    assert selectors.service_search(text="xqzvw").total == 0
    assert selectors.service_search(text='"<script>').total == 0


def test_a_synonym_inside_a_word_is_expanded(portal: Portal) -> None:
    terms = search.parse_query("社保卡")
    assert "社会保险卡" in terms[0].phrases


def test_place_names_from_the_org_tree_stay_whole_in_queries(portal: Portal) -> None:
    words = list(search.tokenizer(refresh=True).cut("东湖区卫生健康委员会出生证明"))
    assert "东湖区卫生健康委员会" in words


def test_a_snippet_is_escaped_before_it_is_marked() -> None:
    assert str(selectors.highlighted("<b>证</b>", ["证"])) == "&lt;b&gt;<mark>证</mark>&lt;/b&gt;"


def test_a_typed_part_of_a_word_finds_the_words_it_starts(catalogue: Portal) -> None:
    assert "出入境通行证件申领（护照）" in _top("passp")
    assert "社会保障卡申领" in _top("shebaok")


def test_token_counts_follow_the_postings_when_the_catalogue_is_indexed_again(
    catalogue: Portal,
) -> None:
    services.catalogue_reindex()  # every entry removed and written again
    counted = dict(
        SearchToken.objects.exclude(token="").filter(entries__gt=0).values_list("token", "entries")
    )
    held = dict(
        SearchPosting.objects.values("token").annotate(n=Count("id")).values_list("token", "n")
    )
    assert counted == held
    assert SearchToken.objects.get(token="").entries == SearchEntry.objects.count()


def test_services_keep_their_places_among_many_shorter_entries(portal: Portal) -> None:
    """More entries hold 证 than a query reads from one word: the services' group is ranked
    apart, and the other group still gives its best (the shortest titles) first."""
    service = selectors.service_get(code=selectors.service_list()[0].code)
    documents = [
        search.Document(
            entry=SearchEntry(
                kind="faq", service=service, title=f"证{n:03d}号" if n % 2 else f"开具证明和证件{n}"
            ),
            body="",
            body_en="",
        )
        for n in range(search.CANDIDATES * 2)
    ]
    SearchEntry.objects.bulk_create([d.entry for d in documents])
    search.entries_index(documents)

    found = selectors.service_search(text="证", limit=10)
    assert {h.title for h in found.services} >= {"户籍证明开具", "居住证申领"}
    assert len(found.faqs) == 10
    assert all(h.title.endswith("号") for h in found.faqs)


def test_a_typed_part_of_a_key_stands_for_keys_the_services_hold(portal: Portal) -> None:
    """Other entries whose titles' initials come first in order do not take the places of the
    service's key among the keys a typed part stands for."""
    service = selectors.service_get(code=selectors.service_list()[0].code)
    documents = [
        search.Document(
            entry=SearchEntry(kind="faq", service=service, title=f"社会保障卡{word}"),
            body="",
            body_en="",
        )
        for word in ("申报", "上传", "审定", "收费", "申购", "审核", "随机", "送卡", "申报表")
    ]
    SearchEntry.objects.bulk_create([d.entry for d in documents])
    search.entries_index(documents)
    assert len(search_query._expansions("shbzks")) == search.EXPANSIONS
    assert "shbzksl" not in search_query._expansions("shbzks")

    assert _top("shbzks")[:1] == ["社会保障卡申领"]


def _relevance(found: list[str], relevant: list[str]) -> tuple[float, float]:
    """(success@3, nDCG@10) with every listed service relevant."""
    dcg = sum(1 / math.log2(n + 2) for n, name in enumerate(found[:10]) if name in relevant)
    ideal = sum(1 / math.log2(n + 2) for n in range(min(len(relevant), 10)))
    return float(any(name in relevant for name in found[:3])), dcg / ideal


def test_residents_queries_are_answered_better_than_by_a_plain_like(catalogue: Portal) -> None:
    """The labelled residents' queries (colloquial Chinese, 1-2 characters, pinyin, initials,
    English, typos): success@3 at least 0.9, and ahead of a `LIKE` on names and summaries."""
    names = {s.code: s.published.name for s in selectors.service_list() if s.published}
    rows = json.loads(RESIDENT_QUERIES.read_text(encoding="utf-8"))
    assert len(rows) >= 150
    ours, like = [], []
    for row in rows:
        ours.append(_relevance(_top(row["query"], 10), row["relevant"]))
        codes = selectors.like_search_codes(text=row["query"])
        like.append(_relevance([names[c] for c in codes], row["relevant"]))
    success, ndcg = (sum(s[n] for s in ours) / len(rows) for n in (0, 1))
    like_success, like_ndcg = (sum(s[n] for s in like) / len(rows) for n in (0, 1))
    assert success >= 0.9, (success, ndcg)
    assert success > like_success and ndcg > like_ndcg


def test_a_wrong_character_of_the_same_sound_is_found_by_its_pinyin(catalogue: Portal) -> None:
    assert search.parse_query("身分证")[0].prefixes == ("shenfenzheng",)
    assert "居民身份证补领" in _top("身分证")
    assert _top("户藉证明")[:1] == ["户籍证明开具"]


def test_one_character_words_beside_longer_ones_are_optional(catalogue: Portal) -> None:
    assert [t.optional for t in search.parse_query("打疫苗的本子丢了")] == [
        True,
        False,
        False,
        True,
    ]
    assert _top("打疫苗的本子丢了")[:1] == ["儿童预防接种证办理"]
    assert _top("生大病没钱了")[:1] == ["临时救助申请"]


def test_initials_of_two_adjacent_words_find_the_title(catalogue: Portal) -> None:
    assert _top("ydjy")[:1] == ["医疗保险异地就医备案"]
    assert _top("yidijiuyi")[:1] == ["医疗保险异地就医备案"]


def test_a_known_query_is_one_statement_with_every_group(
    catalogue: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Services, questions, open data and notices come back from one statement once the query
    has been seen; the notices' group reads a capability that another module provides."""
    notice = SimpleNamespace(
        key=7, text="社保卡换领通知：本月起可在线申请", text_en="", url="/notices/7/"
    )
    real = registry.provided
    monkeypatch.setattr(
        registry,
        "provided",
        lambda name: (lambda **kw: [notice]) if name == "searchable_notices" else real(name),
    )
    assert services.notices_index([7]) == 1
    selectors.service_search(text="社保卡")
    with CaptureQueriesContext(connection) as queries:
        found = selectors.service_search(text="社保卡")
    assert len(queries.captured_queries) == 1
    assert found.services and found.faqs
    assert [(h.kind, h.url, h.code) for h in found.notices] == [("notice", "/notices/7/", "")]
    assert [kind for kind, _hits in found.groups()] == ["service", "notice", "faq", "dataset"]


def _statements(query: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        selectors.service_search(text=query)
    return [q["sql"] for q in queries.captured_queries]


def test_a_query_seen_first_reads_the_index_once_then_ranks(catalogue: Portal) -> None:
    """The first time a query is seen (since the index last changed), what the index holds
    of its words (counts, pinyin and English prefixes, each group's words) comes in one
    statement and the ranking with the results in a second, also where a group has no entry
    holding every word: Chinese, pinyin, initials, English, several words, and a typo once the
    vocabulary has been read."""
    search.tokenizer()  # the dictionary's own refresh (at most once a minute) is not counted
    search.vocabulary_changed()  # every query below is new to this version of the index
    selectors.service_search(text="pasport")  # the first typo reads the vocabulary
    for query in (
        "社保卡",
        "我要办居住证",
        "婚",
        "shebao",
        "sbk",
        "gongjijin tiqu",
        "passport",
        "residence permit",
        "marriage passport",  # no service holds both words: any word may match
        "kindergarden",
    ):
        assert len(_statements(query)) == 2, query
        assert len(_statements(query)) == 1, query  # seen before


def test_a_wrong_character_reads_its_pinyin_in_one_more_statement(catalogue: Portal) -> None:
    search.tokenizer()
    search.vocabulary_changed()
    assert len(_statements("身分证")) == 3


# What a search asks of the cache: with Redis each call is a round trip.
CACHE_CALLS = ("get", "get_many", "set", "set_many", "add", "delete", "incr", "has_key", "touch")


def test_a_search_reads_the_index_version_from_the_cache_once(
    portal: Portal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The version of the index is read once a search and kept for parsing the query and
    ranking both groups, whether the query was seen before or not."""
    search.tokenizer()
    selectors.service_search(text="社保卡")
    backend = caches["default"]
    calls: list[tuple[str, Any]] = []

    def counted(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            calls.append((name, args[0] if args else None))
            return call(*args, **kwargs)

        return run

    for name in CACHE_CALLS:
        monkeypatch.setattr(backend, name, counted(name, getattr(backend, name)))
    for query in ("社保卡", "shebao", "passport"):  # seen before, then new
        calls.clear()
        selectors.service_search(text=query)
        assert calls == [("get", search_query.VOCABULARY_KEY)], query


def test_a_search_while_the_index_changes_is_parsed_again_once_the_change_commits(
    portal: Portal, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        search.vocabulary_changed()
        # Another process's search meanwhile reads the index as committed before the change.
        during = search.index_version()
    assert search.index_version() != during

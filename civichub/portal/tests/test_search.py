"""Search over the demo catalogue with queries residents type: Chinese words and sentences,
1- and 2-character queries, pinyin and initials, synonyms, English with typos."""

from __future__ import annotations

import pytest
from django.db.models import Count

from civichub.portal import search, selectors, services
from civichub.portal.models import SearchEntry, SearchPosting, SearchToken
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
    assert len(search._expansions("shbzks")) == search.EXPANSIONS
    assert "shbzksl" not in search._expansions("shbzks")

    assert _top("shbzks")[:1] == ["社会保障卡申领"]

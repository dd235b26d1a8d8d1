"""Search over the demo catalogue with queries residents type: Chinese words and sentences,
1- and 2-character queries, pinyin and initials, synonyms, English with typos."""

from __future__ import annotations

import pytest

from civichub.portal import search, selectors
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

"""Template filters (`{% load civichub %}`)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from django.template import Context, Template
from django.utils import translation

from civichub.core.templatetags.civichub import localized_name


def test_localized_name_follows_the_page_language(city: Any) -> None:
    with translation.override("en"):
        assert localized_name(city.community_a1) == "Taoyuan Community"
    with translation.override("zh-hans"):
        assert localized_name(city.community_a1) == "桃源社区"


def test_localized_name_falls_back_to_the_chinese_name(city: Any) -> None:
    city.community_a1.name_en = ""
    with translation.override("en"):
        assert localized_name(city.community_a1) == "桃源社区"
        assert localized_name(None) == ""


def test_localized_name_reads_a_name_pair_of_a_plain_record() -> None:
    entry = SimpleNamespace(department="东湖区卫生健康委员会", department_en="Donghu Health")
    with translation.override("en"):
        assert localized_name(entry, "department") == "Donghu Health"
    with translation.override("zh-hans"):
        assert localized_name(entry, "department") == "东湖区卫生健康委员会"


def test_localized_name_in_a_template(city: Any) -> None:
    template = Template("{% load civichub %}{{ org|localized_name }}")
    with translation.override("en"):
        assert template.render(Context({"org": city.district_a})) == "Donghu"


def test_a_control_names_its_message_only_while_it_has_one() -> None:
    """`field_aria` ties a control to the message `_field_error.html` shows beside it, merged
    with its hint; with no message the control names nothing that is not on the page."""
    page = Template(
        '{% load civichub %}<input id="phone"{% field_aria "phone" %}>'
        '{% include "_field_error.html" with name="phone" %}'
        '<select id="level"{% field_aria "level" errors hint="level-hint" %}></select>'
    )
    wrong = page.render(Context({"errors": {"phone": ["请填写手机号码。"], "level": ["请选择。"]}}))
    assert '<input id="phone" aria-invalid="true" aria-describedby="phone-error">' in wrong
    assert '<span id="phone-error" class="field-error">请填写手机号码。</span>' in wrong
    assert 'aria-invalid="true" aria-describedby="level-hint level-error"' in wrong
    right = page.render(Context({"errors": {}}))
    assert '<input id="phone">' in right and "phone-error" not in right
    assert '<select id="level" aria-describedby="level-hint">' in right

from __future__ import annotations

import pytest

from civichub.notify import kinds
from civichub.notify.kinds import NotificationKind


def test_platform_kinds_are_registered_in_both_languages() -> None:
    registered = kinds.all_kinds()
    assert {"notify.test", "core.password_changed"} <= set(registered)
    for kind in registered.values():
        assert set(kinds.LANGUAGES) <= set(kind.subject) & set(kind.body)


def test_render_picks_the_language_and_fills_the_context() -> None:
    kind = kinds.get("core.password_changed")
    assert kind is not None
    context = {"name": "王芳", "changed_at": "2025-03-10 09:00"}
    chinese = kinds.render(kind, "zh-hans", context)
    english = kinds.render(kind, "en", context)
    assert chinese["subject"] == "您的密码已修改"
    assert "王芳，您的 civichub 账号密码已于 2025-03-10 09:00 修改" in chinese["body"]
    assert english["subject"] == "Your password was changed"
    assert english["body"].startswith("王芳, the password of your civichub account")


def test_render_falls_back_to_chinese_for_an_unknown_language() -> None:
    kind = kinds.get("notify.test")
    assert kind is not None
    assert kinds.render(kind, "fr", {"sender": "x"})["subject"] == "测试通知"


def test_rendered_text_is_not_html_escaped_and_subject_is_one_line() -> None:
    kind = NotificationKind(
        key="tests.escape",
        category="system",
        subject={"zh-hans": "{{ a }}\n 与\n{{ b }}", "en": "{{ a }}"},
        body={"zh-hans": '<{{ a }}> & "{{ b }}"', "en": "{{ b }}"},
    )
    rendered = kinds.render(kind, "zh-hans", {"a": "R&D", "b": "<b>"})
    assert rendered["subject"] == "R&D 与 <b>"
    assert rendered["body"] == '<R&D> & "<b>"'


def test_registering_a_kind_without_every_language_is_refused() -> None:
    with pytest.raises(RuntimeError, match="no template for en"):
        kinds.register(
            NotificationKind(
                key="tests.half",
                category="system",
                subject={"zh-hans": "x"},
                body={"zh-hans": "y"},
            )
        )
    assert kinds.get("tests.half") is None


def test_registering_a_kind_in_an_unknown_category_is_refused() -> None:
    with pytest.raises(RuntimeError, match="unknown category"):
        kinds.register(
            NotificationKind(
                key="tests.nowhere",
                category="gossip",
                subject={"zh-hans": "x", "en": "x"},
                body={"zh-hans": "y", "en": "y"},
            )
        )


def test_categories_come_in_display_order() -> None:
    keys = [c.key for c in kinds.categories()]
    assert keys[:4] == ["account", "service", "alert", "system"]

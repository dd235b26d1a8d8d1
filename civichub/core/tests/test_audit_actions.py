"""Every audit action the code writes has a name in people's words, so the audit log never
shows an auditor a bare code alone."""

from __future__ import annotations

import re
from pathlib import Path

from django.utils import translation

from civichub.core.registry import audit_action_labels

ROOT = Path(__file__).resolve().parents[2]
LITERAL = re.compile(r'action="([a-z_0-9]+(?:\.[a-z_0-9]+)+)"')
FORMATTED = re.compile(r'action=f"([^"]+)"')
# The actions written with a computed part, each with the values it takes.
COMPUTED = {
    "broadcast.{name}.delete": ["broadcast.favourite.delete", "broadcast.repost.delete"],
    "donors.consent.withdraw.{which}": [
        "donors.consent.withdraw.health",
        "donors.consent.withdraw.location",
    ],
    "portal.application.{to}": [
        f"portal.application.{status}"
        for status in ("accepted", "more_needed", "approved", "refused", "withdrawn")
    ],
}


def _written() -> set[str]:
    actions: set[str] = set()
    for path in ROOT.rglob("*.py"):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        source = path.read_text(encoding="utf-8")
        actions.update(LITERAL.findall(source))
        for pattern in FORMATTED.findall(source):
            assert pattern in COMPUTED, f"{path.name}: a computed audit action {pattern!r}"
            actions.update(COMPUTED[pattern])
    return actions


def test_every_action_written_has_a_name() -> None:
    written = _written()
    assert len(written) > 150, "the scan found the actions"
    missing = sorted(written - set(audit_action_labels()))
    assert not missing, f"audit actions with no name: {missing}"


def test_the_names_are_chinese_first_and_english_too() -> None:
    labels = audit_action_labels()
    with translation.override("zh-hans"):
        chinese = {code: str(label) for code, label in labels.items()}
    with translation.override("en"):
        english = {code: str(label) for code, label in labels.items()}
    assert chinese["casework.case.view"] == "查看留言"
    assert english["casework.case.view"] == "Case viewed"
    untranslated = sorted(code for code in labels if english[code] == chinese[code])
    assert not untranslated, f"no English name: {untranslated}"

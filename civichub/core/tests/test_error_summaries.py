"""Every form that people fill in shows its problems the same way: the shared GOV.UK-style
summary (`_error_summary.html`) at the top, each problem linked to its field. No module keeps an
error box of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CIVICHUB = Path(__file__).resolve().parents[2]
SHARED = "_error_summary.html"
POST_FORM = re.compile(r"<form\b[^>]*method=\"post\"", re.I)
# What a page shows when a submission went wrong: a form's errors, a service's message.
SHOWS_ERRORS = re.compile(
    r"\{%\s*(?:if|elif|for)\s[^%]*\b(?:errors?|field_errors|general_errors)\b|\.errors\b"
    r"|\{\{\s*errors?\b"
)
# Module copies of an error box: a summary or an errors template of their own, or an alert of
# their own around a form's problems.
OWN_BOX = re.compile(
    r"class=\"[^\"]*error-summary|_errors\.html"
    r"|<[^>]*(?:class=\"errors?\"[^>]*role=\"alert\"|role=\"alert\"[^>]*class=\"(?:errors?|card)\")"
    r"[^>]*>\s*(?:<p>\s*)?\{[{%][^}]*\b(?:e|error|errors|message|general_errors)\b"
    r"|\{%\s*if\s+(?:error|errors|message)\s*%\}\s*<[^>]*role=\"alert\""
)


# Pages whose "errors" are not a form's: a data import's rejected rows, listed as a report.
REPORTS = {"datahub/templates/datahub/batch_detail.html"}


def _templates() -> list[Path]:
    return sorted(p for p in CIVICHUB.glob("*/templates/**/*.html") if p.name != SHARED) + sorted(
        p for p in (CIVICHUB / "templates").glob("**/*.html") if p.name != SHARED
    )


def _shows_form_errors(text: str) -> bool:
    return bool(POST_FORM.search(text) and SHOWS_ERRORS.search(text))


def test_the_scan_sees_forms_that_show_errors_and_boxes_of_their_own() -> None:
    """The rules below have something to hold: they see the donor sign-up form, and a module's own
    box as the modules had them."""
    assert _shows_form_errors((CIVICHUB / "donors/templates/donors/register.html").read_text())
    assert not _shows_form_errors('<form method="post"><button>关注</button></form>')
    assert OWN_BOX.search('{% if error %}<p class="error" role="alert">{{ error }}</p>{% endif %}')
    assert OWN_BOX.search('{% if errors %}<div role="alert" class="card">{% for e in errors %}')
    assert OWN_BOX.search('{% include "donors/_errors.html" %}')
    assert not OWN_BOX.search('<p class="error photo-failed" role="alert">{% blocktranslate %}')


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(CIVICHUB)))
def test_every_form_uses_the_shared_error_summary(path: Path) -> None:
    text = path.read_text()
    if _shows_form_errors(text) and str(path.relative_to(CIVICHUB)) not in REPORTS:
        assert SHARED in text, f"{path.name}: a form without the shared error summary"
    assert not OWN_BOX.search(text), f"{path.name}: an error box of its own"

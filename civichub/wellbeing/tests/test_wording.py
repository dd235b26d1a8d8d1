"""Alerts in plain words in the reader's language, from the detector's evidence; anything the
wording does not know falls back to the detector's own sentence."""

from __future__ import annotations

from django.utils import translation

from civichub.wellbeing.wording import evidence_rows, explain

NO_USE = {"hours": 12.0, "water_12h_l": 3.4, "limit_l": 10.0, "since_use_h": 12.5}


def test_no_use_is_explained_in_chinese_and_english_with_its_numbers() -> None:
    with translation.override("zh-hans"):
        chinese = explain("no_use", NO_USE, "fallback")
    with translation.override("en"):
        english = explain("no_use", NO_USE, "fallback")
    assert chinese == "过去 12 小时只用了 3 升水（规则：少于 10 升）。上次用水在 12.5 小时前。"
    assert english.startswith("Only 3 litres of water were used in the last 12 hours")


def test_the_utility_is_named_in_words() -> None:
    with translation.override("zh-hans"):
        said = explain("data_gap", {"hours": 6.0, "utility": "electricity"}, "fallback")
    assert said.startswith("已有 6.0 小时收不到电表读数")


def test_an_unknown_kind_or_changed_evidence_falls_back_to_the_detectors_sentence() -> None:
    assert explain("new_kind", NO_USE, "The detector says so.") == "The detector says so."
    assert explain("no_use", {"hours": 12.0}, "The detector says so.") == "The detector says so."


def test_evidence_rows_are_labelled_and_rounded() -> None:
    with translation.override("zh-hans"):
        rows = dict(evidence_rows({"water_12h_l": 3.4567, "utility": "gas", "mystery": 1}))
    assert rows == {"期间用水（升）": "3.46", "表计": "燃气", "mystery": "1"}

"""Eligibility as GB 18467-2011 and the 2025 draft write it: every boundary on both sides, every
pair of donation kinds over every day of a year and a half, and every decision explained."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from civichub.donors import eligibility as e

GB = e.GB18467_2011
DRAFT = e.CN_DRAFT_2025
W, P = e.DonationKind.WHOLE_BLOOD, e.DonationKind.PLATELETS


def facts(
    *,
    born: date = date(1990, 6, 15),
    sex: e.Sex = e.Sex.MALE,
    weight: float = 70,
    donations: tuple[e.Donation, ...] = (),
    deferrals: tuple[e.Deferral, ...] = (),
    had_reaction: bool = False,
) -> e.DonorFacts:
    return e.DonorFacts(born, sex, weight, donations, deferrals, had_reaction)


def codes(decision: e.Decision) -> list[str]:
    return [r.code for r in decision.reasons]


# Ages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "eligible"),
    [(date(2008, 6, 14), False), (date(2008, 6, 15), True)],
)
def test_donors_must_have_turned_18(on: date, eligible: bool) -> None:
    decision = e.assess(facts(born=date(1990, 6, 15)), W, on, GB)
    assert decision.eligible is eligible
    if not eligible:
        assert codes(decision) == ["too_young"]
        assert decision.eligible_from == date(2008, 6, 15)
        assert "2008-06-15" in decision.explain("zh-hans")
        assert "you turn 18 on 2008-06-15" in decision.explain("en")


@pytest.mark.parametrize(
    ("rules", "donated_before", "reaction", "last_ok_age"),
    [
        (GB, False, False, 55),
        (GB, True, False, 60),
        (GB, True, True, 55),
        (DRAFT, False, False, 65),
        (DRAFT, True, False, 65),
    ],
)
def test_upper_age_by_profile_and_history(
    rules: e.RuleSet, donated_before: bool, reaction: bool, last_ok_age: int
) -> None:
    born = date(1950, 3, 10)
    history = (e.Donation(W, date(1990, 1, 1)),) if donated_before else ()
    person = facts(born=born, donations=history, had_reaction=reaction)
    last_day = date(1950 + last_ok_age + 1, 3, 9)  # the day before turning last_ok_age + 1
    assert e.assess(person, W, last_day, rules).eligible
    too_old = e.assess(person, W, last_day + timedelta(days=1), rules)
    assert codes(too_old) == ["too_old"]
    assert too_old.eligible_from is None
    assert str(last_ok_age) in too_old.explain("en")


def test_a_29_february_birthday_comes_on_1_march() -> None:
    person = facts(born=date(2008, 2, 29))
    assert not e.assess(person, W, date(2026, 2, 28), GB).eligible
    assert e.assess(person, W, date(2026, 3, 1), GB).eligible
    assert e.assess(facts(born=date(2008, 2, 29)), W, date(2025, 1, 1), GB).eligible_from == date(
        2026, 3, 1
    )


# Weights -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sex", "weight", "eligible"),
    [
        (e.Sex.MALE, 49.9, False),
        (e.Sex.MALE, 50, True),
        (e.Sex.MALE, 45, False),
        (e.Sex.FEMALE, 44.9, False),
        (e.Sex.FEMALE, 45, True),
        (e.Sex.FEMALE, 50, True),
    ],
)
def test_least_weight_by_sex(sex: e.Sex, weight: float, eligible: bool) -> None:
    decision = e.assess(facts(sex=sex, weight=weight), W, date(2026, 1, 1), GB)
    assert decision.eligible is eligible
    if not eligible:
        assert codes(decision) == ["too_light"]
        assert decision.eligible_from is None
        assert "千克" in decision.explain() and "kg" in decision.explain("en")


# Intervals -----------------------------------------------------------------------------------


def _months_later(day: date, months: int) -> date:
    """An independent calendar-month step: walk month by month, then clip to the month's end."""
    year, month = day.year, day.month
    for _ in range(months):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


GB_GAPS = {
    (W, W): lambda d: _months_later(d, 6),
    (P, P): lambda d: d + timedelta(weeks=2),
    (W, P): lambda d: _months_later(d, 3),
    (P, W): lambda d: d + timedelta(weeks=4),
}
DRAFT_GAPS = {**GB_GAPS, (W, W): lambda d: d + timedelta(days=90)}


@pytest.mark.parametrize(("rules", "gaps"), [(GB, GB_GAPS), (DRAFT, DRAFT_GAPS)])
@pytest.mark.parametrize("last", [date(2026, 1, 31), date(2026, 8, 31), date(2027, 12, 15)])
def test_every_day_after_a_donation_for_every_pair_of_kinds(
    rules: e.RuleSet, gaps: dict, last: date
) -> None:
    for (previous, following), gap in gaps.items():
        ready = gap(last)
        person = facts(donations=(e.Donation(previous, last),))
        for offset in range(0, 550):
            day = last + timedelta(days=offset)
            decision = e.assess(person, following, day, rules)
            assert decision.eligible is (day >= ready), (previous, following, day)
            if not decision.eligible:
                assert codes(decision) == ["interval"]
                assert decision.eligible_from == ready
                assert ready.isoformat() in decision.explain("zh-hans")
                assert ready.isoformat() in decision.explain("en")


def test_six_months_after_31_august_is_the_end_of_february() -> None:
    person = facts(donations=(e.Donation(W, date(2026, 8, 31)),))
    assert not e.assess(person, W, date(2027, 2, 27), GB).eligible
    assert e.assess(person, W, date(2027, 2, 28), GB).eligible


def test_the_latest_donation_of_each_kind_counts() -> None:
    person = facts(
        donations=(e.Donation(W, date(2025, 1, 1)), e.Donation(P, date(2026, 3, 1))),
    )
    decision = e.assess(person, W, date(2026, 3, 20), GB)
    assert codes(decision) == ["interval"]
    assert decision.eligible_from == date(2026, 3, 29)


# At most 24 platelet donations in 12 months ---------------------------------------------------


def _platelets(first: date, count: int) -> tuple[e.Donation, ...]:
    return tuple(e.Donation(P, first + timedelta(days=14 * i)) for i in range(count))


def test_the_25th_platelet_donation_in_12_months_waits() -> None:
    first = date(2026, 1, 5)
    history = _platelets(first, 24)  # the last on 2026-12-07
    person = facts(donations=history)
    two_weeks_after = history[-1].on + timedelta(days=14)  # 2026-12-21, within the year
    decision = e.assess(person, P, two_weeks_after, GB)
    assert codes(decision) == ["yearly_limit"]
    assert decision.eligible_from == date(2027, 1, 5)
    assert not e.assess(person, P, date(2027, 1, 4), GB).eligible
    assert e.assess(person, P, date(2027, 1, 5), GB).eligible
    # Whole blood has no yearly count of platelets: only its 4-week interval.
    assert e.assess(person, W, history[-1].on + timedelta(days=28), GB).eligible


def test_23_platelet_donations_leave_room_for_one_more() -> None:
    history = _platelets(date(2026, 1, 5), 23)
    assert e.assess(facts(donations=history), P, history[-1].on + timedelta(days=14), GB).eligible


# Deferrals -----------------------------------------------------------------------------------


def test_a_deferral_holds_to_its_end_date_inclusive() -> None:
    deferral = e.Deferral(date(2026, 5, 1), date(2026, 5, 31), "拔牙")
    person = facts(deferrals=(deferral,))
    assert e.assess(person, W, date(2026, 4, 30), GB).eligible
    inside = e.assess(person, W, date(2026, 5, 31), GB)
    assert codes(inside) == ["deferred"]
    assert inside.eligible_from == date(2026, 6, 1)
    assert "拔牙" in inside.explain()
    assert e.assess(person, W, date(2026, 6, 1), GB).eligible


def test_a_permanent_deferral_has_no_return_date() -> None:
    person = facts(deferrals=(e.Deferral(date(2020, 1, 1), None, "HIV"),))
    decision = e.assess(person, P, date(2030, 1, 1), GB)
    assert codes(decision) == ["deferred_permanently"]
    assert decision.eligible_from is None


def test_every_reason_is_given_and_the_return_is_the_latest() -> None:
    person = facts(
        born=date(2008, 9, 1),
        donations=(),
        deferrals=(e.Deferral(date(2026, 1, 1), date(2026, 10, 1), "感冒"),),
    )
    decision = e.assess(person, W, date(2026, 6, 1), GB)
    assert codes(decision) == ["too_young", "deferred"]
    assert decision.eligible_from == date(2026, 10, 2)
    assert len(decision.explain("en").split(". ")) >= 2


def test_a_return_date_past_the_age_limit_is_none() -> None:
    person = facts(
        born=date(1971, 3, 1), deferrals=(e.Deferral(date(2026, 1, 1), date(2027, 6, 1)),)
    )
    decision = e.assess(person, W, date(2026, 2, 1), GB)
    assert decision.eligible_from is None


# Profiles, overrides, explanations, bad input -------------------------------------------------


def test_a_deployment_changes_single_rules() -> None:
    uk_like = e.rule_set(
        "gb18467-2011",
        {"min_weight_kg_female": 50, "whole_to_whole": {"days": 84}, "max_age_first": 66},
    )
    assert uk_like.whole_to_whole == e.Interval(days=84)
    assert uk_like.min_weight_kg_female == 50
    assert not e.assess(facts(sex=e.Sex.FEMALE, weight=47), W, date(2026, 1, 1), uk_like).eligible
    with pytest.raises(ValueError, match="unknown eligibility profile"):
        e.rule_set("atlantis")


def test_eligible_decisions_say_so_in_both_languages() -> None:
    decision = e.assess(facts(), W, date(2026, 1, 1), GB)
    assert decision.eligible and decision.eligible_from == date(2026, 1, 1)
    assert decision.explain() == "可以献血。"
    assert decision.explain("en") == "Can donate."


def test_every_reason_has_chinese_and_english_words() -> None:
    people = [
        facts(born=date(2010, 1, 1)),
        facts(born=date(1940, 1, 1)),
        facts(weight=40),
        facts(donations=(e.Donation(W, date(2025, 12, 1)),)),
        facts(donations=_platelets(date(2025, 1, 10), 24)),
        facts(deferrals=(e.Deferral(date(2025, 1, 1), None),)),
    ]
    seen = set()
    for person, kind in itertools.product(people, e.DonationKind):
        for reason in e.assess(person, kind, date(2026, 1, 1), GB).reasons:
            seen.add(reason.code)
            assert reason.zh and reason.en and reason.zh != reason.en
            assert any("\u4e00" <= ch <= "\u9fff" for ch in reason.zh)
            assert reason.en.isascii()
    assert seen == {
        "too_young",
        "too_old",
        "too_light",
        "interval",
        "yearly_limit",
        "deferred_permanently",
    }


@pytest.mark.parametrize(
    ("person", "field"),
    [
        (facts(born=date(2030, 1, 1)), "birth_date"),
        (facts(born=date(1880, 1, 1)), "birth_date"),
        (facts(weight=5), "weight_kg"),
        (facts(weight=900), "weight_kg"),
        (facts(donations=(e.Donation(W, date(2027, 1, 1)),)), "donations"),
        (facts(donations=(e.Donation(W, date(1980, 1, 1)),)), "donations"),
        (facts(deferrals=(e.Deferral(date(2026, 5, 1), date(2026, 4, 1)),)), "deferrals"),
    ],
)
def test_impossible_facts_are_refused(person: e.DonorFacts, field: str) -> None:
    assert [error[0] for error in e.validate(person, date(2026, 6, 1))] == [field]


def test_plausible_facts_pass_validation() -> None:
    assert e.validate(facts(), date(2026, 6, 1)) == []

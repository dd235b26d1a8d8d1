"""May this person donate on this day, and if not, why and from when: by the deployment's rule
set, defaulting to China's GB 18467-2011. Pure: facts in, a decision with its reasons out, in
plain words in Chinese and English.

Rule sets are data (`RuleSet`), keyed by name in `PROFILES`; a deployment picks one and may
change single fields (`DonorsSettings.eligibility_profile`, `eligibility_overrides`).
Intervals are calendar months, weeks or days as the standard writes them: "6 months" after
15 March is 15 September, not 180 days later.
"""

from __future__ import annotations

import calendar
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any


class DonationKind(StrEnum):
    WHOLE_BLOOD = "whole_blood"
    PLATELETS = "platelets"  # apheresis


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"


@dataclass(frozen=True)
class Interval:
    """A span as a standard writes it: calendar months plus days."""

    months: int = 0
    days: int = 0

    def after(self, day: date) -> date:
        month_index = day.month - 1 + self.months
        year, month = day.year + month_index // 12, month_index % 12 + 1
        last = calendar.monthrange(year, month)[1]
        shifted = date(year, month, min(day.day, last))
        return date.fromordinal(shifted.toordinal() + self.days)

    def words(self) -> tuple[str, str]:
        if self.months and not self.days:
            return f"{self.months} 个月", f"{self.months} months"
        if self.days % 7 == 0 and not self.months:
            return f"{self.days // 7} 周", f"{self.days // 7} weeks"
        if not self.months:
            return f"{self.days} 天", f"{self.days} days"
        return (
            f"{self.months} 个月零 {self.days} 天",
            f"{self.months} months and {self.days} days",
        )


@dataclass(frozen=True)
class RuleSet:
    name: str
    min_age: int = 18
    # Oldest age (in full years) for a first-time donor, and for a repeat donor who has had no
    # serious reaction.
    max_age_first: int = 55
    max_age_repeat: int = 60
    min_weight_kg_male: float = 50.0
    min_weight_kg_female: float = 45.0
    # Between donations: (previous kind, next kind) → the least interval.
    whole_to_whole: Interval = Interval(months=6)
    platelets_to_platelets: Interval = Interval(days=14)
    whole_to_platelets: Interval = Interval(months=3)
    platelets_to_whole: Interval = Interval(days=28)
    # Apheresis platelet donations in any 12 months.
    max_platelets_per_year: int = 24

    def gap(self, previous: DonationKind, following: DonationKind) -> Interval:
        return {
            (DonationKind.WHOLE_BLOOD, DonationKind.WHOLE_BLOOD): self.whole_to_whole,
            (DonationKind.PLATELETS, DonationKind.PLATELETS): self.platelets_to_platelets,
            (DonationKind.WHOLE_BLOOD, DonationKind.PLATELETS): self.whole_to_platelets,
            (DonationKind.PLATELETS, DonationKind.WHOLE_BLOOD): self.platelets_to_whole,
        }[(previous, following)]


GB18467_2011 = RuleSet(name="gb18467-2011")
# The consultation draft of 17 Dec 2025: ages 18-65, whole blood every 90 days or more.
CN_DRAFT_2025 = dataclasses.replace(
    GB18467_2011,
    name="cn-draft-2025",
    max_age_first=65,
    max_age_repeat=65,
    whole_to_whole=Interval(days=90),
)
PROFILES: dict[str, RuleSet] = {r.name: r for r in (GB18467_2011, CN_DRAFT_2025)}

_INTERVAL_FIELDS = {
    "whole_to_whole",
    "platelets_to_platelets",
    "whole_to_platelets",
    "platelets_to_whole",
}


def rule_set(profile: str, overrides: Mapping[str, Any] | None = None) -> RuleSet:
    """The named profile with a deployment's changed fields (an interval as {"months", "days"}
    or a number of days)."""
    try:
        base = PROFILES[profile]
    except KeyError:
        raise ValueError(f"unknown eligibility profile {profile!r}") from None
    changes: dict[str, Any] = {}
    for key, value in (overrides or {}).items():
        if key in _INTERVAL_FIELDS:
            changes[key] = (
                Interval(**value) if isinstance(value, Mapping) else Interval(days=int(value))
            )
        else:
            changes[key] = value
    return dataclasses.replace(base, **changes)


@dataclass(frozen=True)
class Donation:
    kind: DonationKind
    on: date


@dataclass(frozen=True)
class Deferral:
    """A deferral from `starts_on` to `ends_on` inclusive; no end is permanent."""

    starts_on: date
    ends_on: date | None
    reason: str = ""


@dataclass(frozen=True)
class DonorFacts:
    birth_date: date
    sex: Sex
    weight_kg: float
    donations: tuple[Donation, ...] = ()
    deferrals: tuple[Deferral, ...] = ()
    # A serious reaction to an earlier donation ends the repeat donor's extension to 60.
    had_reaction: bool = False


@dataclass(frozen=True)
class Reason:
    code: str
    zh: str
    en: str


@dataclass(frozen=True)
class Decision:
    eligible: bool
    reasons: tuple[Reason, ...]
    # The first day every reason that time removes is gone; None when time cannot help
    # (too old, too light, deferred for good). The day itself when eligible.
    eligible_from: date | None

    def explain(self, language: str = "zh-hans") -> str:
        english = language.startswith("en")
        if self.eligible:
            return "Can donate." if english else "可以献血。"
        return " ".join(r.en if english else r.zh for r in self.reasons)


def age_on(birth_date: date, day: date) -> int:
    """Age in full years on `day` (a 29 February birthday comes on 1 March in other years)."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def _birthday(birth_date: date, age: int) -> date:
    year = birth_date.year + age
    if birth_date.month == 2 and birth_date.day == 29 and not calendar.isleap(year):
        return date(year, 3, 1)
    return birth_date.replace(year=year)


def _is_repeat(facts: DonorFacts) -> bool:
    return bool(facts.donations) and not facts.had_reaction


def _age_limit(facts: DonorFacts, rules: RuleSet) -> int:
    return rules.max_age_repeat if _is_repeat(facts) else rules.max_age_first


def _kind_words(kind: DonationKind) -> tuple[str, str]:
    if kind == DonationKind.WHOLE_BLOOD:
        return "全血", "whole blood"
    return "单采血小板", "apheresis platelets"


def _age_reason(facts: DonorFacts, on: date, rules: RuleSet) -> tuple[Reason | None, date | None]:
    age = age_on(facts.birth_date, on)
    if age < rules.min_age:
        turns = _birthday(facts.birth_date, rules.min_age)
        return (
            Reason(
                "too_young",
                f"献血年龄须满 {rules.min_age} 周岁，"
                f"您将于 {turns.isoformat()} 满 {rules.min_age} 周岁。",
                f"Donors must be at least {rules.min_age}; you turn {rules.min_age} on "
                f"{turns.isoformat()}.",
            ),
            turns,
        )
    repeat = _is_repeat(facts)
    limit = _age_limit(facts, rules)
    if age > limit:
        who_zh = "有献血经历且无不良反应者" if repeat else "初次献血者"
        who_en = "repeat donors without reactions" if repeat else "first-time donors"
        return (
            Reason(
                "too_old",
                f"{who_zh}的献血年龄上限为 {limit} 周岁，您已 {age} 周岁。",
                f"The upper age for {who_en} is {limit}; you are {age}.",
            ),
            None,
        )
    return None, on


def _weight_reason(facts: DonorFacts, rules: RuleSet) -> Reason | None:
    if facts.sex == Sex.MALE:
        least, zh, en = rules.min_weight_kg_male, "男性", "men"
    else:
        least, zh, en = rules.min_weight_kg_female, "女性", "women"
    if facts.weight_kg >= least:
        return None
    return Reason(
        "too_light",
        f"{zh}体重须不低于 {least:g} 千克，登记体重为 {facts.weight_kg:g} 千克。",
        f"The least weight for {en} is {least:g} kg; the recorded weight is "
        f"{facts.weight_kg:g} kg.",
    )


def _interval_reasons(
    facts: DonorFacts, kind: DonationKind, on: date, rules: RuleSet
) -> Iterable[tuple[Reason, date]]:
    if not facts.donations:
        return
    for previous_kind in DonationKind:
        earlier = [d.on for d in facts.donations if d.kind == previous_kind and d.on <= on]
        if not earlier:
            continue
        last = max(earlier)
        gap = rules.gap(previous_kind, kind)
        ready = gap.after(last)
        if ready > on:
            prev_zh, prev_en = _kind_words(previous_kind)
            next_zh, next_en = _kind_words(kind)
            span_zh, span_en = gap.words()
            yield (
                Reason(
                    "interval",
                    f"上次{prev_zh}献血在 {last.isoformat()}，距下次{next_zh}献血须间隔"
                    f" {span_zh}，{ready.isoformat()} 起可以再献。",
                    f"Your last {prev_en} donation was on {last.isoformat()}; {next_en} needs"
                    f" {span_en} after it, so you can give again from {ready.isoformat()}.",
                ),
                ready,
            )


def _yearly_reason(
    facts: DonorFacts, kind: DonationKind, on: date, rules: RuleSet
) -> tuple[Reason, date] | None:
    if kind != DonationKind.PLATELETS:
        return None
    # The 12 months that end on `on`: donations after the same day a year earlier.
    year_ago = Interval(months=-12).after(on)
    within = sorted(d.on for d in facts.donations if d.kind == kind and year_ago < d.on <= on)
    if len(within) < rules.max_platelets_per_year:
        return None
    # The oldest donation that must leave the window before one more fits.
    leaving = within[len(within) - rules.max_platelets_per_year]
    ready = Interval(months=12).after(leaving)
    return (
        Reason(
            "yearly_limit",
            f"12 个月内单采血小板最多 {rules.max_platelets_per_year} 次，您已献 {len(within)}"
            f" 次，{ready.isoformat()} 起可以再献。",
            f"At most {rules.max_platelets_per_year} platelet donations in 12 months; you have"
            f" given {len(within)}, so you can give again from {ready.isoformat()}.",
        ),
        ready,
    )


def _deferral_reasons(facts: DonorFacts, on: date) -> Iterable[tuple[Reason, date | None]]:
    for deferral in facts.deferrals:
        if deferral.starts_on > on or (deferral.ends_on is not None and deferral.ends_on < on):
            continue
        why = f"（{deferral.reason}）" if deferral.reason else ""
        why_en = f" ({deferral.reason})" if deferral.reason else ""
        if deferral.ends_on is None:
            yield (
                Reason(
                    "deferred_permanently",
                    f"已永久暂缓献血{why}。",
                    f"Permanently deferred{why_en}.",
                ),
                None,
            )
            continue
        ready = date.fromordinal(deferral.ends_on.toordinal() + 1)
        yield (
            Reason(
                "deferred",
                f"暂缓献血至 {deferral.ends_on.isoformat()}{why}，{ready.isoformat()} 起可以献血。",
                f"Deferred until {deferral.ends_on.isoformat()}{why_en}; you can give from "
                f"{ready.isoformat()}.",
            ),
            ready,
        )


def assess(facts: DonorFacts, kind: DonationKind | str, on: date, rules: RuleSet) -> Decision:
    """Whether the donor may give `kind` on `on`, every reason why not, and from when."""
    if not isinstance(kind, DonationKind):
        kind = DonationKind(kind)
    reasons: list[Reason] = []
    ready_days: list[date | None] = []
    age_reason, age_ready = _age_reason(facts, on, rules)
    if age_reason is not None:
        reasons.append(age_reason)
        ready_days.append(age_ready)
    weight = _weight_reason(facts, rules)
    if weight is not None:
        reasons.append(weight)
        ready_days.append(None)
    for reason, ready in _interval_reasons(facts, kind, on, rules):
        reasons.append(reason)
        ready_days.append(ready)
    yearly = _yearly_reason(facts, kind, on, rules)
    if yearly is not None:
        reasons.append(yearly[0])
        ready_days.append(yearly[1])
    for reason, maybe_ready in _deferral_reasons(facts, on):
        reasons.append(reason)
        ready_days.append(maybe_ready)
    if not reasons:
        return Decision(True, (), on)
    known = [d for d in ready_days if d is not None]
    eligible_from = None if len(known) < len(ready_days) else max(known)
    if eligible_from is not None and age_on(facts.birth_date, eligible_from) > _age_limit(
        facts, rules
    ):
        eligible_from = None
    return Decision(False, tuple(reasons), eligible_from)


def validate(facts: DonorFacts, today: date) -> list[tuple[str, str, str]]:
    """Impossible facts, as (field, Chinese, English): refused before anything is stored."""
    errors: list[tuple[str, str, str]] = []
    if facts.birth_date > today:
        errors.append(("birth_date", "出生日期不能晚于今天。", "The birth date is in the future."))
    elif age_on(facts.birth_date, today) > 120:
        errors.append(("birth_date", "出生日期不合理。", "The birth date is not plausible."))
    if not 20 <= facts.weight_kg <= 300:
        errors.append(
            ("weight_kg", "体重应在 20 到 300 千克之间。", "Weight must be between 20 and 300 kg.")
        )
    for donation in facts.donations:
        if donation.on > today or donation.on < facts.birth_date:
            errors.append(
                (
                    "donations",
                    "献血日期不合理。",
                    "A donation date is in the future or before birth.",
                )
            )
            break
    for deferral in facts.deferrals:
        if deferral.ends_on is not None and deferral.ends_on < deferral.starts_on:
            errors.append(
                ("deferrals", "暂缓的结束日期早于开始日期。", "A deferral ends before it starts.")
            )
            break
    return errors

"""The registry's writes: registering (a second registration of the same identity number merges
into the first; a group a health department holds, read through the data hub, counts as
verified), the two consents and their withdrawal, the blood centre's verified group,
availability windows and the pause, donations and deferrals."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core import crypto, registry
from civichub.core.audit import audit_record
from civichub.core.errors import ValidationFailed
from civichub.core.identity import identity_number_error
from civichub.core.models import CoordinateSystem, Organisation, OrganisationKind, User
from civichub.core.permissions import require
from civichub.donors import consent, eligibility, places
from civichub.donors.models import (
    ABO,
    AvailabilityWindow,
    CallChannels,
    Deferral,
    Donation,
    DonationKind,
    Donor,
    GroupSource,
    RhD,
    Sex,
)
from civichub.donors.models import PHENOTYPE_ANTIGENS as PHENOTYPE_ANTIGENS_ORDER
from civichub.donors.permissions import is_own_donor
from civichub.donors.selectors import donor_facts, rules, settings_

PHENOTYPE_ANTIGENS = frozenset(PHENOTYPE_ANTIGENS_ORDER)


# Who vouches for a group: a declared one never replaces one a health department holds, and
# neither replaces the blood centre's test.
_RANK = {GroupSource.SELF: 0, GroupSource.HUB: 1, GroupSource.CENTRE: 2}
# The purpose the data hub's agreement must name for the registry to read a blood group.
HUB_PURPOSE = "紧急用血"


def _hub_group(actor: User | None, identity_number: str) -> dict[str, Any] | None:
    """The ABO and RhD group a health department holds for this identity number, read through
    the data hub's `verified_blood_group` capability when a module provides it."""
    provided = registry.provided("verified_blood_group")
    if provided is None:
        return None
    found: dict[str, Any] | None = provided(
        actor=actor, identity_number=identity_number, purpose=HUB_PURPOSE
    )
    if found is None or found.get("abo") not in ABO.values or found.get("rhd") not in RhD.values:
        return None
    return found


def _check(actor: User | None, action: str, obj: Any = None) -> None:
    if actor is not None:
        require(actor, action, obj)


@dataclass(frozen=True)
class DonorDetails:
    """What a donor tells about themselves (health data, under the health consent)."""

    sex: str
    birth_date: date
    weight_kg: float
    abo: str
    rhd: str
    phenotype: dict[str, str] | None = None


def _details_errors(details: DonorDetails, today: date) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if details.abo not in ABO.values:
        errors["abo"] = [_("ABO 血型只能是 O、A、B 或 AB。")]
    if details.rhd not in RhD.values:
        errors["rhd"] = [_("RhD 只能是阳性或阴性。")]
    if details.sex not in Sex.values:
        errors["sex"] = [_("请选择性别。")]
        return errors
    facts = eligibility.DonorFacts(
        details.birth_date, eligibility.Sex(details.sex), details.weight_kg
    )
    for field, message_zh, _message_en in eligibility.validate(facts, today):
        errors.setdefault(field, []).append(message_zh)
    for antigen, value in (details.phenotype or {}).items():
        if antigen not in PHENOTYPE_ANTIGENS or value not in ("+", "-"):
            errors["phenotype"] = [_("表型只能记录已知抗原的阳性（+）或阴性（-）。")]
            break
    return errors


def _place_values(latitude: float | None, longitude: float | None, crs: str) -> dict[str, Any]:
    if latitude is None or longitude is None:
        raise ValidationFailed.on("location", _("同意位置信息时请给出大致位置。"))
    if crs not in CoordinateSystem.values or not (
        -90 <= latitude <= 90 and -180 <= longitude <= 180
    ):
        raise ValidationFailed.on("location", _("纬度或经度超出范围。"))
    conf = settings_()
    place = places.coarse_place(
        latitude,
        longitude,
        crs,
        resolution=conf.cell_resolution,
        search=conf.search_resolution,
        region=conf.region_resolution,
    )
    return {
        "cell": place.cell,
        "search_cell": place.search_cell,
        "region_cell": place.region_cell,
        "cell_lat": place.lat,
        "cell_lng": place.lng,
    }


def _identity_values(identity_number: str) -> dict[str, Any]:
    number = crypto.normalise_identity_number(identity_number)
    problem = identity_number_error(number)
    if problem:
        raise ValidationFailed.on("identity_number", problem)
    return {
        "identity_encrypted": crypto.encrypt_identity(number),
        "identity_hash": crypto.identity_lookup_hash(number),
        "identity_last4": number[-4:],
    }


def donor_refresh_dates(donor: Donor, today: date | None = None) -> None:
    """Stores the first days each kind of donation is possible again by intervals, the yearly
    count and deferrals (the stored dates the ranking filters on)."""
    today = today or timezone.localdate()
    facts = donor_facts(donor)
    values: dict[str, date | None] = {"whole_blood_from": None, "platelets_from": None}
    if facts is not None:
        timeless = eligibility.DonorFacts(
            birth_date=date(today.year - 30, 1, 1),
            sex=facts.sex,
            weight_kg=300,
            donations=facts.donations,
            deferrals=facts.deferrals,
        )
        for kind, field in (
            (eligibility.DonationKind.WHOLE_BLOOD, "whole_blood_from"),
            (eligibility.DonationKind.PLATELETS, "platelets_from"),
        ):
            decision = eligibility.assess(timeless, kind, today, rules())
            # Deferred for good: a day no search reaches.
            values[field] = (
                None if decision.eligible else (decision.eligible_from or date(9999, 12, 31))
            )
    Donor.objects.filter(pk=donor.pk).update(**values)
    for field, value in values.items():
        setattr(donor, field, value)


def _own_existing(user: User, by_identity: Donor | None, phone: str) -> Donor | None:
    """The record a signed-in volunteer's own registration updates: their own, or one the same
    identity number already has when it is theirs or was imported with the same phone number
    and no account (a duplicate merges). Someone else's record is never taken over."""
    mine = Donor.objects.select_for_update().filter(user=user).order_by("pk").first()
    if by_identity is None:
        return mine
    unclaimed = by_identity.user_id is None and by_identity.phone.strip() == phone.strip()
    if (by_identity.user_id == user.pk or unclaimed) and mine in (None, by_identity):
        return by_identity
    raise ValidationFailed.on(
        "identity_number",
        _("这个身份证号已经登记过；如需合并，请联系血站。"),
    )


@dataclass(frozen=True)
class Registration:
    """One volunteer's registration as given (by the volunteer, the API or a line of the blood
    centre's file): what `donor_register` stores and `donor_unchanged` compares. `verified`:
    the blood centre tested the group."""

    name: str
    phone: str
    community: Organisation
    details: DonorDetails
    health_consent: bool
    location_consent: bool
    latitude: float | None = None
    longitude: float | None = None
    crs: str = CoordinateSystem.GCJ02
    identity_number: str = ""
    verified: bool = False


@transaction.atomic
def donor_register(
    *,
    actor: User | None,
    registration: Registration,
    user: User | None = None,
    language: str = "zh-hans",
    call_channels: str | None = None,
) -> Donor:
    """Registers a volunteer, phone first, or imports one from the blood centre (`verified`).
    The same identity number again merges into the record that has it: a verified group is
    never replaced by a declared one. A group the data hub has from a health department for
    the identity number replaces a declared one (source "hub"), never the centre's."""
    r = registration
    name, phone, community, details = r.name, r.phone, r.community, r.details
    verified, identity_number = r.verified, r.identity_number
    own = actor is not None and user is not None and user.pk == actor.pk
    if not own:
        _check(actor, "donors.donor.manage", community)
    if verified and actor is not None:
        require(actor, "donors.donor.manage", community)
    if not r.health_consent:
        raise ValidationFailed.on(
            "health_consent", _("登记血型等健康信息需要您单独同意（可随时撤回）。")
        )
    errors = _details_errors(details, timezone.localdate())
    if not name.strip() or len(name.strip()) > 100:
        errors["name"] = [_("请填写姓名（不超过 100 字）。")]
    if not re.fullmatch(r"\+?[0-9 -]{5,31}", phone.strip()):
        errors["phone"] = [_("请填写有效的手机号码。")]
    if community.kind != OrganisationKind.COMMUNITY:
        errors["community"] = [_("所选机构不是社区。")]
    if call_channels is not None and call_channels not in CallChannels.values:
        errors["call_channels"] = [_("请选择短信、应用推送或两者。")]
    elif call_channels in (CallChannels.PUSH, CallChannels.BOTH) and user is None:
        # Push reaches the devices of an account; a donor without one is called by SMS.
        errors["call_channels"] = [_("应用推送需要志愿者本人登录账号后选择。")]
    if errors:
        raise ValidationFailed(_("志愿者信息有误。"), errors=errors)
    now = timezone.now()
    values: dict[str, Any] = {
        "name": name.strip(),
        "phone": phone.strip(),
        "community": community,
        "language": language,
        "sex": details.sex,
        "birth_date": details.birth_date,
        "weight_kg": details.weight_kg,
        "health_consent_at": now,
        "health_revoked_at": None,
        "health_consent_version": consent.HEALTH_VERSION,
        "updated_at": now,
    }
    if r.location_consent:
        values.update(_place_values(r.latitude, r.longitude, r.crs))
        values.update(
            location_consent_at=now,
            location_revoked_at=None,
            location_consent_version=consent.LOCATION_VERSION,
        )
    identity = _identity_values(identity_number) if identity_number.strip() else {}
    existing = (
        Donor.objects.select_for_update().filter(identity_hash=identity["identity_hash"]).first()
        if identity
        else None
    )
    if own and user is not None:
        existing = _own_existing(user, existing, phone)
    group = {"abo": details.abo, "rhd": details.rhd}
    source = GroupSource.CENTRE if verified else GroupSource.SELF
    centre_held = existing is not None and existing.group_source == GroupSource.CENTRE
    ask_hub = bool(identity) and not verified and not centre_held
    known = _hub_group(actor, identity_number) if ask_hub else None
    if known is not None:
        group, source = {"abo": known["abo"], "rhd": known["rhd"]}, GroupSource.HUB
    if existing is None or _RANK[source] >= _RANK[GroupSource(existing.group_source)]:
        values.update(group, group_source=source)
    if details.phenotype is not None:
        values.update(_phenotype_values(existing, details.phenotype, verified=verified))
    if user is not None:
        values["user"] = user
    if call_channels is not None:
        values["call_channels"] = call_channels
    if existing is not None:
        for key, value in values.items():
            setattr(existing, key, value)
        existing.save()
        donor, action = existing, "donors.donor.merge"
    else:
        donor = Donor.objects.create(**values, **identity)
        action = "donors.donor.register"
    donor_refresh_dates(donor)
    audit_record(
        actor=actor,
        action=action,
        obj=donor,
        changes={
            "group": donor.group_label,
            "source": donor.group_source,
            "health_consent": donor.health_consent_version,
            "location_consent": donor.location_consent_version if r.location_consent else "",
        },
    )
    return donor


def donor_unchanged(*, registration: Registration) -> bool:
    """Whether registering these values again would change nothing the donor with this identity
    number has stored (an import run twice leaves the registry, its consent times and its
    audit as the first run left them). A value that would be refused counts as a change:
    the registration then says why."""
    r = registration
    details, verified, location_consent = r.details, r.verified, r.location_consent
    number = crypto.normalise_identity_number(r.identity_number)
    if not number or identity_number_error(number):
        return False
    donor = Donor.objects.filter(identity_hash=crypto.identity_lookup_hash(number)).first()
    if donor is None or not donor.health_consent or donor.location_consent != location_consent:
        return False
    source = GroupSource.CENTRE if verified else GroupSource.SELF
    group_same = (donor.abo, donor.rhd) == (details.abo, details.rhd) or _RANK[source] < _RANK[
        GroupSource(donor.group_source)
    ]
    same = (
        group_same
        and _RANK[source] <= _RANK[GroupSource(donor.group_source)]
        and donor.name == r.name.strip()
        and donor.phone == r.phone.strip()
        and donor.community_id == r.community.pk
        and (donor.sex, donor.birth_date, donor.weight_kg)
        == (details.sex, details.birth_date, details.weight_kg)
        and (
            details.phenotype is None
            or _phenotype_values(donor, details.phenotype, verified=verified)
            == {"phenotype": donor.phenotype, "phenotype_verified": donor.phenotype_verified}
        )
        and r.health_consent
    )
    if same and location_consent:
        latitude, longitude, crs = r.latitude, r.longitude, r.crs
        if latitude is None or longitude is None or crs not in CoordinateSystem.values:
            return False
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            return False
        return _place_values(latitude, longitude, crs)["cell"] == donor.cell
    return same


@dataclass(frozen=True)
class SelfRegistration(Registration):
    """What a signed-in resident fills in on the registration page: their registration and the
    page's own choices. A resident never vouches for their own group, so `verified` is not
    theirs to set."""

    verified: bool = dataclasses.field(default=False, init=False)
    windows: tuple[tuple[int, time, time], ...] = ()
    paused: bool = False
    language: str = "zh-hans"
    call_channels: str = CallChannels.SMS


PAUSE_DAYS = 30


@transaction.atomic
def donor_self_register(*, actor: User, form: SelfRegistration) -> Donor | None:
    """A resident registers or edits themselves. Unticking a consent already given withdraws
    it (and erases what it covered); without the health consent nothing else is kept, so the
    record stays only as a withdrawn one and None is returned. All or nothing."""
    mine = Donor.objects.select_for_update().filter(user=actor).order_by("pk").first()
    if mine is not None and not form.health_consent:
        if mine.health_consent:
            donor_consent_withdraw(actor=actor, donor=mine, which="health")
        if mine.location_consent:
            donor_consent_withdraw(actor=actor, donor=mine, which="location")
        return None
    donor = donor_register(
        actor=actor,
        registration=form,
        user=actor,
        language=form.language,
        call_channels=form.call_channels,
    )
    if not form.location_consent and donor.location_consent:
        donor_consent_withdraw(actor=actor, donor=donor, which="location")
    donor_windows_set(actor=actor, donor=donor, windows=list(form.windows))
    paused = donor.paused_until is not None and donor.paused_until > timezone.now()
    if form.paused and not paused:
        donor_pause(actor=actor, donor=donor, until=timezone.now() + timedelta(days=PAUSE_DAYS))
    elif not form.paused and paused:
        donor_pause(actor=actor, donor=donor, until=None)
    return donor


@transaction.atomic
def donor_consent_withdraw(*, actor: User | None, donor: Donor, which: str) -> Donor:
    """Withdraws one consent; the data it covered is erased at once and the donor is no longer
    called (health: group, weight, birth date, phenotype, history; location: the place)."""
    _check(actor, "donors.donor.manage", donor)
    now = timezone.now()
    if which == "health":
        Donation.objects.filter(donor=donor).delete()
        Deferral.objects.filter(donor=donor).delete()
        erased: dict[str, Any] = {
            "abo": "",
            "rhd": "",
            "sex": "",
            "birth_date": None,
            "weight_kg": None,
            "phenotype": {},
            "phenotype_verified": [],
            "group_source": GroupSource.SELF,
            "health_revoked_at": now,
        }
        for field, empty in erased.items():
            setattr(donor, field, empty)
    elif which == "location":
        for field in ("cell", "search_cell", "region_cell"):
            setattr(donor, field, "")
        donor.cell_lat = donor.cell_lng = None
        donor.location_revoked_at = now
    else:
        raise ValidationFailed.on("which", _("只能撤回健康信息或位置信息的同意。"))
    donor.updated_at = now
    donor.save()
    audit_record(actor=actor, action=f"donors.consent.withdraw.{which}", obj=donor)
    return donor


@transaction.atomic
def donor_group_verify(*, actor: User, donor: Donor, abo: str, rhd: str) -> Donor:
    """The blood centre's tested group replaces a declared one."""
    require(actor, "donors.donor.manage", donor)
    if abo not in ABO.values or rhd not in RhD.values:
        raise ValidationFailed.on("abo", _("血型无效。"))
    if not donor.health_consent:
        raise ValidationFailed.on("health_consent", _("该志愿者已撤回健康信息同意。"))
    before = donor.group_label
    Donor.objects.filter(pk=donor.pk).update(abo=abo, rhd=rhd, group_source=GroupSource.CENTRE)
    donor.refresh_from_db()
    audit_record(
        actor=actor,
        action="donors.donor.verify",
        obj=donor,
        changes={"group": [before, donor.group_label]},
    )
    return donor


def _phenotype_values(
    existing: Donor | None, given: dict[str, str], *, verified: bool
) -> dict[str, Any]:
    """The phenotype after recording `given` (antigen → "+" or "-"): the blood centre's values
    replace any and are marked tested; a donor's own never replace a tested one."""
    phenotype = dict(existing.phenotype) if existing is not None else {}
    tested = set(existing.phenotype_verified) if existing is not None else set()
    for antigen, sign in given.items():
        if verified:
            phenotype[antigen] = sign
            tested.add(antigen)
        elif antigen not in tested:
            phenotype[antigen] = sign
    order = {a: n for n, a in enumerate(PHENOTYPE_ANTIGENS_ORDER)}
    return {
        "phenotype": {a: phenotype[a] for a in sorted(phenotype, key=order.__getitem__)},
        "phenotype_verified": sorted(tested & set(phenotype), key=order.__getitem__),
    }


@transaction.atomic
def donor_phenotype_set(*, actor: User, donor: Donor, phenotype: dict[str, str]) -> Donor:
    """Records antigens of a donor's extended phenotype ("+", "-", or "" to forget one). The
    blood centre's values are marked tested; the donor's own are declared and never replace
    (or forget) a tested one."""
    require(actor, "donors.donor.manage", donor)
    if not donor.health_consent:
        raise ValidationFailed.on("health_consent", _("该志愿者已撤回健康信息同意。"))
    for antigen, value in phenotype.items():
        if antigen not in PHENOTYPE_ANTIGENS or value not in ("+", "-", ""):
            raise ValidationFailed.on(
                "phenotype", _("表型只能记录已知抗原的阳性（+）或阴性（-）。")
            )
    verified = not is_own_donor(actor, donor)
    tested = set(donor.phenotype_verified)
    if not verified and any(
        a in tested and donor.phenotype.get(a) != v for a, v in phenotype.items()
    ):
        raise ValidationFailed.on("phenotype", _("血站检测的表型只能由血站修改。"))
    before = dict(donor.phenotype)
    forget = {a for a, v in phenotype.items() if not v}
    kept = Donor(
        phenotype={a: v for a, v in donor.phenotype.items() if a not in forget},
        phenotype_verified=[a for a in donor.phenotype_verified if a not in forget],
    )
    values = _phenotype_values(kept, {a: v for a, v in phenotype.items() if v}, verified=verified)
    if values == {"phenotype": donor.phenotype, "phenotype_verified": donor.phenotype_verified}:
        return donor
    Donor.objects.filter(pk=donor.pk).update(**values, updated_at=timezone.now())
    donor.refresh_from_db()
    audit_record(
        actor=actor,
        action="donors.donor.phenotype",
        obj=donor,
        changes={"phenotype": [before, donor.phenotype], "tested": donor.phenotype_verified},
    )
    return donor


@transaction.atomic
def donor_pause(*, actor: User | None, donor: Donor, until: datetime | None) -> Donor:
    """Pauses calls until a time (None resumes them)."""
    _check(actor, "donors.donor.manage", donor)
    if until is not None and timezone.is_naive(until):
        raise ValidationFailed.on("until", _("时间须带时区。"))
    Donor.objects.filter(pk=donor.pk).update(paused_until=until)
    donor.paused_until = until
    audit_record(actor=actor, action="donors.donor.pause", obj=donor, changes={"until": str(until)})
    return donor


@transaction.atomic
def donor_windows_set(
    *, actor: User | None, donor: Donor, windows: list[tuple[int, time, time]]
) -> Donor:
    _check(actor, "donors.donor.manage", donor)
    for weekday, starts, ends in windows:
        if not 0 <= weekday <= 6 or starts >= ends:
            raise ValidationFailed.on("windows", _("时段无效：开始须早于结束，星期为 0 到 6。"))
    AvailabilityWindow.objects.filter(donor=donor).delete()
    AvailabilityWindow.objects.bulk_create(
        AvailabilityWindow(donor=donor, weekday=w, starts=s, ends=e) for w, s, e in windows
    )
    audit_record(actor=actor, action="donors.donor.windows", obj=donor)
    return donor


@transaction.atomic
def donation_record(
    *,
    actor: User | None,
    donor: Donor,
    kind: str,
    on: date,
    volume_ml: int = 400,
    reaction: bool = False,
) -> Donation:
    _check(actor, "donors.donor.manage", donor)
    if kind not in DonationKind.values:
        raise ValidationFailed.on("kind", _("献血种类无效。"))
    today = timezone.localdate()
    if on > today or (donor.birth_date is not None and on < donor.birth_date):
        raise ValidationFailed.on("on", _("献血日期不合理。"))
    if kind == DonationKind.WHOLE_BLOOD and volume_ml not in (200, 300, 400):
        raise ValidationFailed.on("volume_ml", _("全血献血量为 200、300 或 400 毫升。"))
    donation = Donation.objects.create(
        donor=donor, kind=kind, on=on, volume_ml=volume_ml, reaction=reaction
    )
    if reaction and not donor.had_reaction:
        Donor.objects.filter(pk=donor.pk).update(had_reaction=True)
        donor.had_reaction = True
    donor_refresh_dates(donor, today)
    audit_record(actor=actor, action="donors.donation.record", obj=donor, changes={"kind": kind})
    return donation


@transaction.atomic
def deferral_add(
    *, actor: User | None, donor: Donor, starts_on: date, ends_on: date | None, reason: str
) -> Deferral:
    _check(actor, "donors.donor.manage", donor)
    if ends_on is not None and ends_on < starts_on:
        raise ValidationFailed.on("ends_on", _("暂缓的结束日期早于开始日期。"))
    deferral = Deferral.objects.create(
        donor=donor, starts_on=starts_on, ends_on=ends_on, reason=reason[:200]
    )
    donor_refresh_dates(donor)
    audit_record(actor=actor, action="donors.deferral.add", obj=donor)
    return deferral

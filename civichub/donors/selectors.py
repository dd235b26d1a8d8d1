"""Reads that pages, the API and tasks share: the ranking of donors for a request, the request
board, the registry list (a community and a distance band, never an address) and a donor's
own page. Reads of personal data check permission and are audited."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from django.db import transaction
from django.db.models import Case, ExpressionWrapper, F, FloatField, IntegerField, Q, QuerySet, When
from django.db.models import Value as V
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.config import module_config
from civichub.core.errors import NotFound
from civichub.core.models import User
from civichub.core.permissions import require, scope_filter
from civichub.donors import compatibility, eligibility, places
from civichub.donors.conf import DonorsSettings
from civichub.donors.models import (
    ACTIVE_STATES,
    COMMITTED_STATES,
    BloodRequest,
    CallUp,
    CallUpState,
    Component,
    DonationKind,
    Donor,
    RequestStatus,
    RhD,
    Sex,
)

# The donation a component is collected by: apheresis for platelets, whole blood (separated
# at the centre) for the others.
DONATION_FOR = {
    Component.RED_CELLS: DonationKind.WHOLE_BLOOD,
    Component.WHOLE_BLOOD: DonationKind.WHOLE_BLOOD,
    Component.PLASMA: DonationKind.WHOLE_BLOOD,
    Component.CRYO: DonationKind.WHOLE_BLOOD,
    Component.PLATELETS: DonationKind.PLATELETS,
}

_KM_PER_DEGREE = 111.195


def settings_() -> DonorsSettings:
    return module_config(DonorsSettings)


def rules() -> eligibility.RuleSet:
    conf = settings_()
    return eligibility.rule_set(conf.eligibility_profile, conf.eligibility_overrides)


def patient_of(request: BloodRequest) -> compatibility.Patient:
    return compatibility.Patient(
        abo=request.patient_abo,
        rhd=request.patient_rhd,
        anti_d=request.anti_d,
        rhd_exception_consent=request.rhd_exception_consent,
    )


def donor_facts(donor: Donor) -> eligibility.DonorFacts | None:
    """The donor's facts for the eligibility rule; None without health data."""
    if not donor.health_consent or donor.birth_date is None or donor.weight_kg is None:
        return None
    return eligibility.DonorFacts(
        birth_date=donor.birth_date,
        sex=eligibility.Sex(donor.sex),
        weight_kg=donor.weight_kg,
        donations=tuple(
            eligibility.Donation(eligibility.DonationKind(d.kind), d.on)
            for d in donor.donations.all()
        ),
        deferrals=tuple(
            eligibility.Deferral(d.starts_on, d.ends_on, d.reason) for d in donor.deferrals.all()
        ),
        had_reaction=donor.had_reaction,
    )


def donor_decision(donor: Donor, kind: str, on: date) -> eligibility.Decision | None:
    facts = donor_facts(donor)
    return None if facts is None else eligibility.assess(facts, kind, on, rules())


def month_key(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%Y-%m")


@dataclass(frozen=True)
class Candidate:
    donor_id: int
    abo: str
    rhd: str
    rank: tuple[int, int]
    conditions: frozenset[str]
    distance_km: float
    verified: bool


def _in_window(donor: Donor, moment: datetime) -> bool:
    windows = list(donor.windows.all())
    if not windows:
        return True
    local = timezone.localtime(moment)
    return any(w.weekday == local.weekday() and w.starts <= local.time() < w.ends for w in windows)


def candidate_queryset(
    *,
    component: str,
    patient: compatibility.Patient,
    lat: float,
    lng: float,
    radius_km: float,
    now: datetime,
) -> QuerySet[Donor]:
    """Donors who may be called now for this patient within `radius_km`, best first: the
    order of preference of their group, their distance band, a verified group before a
    declared one, those who answer before those who do not, the longest rested first. Age,
    weight, intervals and deferrals are filtered here on stored dates; the full rule runs again
    on each donor before the call (`rank_candidates`)."""
    conf = settings_()
    ruleset = rules()
    today = timezone.localdate(now)
    groups = compatibility.donor_groups(component, patient)
    if not groups:
        return Donor.objects.none()
    rank_case = Case(
        *[
            When(abo=abo.value, rhd=rhd.value, then=V(i))
            for i, (abo, rhd, _verdict) in enumerate(groups)
        ],
        default=V(99),
        output_field=IntegerField(),
    )
    group_q = Q(pk__in=[])
    for abo, rhd, _verdict in groups:
        group_q |= Q(abo=abo.value, rhd=rhd.value)
    resolution, field = (
        (conf.search_resolution, "search_cell")
        if places.ring_count(radius_km, conf.search_resolution) <= 400
        else (conf.region_resolution, "region_cell")
    )
    cells = places.rings_for(lat, lng, radius_km, resolution)
    cos_lat = math.cos(math.radians(lat))
    # An equirectangular distance in km², exact enough within 100 km to band and order by.
    dist2 = ExpressionWrapper(
        ((F("cell_lat") - V(lat)) * V(_KM_PER_DEGREE)) ** 2
        + ((F("cell_lng") - V(lng)) * V(_KM_PER_DEGREE * cos_lat)) ** 2,
        output_field=FloatField(),
    )
    band_case = Case(
        *[When(dist2__lte=V(b * b), then=V(i)) for i, b in enumerate(conf.distance_bands_km)],
        default=V(len(conf.distance_bands_km)),
        output_field=IntegerField(),
    )
    oldest = max(ruleset.max_age_first, ruleset.max_age_repeat)
    ready_field = (
        "platelets_from"
        if DONATION_FOR[Component(component)] == DonationKind.PLATELETS
        else "whole_blood_from"
    )
    return (
        Donor.objects.filter(group_q, **{f"{field}__in": cells})
        .filter(health_consent_at__isnull=False, health_revoked_at__isnull=True)
        .filter(location_consent_at__isnull=False, location_revoked_at__isnull=True)
        .filter(Q(paused_until__isnull=True) | Q(paused_until__lte=now))
        .filter(Q(**{f"{ready_field}__isnull": True}) | Q(**{f"{ready_field}__lte": today}))
        .filter(
            birth_date__lte=_years_before(today, ruleset.min_age),
            birth_date__gt=_years_before(today, oldest + 1),
        )
        .filter(
            Q(sex=Sex.MALE, weight_kg__gte=ruleset.min_weight_kg_male)
            | Q(sex=Sex.FEMALE, weight_kg__gte=ruleset.min_weight_kg_female)
        )
        .filter(~Q(month_key=month_key(now)) | Q(month_call_ups__lt=conf.monthly_call_up_cap))
        .annotate(dist2=dist2)
        .filter(dist2__lte=radius_km * radius_km)
        .annotate(pref=rank_case, band=band_case)
        .order_by("pref", "band", "group_source", "-accepts", "calls", "last_called_at", "pk")
    )


def _years_before(day: date, years: int) -> date:
    return eligibility.Interval(months=-12 * years).after(day)


def rank_candidates(
    *,
    component: str,
    patient: compatibility.Patient,
    lat: float,
    lng: float,
    radius_km: float,
    now: datetime,
    limit: int,
    exclude: Iterable[int] = (),
) -> list[Candidate]:
    """The first `limit` donors to call, best first, each checked by the full eligibility rule
    for the day and by their availability windows; donors already taken by a call-up (this
    request's or another's) and those in `exclude` are left out."""
    queryset = candidate_queryset(
        component=component, patient=patient, lat=lat, lng=lng, radius_km=radius_km, now=now
    ).exclude(pk__in=list(exclude))
    queryset = queryset.exclude(
        pk__in=CallUp.objects.filter(state__in=ACTIVE_STATES).values("donor_id")
    )
    kind = DONATION_FOR[Component(component)]
    today = timezone.localdate(now)
    found: list[Candidate] = []
    batch = max(limit * 2, 20)
    offset = 0
    while len(found) < limit:
        rows = list(
            queryset.prefetch_related("donations", "deferrals", "windows")[offset : offset + batch]
        )
        if not rows:
            break
        offset += batch
        for donor in rows:
            decision = donor_decision(donor, kind, today)
            if decision is None or not decision.eligible or not _in_window(donor, now):
                continue
            verdict = compatibility.verdict(component, patient, donor.abo, donor.rhd)
            if not verdict.allowed:  # the query's groups are the table's; this never happens
                continue
            found.append(
                Candidate(
                    donor_id=donor.pk,
                    abo=donor.abo,
                    rhd=donor.rhd,
                    rank=verdict.rank,
                    conditions=verdict.conditions,
                    distance_km=math.sqrt(getattr(donor, "dist2", 0.0)),
                    verified=donor.group_source == "centre",
                )
            )
            if len(found) == limit:
                break
    return found


# Requests and the board ----------------------------------------------------------------------


def request_get(*, actor: User, pk: int) -> BloodRequest:
    found = BloodRequest.objects.select_related("hospital").filter(pk=pk).first()
    if found is None:
        raise NotFound(_("没有编号为 %(pk)s 的用血需求。") % {"pk": pk})
    require(actor, "donors.request.view", found)
    return found


def request_list(*, actor: User, status: str | None = None) -> QuerySet[BloodRequest]:
    require(actor, "donors.request.view")
    queryset = scope_filter(
        actor, "donors.request.view", BloodRequest.objects.all(), "hospital__path"
    ).select_related("hospital")
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-created_at", "-pk")


@dataclass(frozen=True)
class BoardRow:
    """One call-up as staff see it: the donor's group, community and distance band; no name,
    no phone, no address."""

    call_up_id: int
    state: str
    state_label: str
    group: str
    verified: bool
    community: str
    band_km: float | None
    wave: int
    check_in_code: str


def request_counts(blood_request: BloodRequest) -> dict[str, int]:
    counts = {state.value: 0 for state in CallUpState}
    for state in blood_request.call_ups.values_list("state", flat=True):
        counts[state] += 1
    counts["committed"] = sum(counts[s] for s in COMMITTED_STATES)
    return counts


def request_board(*, actor: User, blood_request: BloodRequest) -> list[BoardRow]:
    require(actor, "donors.request.view", blood_request)
    bands = settings_().distance_bands_km
    rows = []
    for call_up in blood_request.call_ups.select_related("donor__community").order_by(
        "wave", "rank_rhd", "rank_abo", "distance_km", "pk"
    ):
        donor = call_up.donor
        rows.append(
            BoardRow(
                call_up_id=call_up.pk,
                state=call_up.state,
                state_label=str(CallUpState(call_up.state).label),
                group=donor.group_label,
                verified=donor.group_source == "centre",
                community=donor.community.name,
                band_km=places.band_km(call_up.distance_km, bands),
                wave=call_up.wave,
                check_in_code=call_up.check_in_code
                if call_up.state in (CallUpState.ACCEPTED, CallUpState.ARRIVED)
                else "",
            )
        )
    return rows


# The registry --------------------------------------------------------------------------------


@transaction.atomic
def donor_list(*, actor: User, purpose: str, rhd: str | None = None) -> QuerySet[Donor]:
    """The registry in the actor's scope (audited: health data)."""
    require(actor, "donors.donor.view")
    queryset = scope_filter(
        actor,
        "donors.donor.view",
        Donor.objects.select_related("community"),
        "community__path",
        owner_q=Q(user=actor),
    )
    if rhd in RhD.values:
        queryset = queryset.filter(rhd=rhd)
    audit_record(actor=actor, action="donors.donor.list", purpose=purpose or "registry")
    return queryset.order_by("community__name", "pk")


@transaction.atomic
def donor_get(*, actor: User, pk: int, purpose: str) -> Donor:
    donor = Donor.objects.select_related("community").filter(pk=pk).first()
    if donor is None:
        raise NotFound(_("没有编号为 %(pk)s 的献血志愿者。") % {"pk": pk})
    require(actor, "donors.donor.view", donor)
    audit_record(actor=actor, action="donors.donor.view", obj=donor, purpose=purpose or "registry")
    return donor


def eligible_count(user: User) -> int:
    """The dashboard tile: donors with both consents who are not paused, in the user's scope."""
    now = timezone.now()
    queryset = scope_filter(user, "donors.donor.view", Donor.objects.all(), "community__path")
    return (
        queryset.filter(health_consent_at__isnull=False, health_revoked_at__isnull=True)
        .filter(location_consent_at__isnull=False, location_revoked_at__isnull=True)
        .filter(Q(paused_until__isnull=True) | Q(paused_until__lte=now))
        .count()
    )


def open_requests_due(now: datetime) -> list[int]:
    return list(
        BloodRequest.objects.filter(
            status=RequestStatus.OPEN, next_wave_at__isnull=False, next_wave_at__lte=now
        ).values_list("pk", flat=True)[:200]
    )

"""Reads of requests, the board, the registry and a donor's own page (a community and a
distance band, never an address). Reads of personal data check permission and are audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.errors import NotFound
from civichub.core.models import Organisation, OrganisationKind, User
from civichub.core.permissions import require, scope_filter
from civichub.donors import eligibility, places
from civichub.donors.models import (
    COMMITTED_STATES,
    VERIFIED_SOURCES,
    BloodRequest,
    CallUp,
    CallUpState,
    Donation,
    DonationKind,
    Donor,
    RequestStatus,
    RhD,
)
from civichub.donors.selectors.ranking import donor_decision, settings_

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
                verified=donor.group_source in VERIFIED_SOURCES,
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


@dataclass(frozen=True)
class MyDonorPage:
    donor: Donor
    decisions: list[tuple[str, eligibility.Decision | None]]
    donations: list[Donation]
    call_ups: list[CallUp]


@transaction.atomic
def donor_mine(*, actor: User) -> MyDonorPage | None:
    """A signed-in donor's own record: eligibility today for each kind of donation (with its
    reasons and return date), history and call-ups; None when the person is not registered."""
    donor = Donor.objects.select_related("community").filter(user=actor).first()
    if donor is None:
        return None
    require(actor, "donors.donor.view", donor)
    audit_record(actor=actor, action="donors.donor.view", obj=donor, purpose="own record")
    today = timezone.localdate()
    decisions: list[tuple[str, eligibility.Decision | None]] = [
        (str(DonationKind(kind).label), donor_decision(donor, kind, today))
        for kind in DonationKind.values
    ]
    return MyDonorPage(
        donor=donor,
        decisions=decisions,
        donations=list(donor.donations.all()[:50]),
        call_ups=list(donor.call_ups.select_related("request__hospital").order_by("-pk")[:50]),
    )


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


def donor_own(*, actor: User) -> Donor | None:
    """The signed-in person's own donor record for the registration page (audited read)."""
    donor = Donor.objects.select_related("community").filter(user=actor).order_by("pk").first()
    if donor is None:
        return None
    require(actor, "donors.donor.view", donor)
    audit_record(actor=actor, action="donors.donor.view", obj=donor, purpose="own registration")
    return donor


def community_by_code(code: str) -> Organisation | None:
    """The community with this organisation code (an import names donors' communities so)."""
    return Organisation.objects.filter(code=code, kind=OrganisationKind.COMMUNITY).first()

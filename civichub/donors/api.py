"""The donors API: requests (create, read with the board, record arrivals and donations,
cancel), the donor's answer by the signed link, and the registry (register with consent).
Thin: parse, call a selector or service, shape the answer."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status

from civichub.core import selectors as core_selectors
from civichub.core.errors import NotFound
from civichub.core.http import request_user
from civichub.donors import selectors, services
from civichub.donors.links import call_up_from_token
from civichub.donors.models import VERIFIED_SOURCES, BloodRequest, CallUp

router = Router(tags=["donors"])


class RequestIn(Schema):
    hospital_id: int
    component: Literal["red_cells", "plasma", "platelets", "cryo", "whole_blood"]
    units: int
    patient_abo: Literal["O", "A", "B", "AB", "unknown"]
    patient_rhd: Literal["pos", "neg", "unknown"]
    anti_d: bool = False
    urgency: Literal["urgent", "critical"] = "urgent"
    address: str
    latitude: float
    longitude: float
    crs: Literal["wgs84", "gcj02"] = "gcj02"
    rhd_exception_consent: bool = False
    consent_note: str = ""
    # Antigens the donors must be known to lack (K, Fya, Jka, ...); unknown is not called.
    antigen_negative: list[str] = []


class BoardRowOut(Schema):
    call_up_id: int
    state: str
    group: str
    verified: bool
    community: str
    band_km: float | None
    wave: int
    check_in_code: str


class RequestOut(Schema):
    id: int
    hospital_id: int
    component: str
    units: int
    urgency: str
    patient_abo: str
    patient_rhd: str
    anti_d: bool
    antigen_negative: list[str]
    status: str
    waves: int
    created_at: dt.datetime
    first_accepted_at: dt.datetime | None
    closed_at: dt.datetime | None
    donor_groups: list[str]
    counts: dict[str, int]
    call_ups: list[BoardRowOut]


class MarkIn(Schema):
    state: Literal["arrived", "donated", "no_show"]


class CallUpAnswerIn(Schema):
    accept: bool


class AnswerOut(Schema):
    changed: bool
    state: str
    check_in_code: str
    address: str


class DonorIn(Schema):
    name: str
    phone: str
    community_id: int
    sex: Literal["male", "female"]
    birth_date: dt.date
    weight_kg: float
    abo: Literal["O", "A", "B", "AB"]
    rhd: Literal["pos", "neg"]
    health_consent: bool
    location_consent: bool
    latitude: float | None = None
    longitude: float | None = None
    crs: Literal["wgs84", "gcj02"] = "gcj02"
    identity_number: str = ""
    verified: bool = False
    phenotype: dict[str, str] | None = None


class DonorOut(Schema):
    id: int
    community_id: int
    group: str
    verified: bool
    health_consent: bool
    location_consent: bool
    whole_blood_from: dt.date | None
    platelets_from: dt.date | None


def _request_out(actor: object, blood_request: BloodRequest) -> RequestOut:
    rows = selectors.request_board(actor=actor, blood_request=blood_request)  # type: ignore[arg-type]
    return RequestOut(
        id=blood_request.pk,
        hospital_id=blood_request.hospital_id,
        component=blood_request.component,
        units=blood_request.units,
        urgency=blood_request.urgency,
        patient_abo=blood_request.patient_abo,
        patient_rhd=blood_request.patient_rhd,
        anti_d=blood_request.anti_d,
        antigen_negative=list(blood_request.antigen_negative),
        status=blood_request.status,
        waves=blood_request.waves,
        created_at=blood_request.created_at,
        first_accepted_at=blood_request.first_accepted_at,
        closed_at=blood_request.closed_at,
        donor_groups=services.patient_groups(blood_request),
        counts=selectors.request_counts(blood_request),
        call_ups=[
            BoardRowOut(
                call_up_id=r.call_up_id,
                state=r.state,
                group=r.group,
                verified=r.verified,
                community=r.community,
                band_km=r.band_km,
                wave=r.wave,
                check_in_code=r.check_in_code,
            )
            for r in rows
        ],
    )


@router.post("/requests", response={201: RequestOut}, summary="Create an emergency request")
def request_create(request: HttpRequest, payload: RequestIn) -> Status:
    user = request_user(request)
    hospital = core_selectors.organisation_get(pk=payload.hospital_id)
    values = payload.dict(exclude={"hospital_id"})
    created = services.blood_request_create(actor=user, hospital=hospital, **values)
    return Status(201, _request_out(user, created))


@router.get("/requests/{request_id}", response=RequestOut, summary="A request and its call-ups")
def request_read(request: HttpRequest, request_id: int) -> RequestOut:
    user = request_user(request)
    return _request_out(user, selectors.request_get(actor=user, pk=request_id))


@router.post("/requests/{request_id}/cancel", response=RequestOut, summary="Cancel a request")
def request_cancel(request: HttpRequest, request_id: int) -> RequestOut:
    user = request_user(request)
    found = selectors.request_get(actor=user, pk=request_id)
    return _request_out(user, services.blood_request_cancel(actor=user, request=found))


@router.post(
    "/call-ups/{call_up_id}/mark", response=RequestOut, summary="Record arrival or donation"
)
def call_up_mark(request: HttpRequest, call_up_id: int, payload: MarkIn) -> RequestOut:
    user = request_user(request)
    call_up = CallUp.objects.filter(pk=call_up_id).first()
    if call_up is None:
        raise NotFound(_("没有这个召集。"))
    services.call_up_mark(actor=user, call_up=call_up, state=payload.state)
    return _request_out(user, selectors.request_get(actor=user, pk=call_up.request_id))


@router.post(
    "/answers/{token}",
    response=AnswerOut,
    auth=None,
    summary="A donor's answer from the signed link (no sign-in)",
)
def call_up_answer(request: HttpRequest, token: str, payload: CallUpAnswerIn) -> AnswerOut:
    call_up = call_up_from_token(token)
    changed = services.call_up_respond(call_up=call_up, accept=payload.accept)
    call_up.refresh_from_db()
    going = call_up.state in ("accepted", "arrived")
    return AnswerOut(
        changed=changed,
        state=call_up.state,
        check_in_code=call_up.check_in_code if going else "",
        address=call_up.request.address if going else "",
    )


@router.post("/donors", response={201: DonorOut}, summary="Register a donor with consent")
def donor_register(request: HttpRequest, payload: DonorIn) -> Status:
    user = request_user(request)
    community = core_selectors.organisation_get(pk=payload.community_id)
    donor = services.donor_register(
        actor=user,
        registration=services.Registration(
            name=payload.name,
            phone=payload.phone,
            community=community,
            details=services.DonorDetails(
                sex=payload.sex,
                birth_date=payload.birth_date,
                weight_kg=payload.weight_kg,
                abo=payload.abo,
                rhd=payload.rhd,
                phenotype=payload.phenotype,
            ),
            health_consent=payload.health_consent,
            location_consent=payload.location_consent,
            latitude=payload.latitude,
            longitude=payload.longitude,
            crs=payload.crs,
            identity_number=payload.identity_number,
            verified=payload.verified,
        ),
    )
    return Status(
        201,
        DonorOut(
            id=donor.pk,
            community_id=donor.community_id,
            group=donor.group_label,
            verified=donor.group_source in VERIFIED_SOURCES,
            health_consent=donor.health_consent,
            location_consent=donor.location_consent,
            whole_blood_from=donor.whole_blood_from,
            platelets_from=donor.platelets_from,
        ),
    )

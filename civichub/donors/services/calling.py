"""Requests and call-ups: a hospital's request, the widening waves that call donors through the
outbox (SMS, push or both as the donor chose, at emergency priority, so quiet hours do not
hold it), the donor's answer from the signed link, arrival, donation and no-show, and the
close that stands everyone else down.

Two requests at once never take the same donor: each call-up is inserted under a savepoint and
the database refuses a second active call-up for a donor (`donors_callup_one_active`), on
PostgreSQL after the donor's row is locked; a wave that loses the race skips that donor."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_tasks import task

from civichub.core import geo
from civichub.core.audit import audit_record
from civichub.core.context import acting
from civichub.core.errors import Conflict, ValidationFailed
from civichub.core.models import CoordinateSystem, Organisation, User
from civichub.core.permissions import require
from civichub.donors import compatibility, live
from civichub.donors.links import call_up_link
from civichub.donors.models import (
    COMMITTED_STATES,
    REQUESTABLE_ANTIGENS,
    BloodRequest,
    CallChannels,
    CallUp,
    CallUpState,
    Component,
    Donor,
    PatientABO,
    PatientRhD,
    RequestStatus,
    Urgency,
)
from civichub.donors.selectors import (
    DONATION_FOR,
    month_key,
    patient_of,
    rank_candidates,
    settings_,
)
from civichub.donors.services.registry import donation_record
from civichub.notify.services import (
    Channel,
    Priority,
    notification_send,
    notification_send_to_address,
)

KIND_CALL = "donors.call_up"
KIND_STAND_DOWN = "donors.stand_down"


@transaction.atomic
def blood_request_create(
    *,
    actor: User,
    hospital: Organisation,
    component: str,
    units: int,
    patient_abo: str,
    patient_rhd: str,
    anti_d: bool,
    address: str,
    latitude: float,
    longitude: float,
    crs: str = CoordinateSystem.GCJ02,
    urgency: str = Urgency.URGENT,
    rhd_exception_consent: bool = False,
    consent_note: str = "",
    antigen_negative: Sequence[str] = (),
    now: datetime | None = None,
) -> BloodRequest:
    """A hospital's request; the first wave is called at once (after commit). With
    `antigen_negative` (a patient with antibodies to those antigens) only donors whose
    phenotype records each of them as negative are called."""
    require(actor, "donors.request.create", hospital)
    errors: dict[str, list[str]] = {}
    if component not in Component.values:
        errors["component"] = [_("血液成分无效。")]
    if patient_abo not in PatientABO.values:
        errors["patient_abo"] = [_("患者 ABO 血型只能是 O、A、B、AB 或未知。")]
    if patient_rhd not in PatientRhD.values:
        errors["patient_rhd"] = [_("患者 RhD 只能是阳性、阴性或未知。")]
    if not 1 <= units <= 20:
        errors["units"] = [_("需要的人数应在 1 到 20 之间。")]
    if urgency not in Urgency.values:
        errors["urgency"] = [_("紧急程度无效。")]
    if not address.strip() or len(address.strip()) > 300:
        errors["address"] = [_("请填写献血地点（不超过 300 字）。")]
    if crs not in CoordinateSystem.values or not (
        -90 <= latitude <= 90 and -180 <= longitude <= 180
    ):
        errors["location"] = [_("纬度或经度超出范围。")]
    if rhd_exception_consent and anti_d:
        errors["rhd_exception_consent"] = [
            _("患者有抗-D 抗体，只能输注 RhD 阴性血液，不能按紧急例外处理。")
        ]
    if rhd_exception_consent and not consent_note.strip():
        errors["consent_note"] = [_("请记录患者或家属签署的知情同意书。")]
    if any(a not in REQUESTABLE_ANTIGENS for a in antigen_negative):
        errors["antigen_negative"] = [_("只能要求已知抗原为阴性。")]
    if errors:
        raise ValidationFailed(_("用血需求有误。"), errors=errors)
    asked = [a for a in REQUESTABLE_ANTIGENS if a in set(antigen_negative)]
    lat, lng = geo.to_wgs84(latitude, longitude, crs)
    now = now or timezone.now()
    request = BloodRequest.objects.create(
        hospital=hospital,
        created_by=actor,
        component=component,
        units=units,
        urgency=urgency,
        patient_abo=patient_abo,
        patient_rhd=patient_rhd,
        anti_d=anti_d,
        rhd_exception_consent=rhd_exception_consent,
        consent_recorded_by=actor if rhd_exception_consent else None,
        consent_note=consent_note.strip()[:200],
        antigen_negative=asked,
        address=address.strip(),
        latitude=lat,
        longitude=lng,
        next_wave_at=now,
        created_at=now,
        updated_at=now,
    )
    audit_record(
        actor=actor,
        action="donors.request.create",
        obj=request,
        changes={"component": component, "units": units, "group": f"{patient_abo}/{patient_rhd}"},
    )
    transaction.on_commit(partial(call_up_wave_task.enqueue, request.pk))
    live.request_changed(request.pk)
    return request


def _wave_radius(request: BloodRequest, wave: int) -> float:
    conf = settings_()
    radius = conf.wave_radius_km[min(wave - 1, len(conf.wave_radius_km) - 1)]
    rhd_matters = request.component in (Component.RED_CELLS, Component.WHOLE_BLOOD)
    if rhd_matters and request.patient_rhd != PatientRhD.POS:
        radius = max(radius, conf.rhd_negative_radius_km)
    return radius


def _committed(request: BloodRequest) -> int:
    return request.call_ups.filter(state__in=COMMITTED_STATES).count()


def _take(request: BloodRequest, candidate: Any, wave: int, now: datetime) -> CallUp | None:
    """One call-up, or None when another request took the donor meanwhile."""
    donor = Donor.objects.select_for_update().filter(pk=candidate.donor_id).first()
    if donor is None:
        return None
    try:
        with transaction.atomic():
            call_up = CallUp.objects.create(
                request=request,
                donor=donor,
                wave=wave,
                rank_rhd=candidate.rank[0],
                rank_abo=candidate.rank[1],
                conditions=sorted(candidate.conditions),
                distance_km=round(candidate.distance_km, 3),
                called_at=now,
            )
    except IntegrityError:
        return None
    key = month_key(now)
    count = donor.month_call_ups + 1 if donor.month_key == key else 1
    Donor.objects.filter(pk=donor.pk).update(
        month_key=key, month_call_ups=count, calls=F("calls") + 1, last_called_at=now
    )
    call_up.donor = donor
    return call_up


def _call_context(call_up: CallUp) -> dict[str, Any]:
    request = call_up.request
    with translation.override(call_up.donor.language):
        component = str(Component(request.component).label)
    return {
        "component": component,
        "hospital": request.hospital.name,
        "link": call_up_link(call_up),
    }


def _send_sms(*, phone: str, kind: str, context: dict[str, Any], language: str, key: str) -> None:
    notification_send_to_address(
        kind=kind,
        channel=Channel.SMS,
        address=phone,
        language=language,
        context=context,
        priority=Priority.EMERGENCY,
        dedupe_key=key,
    )


def _tell_donor(*, donor: Donor, kind: str, context: dict[str, Any], key: str) -> None:
    """Through the channels the donor chose: SMS to their phone, push to the devices of their
    account, or both, at emergency priority. A donor who chose push only and has no account
    any more (it was removed) is told by SMS: a call is never silently lost."""
    account = donor.user_id
    by_push = donor.call_channels in (CallChannels.PUSH, CallChannels.BOTH) and account is not None
    if donor.call_channels != CallChannels.PUSH or not by_push:
        _send_sms(phone=donor.phone, kind=kind, context=context, language=donor.language, key=key)
    if by_push and account is not None:
        notification_send(
            recipients=[account],
            kind=kind,
            context=context,
            priority=Priority.EMERGENCY,
            channels=[Channel.PUSH],
            dedupe_key=f"{key}.push",
        )


@transaction.atomic
def call_up_wave(*, request_id: int, now: datetime | None = None) -> int:
    """Calls the next wave for an open request that still lacks donors; returns how many were
    called. Idempotent: a wave not yet due, a request met or closed, calls nobody."""
    now = now or timezone.now()
    request = (
        BloodRequest.objects.select_for_update()
        .select_related("hospital")
        .filter(pk=request_id)
        .first()
    )
    if request is None or request.status != RequestStatus.OPEN:
        return 0
    if request.next_wave_at is None or request.next_wave_at > now:
        return 0
    conf = settings_()
    missing = request.units - _committed(request)
    if missing <= 0 or request.waves >= conf.max_waves:
        BloodRequest.objects.filter(pk=request.pk).update(next_wave_at=None)
        return 0
    wave = request.waves + 1
    size = conf.wave_sizes[min(wave - 1, len(conf.wave_sizes) - 1)]
    candidates = rank_candidates(
        component=request.component,
        patient=patient_of(request),
        lat=request.latitude,
        lng=request.longitude,
        radius_km=_wave_radius(request, wave),
        now=now,
        limit=max(size, missing),
        exclude=request.call_ups.values_list("donor_id", flat=True),
        antigen_negative=request.antigen_negative,
    )
    called = []
    for candidate in candidates:
        call_up = _take(request, candidate, wave, now)
        if call_up is not None:
            called.append(call_up)
    BloodRequest.objects.filter(pk=request.pk).update(
        waves=wave, next_wave_at=now + timedelta(minutes=conf.wave_minutes), updated_at=now
    )
    for call_up in called:
        call_up.request = request
        transaction.on_commit(
            partial(
                _tell_donor,
                donor=call_up.donor,
                kind=KIND_CALL,
                context=_call_context(call_up),
                key=f"donors.call_up.{call_up.pk}",
            )
        )
    audit_record(
        actor=None,
        action="donors.request.wave",
        obj=request,
        changes={"wave": wave, "called": len(called)},
    )
    live.request_changed(request.pk)
    return len(called)


@task()
def call_up_wave_task(request_id: int) -> int:
    with acting(channel="task"):
        return call_up_wave(request_id=request_id)


def _locked(call_up_id: int) -> CallUp:
    return (
        CallUp.objects.select_for_update()
        .select_related("request__hospital", "donor")
        .get(pk=call_up_id)
    )


@transaction.atomic
def call_up_respond(*, call_up: CallUp, accept: bool, now: datetime | None = None) -> bool:
    """The donor's answer from the signed link. Returns whether it changed anything: an answer
    to a call-up no longer open (the request met or closed, already answered) changes nothing
    and the page thanks the donor all the same."""
    now = now or timezone.now()
    call_up = _locked(call_up.pk)
    request = BloodRequest.objects.select_for_update().get(pk=call_up.request_id)
    if call_up.state != CallUpState.CALLED or request.status != RequestStatus.OPEN:
        return False
    if accept:
        call_up.state = CallUpState.ACCEPTED
        call_up.check_in_code = f"{secrets.randbelow(10**6):06d}"
        Donor.objects.filter(pk=call_up.donor_id).update(accepts=F("accepts") + 1)
        if request.first_accepted_at is None:
            request.first_accepted_at = now
        if _committed(request) + 1 >= request.units:
            request.next_wave_at = None  # enough donors are coming: no next wave
    else:
        call_up.state = CallUpState.DECLINED
        still_called = request.call_ups.filter(state=CallUpState.CALLED).exclude(pk=call_up.pk)
        if request.next_wave_at is not None and not still_called.exists():
            # Everyone of the wave has answered and not enough come: the next wave now.
            request.next_wave_at = now
            transaction.on_commit(partial(call_up_wave_task.enqueue, request.pk))
    call_up.responded_at = now
    call_up.save(update_fields=["state", "check_in_code", "responded_at"])
    request.updated_at = now
    request.save(update_fields=["first_accepted_at", "next_wave_at", "updated_at"])
    audit_record(
        actor=None,
        action="donors.call_up.respond",
        obj=call_up,
        changes={"state": call_up.state},
    )
    live.request_changed(request.pk)
    return True


_MARKS = {
    CallUpState.ARRIVED: (CallUpState.ACCEPTED,),
    CallUpState.DONATED: (CallUpState.ARRIVED, CallUpState.ACCEPTED),
    CallUpState.NO_SHOW: (CallUpState.ACCEPTED, CallUpState.CALLED),
}


@transaction.atomic
def call_up_mark(
    *, actor: User, call_up: CallUp, state: str, now: datetime | None = None
) -> CallUp:
    """The hospital records an arrival, a donation or a no-show. Donations that cover the
    units meet the request; a no-show reopens the waves at once."""
    now = now or timezone.now()
    call_up = _locked(call_up.pk)
    request = (
        BloodRequest.objects.select_for_update()
        .select_related("hospital")
        .get(pk=call_up.request_id)
    )
    require(actor, "donors.request.manage", request)
    allowed_from = _MARKS.get(CallUpState(state)) if state in CallUpState.values else None
    if allowed_from is None:
        raise ValidationFailed.on("state", _("只能记录到达、已献血或未到。"))
    if call_up.state not in allowed_from:
        raise Conflict(
            _("该召集当前为“%(state)s”，不能改为“%(new)s”。")
            % {"state": CallUpState(call_up.state).label, "new": CallUpState(state).label}
        )
    call_up.state = state
    if state == CallUpState.ARRIVED:
        call_up.arrived_at = now
    elif state == CallUpState.DONATED:
        call_up.donated_at = now
        call_up.arrived_at = call_up.arrived_at or now
    call_up.save(update_fields=["state", "arrived_at", "donated_at"])
    audit_record(actor=actor, action="donors.call_up.mark", obj=call_up, changes={"state": state})
    live.request_changed(request.pk)
    if state == CallUpState.DONATED:
        donation_record(
            actor=None,
            donor=call_up.donor,
            kind=DONATION_FOR[Component(request.component)],
            on=timezone.localdate(now),
        )
        donated = request.call_ups.filter(state=CallUpState.DONATED).count()
        if donated >= request.units:
            _close(request, RequestStatus.MET, now)
    elif state == CallUpState.NO_SHOW and request.status == RequestStatus.OPEN:
        BloodRequest.objects.filter(pk=request.pk).update(next_wave_at=now, updated_at=now)
        transaction.on_commit(partial(call_up_wave_task.enqueue, request.pk))
    return call_up


def _close(request: BloodRequest, status: str, now: datetime) -> None:
    """Closes the request: no more waves, and everyone still called or on the way is stood
    down with thanks."""
    BloodRequest.objects.filter(pk=request.pk).update(
        status=status, next_wave_at=None, closed_at=now, updated_at=now
    )
    request.status = status
    standing = list(
        request.call_ups.filter(
            state__in=(CallUpState.CALLED, CallUpState.ACCEPTED, CallUpState.ARRIVED)
        ).select_related("donor")
    )
    CallUp.objects.filter(pk__in=[c.pk for c in standing]).update(state=CallUpState.STOOD_DOWN)
    context = {"hospital": request.hospital.name}
    for call_up in standing:
        transaction.on_commit(
            partial(
                _tell_donor,
                donor=call_up.donor,
                kind=KIND_STAND_DOWN,
                context=context,
                key=f"donors.stand_down.{call_up.pk}",
            )
        )
    audit_record(
        actor=None,
        action="donors.request.close",
        obj=request,
        changes={"status": status, "stood_down": len(standing)},
    )
    live.request_changed(request.pk)


@transaction.atomic
def blood_request_cancel(*, actor: User, request: BloodRequest) -> BloodRequest:
    request = BloodRequest.objects.select_for_update().select_related("hospital").get(pk=request.pk)
    require(actor, "donors.request.manage", request)
    if request.status != RequestStatus.OPEN:
        raise Conflict(_("该用血需求已结束。"))
    _close(request, RequestStatus.CANCELLED, timezone.now())
    return request


def patient_groups(request: BloodRequest) -> list[str]:
    """The donor groups the request may call, best first (for the board)."""
    return [
        f"{abo.value}{'+' if rhd == compatibility.RhD.POS else '-'}"
        for abo, rhd, _verdict in compatibility.donor_groups(request.component, patient_of(request))
    ]

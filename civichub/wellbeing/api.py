"""Wellbeing's API at /api/wellbeing/: the JSON batch of meter readings a utility sends;
enrolment with consent, family contacts, meters, time away and withdrawal; the community
dashboard; the family's answer to an alert (signed in, or with the signed link's token); and the
visit actions a worker's phone calls. Thin: parse, call a selector or a service, and answer with
what they return (the output schemas read it; a `resolve_` method says where a field comes from
when it is not an attribute of the same name). Every read of a household's data is audited by
the selector it calls; errors are RFC 7807 problems."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from civichub.core import selectors as core_selectors
from civichub.core.errors import ValidationFailed
from civichub.core.http import request_user
from civichub.wellbeing import selectors, services
from civichub.wellbeing.models import Alert, AwayPeriod, FamilyContact, Household, Meter, VisitTask
from civichub.wellbeing.wording import detection_delay

router = Router(tags=["wellbeing"])


class ReadingIn(Schema):
    meter_id: str
    at: str = Field(description="ISO 8601; a time without an offset is the deployment's local time")
    value: float | str | None = Field(
        description=(
            "In the meter's own unit (its `unit`: m3 or L for water and gas, kWh or Wh for "
            "electricity), as the meter sends it: a register meter's running total, or an "
            "interval meter's use in the interval ending at `at`. Stored as sent; the use is "
            "converted to m3 or kWh. A use more than a household can have in the time it covers "
            "is refused with the code `implausible`."
        )
    )
    reset: bool = Field(False, description="A register meter was reset or rolled over")


# A utility sends large volumes as several batches, or as a file or a stream: one request stays
# small enough to be stored in one short transaction and answered row by row.
READINGS_PER_BATCH = 10_000


class BatchIn(Schema):
    readings: list[ReadingIn] = Field(
        max_length=READINGS_PER_BATCH,
        description=f"At most {READINGS_PER_BATCH:,} readings; send more as several batches",
    )


class RowErrorOut(Schema):
    row: int = Field(description="The row's index in the batch, from 0")
    code: str = Field(
        description="Why, as a stable key: unknown_meter, conflict, backwards, implausible, ..."
    )
    error: str = Field(description="Why, in words, in the language of the request")


class BatchOut(Schema):
    accepted: int
    duplicates: int
    errors: list[RowErrorOut]


@router.post("/readings", response=BatchOut, summary="Send a batch of meter readings")
def readings_batch(request: HttpRequest, payload: BatchIn) -> services.IngestReport:
    return services.readings_ingest(
        actor=request_user(request), rows=[r.dict() for r in payload.readings]
    )


class VisitOut(Schema):
    id: int
    status: str
    outcome: str
    alert_id: int


class OutcomeIn(Schema):
    outcome: Literal["fine", "needed_help", "hospital", "not_home"]
    real: bool
    note: str = ""


def _task(request: HttpRequest, visit_id: int) -> VisitTask:
    return selectors.visit_detail(actor=request_user(request), visit_id=visit_id)


@router.post("/visits/{visit_id}/accept", response=VisitOut, summary="Accept a visit task")
def visit_accept(request: HttpRequest, visit_id: int) -> VisitTask:
    return services.visit_accept(actor=request_user(request), task=_task(request, visit_id))


@router.post("/visits/{visit_id}/on-the-way", response=VisitOut, summary="Say you are on the way")
def visit_on_the_way(request: HttpRequest, visit_id: int) -> VisitTask:
    return services.visit_on_the_way(actor=request_user(request), task=_task(request, visit_id))


@router.post("/visits/{visit_id}/outcome", response=VisitOut, summary="Record the visit's outcome")
def visit_outcome(request: HttpRequest, visit_id: int, payload: OutcomeIn) -> VisitTask:
    return services.visit_record(
        actor=request_user(request),
        task=_task(request, visit_id),
        outcome=payload.outcome,
        real=payload.real,
        note=payload.note,
    )


# --- households, consent, contacts, meters --------------------------------------------------


UNIT_DESCRIPTION = (
    "The unit its readings are sent in: m3 or L for water and gas, kWh or Wh for electricity"
)


class MeterIn(Schema):
    utility: Literal["water", "electricity", "gas"]
    meter_id: str = Field(min_length=1, max_length=64)
    cumulative: bool = Field(
        True, description="A register (running total); false: each reading is its interval's use"
    )
    unit: Literal["m3", "L", "kWh", "Wh"] | None = Field(
        None, description=f"{UNIT_DESCRIPTION}; left out: m3 (water, gas) or kWh (electricity)"
    )
    interval_minutes: int = Field(
        30, description="Minutes between readings: 5, 10, 15, 20, 30, 60, ... (divides a day)"
    )
    report_every_minutes: int = Field(
        0,
        description=(
            "How often it sends: 0 with each reading, or a multiple of the interval up to a "
            "week (1440: a day of readings once a day, as NB-IoT water meters do)"
        ),
    )

    def spec(self) -> services.MeterSpec:
        return services.MeterSpec(
            self.utility,
            self.meter_id,
            self.cumulative,
            unit=self.unit or "",
            interval_minutes=self.interval_minutes,
            report_every_minutes=self.report_every_minutes,
        )


class ContactIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    phone: str = Field("", max_length=32)
    email: str = Field("", max_length=254, description="For a contact without an account.")
    username: str = Field(
        "", max_length=150, description="The contact's account, if they have one."
    )


class EnrolIn(Schema):
    resident_id: int
    worker_id: int
    consent_by: Literal["resident", "guardian", "worker"]
    consent_method: Literal["signed_form", "in_person", "app"] | None = None
    consent_at: datetime | None = None
    consent_document: str = Field("", max_length=100)
    guardian_name: str = Field("", max_length=100)
    consent_note: str = Field("", max_length=300)
    meters: list[MeterIn]
    contacts: list[ContactIn] = Field(default_factory=list, description="In the order to call.")


class MeterOut(Schema):
    id: int
    utility: str
    meter_id: str
    cumulative: bool
    unit: str = Field(description=UNIT_DESCRIPTION)
    interval_minutes: int = Field(description="Minutes between readings")
    report_every_minutes: int = Field(
        description="How often it sends its readings (equal to the interval: with each one)"
    )
    active: bool


class ContactOut(Schema):
    name: str
    phone: str
    email: str
    username: str
    order: int

    @staticmethod
    def resolve_username(contact: FamilyContact) -> str:
        return contact.user.username if contact.user else ""


class AwayOut(Schema):
    id: int
    kind: str
    starts_at: datetime
    ends_at: datetime
    reason: str
    review_on: date | None
    cancelled_at: datetime | None


class HouseholdOut(Schema):
    id: int
    resident_id: int
    resident_name: str
    community_id: int
    worker_id: int
    consent_by: str
    consent_method: str
    consent_at: datetime
    consent_document: str
    guardian_name: str
    consent_note: str
    consent_withdrawn_at: datetime | None
    meters: list[MeterOut]
    contacts: list[ContactOut]
    away: list[AwayOut]
    detection_delay_minutes: int | None = Field(
        description=(
            "At most how long from something happening at home until detection can see it: "
            "the slowest active meter's reporting; null without an active meter"
        )
    )
    detection_delay: str = Field(description="The same in words, in the request's language")

    @staticmethod
    def resolve_resident_name(home: Household) -> str:
        return home.resident.name

    @staticmethod
    def resolve_detection_delay_minutes(home: Household) -> int | None:
        return selectors.detection_delay_minutes(home.meters.all())

    @staticmethod
    def resolve_detection_delay(home: Household) -> str:
        return detection_delay(selectors.detection_delay_minutes(home.meters.all()))

    @staticmethod
    def resolve_meters(home: Household) -> list[Meter]:
        return list(home.meters.order_by("pk"))

    @staticmethod
    def resolve_contacts(home: Household) -> list[FamilyContact]:
        return list(home.contacts.select_related("user"))

    @staticmethod
    def resolve_away(home: Household) -> list[AwayPeriod]:
        return list(home.away.all()[:50])


def _contacts(rows: list[ContactIn]) -> list[services.ContactSpec]:
    specs = []
    for index, row in enumerate(rows):
        account = None
        if row.username:
            account = selectors.account_by_username(row.username)
            if account is None:
                message = _("没有这个账号：%s") % row.username
                raise ValidationFailed.on(f"contacts.{index}.username", message)
        specs.append(
            services.ContactSpec(name=row.name, phone=row.phone, email=row.email, user=account)
        )
    return specs


@router.post("/households", response={201: HouseholdOut}, summary="Enrol a household")
def household_enrol(request: HttpRequest, payload: EnrolIn) -> Status[Household]:
    user = request_user(request)
    resident = core_selectors.resident_get(
        actor=user, pk=payload.resident_id, purpose=selectors.ENROL_PURPOSE
    )
    worker = selectors.active_user(payload.worker_id)
    if worker is None:
        raise ValidationFailed.on("worker_id", _("请选择负责的社区工作者。"))
    home = services.household_enrol(
        actor=user,
        resident=resident,
        worker=worker,
        consent_by=payload.consent_by,
        consent_method=payload.consent_method or "",
        consent_at=payload.consent_at,
        consent_document=payload.consent_document,
        guardian_name=payload.guardian_name,
        consent_note=payload.consent_note,
        meters=[m.spec() for m in payload.meters],
        contacts=_contacts(payload.contacts),
    )
    return Status(201, home)


class MarkerOut(Schema):
    household_id: int
    name: str
    community: str
    state: Literal["visit", "alert", "away", "ok", "withdrawn"]
    latitude: float | None = Field(description="WGS-84")
    longitude: float | None = Field(description="WGS-84")


class DashboardOut(Schema):
    total: int
    counts: dict[str, int]
    truncated: bool
    households: list[MarkerOut]
    open_alert_ids: list[int]
    open_visit_ids: list[int]

    @staticmethod
    def resolve_open_alert_ids(data: selectors.Dashboard) -> list[int]:
        return [a.pk for a in data.open_alerts]

    @staticmethod
    def resolve_open_visit_ids(data: selectors.Dashboard) -> list[int]:
        return [t.pk for t in data.open_visits]


@router.get("/dashboard", response=DashboardOut, summary="Enrolled households by state (audited)")
def dashboard(request: HttpRequest, area_id: int | None = None) -> selectors.Dashboard:
    area = None if area_id is None else selectors.dashboard_area(area_id=area_id)
    return selectors.dashboard(actor=request_user(request), area=area)


@router.get("/households/{household_id}", response=HouseholdOut, summary="A household (audited)")
def household_get(request: HttpRequest, household_id: int) -> Household:
    return selectors.household_detail(actor=request_user(request), household_id=household_id)


class ContactsIn(Schema):
    contacts: list[ContactIn]


@router.put(
    "/households/{household_id}/contacts",
    response=list[ContactOut],
    summary="Replace the family contacts (in calling order)",
)
def contacts_set(
    request: HttpRequest, household_id: int, payload: ContactsIn
) -> list[FamilyContact]:
    user = request_user(request)
    home = selectors.household_for_change(actor=user, household_id=household_id)
    return services.household_contacts_set(
        actor=user, household=home, contacts=_contacts(payload.contacts)
    )


@router.post("/households/{household_id}/meters", response={201: MeterOut}, summary="Add a meter")
def meter_add(request: HttpRequest, household_id: int, payload: MeterIn) -> Status[Meter]:
    user = request_user(request)
    home = selectors.household_for_change(actor=user, household_id=household_id)
    meter = services.meter_add(
        actor=user,
        household=home,
        spec=payload.spec(),
    )
    return Status(201, meter)


@router.post(
    "/households/{household_id}/meters/{meter_pk}/remove",
    response=MeterOut,
    summary="Stop using a meter",
)
def meter_remove(request: HttpRequest, household_id: int, meter_pk: int) -> Meter:
    user = request_user(request)
    meter = selectors.meter_for_change(actor=user, household_id=household_id, meter_pk=meter_pk)
    return services.meter_remove(actor=user, meter=meter)


class WithdrawIn(Schema):
    reason: str = Field("", max_length=200)


@router.post(
    "/households/{household_id}/withdraw",
    response=HouseholdOut,
    summary="Withdraw consent: processing stops at once",
)
def withdraw(request: HttpRequest, household_id: int, payload: WithdrawIn) -> Household:
    user = request_user(request)
    home = selectors.household_for_change(actor=user, household_id=household_id)
    services.consent_withdraw(actor=user, household=home, reason=payload.reason)
    return selectors.household_detail(actor=user, household_id=household_id)


# --- time away ------------------------------------------------------------------------------


class AwayIn(Schema):
    kind: Literal["travel", "children", "hospital", "other"] = "other"
    starts_at: datetime
    ends_at: datetime
    reason: str = Field("", max_length=100)
    # Needed when the absence is longer than the review threshold.
    review_on: date | None = None


@router.get(
    "/households/{household_id}/away", response=list[AwayOut], summary="Time away (audited)"
)
def away_list(request: HttpRequest, household_id: int) -> list[AwayPeriod]:
    home = selectors.household_detail(actor=request_user(request), household_id=household_id)
    return list(home.away.all()[:200])


@router.post("/households/{household_id}/away", response={201: AwayOut}, summary="Mark time away")
def away_mark(request: HttpRequest, household_id: int, payload: AwayIn) -> Status[AwayPeriod]:
    user = request_user(request)
    home = selectors.household_for_change(actor=user, household_id=household_id)
    period = services.away_mark(
        actor=user,
        household=home,
        starts_at=payload.starts_at,
        ends_at=payload.ends_at,
        kind=payload.kind,
        reason=payload.reason,
        review_on=payload.review_on,
    )
    return Status(201, period)


@router.post("/away/{away_id}/end", response=AwayOut, summary="End time away early")
def away_end(request: HttpRequest, away_id: int) -> AwayPeriod:
    user = request_user(request)
    period = selectors.away_for_change(actor=user, away_id=away_id)
    return services.away_end(actor=user, period=period)


@router.post("/away/{away_id}/cancel", response=AwayOut, summary="Cancel time away")
def away_cancel(request: HttpRequest, away_id: int) -> AwayPeriod:
    user = request_user(request)
    period = selectors.away_for_change(actor=user, away_id=away_id)
    return services.away_cancel(actor=user, period=period)


# --- alerts and the family's answer ---------------------------------------------------------


class AnswerIn(Schema):
    answer: Literal["fine", "unreachable"]


class AlertOut(Schema):
    id: int
    household_id: int
    kind: str
    severity: str
    at: datetime
    explanation: str
    status: str
    family_deadline: datetime
    acknowledged_answer: str
    visit_id: int | None

    @staticmethod
    def resolve_visit_id(alert: Alert) -> int | None:
        return selectors.alert_visit_id(alert)


@router.get(
    "/households/{household_id}/alerts",
    response=list[AlertOut],
    summary="A household's recent alerts, newest first (audited)",
)
def household_alerts(request: HttpRequest, household_id: int) -> list[Alert]:
    home = selectors.household_detail(actor=request_user(request), household_id=household_id)
    return list(home.alerts.all()[:50])


@router.get("/alerts/{alert_id}", response=AlertOut, summary="An alert (audited)")
def alert_get(request: HttpRequest, alert_id: int) -> Alert:
    return selectors.alert_detail(actor=request_user(request), alert_id=alert_id)


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response=AlertOut,
    summary="Answer an alert: all fine, or cannot reach them (a visit task at once)",
)
def alert_acknowledge(request: HttpRequest, alert_id: int, payload: AnswerIn) -> Alert:
    user = request_user(request)
    alert = selectors.alert_detail(actor=user, alert_id=alert_id)
    return services.alert_acknowledge(actor=user, alert=alert, answer=payload.answer)


@router.post(
    "/acknowledge/{token}",
    response=AlertOut,
    auth=None,
    summary="Answer an alert with the signed link's token (no account)",
)
def alert_acknowledge_by_link(request: HttpRequest, token: str, payload: AnswerIn) -> Alert:
    selectors.alert_by_link(token=token)
    return services.alert_acknowledge_by_link(token=token, answer=payload.answer)


# --- visit tasks ----------------------------------------------------------------------------


class VisitDetailOut(Schema):
    id: int
    status: str
    outcome: str
    alert_id: int
    household_id: int
    resident_name: str
    address: str
    due_at: datetime
    explanation: str
    evidence: dict[str, Any]
    chart: dict[str, Any]

    @staticmethod
    def resolve_household_id(task: VisitTask) -> int:
        return task.alert.household_id

    @staticmethod
    def resolve_resident_name(task: VisitTask) -> str:
        return task.alert.household.resident.name

    @staticmethod
    def resolve_address(task: VisitTask) -> str:
        return task.alert.household.resident.address

    @staticmethod
    def resolve_explanation(task: VisitTask) -> str:
        return task.alert.explanation

    @staticmethod
    def resolve_evidence(task: VisitTask) -> dict[str, Any]:
        return task.alert.evidence

    @staticmethod
    def resolve_chart(task: VisitTask) -> dict[str, Any]:
        return task.alert.chart


@router.get("/visits", response=list[VisitOut], summary="Open visit tasks in your area")
def visits_list(request: HttpRequest) -> list[VisitTask]:
    return selectors.visits_list(actor=request_user(request))


@router.get("/visits/{visit_id}", response=VisitDetailOut, summary="A visit task (audited)")
def visit_get(request: HttpRequest, visit_id: int) -> VisitTask:
    return _task(request, visit_id)


class EscalateIn(Schema):
    note: str = Field("", max_length=2000)


@router.post(
    "/visits/{visit_id}/escalate", response=VisitOut, summary="Hand a visit to the community head"
)
def visit_escalate(request: HttpRequest, visit_id: int, payload: EscalateIn) -> VisitTask:
    return services.visit_escalate(
        actor=request_user(request), task=_task(request, visit_id), note=payload.note
    )

"""Every write in wellbeing: enrolment with consent, meters, readings, away periods, detection,
and the alert → family → visit task → outcome → escalation flow. Keyword-only, atomic, audited.

Deployment settings (`settings.CIVICHUB_WELLBEING`, all optional): `family_minutes` (how long the
family has to acknowledge an alert before it becomes a visit task, default 15), `visit_minutes`
(how long the worker has to visit before the task goes to the community head, default 60),
`ack_link_hours` (how long the signed link a family contact receives stays valid, default 24),
`contact_minutes` (while nobody has answered, the next family contact in calling order is sent the
alert this many minutes after the previous one; 0 sends to all at once; default 5) and
`site_url` (the public address put in front of that link in SMS and email, default none)."""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import numpy as np
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.errors import Conflict, PermissionDenied, ValidationFailed
from civichub.core.models import Organisation, Resident, RoleAssignment, User
from civichub.core.permissions import require
from civichub.notify.models import Channel, Priority
from civichub.notify.services import notification_send, notification_send_to_address
from civichub.wellbeing import detection
from civichub.wellbeing.models import (
    AggregatePeriod,
    Alert,
    AlertStatus,
    AwayKind,
    AwayPeriod,
    ConsentGiver,
    ConsentMethod,
    FamilyAnswer,
    FamilyContact,
    Household,
    Meter,
    Reading,
    ReadingAggregate,
    Utility,
    VisitOutcome,
    VisitStatus,
    VisitTask,
)
from civichub.wellbeing.permissions import HEAD, WORKER

logger = logging.getLogger("civichub.wellbeing")

UTILITY_INDEX = {Utility.WATER: detection.WATER, Utility.ELECTRICITY: detection.ELECTRICITY}
UTILITY_INDEX[Utility.GAS] = detection.GAS


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, "CIVICHUB_WELLBEING", {}).get(name, default))


# --- enrolment and consent ----------------------------------------------------------------


@dataclass(frozen=True)
class MeterSpec:
    utility: str
    meter_id: str
    cumulative: bool = True


@dataclass(frozen=True)
class ContactSpec:
    name: str
    phone: str = ""
    user: User | None = None
    email: str = ""


def _meter_errors(meters: list[MeterSpec]) -> list[str]:
    errors: list[str] = []
    seen: set[str] = set()
    for spec in meters:
        meter_id = spec.meter_id.strip()
        if spec.utility not in Utility.values:
            errors.append(_("未知的表计类型：%s") % spec.utility)
        elif not meter_id:
            errors.append(_("请填写表号。"))
        elif meter_id in seen or Meter.objects.filter(meter_id=meter_id).exists():
            errors.append(_("表号已登记：%s") % meter_id)
        seen.add(meter_id)
    return errors


def _contact_errors(contacts: list[ContactSpec]) -> list[str]:
    errors: list[str] = []
    for contact in contacts:
        if not contact.name.strip():
            errors.append(_("请填写家属姓名。"))
        elif not (contact.phone.strip() or contact.email.strip() or contact.user is not None):
            errors.append(_("家属 %s 须留手机号、电子邮箱或账号。") % contact.name)
        elif contact.email.strip():
            try:
                validate_email(contact.email.strip())
            except DjangoValidationError:
                errors.append(_("家属 %s 的电子邮箱无效。") % contact.name)
    return errors


def _contacts_store(household: Household, contacts: list[ContactSpec]) -> None:
    for order, contact in enumerate(contacts):
        FamilyContact.objects.create(
            household=household,
            name=contact.name.strip(),
            phone=contact.phone.strip(),
            email=contact.email.strip(),
            user=contact.user,
            order=order,
        )


def workers_for(community: Organisation) -> list[User]:
    """The community workers who can be responsible for a household in this community: those
    holding the role at the community or above it."""
    ancestors = [community.path[: i + 1] for i, ch in enumerate(community.path) if ch == "/"]
    user_ids = RoleAssignment.objects.filter(
        role=WORKER, organisation__path__in=ancestors
    ).values_list("user_id", flat=True)
    return list(User.objects.filter(pk__in=user_ids, is_active=True).order_by("pk"))


@transaction.atomic
def household_enrol(
    *,
    actor: User | None,
    resident: Resident,
    worker: User,
    consent_by: str,
    meters: list[MeterSpec],
    contacts: list[ContactSpec] | None = None,
    guardian_name: str = "",
    consent_note: str = "",
    consent_method: str = "",
    consent_at: datetime | None = None,
    consent_document: str = "",
) -> Household:
    """Enrols a resident's home. The resident enrols it themselves (consent given in the app), or
    a guardian or a community worker does with the resident's recorded consent: how it was given
    (a signed form needs its document reference), when, and in the note how the resident said
    so. The family contacts are called in the order given."""
    community: Organisation = resident.community
    if actor is not None:
        require(actor, "wellbeing.household.enrol", resident)
    contacts = contacts or []
    errors: dict[str, list[str]] = {}
    now = timezone.now()
    if consent_by not in ConsentGiver.values:
        errors["consent_by"] = [_("请说明由谁同意。")]
    if not consent_method:
        # Callers that predate the method field: the resident in the app, otherwise in person
        # (the note, required below, says how).
        consent_method = (
            ConsentMethod.APP if consent_by == ConsentGiver.RESIDENT else ConsentMethod.IN_PERSON
        )
    if consent_method not in ConsentMethod.values:
        errors["consent_method"] = [_("请说明本人以何种方式表示同意。")]
    elif consent_method == ConsentMethod.APP and consent_by != ConsentGiver.RESIDENT:
        errors["consent_method"] = [_("只有本人登记时才能在应用中表示同意。")]
    if consent_method == ConsentMethod.SIGNED_FORM and not consent_document.strip():
        errors["consent_document"] = [_("签署书面同意书的，请填写同意书编号。")]
    if consent_by == ConsentGiver.GUARDIAN and not guardian_name.strip():
        errors["guardian_name"] = [_("请填写监护人姓名。")]
    if consent_by in (ConsentGiver.GUARDIAN, ConsentGiver.WORKER) and not consent_note.strip():
        errors["consent_note"] = [_("代为登记时，须写明本人如何表示同意。")]
    if consent_at is not None and consent_at > now + timedelta(minutes=5):
        errors["consent_at"] = [_("同意时间不能晚于现在。")]
    if not meters:
        errors["meters"] = [_("至少登记一块表。")]
    meter_errors = _meter_errors(meters)
    if meter_errors:
        errors.setdefault("meters", []).extend(meter_errors)
    contact_errors = _contact_errors(contacts)
    if contact_errors:
        errors["contacts"] = contact_errors
    if worker.pk not in {w.pk for w in workers_for(community)}:
        errors["worker"] = [_("负责的社区工作者须在本社区任职。")]
    if errors:
        raise ValidationFailed(_("登记信息不完整。"), errors=errors)
    if Household.objects.filter(resident=resident, consent_withdrawn_at__isnull=True).exists():
        raise Conflict(_("该居民的住户已登记关爱服务。"))
    household = Household.objects.create(
        resident=resident,
        community=community,
        worker=worker,
        consent_by=consent_by,
        guardian_name=guardian_name.strip(),
        consent_note=consent_note.strip(),
        consent_method=consent_method,
        consent_at=consent_at or now,
        consent_document=consent_document.strip(),
        enrolled_by=actor,
    )
    for spec in meters:
        Meter.objects.create(
            household=household,
            utility=spec.utility,
            meter_id=spec.meter_id.strip(),
            cumulative=spec.cumulative,
        )
    _contacts_store(household, contacts)
    audit_record(
        actor=actor,
        action="wellbeing.household.enrol",
        obj=household,
        changes={
            "consent_by": consent_by,
            "consent_method": consent_method,
            "consent_document": household.consent_document,
            "meters": [m.meter_id for m in meters],
            "contacts": len(contacts),
        },
    )
    return household


@transaction.atomic
def household_contacts_set(
    *, actor: User | None, household: Household, contacts: list[ContactSpec]
) -> list[FamilyContact]:
    """Replaces the family contacts; the order given is the order they are called in."""
    if actor is not None:
        require(actor, "wellbeing.household.manage", household)
    errors = _contact_errors(contacts)
    if errors:
        raise ValidationFailed(_("家属信息不完整。"), errors={"contacts": errors})
    household.contacts.all().delete()
    _contacts_store(household, contacts)
    audit_record(
        actor=actor,
        action="wellbeing.contacts.set",
        obj=household,
        changes={"contacts": [c.name for c in contacts]},
    )
    return list(household.contacts.all())


@transaction.atomic
def meter_add(*, actor: User | None, household: Household, spec: MeterSpec) -> Meter:
    if actor is not None:
        require(actor, "wellbeing.household.manage", household)
    if not household.consenting:
        raise Conflict(_("该户已撤回同意。"))
    errors = _meter_errors([spec])
    if errors:
        raise ValidationFailed(errors[0], errors={"meter_id": errors})
    meter = Meter.objects.create(
        household=household,
        utility=spec.utility,
        meter_id=spec.meter_id.strip(),
        cumulative=spec.cumulative,
    )
    audit_record(
        actor=actor, action="wellbeing.meter.add", obj=household, changes={"meter": meter.meter_id}
    )
    return meter


@transaction.atomic
def meter_remove(*, actor: User | None, meter: Meter) -> Meter:
    """The meter stops counting for the household (its readings are refused); its past readings
    stay until retention removes them."""
    if actor is not None:
        require(actor, "wellbeing.household.manage", meter.household)
    if meter.active:
        meter.active = False
        meter.save(update_fields=["active"])
        audit_record(
            actor=actor,
            action="wellbeing.meter.remove",
            obj=meter.household,
            changes={"meter": meter.meter_id},
        )
    return meter


@transaction.atomic
def consent_withdraw(*, actor: User | None, household: Household, reason: str = "") -> Household:
    """Processing stops at once: readings are refused, detection does nothing, the detector's
    memory is erased, open alerts are closed and their visit tasks no longer escalate."""
    if actor is not None:
        require(actor, "wellbeing.household.manage", household)
    household = Household.objects.select_for_update().get(pk=household.pk)
    if household.consent_withdrawn_at is not None:
        return household
    household.consent_withdrawn_at = timezone.now()
    household.detector_state = None
    household.save(update_fields=["consent_withdrawn_at", "detector_state"])
    household.alerts.exclude(status=AlertStatus.CLOSED).update(status=AlertStatus.CLOSED)
    audit_record(actor=actor, action="wellbeing.consent.withdraw", obj=household, purpose=reason)
    return household


@transaction.atomic
def away_mark(
    *,
    actor: User | None,
    household: Household,
    starts_at: datetime,
    ends_at: datetime,
    reason: str = "",
    kind: str = AwayKind.OTHER,
) -> AwayPeriod:
    """The resident is away (travelling, staying with their children, in hospital): no-use
    alerts are silenced for that time."""
    if actor is not None:
        require(actor, "wellbeing.household.manage", household)
    errors: dict[str, list[str]] = {}
    if kind not in AwayKind.values:
        errors["kind"] = [_("请选择外出类型。")]
    if ends_at <= starts_at:
        errors["ends_at"] = [_("结束时间须晚于开始时间。")]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors=errors)
    if not household.consenting:
        raise Conflict(_("该户已撤回同意。"))
    period = AwayPeriod.objects.create(
        household=household,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason.strip()[:100],
        kind=kind,
        marked_by=actor,
    )
    audit_record(
        actor=actor,
        action="wellbeing.away.mark",
        obj=household,
        purpose=reason,
        changes={
            "away": period.pk,
            "kind": kind,
            "starts_at": starts_at.isoformat(),
            "ends_at": ends_at.isoformat(),
        },
    )
    return period


def _away_for_update(actor: User | None, period: AwayPeriod) -> AwayPeriod:
    if actor is not None:
        require(actor, "wellbeing.household.manage", period.household)
    period = AwayPeriod.objects.select_for_update().select_related("household").get(pk=period.pk)
    if period.cancelled_at is not None:
        raise Conflict(_("该外出时段已取消。"))
    return period


@transaction.atomic
def away_end(*, actor: User | None, period: AwayPeriod) -> AwayPeriod:
    """The resident is back early: the period ends now and no-use alerts apply again."""
    period = _away_for_update(actor, period)
    now = timezone.now()
    if period.ends_at <= now:
        raise Conflict(_("该外出时段已结束。"))
    if period.starts_at > now:
        raise Conflict(_("该外出时段尚未开始，请取消它。"))
    period.ends_at = now
    period.save(update_fields=["ends_at"])
    audit_record(
        actor=actor,
        action="wellbeing.away.end",
        obj=period.household,
        changes={"away": period.pk, "ends_at": now.isoformat()},
    )
    return period


@transaction.atomic
def away_cancel(*, actor: User | None, period: AwayPeriod) -> AwayPeriod:
    """The trip did not happen: the period no longer silences anything, and stays listed."""
    period = _away_for_update(actor, period)
    period.cancelled_at = timezone.now()
    period.save(update_fields=["cancelled_at"])
    audit_record(
        actor=actor,
        action="wellbeing.away.cancel",
        obj=period.household,
        changes={"away": period.pk},
    )
    return period


@transaction.atomic
def meter_replace(
    *, actor: User | None, meter: Meter, new_meter_id: str, at: datetime | None = None
) -> Meter:
    """A new meter takes over at `at` (default now); its register starts from its own first
    reading. The old meter still takes its late readings up to that time, none after."""
    if actor is not None:
        require(actor, "wellbeing.household.manage", meter.household)
    if Meter.objects.filter(meter_id=new_meter_id).exists():
        raise Conflict(_("表号已登记：%s") % new_meter_id)
    at = at or timezone.now()
    meter.active = False
    meter.removed_at = at
    meter.save(update_fields=["active", "removed_at"])
    new = Meter.objects.create(
        household=meter.household,
        utility=meter.utility,
        meter_id=new_meter_id,
        cumulative=meter.cumulative,
        installed_at=at,
    )
    audit_record(
        actor=actor,
        action="wellbeing.meter.replace",
        obj=meter.household,
        changes={"old": meter.meter_id, "new": new_meter_id},
    )
    return new


# --- ingestion ----------------------------------------------------------------------------

# Words a CSV file or a stream entry may use for a true reset flag.
_TRUE_WORDS = frozenset({"1", "true", "yes", "y", "t", "on"})
# Meter ids per query, well under every database's limit on query parameters.
_CHUNK = 5000


@dataclass
class IngestReport:
    """What became of a batch: accepted and duplicate counts, one error per refused row (`row`:
    its index in the batch, `code`: a stable key, `error`: the sentence for people) and the
    households with new readings, each with its earliest new reading."""

    accepted: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    households: set[int] = field(default_factory=set)
    since: dict[int, datetime] = field(default_factory=dict)


def _row_error(report: IngestReport, row: int, code: str, message: str) -> None:
    report.errors.append({"row": row, "code": code, "error": message})


def _parse_time(value: Any, zone: Any = None) -> datetime | None:
    """An aware time in UTC, from a datetime or an ISO 8601 text; naive times are the
    deployment's local time."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                return None
            if parsed is None:
                return None
            moment = parsed
    else:
        return None
    try:
        if moment.tzinfo is None:
            moment = timezone.make_aware(moment, zone or timezone.get_current_timezone())
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):  # the first or last days of the calendar
        return None


def _meter_key(raw: Any) -> str:
    """A meter id as text: a Parquet column may hold numbers, a stream sends bytes."""
    if raw is None:
        return ""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    return str(raw).strip()


def _reading_value(raw: Any) -> float | None:
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        return float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError, OverflowError):
        return None


def _flag(raw: Any) -> bool:
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        return raw.strip().lower() in _TRUE_WORDS
    return bool(raw)


@dataclass(slots=True)
class _MeterRow:
    pk: int
    household_id: int
    cumulative: bool
    active: bool
    removed_at: datetime | None
    withdrawn: bool
    last_at: datetime | None
    last_value: float | None


@dataclass(slots=True)
class _Candidate:
    row: int
    at: datetime
    value: float
    reset: bool


@dataclass(slots=True)
class _Stored:
    at: datetime
    value: float
    reset: bool
    pk: int
    use: float


def _meters_locked(meter_ids: set[str]) -> dict[str, _MeterRow]:
    """The batch's meters with their latest stored reading, locked for the transaction so that
    two batches for the same meter take turns (SQLite's write lock does the same there)."""
    latest = Reading.objects.filter(meter=OuterRef("pk")).order_by("-at")
    found: dict[str, _MeterRow] = {}
    wanted = sorted(meter_ids)
    for first in range(0, len(wanted), _CHUNK):
        chunk = wanted[first : first + _CHUNK]
        # Lock first, then read: on PostgreSQL a statement that waited for a lock still reads
        # with the snapshot it started with, so the latest readings must come from a new one.
        list(
            Meter.objects.select_for_update(of=("self",))
            .filter(meter_id__in=chunk)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        rows = (
            Meter.objects.filter(meter_id__in=chunk)
            .annotate(
                last_at=Subquery(latest.values("at")[:1]),
                last_value=Subquery(latest.values("value")[:1]),
            )
            .order_by("pk")
            .values_list(
                "meter_id",
                "pk",
                "household_id",
                "cumulative",
                "active",
                "removed_at",
                "household__consent_withdrawn_at",
                "last_at",
                "last_value",
            )
        )
        for meter_id, pk, household_id, cumulative, active, removed, withdrawn, at, value in rows:
            found[meter_id] = _MeterRow(
                pk, household_id, cumulative, active, removed, withdrawn is not None, at, value
            )
    return found


@transaction.atomic
def readings_ingest(*, actor: User | None, rows: Sequence[Mapping[str, Any]]) -> IngestReport:
    """Stores a batch of readings (`meter_id`, `at`, `value`, optionally `reset`) set-wise: each
    row is checked, the good ones are stored with a few statements, and each bad one gets an
    error in the report while the good rows are kept. The same reading sent twice counts once; a
    different value for a time already stored is a conflict, never an overwrite. Register meters
    report a running total: a value below the previous one is refused unless the row says the
    register was reset, and a late reading splits the use its successor had counted; interval
    meters report the use in the interval, which cannot be negative. A replaced meter still takes
    its late readings from before the replacement. Detection is enqueued once per household
    with new readings, after the commit. The API, the CSV and Parquet import and the stream
    consumer all come here."""
    if actor is not None:
        require(actor, "wellbeing.readings.ingest")
    report = IngestReport()
    meters = _meters_locked({_meter_key(row.get("meter_id")) for row in rows})
    zone = timezone.get_current_timezone()
    latest = timezone.now() + timedelta(minutes=_setting("future_minutes", 15))
    candidates: dict[int, list[_Candidate]] = {}
    for index, row in enumerate(rows):
        meter = meters.get(_meter_key(row.get("meter_id")))
        if meter is None:
            _row_error(report, index, "unknown_meter", _("未知的表号。"))
            continue
        if meter.withdrawn:
            _row_error(report, index, "consent_withdrawn", _("该户已撤回同意，不再处理其数据。"))
            continue
        at = _parse_time(row.get("at"), zone)
        if at is None:
            _row_error(report, index, "bad_time", _("读数时间无法识别。"))
            continue
        if at > latest:
            _row_error(report, index, "future_time", _("读数时间晚于当前时间。"))
            continue
        if not meter.active and (meter.removed_at is None or at > meter.removed_at):
            _row_error(report, index, "meter_removed", _("该表已更换停用。"))
            continue
        value = _reading_value(row.get("value"))
        if value is None:
            _row_error(report, index, "not_a_number", _("读数不是数字。"))
            continue
        if not math.isfinite(value):
            _row_error(report, index, "not_finite", _("读数不是有限的数字。"))
            continue
        if value < 0:
            _row_error(report, index, "negative", _("读数不能为负数。"))
            continue
        candidates.setdefault(meter.pk, []).append(
            _Candidate(index, at, value, _flag(row.get("reset")))
        )
    by_pk = {meter.pk: meter for meter in meters.values()}
    _reading_store(by_pk, candidates, report)
    report.errors.sort(key=lambda error: int(error["row"]))
    audit_record(
        actor=actor,
        action="wellbeing.readings.ingest",
        object_type="wellbeing.reading",
        changes={
            "accepted": report.accepted,
            "duplicates": report.duplicates,
            "errors": len(report.errors),
        },
    )
    if report.households:
        households = sorted(report.households)
        transaction.on_commit(lambda: _detection_queue(households))
    return report


def _detection_queue(households: list[int]) -> None:
    # The batch's households are queued in one transaction: one commit, not one per household.
    with transaction.atomic():
        _enqueue_detection(households)


# Detection is queued at most once per household at a time: a task queued more than this long
# ago and still not started is taken for lost, and another is queued.
DETECTION_QUEUE_STALE = timedelta(minutes=10)


def _enqueue_detection(households: list[int]) -> None:
    """Queues detection for households with new readings, unless a task for that household is
    already queued and not started: that task will read these readings too."""
    from civichub.wellbeing.tasks import run_detection

    now = timezone.now()
    for household_id in households:
        claimed = (
            Household.objects.filter(pk=household_id)
            .exclude(detection_queued_at__gte=now - DETECTION_QUEUE_STALE)
            .update(detection_queued_at=now)
        )
        if claimed:
            run_detection.enqueue(household_id)


def _reading_store(
    meters: dict[int, _MeterRow], candidates: dict[int, list[_Candidate]], report: IngestReport
) -> None:
    """Decides every candidate row against what is stored, then writes the accepted rows in one
    bulk insert and the successors whose use a late reading split in one bulk update. The
    meters are locked, so what was read stays true until the commit; the unique (meter, time)
    constraint is the last guard and fails the whole batch rather than lose a row silently."""
    for rows in candidates.values():
        rows.sort(key=lambda row: row.at)  # stable: the first of two equal times comes first
    overlapping = [
        pk
        for pk, rows in candidates.items()
        if meters[pk].last_at is not None and rows[0].at <= meters[pk].last_at  # type: ignore[operator]
    ]
    stored = _stored_between(overlapping, meters, candidates)
    inserts: list[tuple[int, datetime, float, float, bool]] = []
    updates: dict[int, float] = {}
    for pk, rows in candidates.items():
        meter = meters[pk]
        existing = stored.get(pk, {})
        fresh: list[_Candidate] = []
        # A row repeated within the batch shares the fate of its first copy.
        twins: dict[int, list[_Candidate]] = {}
        for row in rows:
            known = existing.get(row.at)
            if known is None and fresh and fresh[-1].at == row.at:
                if fresh[-1].value == row.value:
                    twins.setdefault(fresh[-1].row, []).append(row)
                    continue
                known_value: float | None = fresh[-1].value
            else:
                known_value = known.value if known is not None else None
            if known_value is None:
                fresh.append(row)
            elif known_value == row.value:
                report.duplicates += 1
            else:
                _row_error(
                    report,
                    row.row,
                    "conflict",
                    _("同一时间已有不同的读数（%(stored)s）。") % {"stored": known_value},
                )
        if not fresh:
            continue
        if meter.cumulative:
            accepted = _register_walk(meter, fresh, existing, report, updates)
        else:
            accepted = [(row, row.value) for row in fresh]
        if twins:
            taken = {row.row for row, _ in accepted}
            refused = {e["row"]: e for e in report.errors if e["row"] in twins}
            for first_row, copies in twins.items():
                if first_row in taken:
                    report.duplicates += len(copies)
                else:
                    for copy in copies:
                        error = refused[first_row]
                        _row_error(report, copy.row, error["code"], error["error"])
        for row, use in accepted:
            inserts.append((pk, row.at, row.value, use, row.reset))
        if accepted:
            report.accepted += len(accepted)
            report.households.add(meter.household_id)
            first = accepted[0][0].at
            since = report.since.get(meter.household_id)
            if since is None or first < since:
                report.since[meter.household_id] = first
    _readings_insert(inserts)
    if updates:
        Reading.objects.bulk_update(
            [Reading(pk=pk, use=use) for pk, use in updates.items()], ["use"], batch_size=500
        )


def _stored_between(
    overlapping: list[int], meters: dict[int, _MeterRow], candidates: dict[int, list[_Candidate]]
) -> dict[int, dict[datetime, _Stored]]:
    """The stored readings inside each overlapping meter's span of new times (one query per
    chunk of meters): duplicates, conflicts and the neighbours of late readings."""
    found: dict[int, dict[datetime, _Stored]] = {}
    for first in range(0, len(overlapping), _CHUNK):
        chunk = overlapping[first : first + _CHUNK]
        low = min(candidates[pk][0].at for pk in chunk)
        high = max(min(candidates[pk][-1].at, meters[pk].last_at) for pk in chunk)  # type: ignore[type-var]
        rows = Reading.objects.filter(meter_id__in=chunk, at__gte=low, at__lte=high).values_list(
            "meter_id", "at", "value", "reset", "pk", "use"
        )
        for pk, at, value, reset, reading_pk, use in rows:
            span = candidates[pk]
            if span[0].at <= at <= span[-1].at:
                found.setdefault(pk, {})[at] = _Stored(at, value, reset, reading_pk, use)
    return found


def _neighbour(meter_pk: int, at: datetime, *, before: bool) -> _Stored | None:
    query = Reading.objects.filter(meter_id=meter_pk)
    if before:
        query = query.filter(at__lt=at).order_by("-at")
    else:
        query = query.filter(at__gt=at).order_by("at")
    row = query.values_list("at", "value", "reset", "pk", "use")[:1]
    return next((_Stored(*values) for values in row), None)


def _register_walk(
    meter: _MeterRow,
    fresh: list[_Candidate],
    existing: dict[datetime, _Stored],
    report: IngestReport,
    updates: dict[int, float],
) -> list[tuple[_Candidate, float]]:
    """Walks a register meter's new readings in time order among the stored ones around them:
    each must not fall below the reading before it (unless reset) nor rise above the stored one
    after it (unless that one is a reset). Returns the accepted rows with their use, and puts in
    `updates` the new use of each stored reading whose predecessor is now a late reading."""
    timeline: list[_Stored] = []
    if meter.last_at is not None and fresh[0].at > meter.last_at:
        # The usual case: every new reading comes after the last stored one.
        assert meter.last_value is not None
        timeline.append(_Stored(meter.last_at, meter.last_value, False, 0, 0.0))
    elif meter.last_at is not None:
        before = _neighbour(meter.pk, fresh[0].at, before=True)
        after = _neighbour(meter.pk, fresh[-1].at, before=False)
        around = {s.at: s for s in (before, *existing.values(), after) if s is not None}
        timeline = sorted(around.values(), key=lambda stored: stored.at)
    accepted: list[tuple[_Candidate, float]] = []
    previous: float | None = None
    position = 0
    # A stored reading that now follows a new one: its index in timeline -> the new value.
    predecessor: dict[int, float] = {}
    for row in fresh:
        while position < len(timeline) and timeline[position].at < row.at:
            previous = timeline[position].value
            position += 1
        following = timeline[position] if position < len(timeline) else None
        if previous is not None and row.value < previous and not row.reset:
            message = _("累计读数倒退（%(value)s < %(before)s），且未标明表计清零。") % {
                "value": row.value,
                "before": previous,
            }
            _row_error(report, row.row, "backwards", message)
            continue
        if following is not None and not following.reset and following.value < row.value:
            message = _("累计读数大于之后的读数（%(after)s）。") % {"after": following.value}
            _row_error(report, row.row, "above_later", message)
            continue
        use = row.value if row.reset else (row.value - previous if previous is not None else 0.0)
        accepted.append((row, use))
        previous = row.value
        if following is not None:
            predecessor[position] = row.value
    for position, value in predecessor.items():
        stored = timeline[position]
        if not stored.reset and stored.pk and stored.use != stored.value - value:
            updates[stored.pk] = stored.value - value
    return accepted


def _readings_insert(rows: list[tuple[int, datetime, float, float, bool]]) -> None:
    """One COPY on PostgreSQL, one executemany elsewhere: the ORM's per-object work would cost
    more than the database's."""
    if not rows:
        return
    received = timezone.now()
    table = connection.ops.quote_name(Reading._meta.db_table)
    names = ("meter_id", "at", "value", "use", "reset", "received_at")
    columns = ", ".join(connection.ops.quote_name(name) for name in names)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((*row, received))
            return
        # Times are UTC already; this is the text Django's SQLite backend stores for them
        # (adapt_datetimefield_value), without its per-value settings lookups.
        stamp = connection.ops.adapt_datetimefield_value(received)
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s)",  # noqa: S608
            [
                (meter, str(at.replace(tzinfo=None)), value, use, reset, stamp)
                for meter, at, value, use, reset in rows
            ],
        )


# --- retention ----------------------------------------------------------------------------


@dataclass
class RetentionReport:
    readings_expired: int = 0
    aggregates_written: int = 0
    hourly_expired: int = 0
    daily_expired: int = 0
    withdrawn_households: int = 0
    withdrawn_readings_deleted: int = 0
    withdrawn_aggregates_deleted: int = 0


def _local_midnight(moment: datetime) -> datetime:
    return timezone.localtime(moment).replace(hour=0, minute=0, second=0, microsecond=0)


def retention_apply(*, now: datetime | None = None, batch: int = 5000) -> RetentionReport:
    """The retention policy, run periodically: raw readings older than `raw_retention_days`
    (default 400) are summed into hourly and daily aggregates and deleted; hourly aggregates go
    after `hourly_retention_days` (default 1095), daily ones after `daily_retention_days`
    (default 3650); a household that withdrew consent more than `withdrawn_retention_days`
    (default 30) ago loses its readings, its aggregates and the charts and evidence of its
    alerts (the alerts and visits stay as the record of what was done). Deletes in batches of
    `batch` rows, each batch its own transaction, and audits the run once with its counts."""
    now = now or timezone.now()
    report = RetentionReport()
    withdrawn_before = now - timedelta(days=_setting("withdrawn_retention_days", 30))
    gone = list(
        Household.objects.filter(consent_withdrawn_at__lt=withdrawn_before).values_list(
            "pk", flat=True
        )
    )
    for first in range(0, len(gone), _CHUNK):
        chunk = gone[first : first + _CHUNK]
        holding = set(
            Meter.objects.filter(household_id__in=chunk)
            .filter(
                Exists(Reading.objects.filter(meter=OuterRef("pk")))
                | Exists(ReadingAggregate.objects.filter(meter=OuterRef("pk")))
            )
            .values_list("household_id", flat=True)
        )
        charted = Alert.objects.filter(household_id__in=chunk).exclude(chart={}, evidence={})
        holding |= set(charted.values_list("household_id", flat=True))
        charted.update(chart={}, evidence={})
        report.withdrawn_households += len(holding)
        report.withdrawn_readings_deleted += _delete_batched(
            Reading.objects.filter(meter__household_id__in=chunk), batch
        )
        report.withdrawn_aggregates_deleted += _delete_batched(
            ReadingAggregate.objects.filter(meter__household_id__in=chunk), batch
        )
    raw_cutoff = _local_midnight(now - timedelta(days=_setting("raw_retention_days", 400)))
    while True:
        with transaction.atomic():
            expired, written = _readings_summarise_and_expire(raw_cutoff, batch)
        report.readings_expired += expired
        report.aggregates_written += written
        if expired < batch:
            break
    for period, name, default in (
        (AggregatePeriod.HOUR, "hourly_retention_days", 1095),
        (AggregatePeriod.DAY, "daily_retention_days", 3650),
    ):
        cutoff = _local_midnight(now - timedelta(days=_setting(name, default)))
        deleted = _delete_batched(
            ReadingAggregate.objects.filter(period=period, starts_at__lt=cutoff), batch
        )
        if period == AggregatePeriod.HOUR:
            report.hourly_expired = deleted
        else:
            report.daily_expired = deleted
    audit_record(
        actor=None,
        action="wellbeing.retention.apply",
        object_type="wellbeing.reading",
        changes=asdict(report),
    )
    return report


def _delete_batched(query: QuerySet[Any], batch: int) -> int:
    deleted = 0
    while True:
        ids = list(query.order_by().values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        with transaction.atomic():
            deleted += query.model.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < batch:
            return deleted


def _readings_summarise_and_expire(cutoff: datetime, batch: int) -> tuple[int, int]:
    """One batch of expired readings: their use is added to the hourly and daily aggregates of
    the local hour and day their interval falls in, then they are deleted. On PostgreSQL the
    rows are locked and skipped by a concurrent run, so no reading is counted twice."""
    # A reading at midnight closes the day before: it goes with that day. No ordering, so that
    # PostgreSQL can use the BRIN index on `at` rather than walk the table in key order.
    query = Reading.objects.filter(at__lte=cutoff).order_by()
    rows = list(
        query.select_for_update(skip_locked=True).values_list("pk", "meter_id", "at", "use")[:batch]
    )
    if not rows:
        return 0, 0
    zone = timezone.get_current_timezone()
    sums: dict[tuple[int, str, datetime], list[float]] = {}
    for _pk, meter_id, at, use in rows:
        # A reading covers the interval that ends at its time.
        local = (at - timedelta(microseconds=1)).astimezone(zone)
        hour = local.replace(minute=0, second=0, microsecond=0)
        for key in (
            (meter_id, AggregatePeriod.HOUR.value, hour),
            (meter_id, AggregatePeriod.DAY.value, hour.replace(hour=0)),
        ):
            total = sums.setdefault(key, [0.0, 0])
            total[0] += use
            total[1] += 1
    meter_ids = {key[0] for key in sums}
    starts = [key[2] for key in sums]
    existing = {
        (aggregate.meter_id, aggregate.period, aggregate.starts_at): aggregate
        for aggregate in ReadingAggregate.objects.select_for_update().filter(
            meter_id__in=meter_ids, starts_at__gte=min(starts), starts_at__lte=max(starts)
        )
    }
    fresh: list[ReadingAggregate] = []
    topped: list[ReadingAggregate] = []
    for (meter_id, period, starts_at), (use, count) in sums.items():
        aggregate = existing.get((meter_id, period, starts_at))
        if aggregate is None:
            fresh.append(
                ReadingAggregate(
                    meter_id=meter_id,
                    period=period,
                    starts_at=starts_at,
                    use=use,
                    readings=int(count),
                )
            )
        else:
            aggregate.use += use
            aggregate.readings += int(count)
            topped.append(aggregate)
    ReadingAggregate.objects.bulk_create(fresh, batch_size=1000)
    ReadingAggregate.objects.bulk_update(topped, ["use", "readings"], batch_size=1000)
    Reading.objects.filter(pk__in=[row[0] for row in rows]).delete()
    return len(rows), len(fresh) + len(topped)


# --- detection ----------------------------------------------------------------------------


# Readings that arrive this late or less are detected again from the last day boundary before
# them; older ones are stored (and charted) but not detected again.
CHECKPOINT_DAYS = 3


def _state_arrays(state: detection.DetectorState, prefix: str = "") -> dict[str, Any]:
    arrays: dict[str, Any] = {
        prefix + name: value for name, value in vars(state).items() if isinstance(value, np.ndarray)
    }
    arrays[prefix + "slot"] = np.array(state.slot)
    for kind, flags in state.active.items():
        arrays[f"{prefix}active__{kind}"] = flags
    return arrays


def _state_fill(state: detection.DetectorState, saved: Any, prefix: str = "") -> None:
    for full in saved.files:
        if not full.startswith(prefix) or (not prefix and full.startswith("checkpoint")):
            continue
        name = full.removeprefix(prefix)
        if name == "slot":
            state.slot = int(saved[full])
        elif name.startswith("active__"):
            state.active[name.removeprefix("active__")] = saved[full]
        elif "__" not in name:
            setattr(state, name, saved[full])


def _detector(household: Household) -> detection.WellbeingDetector:
    """The household's saved detector, over the utilities it has meters for."""
    mask = np.zeros((1, 3), dtype=bool)
    for utility in household.meters.values_list("utility", flat=True):
        mask[0, UTILITY_INDEX[Utility(utility)]] = True
    return _state_load(household, mask)


def _state_load(household: Household, meters: np.ndarray) -> detection.WellbeingDetector:
    """The household's detector as last saved, with its day-boundary checkpoints and the
    readings it has seen since the oldest of them (`seen`, one row per half hour)."""
    detector = detection.WellbeingDetector(meters)
    if household.detector_state:
        with np.load(io.BytesIO(bytes(household.detector_state))) as saved:
            _state_fill(detector.state, saved)
            count = int(saved["checkpoints"]) if "checkpoints" in saved.files else 0
            for n in range(count):
                checkpoint = detection.DetectorState(meters=detector.state.meters)
                _state_fill(checkpoint, saved, f"checkpoint{n}__")
                detector.checkpoints.append(checkpoint)
            if "seen" in saved.files:
                detector.seen = saved["seen"]
    return detector


def _state_dump(detector: detection.WellbeingDetector) -> bytes:
    arrays = _state_arrays(detector.state)
    arrays["checkpoints"] = np.array(len(detector.checkpoints))
    for n, checkpoint in enumerate(detector.checkpoints):
        arrays.update(_state_arrays(checkpoint, f"checkpoint{n}__"))
    arrays["seen"] = detector.seen
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _local_slot(moment: datetime) -> int:
    return detection.slot_of(timezone.localtime(moment))


def _aware_slot_start(slot: int) -> datetime:
    return timezone.make_aware(detection.slot_start(slot))


def detection_run(*, household_id: int) -> list[Alert]:
    """Runs the detector over the half hours that have readings since it last ran, and raises
    what it finds. Readings that arrived late, for half hours already detected, are detected
    again from the last day boundary before them (up to `CHECKPOINT_DAYS` back); an alert the
    first pass already raised is not raised again (one alert per household, kind and
    incident)."""
    # Cleared before reading, so that readings stored from now on queue another run.
    Household.objects.filter(pk=household_id).update(detection_queued_at=None)
    return _detection_pass(household_id)


@transaction.atomic
def _detection_pass(household_id: int) -> list[Alert]:
    household = Household.objects.select_for_update().get(pk=household_id)
    if not household.consenting:
        return []
    detector = _detector(household)
    done = detector.state.slot  # last half hour detected, -1 before the first run
    window = detector.checkpoints[0].slot + 1 if detector.checkpoints else done + 1
    readings = Reading.objects.filter(meter__household=household).order_by("at")
    if done >= 0:
        # A reading covers the interval that ends at its time.
        readings = readings.filter(at__gt=_aware_slot_start(window))
    rows = list(readings.values_list("at", "use", "meter__utility"))
    if not rows:
        return []
    slots_of = [_local_slot(row[0] - timedelta(microseconds=1)) for row in rows]
    if done < 0:
        window = slots_of[0]
        detector.state.slot = window - 1
        detector.checkpoints = [detector.snapshot()]
    latest = max(max(slots_of), done)
    values = np.full((1, latest - window + 1, 3), np.nan)
    for slot, (_moment, use, utility) in zip(slots_of, rows, strict=True):
        column = UTILITY_INDEX[Utility(utility)]
        current = values[0, slot - window, column]
        values[0, slot - window, column] = use + (0.0 if np.isnan(current) else current)

    # Go back to the last checkpoint before the first half hour whose readings changed.
    seen = detector.seen[: done - window + 1]
    before = values[0, : seen.shape[0]]
    same = np.isclose(before, seen, rtol=1e-9, atol=1e-12) | (np.isnan(before) & np.isnan(seen))
    changed = np.flatnonzero(~same.all(axis=1))
    start = detector.state.slot + 1
    if changed.size:
        first_changed = window + int(changed[0])
        kept = [c for c in detector.checkpoints if c.slot < first_changed]
        if kept:
            detector.restore(kept[-1])
            detector.checkpoints = kept
            start = kept[-1].slot + 1
    if start > latest:
        return []

    away = np.zeros((1, latest - window + 1), dtype=bool)
    for period in household.away.filter(cancelled_at__isnull=True):
        a = max(_local_slot(period.starts_at) - window, 0)
        b = min(_local_slot(period.ends_at) - window, away.shape[1])
        if a < b:
            away[0, a:b] = True
    found: list[detection.Alert] = []
    step = start
    while step <= latest:
        # Up to the next day boundary, where a checkpoint is saved.
        stop = min(latest, (step // detection.SLOTS_PER_DAY + 1) * detection.SLOTS_PER_DAY - 1)
        found += detector.process(
            values[:, step - window : stop - window + 1],
            step,
            away=away[:, step - window : stop - window + 1],
        )
        if (stop + 1) % detection.SLOTS_PER_DAY == 0:
            detector.checkpoints.append(detector.snapshot())
        step = stop + 1
    detector.checkpoints = detector.checkpoints[-CHECKPOINT_DAYS:]
    oldest = detector.checkpoints[0].slot + 1
    detector.seen = values[0, oldest - window :].copy()

    household.detector_state = _state_dump(detector)
    household.detected_through = timezone.make_aware(detection.slot_end(latest))
    household.save(update_fields=["detector_state", "detected_through"])
    return [
        _alert_raise(household, detector, values, window, alert)
        for alert in _new_alerts(household, found, replayed_from=start if start <= done else None)
    ]


def _new_alerts(
    household: Household, found: list[detection.Alert], *, replayed_from: int | None
) -> list[detection.Alert]:
    """An alert is raised once per incident: when half hours were detected again, the alerts of
    each kind the first pass raised in them stand for the first ones found again."""
    if replayed_from is None:
        return found
    raised: dict[str, int] = {}
    for kind in household.alerts.filter(at__gt=_aware_slot_start(replayed_from)).values_list(
        "kind", flat=True
    ):
        raised[kind] = raised.get(kind, 0) + 1
    fresh = []
    for alert in sorted(found, key=lambda a: a.slot):
        if raised.get(alert.kind, 0) > 0:
            raised[alert.kind] -= 1
        else:
            fresh.append(alert)
    return fresh


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _chart(
    detector: detection.WellbeingDetector, values: np.ndarray, first: int, slot: int
) -> dict[str, Any]:
    """The last 48 hours of activity by hour against the household's usual chance of activity."""
    end = slot - first + 1
    start = max(end - 96, 0)
    window = values[0, start:end]
    hours = []
    for offset in range(0, window.shape[0] - 1, 2):
        pair = window[offset : offset + 2]
        when = first + start + offset
        how = (when // detection.SLOTS_PER_HOUR) % detection.HOURS_PER_WEEK
        hours.append(
            {
                "at": detection.slot_start(when).isoformat(timespec="minutes"),
                "water_l": None
                if np.isnan(pair[:, detection.WATER]).all()
                else round(1000 * float(np.nansum(pair[:, detection.WATER])), 1),
                "usual": round(float(detector.state.p_active[0, how]), 3),
            }
        )
    return {"hours": hours}


def _alert_raise(
    household: Household,
    detector: detection.WellbeingDetector,
    values: np.ndarray,
    first: int,
    found: detection.Alert,
) -> Alert:
    minutes = _setting("family_minutes", 15)
    alert = Alert.objects.create(
        household=household,
        kind=found.kind,
        severity=found.severity,
        at=timezone.make_aware(found.at),
        explanation=found.explanation,
        evidence={k: _plain(v) for k, v in found.evidence.items()},
        chart=_chart(detector, values, first, found.slot),
        family_deadline=timezone.now() + timedelta(minutes=minutes),
    )
    audit_record(actor=None, action="wellbeing.alert.raise", obj=alert)
    _family_notify(alert, household, minutes, urgent=found.severity == detection.Severity.URGENT)
    return alert


# --- alerts and visits --------------------------------------------------------------------

ACK_SALT = "civichub.wellbeing.alert-acknowledge"


def ack_token(*, alert: Alert, contact: FamilyContact) -> str:
    """A signed, expiring token for one family contact to answer one alert without an account
    (the link in the SMS). It names the alert and the contact and nothing else."""
    return signing.dumps({"a": alert.pk, "c": contact.pk}, salt=ACK_SALT, compress=True)


def ack_link(*, alert: Alert, contact: FamilyContact) -> str:
    """The acknowledgement page's address, absolute when the deployment set `site_url`."""
    site = str(getattr(settings, "CIVICHUB_WELLBEING", {}).get("site_url", "")).rstrip("/")
    return site + reverse("wellbeing:acknowledge", args=[ack_token(alert=alert, contact=contact)])


def ack_token_read(token: str) -> tuple[Alert, FamilyContact]:
    """The alert and the contact a signed link was made for; refused when the signature is wrong,
    the link has expired or the contact is no longer one of the household's."""
    hours = _setting("ack_link_hours", 24)
    try:
        data = signing.loads(token, salt=ACK_SALT, max_age=timedelta(hours=hours))
    except signing.SignatureExpired as exc:
        raise PermissionDenied(_("这个确认链接已过期，请直接联系社区。")) from exc
    except signing.BadSignature as exc:
        raise PermissionDenied(_("这个确认链接无效。")) from exc
    alert = (
        Alert.objects.filter(pk=data.get("a"))
        .select_related("household__resident", "household__community")
        .first()
    )
    contact = FamilyContact.objects.filter(pk=data.get("c")).first()
    if alert is None or contact is None or contact.household_id != alert.household_id:
        raise PermissionDenied(_("这个确认链接无效。"))
    return alert, contact


def _family_reachable(household: Household) -> list[FamilyContact]:
    """The contacts the outbox can reach, in calling order: those with an account (in-app and
    their own channels) and those known only by a phone number (SMS) or an e-mail address."""
    return [
        c
        for c in household.contacts.select_related("user")
        if c.user is not None or c.phone or c.email
    ]


def _family_send(
    *,
    user: User | None,
    phone: str,
    email: str,
    context: dict[str, Any],
    priority: str,
    dedupe_key: str,
) -> None:
    """One family contact is sent the alert: through their account when they have one, else by
    SMS to the number and by e-mail to the address on the contact (the outbox keeps each on its
    delivery for the retries)."""
    if user is not None:
        notification_send(
            recipients=[user],
            kind="wellbeing.alert_family",
            context=context,
            priority=priority,
            dedupe_key=dedupe_key,
        )
        return
    for channel, address in ((Channel.SMS, phone), (Channel.EMAIL, email)):
        if not address:
            continue
        try:
            notification_send_to_address(
                kind="wellbeing.alert_family",
                channel=channel,
                address=address,
                context=context,
                priority=priority,
                dedupe_key=f"{dedupe_key}.{channel}",
            )
        except ValidationFailed:
            # An address the outbox refuses: the worker's page shows the contact to call by
            # hand, and the visit follows the family deadline as for anyone who does not answer.
            logger.warning("family contact %s: cannot send by %s", dedupe_key, channel)


def _family_due(alert: Alert, now: datetime) -> int:
    """How many contacts should have the alert by now: the first at once, then one more every
    `contact_minutes` (0: all at once) while nobody has answered."""
    step = _setting("contact_minutes", 5)
    if step <= 0:
        return 1_000
    return 1 + int((now - alert.created_at) / timedelta(minutes=step))


def _family_notify(alert: Alert, household: Household, minutes: int, *, urgent: bool) -> None:
    """The family contacts are sent the alert in calling order, each with their own signed
    link: the first now, the next ones by the escalation task while nobody has answered."""
    _family_notify_due(alert, household, minutes, urgent=urgent, now=alert.created_at)


def _family_notify_due(
    alert: Alert, household: Household, minutes: int, *, urgent: bool, now: datetime
) -> int:
    resident = household.resident
    priority = Priority.EMERGENCY if urgent else Priority.NORMAL
    reachable = _family_reachable(household)
    due = min(_family_due(alert, now), len(reachable))
    if due <= alert.family_notified:
        return 0
    for contact in reachable[alert.family_notified : due]:
        context = {
            "name": resident.name,
            **_explanations(alert),
            "minutes": minutes,
            "link": ack_link(alert=alert, contact=contact),
        }
        transaction.on_commit(
            partial(
                _family_send,
                user=contact.user,
                phone=contact.phone,
                email=contact.email,
                context=context,
                priority=priority,
                dedupe_key=f"wellbeing.alert.{alert.pk}.family.{contact.pk}",
            )
        )
    sent = due - alert.family_notified
    Alert.objects.filter(pk=alert.pk).update(family_notified=due)
    alert.family_notified = due
    return sent


def _alert_answer(
    alert: Alert,
    *,
    actor: User | None,
    contact: FamilyContact | None,
    answer: str,
    via: str,
) -> Alert:
    if answer not in FamilyAnswer.values:
        message = _("请选择：已联系上，或联系不上。")
        raise ValidationFailed(message, errors={"answer": [message]})
    alert = (
        Alert.objects.select_for_update()
        .select_related("household__resident", "household__worker", "household__community")
        .get(pk=alert.pk)
    )
    if alert.status != AlertStatus.FAMILY:
        raise Conflict(_("该提醒已不在等待家属确认。"))
    if not alert.household.consenting:
        raise Conflict(_("该户已撤回同意。"))
    now = timezone.now()
    alert.acknowledged_by = actor if actor is not None and actor.is_authenticated else None
    alert.acknowledged_contact = contact
    alert.acknowledged_answer = answer
    alert.acknowledged_at = now
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.save(
        update_fields=[
            "status",
            "acknowledged_by",
            "acknowledged_contact",
            "acknowledged_answer",
            "acknowledged_at",
        ]
    )
    audit_record(
        actor=actor,
        action="wellbeing.alert.acknowledge",
        obj=alert,
        purpose=via,
        changes={"answer": answer, "contact": contact.pk if contact else None},
    )
    if answer == FamilyAnswer.UNREACHABLE:
        # Nobody could reach them: the visit cannot wait for the family deadline.
        _visit_create(alert, now=now)
    return alert


@transaction.atomic
def alert_acknowledge(*, actor: User, alert: Alert, answer: str = FamilyAnswer.FINE) -> Alert:
    """A family member with an account (or the worker) answers: they reached the resident and all
    is fine, or they cannot reach them and a visit task is made at once."""
    require(actor, "wellbeing.alert.acknowledge", alert)
    contact = alert.household.contacts.filter(user_id=actor.pk).first()
    return _alert_answer(alert, actor=actor, contact=contact, answer=answer, via="账号确认")


@transaction.atomic
def alert_acknowledge_by_link(*, token: str, answer: str) -> Alert:
    """The same answer from the signed link a family contact received by SMS, without an
    account. The audit row names the contact the link was made for."""
    alert, contact = ack_token_read(token)
    return _alert_answer(
        alert, actor=None, contact=contact, answer=answer, via=f"家属短信链接确认：{contact.name}"
    )


@dataclass
class EscalationReport:
    visits_created: int = 0
    visits_escalated: int = 0
    family_notified: int = 0


def _heads(community: Organisation) -> list[User]:
    ancestors = [community.path[: i + 1] for i, ch in enumerate(community.path) if ch == "/"]
    user_ids = RoleAssignment.objects.filter(
        role=HEAD, organisation__path__in=ancestors
    ).values_list("user_id", flat=True)
    return list(User.objects.filter(pk__in=user_ids, is_active=True))


def _explanations(alert: Alert) -> dict[str, str]:
    """The alert in plain words in each language a notification is written in."""
    from civichub.wellbeing.wording import explain

    with translation.override("zh-hans"):
        chinese = explain(alert.kind, alert.evidence, alert.explanation)
    with translation.override("en"):
        english = explain(alert.kind, alert.evidence, alert.explanation)
    return {"explanation": english, "explanation_zh": chinese}


def _visit_context(task: VisitTask) -> dict[str, Any]:
    resident = task.alert.household.resident
    return {
        "name": resident.name,
        "address": resident.address,
        **_explanations(task.alert),
        "due_at": timezone.localtime(task.due_at).strftime("%Y-%m-%d %H:%M"),
    }


def _visit_create(alert: Alert, *, now: datetime) -> VisitTask:
    task = VisitTask.objects.create(
        alert=alert,
        worker=alert.household.worker,
        due_at=now + timedelta(minutes=_setting("visit_minutes", 60)),
    )
    alert.status = AlertStatus.VISIT
    alert.save(update_fields=["status"])
    audit_record(actor=None, action="wellbeing.visit.create", obj=task)
    transaction.on_commit(_visit_notifier(task))
    return task


@transaction.atomic
def alerts_escalate(*, now: datetime | None = None) -> EscalationReport:
    """Alerts nobody in the family acknowledged in time become visit tasks for the household's
    worker; visit tasks not done in time go to the community head."""
    now = now or timezone.now()
    report = EscalationReport()
    waiting = (
        Alert.objects.select_for_update(skip_locked=True)
        .filter(status=AlertStatus.FAMILY, family_deadline__lte=now)
        .select_related("household__resident", "household__worker")
    )
    for alert in waiting:
        if not alert.household.consenting:
            continue
        _visit_create(alert, now=now)
        report.visits_created += 1
    # Before the deadline: the next family contacts in calling order, while nobody has answered.
    pending = (
        Alert.objects.select_for_update(skip_locked=True)
        .filter(
            status=AlertStatus.FAMILY,
            family_deadline__gt=now,
            household__consent_withdrawn_at__isnull=True,
        )
        .select_related("household__resident")
    )
    family_minutes = _setting("family_minutes", 15)
    for alert in pending:
        report.family_notified += _family_notify_due(
            alert,
            alert.household,
            family_minutes,
            urgent=alert.severity == detection.Severity.URGENT,
            now=now,
        )
    overdue = VisitTask.objects.select_for_update(skip_locked=True).filter(
        status__in=[VisitStatus.WAITING, VisitStatus.ACCEPTED, VisitStatus.ON_THE_WAY],
        due_at__lte=now,
        alert__household__consent_withdrawn_at__isnull=True,
    )
    for task in overdue.select_related("alert__household__resident", "alert__household__community"):
        _escalate(task, actor=None)
        report.visits_escalated += 1
    return report


def _visit_notifier(task: VisitTask) -> Callable[[], object]:
    context = _visit_context(task)
    worker = task.worker

    def send() -> object:
        return notification_send(
            recipients=[worker],
            kind="wellbeing.visit_task",
            context=context,
            priority=Priority.EMERGENCY,
            dedupe_key=f"wellbeing.visit.{task.pk}",
        )

    return send


def _escalate(task: VisitTask, *, actor: User | None, note: str = "") -> None:
    heads = _heads(task.alert.household.community)
    task.status = VisitStatus.ESCALATED
    task.escalated_to = heads[0] if heads else None
    if note:
        task.note = note
    task.save(update_fields=["status", "escalated_to", "note"])
    audit_record(actor=actor, action="wellbeing.visit.escalate", obj=task, purpose=note)
    if heads:
        context = _visit_context(task)
        transaction.on_commit(
            lambda: notification_send(
                recipients=heads,
                kind="wellbeing.visit_escalated",
                context=context,
                priority=Priority.EMERGENCY,
                dedupe_key=f"wellbeing.visit.{task.pk}.escalated",
            )
        )


def _visit_for_update(actor: User, task: VisitTask, allowed: set[str]) -> VisitTask:
    require(actor, "wellbeing.visit.act", task)
    task = VisitTask.objects.select_for_update().select_related("alert").get(pk=task.pk)
    if task.status not in allowed:
        raise Conflict(
            _("任务当前状态（%(status)s）不能执行此操作。")
            % {"status": VisitStatus(task.status).label}
        )
    return task


@transaction.atomic
def visit_accept(*, actor: User, task: VisitTask) -> VisitTask:
    task = _visit_for_update(actor, task, {VisitStatus.WAITING, VisitStatus.ESCALATED})
    task.status = VisitStatus.ACCEPTED
    task.worker = actor
    task.save(update_fields=["status", "worker"])
    audit_record(actor=actor, action="wellbeing.visit.accept", obj=task)
    return task


@transaction.atomic
def visit_on_the_way(*, actor: User, task: VisitTask) -> VisitTask:
    task = _visit_for_update(actor, task, {VisitStatus.ACCEPTED})
    task.status = VisitStatus.ON_THE_WAY
    task.save(update_fields=["status"])
    audit_record(actor=actor, action="wellbeing.visit.on_the_way", obj=task)
    return task


@transaction.atomic
def visit_record(
    *, actor: User, task: VisitTask, outcome: str, real: bool, note: str = ""
) -> VisitTask:
    """The worker has been: what they found, and whether the alert was a real incident."""
    task = _visit_for_update(
        actor, task, {VisitStatus.ACCEPTED, VisitStatus.ON_THE_WAY, VisitStatus.ESCALATED}
    )
    if outcome not in VisitOutcome.values:
        message = _("请选择上门结果。")
        raise ValidationFailed(message, errors={"outcome": [message]})
    task.status = VisitStatus.VISITED
    task.outcome = outcome
    task.real = real
    task.note = note
    task.visited_at = timezone.now()
    task.save(update_fields=["status", "outcome", "real", "note", "visited_at"])
    Alert.objects.filter(pk=task.alert_id).update(status=AlertStatus.CLOSED)
    _tune(task.alert.household_id, false_alarm=not real)
    audit_record(
        actor=actor,
        action="wellbeing.visit.record",
        obj=task,
        changes={"outcome": outcome, "real": real},
    )
    return task


def _tune(household_id: int, *, false_alarm: bool) -> None:
    household = Household.objects.select_for_update().get(pk=household_id)
    if not household.consenting or not household.detector_state:
        return
    detector = _detector(household)
    detector.tune(0, false_alarm=false_alarm)
    household.detector_state = _state_dump(detector)
    household.save(update_fields=["detector_state"])


@transaction.atomic
def visit_escalate(*, actor: User, task: VisitTask, note: str) -> VisitTask:
    task = _visit_for_update(
        actor, task, {VisitStatus.WAITING, VisitStatus.ACCEPTED, VisitStatus.ON_THE_WAY}
    )
    _escalate(task, actor=actor, note=note)
    return task

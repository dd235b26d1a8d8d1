"""Enrolment with consent, family contacts, meters and withdrawal of consent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.errors import Conflict, ValidationFailed
from civichub.core.models import Organisation, Resident, User
from civichub.core.permissions import require
from civichub.wellbeing.models import (
    INTERVAL_MINUTES,
    UTILITY_UNITS,
    AlertStatus,
    ConsentGiver,
    ConsentMethod,
    FamilyContact,
    Household,
    Meter,
    Utility,
)
from civichub.wellbeing.selectors import workers_for

# A meter that sends in bunches sends at least once a week (a day of hourly values once a day
# is the usual NB-IoT water meter); detection cannot be later than that.
REPORT_EVERY_MAX_MINUTES = 7 * 24 * 60


@dataclass(frozen=True)
class MeterSpec:
    """A meter to enrol: its unit (empty: the utility's canonical one, m³ or kWh), its reading
    interval in minutes and how often it sends its readings (0: with each reading)."""

    utility: str
    meter_id: str
    cumulative: bool = True
    unit: str = ""
    interval_minutes: int = 30
    report_every_minutes: int = 0

    @property
    def unit_or_default(self) -> str:
        units = UTILITY_UNITS.get(self.utility, ("",))
        return self.unit or units[0]

    @property
    def report_every(self) -> int:
        return self.report_every_minutes or self.interval_minutes


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
        else:
            errors.extend(e for field in _reading_errors(spec).values() for e in field)
        seen.add(meter_id)
    return errors


def _one_meter_errors(spec: MeterSpec) -> dict[str, list[str]]:
    """What is wrong with one meter added to a household, by field."""
    errors = _meter_errors([MeterSpec(spec.utility, spec.meter_id)])
    found = {"meter_id": errors} if errors else {}
    if spec.utility in Utility.values:
        found.update(_reading_errors(spec))
    return found


def _reading_errors(spec: MeterSpec) -> dict[str, list[str]]:
    """What is wrong with a meter's unit, reading interval and reporting, by field."""
    errors: dict[str, list[str]] = {}
    if spec.unit_or_default not in UTILITY_UNITS[spec.utility]:
        errors["unit"] = [
            _("%(utility)s表的单位只能是 %(units)s。")
            % {
                "utility": Utility(spec.utility).label,
                "units": " / ".join(UTILITY_UNITS[spec.utility]),
            }
        ]
    if spec.interval_minutes not in INTERVAL_MINUTES:
        errors["interval_minutes"] = [
            _("读数间隔须为以下分钟数之一：%s。") % ", ".join(map(str, INTERVAL_MINUTES))
        ]
    elif (
        spec.report_every < spec.interval_minutes
        or spec.report_every % spec.interval_minutes
        or spec.report_every > REPORT_EVERY_MAX_MINUTES
    ):
        errors["report_every_minutes"] = [_("上报间隔须为读数间隔的整数倍，且不超过 7 天。")]
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
    now = timezone.now()
    if not consent_method:
        # Callers that predate the method field: the resident in the app, otherwise in person
        # (the note, required below, says how).
        consent_method = (
            ConsentMethod.APP if consent_by == ConsentGiver.RESIDENT else ConsentMethod.IN_PERSON
        )
    errors = _consent_errors(
        consent_by=consent_by,
        consent_method=consent_method,
        consent_document=consent_document,
        guardian_name=guardian_name,
        consent_note=consent_note,
        consent_at=consent_at,
        now=now,
    )
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
        _meter_create(household, spec)
    _contacts_store(household, contacts)
    audit_record(
        actor=actor,
        action="wellbeing.household.enrol",
        obj=household,
        changes={
            "consent_by": consent_by,
            "consent_method": consent_method,
            "consent_document": household.consent_document,
            "meters": [
                {
                    "meter": m.meter_id.strip(),
                    "unit": m.unit_or_default,
                    "interval_minutes": m.interval_minutes,
                    "report_every_minutes": m.report_every,
                }
                for m in meters
            ],
            "contacts": len(contacts),
        },
    )
    return household


def _consent_errors(
    *,
    consent_by: str,
    consent_method: str,
    consent_document: str,
    guardian_name: str,
    consent_note: str,
    consent_at: datetime | None,
    now: datetime,
) -> dict[str, list[str]]:
    """What is missing or wrong in the record of the resident's consent, by field."""
    errors: dict[str, list[str]] = {}
    if consent_by not in ConsentGiver.values:
        errors["consent_by"] = [_("请说明由谁同意。")]
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
    return errors


def _meter_create(
    household: Household, spec: MeterSpec, installed_at: datetime | None = None
) -> Meter:
    return Meter.objects.create(
        household=household,
        utility=spec.utility,
        meter_id=spec.meter_id.strip(),
        cumulative=spec.cumulative,
        unit=spec.unit_or_default,
        interval_minutes=spec.interval_minutes,
        report_every_minutes=spec.report_every,
        installed_at=installed_at or timezone.now(),
    )


def _meter_facts(meter: Meter) -> dict[str, object]:
    """What the audit records of a meter."""
    return {
        "meter": meter.meter_id,
        "unit": meter.unit,
        "interval_minutes": meter.interval_minutes,
        "report_every_minutes": meter.report_every_minutes,
    }


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
    errors = _one_meter_errors(spec)
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors=errors)
    meter = _meter_create(household, spec)
    audit_record(
        actor=actor, action="wellbeing.meter.add", obj=household, changes=_meter_facts(meter)
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
    household.detector_checkpoints = None
    household.save(update_fields=["consent_withdrawn_at", "detector_state", "detector_checkpoints"])
    household.alerts.exclude(status=AlertStatus.CLOSED).update(status=AlertStatus.CLOSED)
    audit_record(actor=actor, action="wellbeing.consent.withdraw", obj=household, purpose=reason)
    return household


@transaction.atomic
def meter_replace(
    *,
    actor: User | None,
    meter: Meter,
    new_meter_id: str,
    at: datetime | None = None,
    unit: str = "",
    interval_minutes: int | None = None,
    report_every_minutes: int | None = None,
) -> Meter:
    """A new meter takes over at `at` (default now); its register starts from its own first
    reading. The old meter still takes its late readings up to that time, none after. The new
    meter reads in the old one's unit, interval and reporting unless others are given."""
    if actor is not None:
        require(actor, "wellbeing.household.manage", meter.household)
    if Meter.objects.filter(meter_id=new_meter_id).exists():
        raise Conflict(_("表号已登记：%s") % new_meter_id)
    interval = interval_minutes or meter.interval_minutes
    spec = MeterSpec(
        meter.utility,
        new_meter_id,
        meter.cumulative,
        unit=unit or meter.unit,
        interval_minutes=interval,
        report_every_minutes=report_every_minutes
        or (meter.report_every_minutes if interval_minutes is None else interval),
    )
    errors = _one_meter_errors(spec)
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors=errors)
    at = at or timezone.now()
    meter.active = False
    meter.removed_at = at
    meter.save(update_fields=["active", "removed_at"])
    new = _meter_create(meter.household, spec, installed_at=at)
    audit_record(
        actor=actor,
        action="wellbeing.meter.replace",
        obj=meter.household,
        changes={"old": meter.meter_id, "new": new_meter_id, **_meter_facts(new)},
    )
    return new

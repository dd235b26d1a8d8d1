"""Wellbeing tables: enrolled households with their consent, meters and family contacts, meter
readings, away periods, alerts and the visit tasks they become. Business flow is in services."""

from __future__ import annotations

from typing import ClassVar, Protocol

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civichub.core.models import Organisation, Resident


class ConsentGiver(models.TextChoices):
    """Who enrolled the household. The consent is always the resident's own."""

    RESIDENT = "resident", _("本人")
    GUARDIAN = "guardian", _("监护人（经本人同意）")
    WORKER = "worker", _("社区工作者（经本人同意）")


class ConsentMethod(models.TextChoices):
    SIGNED_FORM = "signed_form", _("签署书面同意书")
    IN_PERSON = "in_person", _("当面口头同意")
    APP = "app", _("本人在应用中同意")


class Household(models.Model):
    resident = models.ForeignKey(Resident, on_delete=models.PROTECT, related_name="+")
    community = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="wellbeing_households"
    )
    consent_by = models.CharField(max_length=16, choices=ConsentGiver.choices)
    guardian_name = models.CharField(max_length=100, blank=True, default="")
    consent_note = models.CharField(max_length=300, blank=True, default="")
    consent_at = models.DateTimeField(default=timezone.now)
    consent_method = models.CharField(
        max_length=16, choices=ConsentMethod.choices, default=ConsentMethod.IN_PERSON
    )
    consent_document = models.CharField(max_length=100, blank=True, default="")
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    consent_withdrawn_at = models.DateTimeField(null=True, blank=True)
    # The detector's memory of this household (its state and the readings it has seen since its
    # oldest checkpoint) and its last half hour; the day-boundary checkpoints apart, read only
    # when a late reading makes the detector go back (services/detector_state.py).
    detector_state = models.BinaryField(null=True, blank=True, editable=False)
    detector_checkpoints = models.BinaryField(null=True, blank=True, editable=False)
    detected_through = models.DateTimeField(null=True, blank=True)
    # When a detection task for this household was queued and has not started yet: another is
    # not queued meanwhile (the queued one will read every reading stored until it starts).
    detection_queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The earliest reading stored since the household's last detection pass: a pass detects
    # again from a checkpoint only when it is at or before the half hours already detected.
    detection_since = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("关爱住户")
        verbose_name_plural = _("关爱住户")
        indexes: ClassVar[list[models.Index]] = [
            # The worker's claim reads the households due, longest waiting first.
            models.Index(
                fields=["detection_queued_at", "id"],
                condition=models.Q(detection_queued_at__isnull=False),
                name="wellbeing_household_due",
            )
        ]

    def __str__(self) -> str:
        return f"{_('关爱住户')} #{self.pk}"

    @property
    def organisation(self) -> Organisation:
        return self.community

    @property
    def consenting(self) -> bool:
        return self.consent_withdrawn_at is None


class _OfHousehold(Protocol):
    @property
    def household(self) -> Household: ...


class InHousehold:
    """A row of one household's: the permission check and the audit scope it by the
    household's community."""

    @property
    def organisation(self: _OfHousehold) -> Organisation:
        return self.household.community


class Utility(models.TextChoices):
    WATER = "water", _("水")
    ELECTRICITY = "electricity", _("电")
    GAS = "gas", _("燃气")


class MeterUnit(models.TextChoices):
    """The unit a meter's readings are sent in. Detection works in m³ (water, gas) and kWh
    (electricity); ingestion converts the others once, by dividing by `UNIT_DIVISOR`."""

    CUBIC_METRE = "m3", _("立方米（m³）")
    LITRE = "L", _("升（L）")
    KILOWATT_HOUR = "kWh", _("千瓦时（kWh）")
    WATT_HOUR = "Wh", _("瓦时（Wh）")


# Each utility's units, the canonical one (what detection works in, the default) first.
UTILITY_UNITS: dict[str, tuple[str, ...]] = {
    Utility.WATER: (MeterUnit.CUBIC_METRE, MeterUnit.LITRE),
    Utility.ELECTRICITY: (MeterUnit.KILOWATT_HOUR, MeterUnit.WATT_HOUR),
    Utility.GAS: (MeterUnit.CUBIC_METRE, MeterUnit.LITRE),
}
# A reading in this unit divided by this is in the canonical unit (an integer, so that integer
# litres or watt-hours become m³ or kWh by one correctly rounded division).
UNIT_DIVISOR: dict[str, int] = {
    MeterUnit.CUBIC_METRE: 1,
    MeterUnit.LITRE: 1000,
    MeterUnit.KILOWATT_HOUR: 1,
    MeterUnit.WATT_HOUR: 1000,
}
# Reading intervals a meter may have, in minutes: each divides a day.
INTERVAL_MINUTES: tuple[int, ...] = (5, 10, 15, 20, 30, 60, 120, 180, 240, 360, 720, 1440)


class Meter(InHousehold, models.Model):
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="meters")
    utility = models.CharField(max_length=16, choices=Utility.choices)
    meter_id = models.CharField(max_length=64, unique=True)
    # A register meter reports a running total; otherwise each reading is the use in its interval.
    cumulative = models.BooleanField(default=True)
    # The unit its readings are sent in (one of `UTILITY_UNITS[utility]`); `Reading.value` keeps
    # it, `Reading.use` is converted to the canonical unit.
    unit = models.CharField(max_length=8, choices=MeterUnit.choices)
    # Minutes between its readings (one of `INTERVAL_MINUTES`).
    interval_minutes = models.PositiveIntegerField(default=30)
    # How often it sends them: with each reading (equal to the interval) or in bunches, say a
    # day of hourly values once a day (an NB-IoT water meter). A multiple of the interval.
    report_every_minutes = models.PositiveIntegerField(default=30)
    active = models.BooleanField(default=True)
    installed_at = models.DateTimeField(default=timezone.now)
    # When a replaced meter stopped counting: its late readings from before then are still taken.
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("表计")
        verbose_name_plural = _("表计")
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(
                condition=models.Q(report_every_minutes__gte=models.F("interval_minutes")),
                name="wellbeing_meter_reports_after_reading",
            )
        ]

    def __str__(self) -> str:
        return self.meter_id


class FamilyContact(models.Model):
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=100)
    phone = models.CharField(max_length=32, blank=True, default="")
    email = models.EmailField(blank=True, default="")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering: ClassVar[list[str]] = ["order", "pk"]

    def __str__(self) -> str:
        return self.name


class Reading(models.Model):
    # No index of its own: the unique (meter, at) constraint's index leads with the meter and
    # serves every lookup by meter; a second index would be written on each insert for nothing.
    # No foreign key constraint in the database either: it checked every inserted reading's
    # meter once more (on PostgreSQL a trigger per row at commit, as costly as the insert),
    # while ingestion has already found and locked each meter in the same transaction (a
    # reading for an unknown meter is refused as `unknown_meter`) and a meter's deletion still
    # deletes its readings (CASCADE, done by Django).
    meter = models.ForeignKey(
        Meter,
        on_delete=models.CASCADE,
        related_name="readings",
        db_index=False,
        db_constraint=False,
    )
    at = models.DateTimeField()
    # The register value or the interval's use, as sent, in the meter's unit.
    value = models.FloatField()
    # Use since the meter's previous reading, in the canonical unit (m³ or kWh).
    use = models.FloatField()
    reset = models.BooleanField(default=False)
    received_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            # Its index also serves every lookup of a meter's readings by time, so there is no
            # second index on (meter, at) to write on each insert. Retention finds expired
            # readings through a BRIN index on `at` on PostgreSQL (migration 0006).
            models.UniqueConstraint(fields=["meter", "at"], name="wellbeing_reading_once")
        ]

    def __str__(self) -> str:
        return f"{self.meter_id}@{self.at:%Y-%m-%d %H:%M}"


class AwayKind(models.TextChoices):
    TRAVEL = "travel", _("外出旅行")
    CHILDREN = "children", _("住在子女家")
    HOSPITAL = "hospital", _("住院")
    OTHER = "other", _("其他")


class AwayPeriod(InHousehold, models.Model):
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="away")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=100, blank=True, default="")
    kind = models.CharField(max_length=16, choices=AwayKind.choices, default=AwayKind.OTHER)
    # A long absence is reviewed by this day (none for a short one).
    review_on = models.DateField(null=True, blank=True)
    marked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A cancelled period no longer silences anything; it stays listed for the record.
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering: ClassVar[list[str]] = ["-starts_at"]

    def __str__(self) -> str:
        return f"{self.starts_at:%Y-%m-%d}–{self.ends_at:%Y-%m-%d}"


class AlertStatus(models.TextChoices):
    FAMILY = "family", _("已通知家属")
    ACKNOWLEDGED = "acknowledged", _("家属已确认")
    VISIT = "visit", _("已转上门任务")
    CLOSED = "closed", _("已办结")


class FamilyAnswer(models.TextChoices):
    FINE = "fine", _("已联系上，一切安好")
    UNREACHABLE = "unreachable", _("联系不上，请上门查看")


class Alert(InHousehold, models.Model):
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=32)
    severity = models.CharField(max_length=16)
    at = models.DateTimeField()
    explanation = models.TextField()
    evidence = models.JSONField(default=dict)
    chart = models.JSONField(default=dict)  # recent days against the household's usual band
    status = models.CharField(
        max_length=16, choices=AlertStatus.choices, default=AlertStatus.FAMILY
    )
    family_deadline = models.DateTimeField()
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Who in the family answered (also when they answered from a signed link without an account)
    # and what they said.
    acknowledged_contact = models.ForeignKey(
        FamilyContact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_answer = models.CharField(
        max_length=16, choices=FamilyAnswer.choices, blank=True, default=""
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    # How many of the household's reachable family contacts, in calling order, have been sent
    # the alert so far (the next one follows when nobody has answered).
    family_notified = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering: ClassVar[list[str]] = ["-at"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class VisitStatus(models.TextChoices):
    WAITING = "waiting", _("待接单")
    ACCEPTED = "accepted", _("已接单")
    ON_THE_WAY = "on_the_way", _("在路上")
    VISITED = "visited", _("已上门")
    ESCALATED = "escalated", _("已上报")


class VisitOutcome(models.TextChoices):
    FINE = "fine", _("一切安好")
    NEEDED_HELP = "needed_help", _("需要帮助")
    HOSPITAL = "hospital", _("已送医")
    NOT_HOME = "not_home", _("不在家")


class VisitTask(models.Model):
    alert = models.OneToOneField(Alert, on_delete=models.CASCADE, related_name="visit")
    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="wellbeing_visits"
    )
    status = models.CharField(
        max_length=16, choices=VisitStatus.choices, default=VisitStatus.WAITING
    )
    due_at = models.DateTimeField()
    escalated_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outcome = models.CharField(max_length=16, choices=VisitOutcome.choices, blank=True)
    real = models.BooleanField(null=True)  # was it a real incident (True) or a false alarm
    note = models.TextField(blank=True, default="")
    visited_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"visit #{self.pk}"

    @property
    def organisation(self) -> Organisation:
        return self.alert.household.community


class AggregatePeriod(models.TextChoices):
    HOUR = "hour", pgettext_lazy("aggregation period", "小时")
    DAY = "day", _("日")


class ReadingAggregate(models.Model):
    """A meter's use over one local hour or day. Made from the raw readings before retention
    deletes them, and kept longer than they are (the retention settings say how long)."""

    meter = models.ForeignKey(Meter, on_delete=models.CASCADE, related_name="aggregates")
    period = models.CharField(max_length=8, choices=AggregatePeriod.choices)
    starts_at = models.DateTimeField()
    use = models.FloatField()
    readings = models.PositiveIntegerField()

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["meter", "period", "starts_at"], name="wellbeing_aggregate_once"
            )
        ]
        # Retention deletes the oldest of each period.
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["period", "starts_at"], name="wellbeing_aggregate_expiry")
        ]

    def __str__(self) -> str:
        return f"{self.meter_id} {self.period} {self.starts_at:%Y-%m-%d %H:%M}"

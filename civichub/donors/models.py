"""Emergency blood donors' tables: the registry (donors with their separate consents, coarse
place, availability, donations and deferrals), hospitals' requests and the call-ups that answer
them. Business flow is in services; the database keeps the invariants that a race could break
(one identity number per donor, one active call-up per donor, one call-up per request and donor).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import F, OrderBy, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civichub.core.models import Organisation, TimestampedModel


class Sex(models.TextChoices):
    MALE = "male", _("男")
    FEMALE = "female", _("女")


class ABO(models.TextChoices):
    O = "O", "O"  # noqa: E741 (the blood group's name)
    A = "A", "A"
    B = "B", "B"
    AB = "AB", "AB"


class PatientABO(models.TextChoices):
    O = "O", "O"  # noqa: E741
    A = "A", "A"
    B = "B", "B"
    AB = "AB", "AB"
    UNKNOWN = "unknown", _("未知")


class RhD(models.TextChoices):
    POS = "pos", _("RhD 阳性")
    NEG = "neg", _("RhD 阴性")


class PatientRhD(models.TextChoices):
    POS = "pos", _("RhD 阳性")
    NEG = "neg", _("RhD 阴性")
    UNKNOWN = "unknown", _("未知")


class GroupSource(models.TextChoices):
    SELF = "self", _("本人填报")
    CENTRE = "centre", _("血站检测")
    HUB = "hub", _("数据中台（卫健）")  # a health department's record, through the data hub


# The antigens a phenotype may record, and how they are written for people.
PHENOTYPE_ANTIGENS = ("C", "c", "E", "e", "K", "k", "Fya", "Fyb", "Jka", "Jkb", "Dia", "DEL")
ANTIGEN_LABELS = {"Fya": "Fy(a)", "Fyb": "Fy(b)", "Jka": "Jk(a)", "Jkb": "Jk(b)", "Dia": "Di(a)"}
# The antigens a request may ask donors to lack (a patient with the matching antibody): every
# antigen above but DEL, which describes an RhD-negative person's red cells, not an antigen a
# patient forms antibodies to.
REQUESTABLE_ANTIGENS = tuple(a for a in PHENOTYPE_ANTIGENS if a != "DEL")


def antigen_label(antigen: str) -> str:
    return ANTIGEN_LABELS.get(antigen, antigen)


# Groups someone tested (not declared by the donor); ordered as "centre" < "hub" < "self".
VERIFIED_SOURCES = frozenset({GroupSource.CENTRE, GroupSource.HUB})


class CallChannels(models.TextChoices):
    """How a donor wants call-ups to reach them (push goes to the devices of their account)."""

    SMS = "sms", _("短信")
    PUSH = "push", _("应用推送")
    BOTH = "both", _("短信和应用推送")


class Component(models.TextChoices):
    RED_CELLS = "red_cells", _("红细胞")
    PLASMA = "plasma", _("血浆")
    PLATELETS = "platelets", _("血小板")
    CRYO = "cryo", _("冷沉淀")
    WHOLE_BLOOD = "whole_blood", _("全血")


class DonationKind(models.TextChoices):
    WHOLE_BLOOD = "whole_blood", _("全血")
    PLATELETS = "platelets", _("单采血小板")


class Urgency(models.TextChoices):
    URGENT = "urgent", _("紧急")
    CRITICAL = "critical", _("危急")


class RequestStatus(models.TextChoices):
    OPEN = "open", _("召集中")
    MET = "met", _("已满足")
    CANCELLED = "cancelled", _("已取消")


class CallUpState(models.TextChoices):
    CALLED = "called", _("已通知")
    ACCEPTED = "accepted", _("已接受")
    DECLINED = "declined", _("已婉拒")
    ARRIVED = "arrived", _("已到达")
    DONATED = "donated", _("已献血")
    NO_SHOW = "no_show", _("未到")
    STOOD_DOWN = "stood_down", _("无需前往")


# A donor in one of these is taken: no other request may call them meanwhile.
ACTIVE_STATES = (CallUpState.CALLED, CallUpState.ACCEPTED, CallUpState.ARRIVED)
# Donors a request counts on: the waves stop while these cover the units.
COMMITTED_STATES = (CallUpState.ACCEPTED, CallUpState.ARRIVED, CallUpState.DONATED)


# What a call-up search reads and ranks by, held in its covering indexes (index-only scans).
_RANKING_COLUMNS = [
    "cell_lat",
    "cell_lng",
    "group_source",
    "accepts",
    "calls",
    "last_called_at",
    "paused_until",
    "whole_blood_from",
    "platelets_from",
    "birth_date",
    "sex",
    "weight_kg",
    "month_key",
    "month_call_ups",
    "had_reaction",
    "id",
]
# Within a cell and group, the order donors are ranked in (`selectors.RANKING_ORDER`).
_RANKING_ORDER: list[F | OrderBy] = [
    F("cell"),
    F("abo"),
    F("rhd"),
    F("group_source"),
    F("accepts").desc(),
    F("calls"),
    F("last_called_at").asc(nulls_first=True),
    F("id"),
]
_RANKING_ORDER_COLUMNS = frozenset({"group_source", "accepts", "calls", "last_called_at", "id"})
_CONSENT_COLUMNS = [
    "health_consent_at",
    "health_revoked_at",
    "location_consent_at",
    "location_revoked_at",
]


class RankingIndex(models.Index):
    """An index whose columns may ask for NULLS FIRST, written only where the words are needed:
    PostgreSQL sorts nulls last in an ascending index unless told, SQLite sorts them first
    already and refuses the words in an index. Columns are plain column references, so both
    databases treat them as columns (index-only scans, ordered reads)."""

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        index: models.Index = self
        if schema_editor.connection.vendor != "postgresql":
            index = self.clone()
            index.expressions = tuple(
                OrderBy(e.expression, descending=e.descending) if isinstance(e, OrderBy) else e
                for e in self.expressions
            )
        return models.Index.create_sql(index, model, schema_editor, using=using, **kwargs)


class Donor(TimestampedModel):
    """A volunteer. Health data (group, weight, birth date, history) is kept only under the
    health consent, the coarse place only under the location consent; each is revocable on its
    own. No address and no raw coordinate are stored: an H3 cell of about 0.7 km² and its
    centre. The identity number is encrypted, with a keyed hash so that a second registration
    of the same person merges into the first."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="donor_records",
    )
    name = models.CharField(max_length=100)
    phone = models.CharField(max_length=32)
    language = models.CharField(max_length=8, default="zh-hans")
    # The donor's choice of channels for call-ups and stand-downs.
    call_channels = models.CharField(
        max_length=8, choices=CallChannels.choices, default=CallChannels.SMS
    )
    community = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    identity_encrypted = models.BinaryField(null=True, blank=True, editable=False)
    identity_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    identity_last4 = models.CharField(max_length=4, blank=True, default="", editable=False)
    # Health data (the health consent).
    sex = models.CharField(max_length=8, choices=Sex.choices, blank=True, default="")
    birth_date = models.DateField(null=True, blank=True)
    weight_kg = models.FloatField(null=True, blank=True)
    abo = models.CharField(max_length=2, choices=ABO.choices, blank=True, default="")
    rhd = models.CharField(max_length=3, choices=RhD.choices, blank=True, default="")
    group_source = models.CharField(
        max_length=8, choices=GroupSource.choices, default=GroupSource.SELF
    )
    # Extended phenotype when known: antigen → "+"/"-" (C, c, E, e, K, Fy(a), Jk(a), Di(a), DEL).
    phenotype = models.JSONField(default=dict, blank=True)
    # The antigens of `phenotype` the blood centre tested (the others the donor declared).
    phenotype_verified = models.JSONField(default=list, blank=True)
    had_reaction = models.BooleanField(default=False)
    health_consent_at = models.DateTimeField(null=True, blank=True)
    health_revoked_at = models.DateTimeField(null=True, blank=True)
    # The version of the consent text the donor agreed to (consent.py), with the time above.
    health_consent_version = models.CharField(max_length=32, blank=True, default="")
    # Coarse place (the location consent).
    cell = models.CharField(max_length=16, blank=True, default="")
    search_cell = models.CharField(max_length=16, blank=True, default="")
    region_cell = models.CharField(max_length=16, blank=True, default="")
    cell_lat = models.FloatField(null=True, blank=True)
    cell_lng = models.FloatField(null=True, blank=True)
    location_consent_at = models.DateTimeField(null=True, blank=True)
    location_revoked_at = models.DateTimeField(null=True, blank=True)
    location_consent_version = models.CharField(max_length=32, blank=True, default="")
    # Calling: a pause, the first days each kind of donation is possible again by the intervals,
    # the yearly count and the deferrals (age and weight are read from the fields above; the
    # full rule runs on every donor before a call), and this month's call-ups.
    paused_until = models.DateTimeField(null=True, blank=True)
    whole_blood_from = models.DateField(null=True, blank=True)
    platelets_from = models.DateField(null=True, blank=True)
    month_key = models.CharField(max_length=7, blank=True, default="")
    month_call_ups = models.PositiveIntegerField(default=0)
    calls = models.PositiveIntegerField(default=0)
    accepts = models.PositiveIntegerField(default=0)
    last_called_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("献血志愿者")
        verbose_name_plural = _("献血志愿者")
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["identity_hash"],
                condition=~Q(identity_hash=""),
                name="donors_donor_identity_once",
            )
        ]
        indexes: ClassVar[list[models.Index]] = [
            # The call-up search: the rings of cells around a hospital, one group at a time,
            # among donors with both consents. Within a cell and group its entries come in the
            # ranking's order, so a search of a few dozen cells merges their entries and stops
            # after the first it needs instead of sorting every donor in the band. It covers
            # the whole query (the cell centre for the distance, the stored eligibility dates,
            # age, weight, this month's call-ups), so both databases answer from the index.
            # The consents again: SQLite reads the columns of a partial index's condition
            # from the row unless the index holds them.
            RankingIndex(
                *_RANKING_ORDER,
                *[c for c in _RANKING_COLUMNS if c not in _RANKING_ORDER_COLUMNS],
                *_CONSENT_COLUMNS,
                condition=Q(health_consent_at__isnull=False, health_revoked_at__isnull=True)
                & Q(location_consent_at__isnull=False, location_revoked_at__isnull=True),
                name="donors_donor_ranking",
            ),
            # The same for RhD-negative donors (0.3 %: a small index) by region cell: a
            # city-wide search for an RhD-negative patient reads only this.
            models.Index(
                fields=["abo", "region_cell", *_RANKING_COLUMNS, "rhd", *_CONSENT_COLUMNS],
                condition=Q(rhd="neg")
                & Q(health_consent_at__isnull=False, health_revoked_at__isnull=True)
                & Q(location_consent_at__isnull=False, location_revoked_at__isnull=True),
                name="donors_donor_negative",
            ),
            # Donors with a phenotype on record (1-10 %: a small index), for requests that
            # need antigen-negative donors: each group's entries by search cell, with the phenotype
            # and everything the ranking reads, so such a search reads neither the whole
            # ranking index nor a row of the table. The condition is written in the
            # ranking's SQL the same way (`selectors.ranking.PHENOTYPED_SQL`).
            models.Index(
                fields=[
                    "abo",
                    "rhd",
                    "search_cell",
                    *_RANKING_COLUMNS,
                    "region_cell",
                    "phenotype",
                    *_CONSENT_COLUMNS,
                ],
                condition=~Q(phenotype={})
                & Q(health_consent_at__isnull=False, health_revoked_at__isnull=True)
                & Q(location_consent_at__isnull=False, location_revoked_at__isnull=True),
                name="donors_donor_phenotyped",
            ),
            models.Index(fields=["search_cell", "abo", "rhd"], name="donors_donor_search"),
            models.Index(fields=["region_cell", "abo", "rhd"], name="donors_donor_region"),
            models.Index(fields=["community", "name"], name="donors_donor_community"),
        ]

    def __str__(self) -> str:
        return f"{_('献血志愿者')} #{self.pk}"

    @property
    def organisation(self) -> Organisation:
        return self.community

    @property
    def health_consent(self) -> bool:
        return self.health_consent_at is not None and self.health_revoked_at is None

    @property
    def location_consent(self) -> bool:
        return self.location_consent_at is not None and self.location_revoked_at is None

    @property
    def group_label(self) -> str:
        if not self.abo:
            return ""
        return f"{self.abo}{'+' if self.rhd == RhD.POS else '-'}"


class AvailabilityWindow(models.Model):
    """When a donor may be called: a weekday (0 is Monday) and a span of local time. A donor with
    no window may be called at any time."""

    donor = models.ForeignKey(Donor, on_delete=models.CASCADE, related_name="windows")
    weekday = models.PositiveSmallIntegerField()
    starts = models.TimeField()
    ends = models.TimeField()

    class Meta:
        verbose_name = _("可召集时段")
        verbose_name_plural = _("可召集时段")
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(
                condition=Q(weekday__lte=6) & Q(starts__lt=models.F("ends")),
                name="donors_window_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.weekday} {self.starts}-{self.ends}"


class Donation(models.Model):
    donor = models.ForeignKey(Donor, on_delete=models.CASCADE, related_name="donations")
    kind = models.CharField(max_length=16, choices=DonationKind.choices)
    on = models.DateField()
    volume_ml = models.PositiveIntegerField(default=400)
    reaction = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("献血记录")
        verbose_name_plural = _("献血记录")
        ordering: ClassVar[list[str]] = ["-on"]

    def __str__(self) -> str:
        return f"{self.kind} {self.on}"

    @property
    def organisation(self) -> Organisation:
        return self.donor.community


class Deferral(models.Model):
    """A deferral from `starts_on` to `ends_on` inclusive; none is permanent."""

    donor = models.ForeignKey(Donor, on_delete=models.CASCADE, related_name="deferrals")
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("暂缓献血")
        verbose_name_plural = _("暂缓献血")

    def __str__(self) -> str:
        return f"{self.starts_on}..{self.ends_on or ''}"


class BloodRequest(TimestampedModel):
    """A hospital's emergency need. The patient is described only by what matching needs."""

    hospital = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    component = models.CharField(max_length=16, choices=Component.choices)
    units = models.PositiveSmallIntegerField()
    urgency = models.CharField(max_length=16, choices=Urgency.choices, default=Urgency.URGENT)
    patient_abo = models.CharField(max_length=8, choices=PatientABO.choices)
    patient_rhd = models.CharField(max_length=8, choices=PatientRhD.choices)
    anti_d = models.BooleanField(default=False)
    # The RhD emergency exception: signed consent of the patient or family, recorded by whom.
    rhd_exception_consent = models.BooleanField(default=False)
    consent_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    consent_note = models.CharField(max_length=200, blank=True, default="")
    # Antigens the donors must be known to lack (the patient has the matching antibodies):
    # a donor whose phenotype does not record the antigen as negative is not called.
    antigen_negative = models.JSONField(default=list, blank=True)
    # Where accepted donors go (shown to them only once they accept), and its place.
    address = models.CharField(max_length=300)
    latitude = models.FloatField()
    longitude = models.FloatField()
    status = models.CharField(
        max_length=16, choices=RequestStatus.choices, default=RequestStatus.OPEN
    )
    waves = models.PositiveSmallIntegerField(default=0)
    next_wave_at = models.DateTimeField(null=True, blank=True)
    first_accepted_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("用血需求")
        verbose_name_plural = _("用血需求")
        indexes: ClassVar[list[models.Index]] = [
            models.Index(
                fields=["next_wave_at"],
                condition=Q(status="open", next_wave_at__isnull=False),
                name="donors_request_wave_due",
            )
        ]

    def __str__(self) -> str:
        return f"{_('用血需求')} #{self.pk}"

    @property
    def organisation(self) -> Organisation:
        return self.hospital


class CallUp(models.Model):
    request = models.ForeignKey(BloodRequest, on_delete=models.CASCADE, related_name="call_ups")
    donor = models.ForeignKey(Donor, on_delete=models.PROTECT, related_name="call_ups")
    wave = models.PositiveSmallIntegerField()
    rank_rhd = models.PositiveSmallIntegerField(default=0)
    rank_abo = models.PositiveSmallIntegerField(default=1)
    conditions = models.JSONField(default=list, blank=True)
    distance_km = models.FloatField()
    state = models.CharField(max_length=16, choices=CallUpState.choices, default=CallUpState.CALLED)
    check_in_code = models.CharField(max_length=8, blank=True, default="")
    called_at = models.DateTimeField(default=timezone.now)
    responded_at = models.DateTimeField(null=True, blank=True)
    arrived_at = models.DateTimeField(null=True, blank=True)
    donated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("献血召集")
        verbose_name_plural = _("献血召集")
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["request", "donor"], name="donors_callup_once"),
            # Two requests at once never take the same donor.
            models.UniqueConstraint(
                fields=["donor"],
                condition=Q(state__in=["called", "accepted", "arrived"]),
                name="donors_callup_one_active",
            ),
        ]

    def __str__(self) -> str:
        return f"{_('献血召集')} #{self.pk}"

    @property
    def organisation(self) -> Organisation:
        return self.request.hospital

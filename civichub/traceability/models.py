"""Traceability's tables: the participants of the supply chain, products and lots, the EPCIS
events as captured (append-only: a correction is a new event with an error declaration), the
identifiers each event names (the trace graph's edges), capture jobs, recalls and the notice
each recipient acknowledges."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civichub.core.models import CreatedModel, Organisation


class ParticipantKind(models.TextChoices):
    FARM = "farm", _("养殖场/种植基地")
    SLAUGHTERHOUSE = "slaughterhouse", _("屠宰场")
    PROCESSOR = "processor", _("加工厂")
    WHOLESALE_MARKET = "wholesale_market", _("批发市场")
    WET_MARKET = "wet_market", _("农贸市场")
    STALL = "stall", _("摊位")
    SUPERMARKET = "supermarket", _("超市")
    CANTEEN = "canteen", _("团体消费单位（食堂）")
    INSPECTOR = "inspector", _("检验检疫机构")
    REGULATOR = "regulator", _("监管部门")


# The kinds that sell or serve food to the public: a recall must reach each of them.
RETAIL_KINDS = frozenset(
    {ParticipantKind.STALL, ParticipantKind.SUPERMARKET, ParticipantKind.CANTEEN}
)


class Participant(CreatedModel):
    """A node of the supply chain, at a location named by its GLN (or the deployment's own
    code, mapped to a URI)."""

    kind = models.CharField(max_length=24, choices=ParticipantKind.choices)
    name = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200, blank=True, default="")
    gln = models.CharField(max_length=13, unique=True, null=True, blank=True)
    local_code = models.CharField(max_length=64, unique=True, null=True, blank=True)
    # The location URI events name as bizLocation/readPoint (urn:epc:id:sgln:… or a URI).
    location_uri = models.CharField(max_length=300, unique=True)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="trace_participants"
    )
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="units"
    )
    address = models.CharField(max_length=300, blank=True, default="")
    # The community (or other area) the premises are in: a recall's public announcement goes
    # to the areas of the places that received the food. Empty: the organisation's area.
    area = models.ForeignKey(
        Organisation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="trace_participants_here",
    )
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="trace_participants"
    )

    def __str__(self) -> str:
        return self.name


class Product(CreatedModel):
    gtin = models.CharField(max_length=14, unique=True)  # GTIN-14, check digit verified
    name = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200, blank=True, default="")
    category = models.CharField(max_length=16, default="meat")  # meat, vegetable, other

    def __str__(self) -> str:
        return self.name


class Lot(CreatedModel):
    """A GTIN + lot (AI 10), with the 20-digit trace code printed on the scale receipt."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="lots")
    lot = models.CharField(max_length=20)
    trace_code = models.CharField(max_length=20, unique=True)
    epc_class = models.CharField(max_length=200, unique=True)  # canonical Digital Link
    origin = models.ForeignKey(
        Participant, on_delete=models.PROTECT, null=True, blank=True, related_name="lots"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["product", "lot"], name="trace_lot_once")]

    def __str__(self) -> str:
        return f"{self.product.gtin}/{self.lot}"


class CaptureJob(models.Model):
    class State(models.TextChoices):
        RUNNING = "running", pgettext_lazy("capture job state", "处理中")
        SUCCESS = "success", _("成功")
        FAILED = "failed", _("失败")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=8, choices=State.choices, default=State.RUNNING)
    error_behaviour = models.CharField(max_length=8, default="rollback")
    document = models.JSONField(default=dict)
    errors = models.JSONField(default=list, blank=True)
    captured = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )

    def __str__(self) -> str:
        return f"capture {self.pk} ({self.state})"


class Event(models.Model):
    """One EPCIS event as captured. Never edited: an error declaration is a new event."""

    event_id = models.CharField(max_length=300, unique=True)
    event_hash = models.CharField(max_length=200, unique=True)
    event_type = models.CharField(max_length=32, db_index=True)
    event_time = models.DateTimeField(db_index=True)
    record_time = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=8, blank=True, default="")
    biz_step = models.CharField(max_length=200, blank=True, default="", db_index=True)
    disposition = models.CharField(max_length=200, blank=True, default="")
    read_point = models.CharField(max_length=300, blank=True, default="")
    biz_location = models.CharField(max_length=300, blank=True, default="", db_index=True)
    # Set on the declared event when a later event declares it an error.
    declared_error = models.BooleanField(default=False)
    body = models.JSONField()
    job = models.ForeignKey(CaptureJob, on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        ordering = ["event_time", "id"]

    def __str__(self) -> str:
        return self.event_id


class EpcRole(models.TextChoices):
    EPC = "epc", "epcList"
    PARENT = "parent", "parentID"
    CHILD = "child", "childEPCs"
    INPUT = "input", "inputEPCList"
    OUTPUT = "output", "outputEPCList"


class EventEpc(models.Model):
    """An identifier an event names, in canonical form: the edges the trace follows. Instance
    identifiers and classes (quantity lists) alike; `is_class` tells them apart."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="epcs")
    epc = models.CharField(max_length=300)
    role = models.CharField(max_length=8, choices=EpcRole.choices)
    is_class = models.BooleanField(default=False)
    quantity = models.FloatField(null=True, blank=True)
    uom = models.CharField(max_length=8, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["epc", "role"], name="trace_epc_role")]

    def __str__(self) -> str:
        return f"{self.role} {self.epc}"


class Recall(CreatedModel):
    class State(models.TextChoices):
        OPEN = "open", _("召回中")
        CLOSED = "closed", pgettext_lazy("recall state", "已结束")

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="recalls")
    reason = models.TextField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.OPEN)
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    # The trace as found when the recall started: nodes and edges, for the regulator to read.
    graph = models.JSONField(default=dict)
    affected_codes = models.JSONField(default=list)  # canonical EPCs/classes under recall
    # A recall by scope (a farm, a feed batch, a date range): what the regulator chose and the
    # identifiers the trace started from; empty for a recall of one lot.
    scope = models.JSONField(default=dict, blank=True)
    # The public announcement published through the broadcast module (its public address), and
    # the areas it went to; empty when no module publishes announcements or no account exists.
    announcement_url = models.CharField(max_length=300, blank=True, default="")
    announcement_areas = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"recall {self.pk}"


class RecallNotice(models.Model):
    recall = models.ForeignKey(Recall, on_delete=models.CASCADE, related_name="notices")
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="notices")
    notified_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    quantity_withdrawn = models.FloatField(null=True, blank=True)
    note = models.CharField(max_length=500, blank=True, default="")
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    last_reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["recall", "participant"], name="trace_notice_once")
        ]

    def __str__(self) -> str:
        return f"notice {self.pk}"

    @property
    def organisation(self) -> Organisation:
        return self.recall.organisation


class NamedQuery(CreatedModel):
    """An EPCIS 2.0 named query (`POST /queries`): a view on the events, by its name. The
    definition is kept as sent (the EPCIS query language: arrays of values, time stamps)."""

    name = models.CharField(max_length=64, unique=True)
    query = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )

    def __str__(self) -> str:
        return self.name

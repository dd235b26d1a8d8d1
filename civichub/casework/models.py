"""Citizens' messages (casework): the category taxonomy, community areas, cases and their
history, photos, ratings, the working-day calendar and contact verification.

Tables and their invariants only; every change goes through `services.py`.

The life of a case (12345's 受理 → 派单 → 办理 → 答复 → 评价):

    received ──route──▶ assigned ──assign──▶ in_progress ──reply──▶ replied ──rate──▶ closed
        │                  ▲   ▲                                       │  ▲
        └─(low confidence)─┤   └──── transfer (any open state) ────────┘  │
                triage ────┘                  reopened ◀─ unsatisfied (once) ┘

A case is *open* in every state but `closed`. A case merged into another is closed with
`merged_into` set.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar, Protocol

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civichub.core.models import CoordinateSystem, CreatedModel, Organisation


class CaseKind(models.TextChoices):
    COMPLAINT = "complaint", _("投诉")
    HELP = "help", _("求助")
    CONSULTATION = "consultation", _("咨询")
    SUGGESTION = "suggestion", _("建议")
    PRAISE = "praise", _("表扬")


class CaseStatus(models.TextChoices):
    RECEIVED = "received", _("已受理")
    TRIAGE = "triage", _("待分拣")
    ASSIGNED = "assigned", _("已派单")
    IN_PROGRESS = "in_progress", _("办理中")
    REPLIED = "replied", _("已答复")
    CLOSED = "closed", _("已办结")
    REOPENED = "reopened", _("重新办理")


OPEN_STATUSES: frozenset[str] = frozenset(CaseStatus.values) - {CaseStatus.CLOSED}
# States in which the case still waits for the government's answer (a deadline runs).
AWAITING_REPLY: frozenset[str] = frozenset(
    {
        CaseStatus.RECEIVED,
        CaseStatus.TRIAGE,
        CaseStatus.ASSIGNED,
        CaseStatus.IN_PROGRESS,
        CaseStatus.REOPENED,
    }
)


class CaseChannel(models.TextChoices):
    WEB = "web", _("网站")
    API = "api", _("接口")
    OPEN311 = "open311", "Open311"
    PHONE = "phone", _("电话")


class CategorySource(models.TextChoices):
    NONE = "", _("未分类")
    ROUTER = "router", _("自动分类")
    SENDER = "sender", _("来信人选择")
    STAFF = "staff", _("工作人员确定")


class ServiceType(models.TextChoices):
    """Open311 `type`: how a request of this category is handled."""

    REALTIME = "realtime", "realtime"
    BATCH = "batch", "batch"
    BLACKBOX = "blackbox", "blackbox"


class Category(models.Model):
    """One entry of the deployment's taxonomy, mapped to the department that handles it. Also an
    Open311 service: `key` is the service_code, `group` the service group, and the attribute
    definitions (`CategoryAttribute`) make its service definition."""

    key = models.SlugField(
        max_length=64, unique=True, help_text=_("分类代码（Open311 service_code）")
    )
    name = models.CharField(max_length=100)
    name_en = models.CharField(max_length=100, blank=True, default="")
    description = models.TextField(blank=True, default="")
    group = models.CharField(max_length=100, blank=True, default="")
    department = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="casework_categories",
        limit_choices_to={"kind": "department"},
    )
    keywords = models.JSONField(default=list, blank=True, help_text=_("关键词列表"))
    default_kind = models.CharField(max_length=16, choices=CaseKind.choices, default=CaseKind.HELP)
    service_type = models.CharField(
        max_length=16, choices=ServiceType.choices, default=ServiceType.REALTIME
    )
    active = models.BooleanField(default=True)
    order = models.PositiveSmallIntegerField(default=100)

    class Meta:
        ordering: ClassVar[list[str]] = ["order", "key"]
        verbose_name = _("诉求分类")
        verbose_name_plural = pgettext_lazy("plural", "诉求分类")

    def __str__(self) -> str:
        return self.name

    def display_name(self, language: str) -> str:
        return self.name_en if language.startswith("en") and self.name_en else self.name

    @property
    def organisation(self) -> Organisation | None:
        return self.department


class AttributeDatatype(models.TextChoices):
    STRING = "string", "string"
    NUMBER = "number", "number"
    DATETIME = "datetime", "datetime"
    TEXT = "text", "text"
    SINGLEVALUELIST = "singlevaluelist", "singlevaluelist"
    MULTIVALUELIST = "multivaluelist", "multivaluelist"


LIST_DATATYPES = frozenset({AttributeDatatype.SINGLEVALUELIST, AttributeDatatype.MULTIVALUELIST})


class CategoryAttribute(models.Model):
    """An extra question asked for one category (an Open311 service-definition attribute).
    `values` holds the choices of list types as [{"key": ..., "name": ...}]. `variable` false means
    an informational attribute that takes no answer."""

    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="attributes")
    code = models.SlugField(max_length=64)
    variable = models.BooleanField(default=True)
    datatype = models.CharField(max_length=16, choices=AttributeDatatype.choices)
    required = models.BooleanField(default=False)
    datatype_description = models.CharField(max_length=200, blank=True, default="")
    description = models.CharField(max_length=500)
    order = models.PositiveSmallIntegerField()
    values = models.JSONField(default=list, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["category", "order"]
        verbose_name = _("分类附加项")
        verbose_name_plural = pgettext_lazy("plural", "分类附加项")
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["category", "code"], name="casework_attr_code_unique"),
            models.UniqueConstraint(
                fields=["category", "order"], name="casework_attr_order_unique"
            ),
            models.CheckConstraint(condition=Q(order__gte=1), name="casework_attr_order_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.category.key}/{self.code}"

    def value_keys(self) -> list[str]:
        return [str(v.get("key")) for v in self.values if isinstance(v, dict)]


class CommunityArea(models.Model):
    """Where a community lies, for routing a case by its pin. Either a GeoJSON polygon (WGS-84,
    [lng, lat] rings) or a disc (centre and radius); a pin outside every area goes to the
    community whose centre is nearest, within `casework.conf` "nearest_community_max_m".
    `address_terms` are names (roads, estates) that route a case that has an address but no pin."""

    community = models.OneToOneField(
        Organisation,
        on_delete=models.CASCADE,
        related_name="casework_area",
        limit_choices_to={"kind": "community"},
    )
    centre_latitude = models.FloatField(help_text="WGS-84")
    centre_longitude = models.FloatField(help_text="WGS-84")
    radius_m = models.FloatField(default=500.0)
    polygon = models.JSONField(null=True, blank=True, help_text=_("GeoJSON Polygon（WGS-84）"))
    address_terms = models.JSONField(default=list, blank=True)

    class Meta:
        verbose_name = _("社区范围")
        verbose_name_plural = pgettext_lazy("plural", "社区范围")

    def __str__(self) -> str:
        return str(self.community)

    @property
    def organisation(self) -> Organisation:
        return self.community


class TrackingCounter(models.Model):
    """The last tracking number handed out per year. The row is locked while a case is created,
    so numbers are gap-free within committed cases and never repeat."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class ExtensionState(models.TextChoices):
    NONE = "", _("无")
    REQUESTED = "requested", _("待审批")
    APPROVED = "approved", _("已批准")
    REJECTED = "rejected", _("未批准")


class Case(models.Model):
    """One message from a resident. `tracking_number` ("2026-000123") is given at intake and
    never changes. The place is kept as given (with its coordinate system) plus a WGS-84 copy.
    A case is scoped to its department and its community (see `casework.permissions`); before
    either is known, to its `jurisdiction` (the deployment's root area)."""

    tracking_number = models.CharField(max_length=16, unique=True, editable=False)
    kind = models.CharField(max_length=16, choices=CaseKind.choices)
    title = models.CharField(max_length=200)
    text = models.TextField()
    status = models.CharField(
        max_length=16, choices=CaseStatus.choices, default=CaseStatus.RECEIVED, db_index=True
    )
    channel = models.CharField(max_length=16, choices=CaseChannel.choices, default="web")
    is_public = models.BooleanField(default=False)

    # Place
    address = models.CharField(max_length=300, blank=True, default="")
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    crs = models.CharField(
        max_length=8, choices=CoordinateSystem.choices, default=CoordinateSystem.GCJ02
    )
    wgs84_latitude = models.FloatField(null=True, blank=True, editable=False)
    wgs84_longitude = models.FloatField(null=True, blank=True, editable=False)

    # Routing
    jurisdiction = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="casework_jurisdiction_cases"
    )
    community = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="casework_community_cases",
    )
    department = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="casework_department_cases",
    )
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="cases"
    )
    category_source = models.CharField(
        max_length=8, choices=CategorySource.choices, blank=True, default=""
    )
    router_category_key = models.CharField(max_length=64, blank=True, default="")
    router_confidence = models.FloatField(null=True, blank=True)
    routed_at = models.DateTimeField(null=True, blank=True)
    routing_attempts = models.PositiveSmallIntegerField(default=0)
    routing_error = models.CharField(max_length=300, blank=True, default="")
    attributes = models.JSONField(
        default=dict, blank=True, help_text=_("分类附加项的回答（Open311 attribute）")
    )

    # Who sent it
    submitter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="casework_cases",
    )
    contact_name = models.CharField(max_length=100, blank=True, default="")
    contact_phone = models.CharField(max_length=32, blank=True, default="")
    contact_email = models.EmailField(blank=True, default="")
    contact_verified = models.BooleanField(default=False)
    # Anonymous senders track their case with the tracking number and this code (hashed).
    access_code_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("代为登记来电的工作人员"),
    )
    extra = models.JSONField(default=dict, blank=True, help_text=_("渠道附加信息"))

    # Handling
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="casework_assigned",
    )
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    extension_state = models.CharField(
        max_length=12, choices=ExtensionState.choices, blank=True, default=""
    )
    extension_requested_days = models.PositiveSmallIntegerField(default=0)
    extension_reason = models.CharField(max_length=500, blank=True, default="")
    extension_days = models.PositiveSmallIntegerField(default=0)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="duplicates"
    )
    escalation_level = models.PositiveSmallIntegerField(default=0)
    reopen_count = models.PositiveSmallIntegerField(default=0)
    close_reason = models.CharField(max_length=32, blank=True, default="")

    # Times
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    first_replied_at = models.DateTimeField(null=True, blank=True)
    last_replied_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-created_at", "-id"]
        verbose_name = _("群众来信")
        verbose_name_plural = pgettext_lazy("plural", "群众来信")
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["department", "status"], name="casework_case_dept_idx"),
            models.Index(fields=["community", "status"], name="casework_case_comm_idx"),
            models.Index(fields=["status", "created_at"], name="casework_case_status_idx"),
            models.Index(fields=["is_public", "status"], name="casework_case_public_idx"),
        ]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(
                condition=Q(latitude__isnull=True, longitude__isnull=True)
                | Q(latitude__isnull=False, longitude__isnull=False),
                name="casework_case_point_complete",
            ),
            models.CheckConstraint(
                condition=~Q(merged_into=models.F("pk")), name="casework_case_not_merged_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tracking_number} {self.title}"

    @property
    def organisation(self) -> Organisation:
        """The primary scope for core's permission check; `casework.permissions` also checks
        the community, so a case is visible in both inboxes."""
        return self.department or self.community or self.jurisdiction

    @property
    def is_open(self) -> bool:
        return self.status != CaseStatus.CLOSED

    @property
    def awaits_reply(self) -> bool:
        return self.status in AWAITING_REPLY

    def is_overdue(self, now: dt.datetime | None = None) -> bool:
        return bool(
            self.due_at is not None and self.awaits_reply and (now or timezone.now()) > self.due_at
        )

    @property
    def has_point(self) -> bool:
        return self.wgs84_latitude is not None and self.wgs84_longitude is not None


def _photo_path(instance: CasePhoto, filename: str) -> str:
    """The photos' folder before it was declared as a plain `upload_to` (the stored-file sweep
    finds a field's folder from it); kept for the first migration, which names it."""
    now = timezone.now()
    return f"casework/photos/{now:%Y/%m}/{filename}"


class _OfCase(Protocol):
    @property
    def case(self) -> Case: ...


class InCaseScope:
    """A row that belongs to a case lies in the case's scope (what the permission check reads
    as `organisation`)."""

    @property
    def organisation(self: _OfCase) -> Organisation:
        return self.case.organisation


class PhotoState(models.TextChoices):
    PROCESSING = "processing", _("处理中")
    READY = "ready", _("可用")
    FAILED = "failed", _("处理失败")


class CasePhoto(InCaseScope, CreatedModel):
    """A photo re-encoded by the intake service: checked type and size, metadata removed
    (location kept only when the sender chose so). A large photo is stored as received with
    state `processing` (its header checked, nothing decoded; `location_kept` then says what the
    sender asked for) and re-encoded by a task; until `ready` its file is served to no one, and
    a failed decode keeps its reason in `error` and its file is removed."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="photos")
    image = models.FileField(upload_to="casework/photos/%Y/%m/", max_length=200)
    content_type = models.CharField(max_length=32)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.PositiveIntegerField(help_text=_("字节"))
    original_name = models.CharField(max_length=200, blank=True, default="")
    location_kept = models.BooleanField(default=False)
    state = models.CharField(max_length=12, choices=PhotoState.choices, default=PhotoState.READY)
    error = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering: ClassVar[list[str]] = ["case", "id"]
        verbose_name = _("来信照片")
        verbose_name_plural = pgettext_lazy("plural", "来信照片")

    def __str__(self) -> str:
        return f"{self.case.tracking_number} · {self.pk}"


class EventKind(models.TextChoices):
    SUBMITTED = "submitted", _("受理")
    ROUTED = "routed", _("自动分派")
    ROUTING_FAILED = "routing_failed", _("自动分派失败")
    TRIAGED = "triaged", pgettext_lazy("case event", "分拣")
    ASSIGNED = "assigned", pgettext_lazy("case event", "指定承办人")
    TRANSFERRED = "transferred", pgettext_lazy("case event", "转办")
    NOTE = "note", _("备注")
    REPLY = "reply", _("答复")
    EXTENSION_REQUESTED = "extension_requested", pgettext_lazy("case event", "申请延期")
    EXTENSION_APPROVED = "extension_approved", _("批准延期")
    EXTENSION_REJECTED = "extension_rejected", _("驳回延期")
    MERGED = "merged", pgettext_lazy("case event", "合并重复件")
    RATED = "rated", _("评价")
    REOPENED = "reopened", _("重新办理")
    CLOSED = "closed", pgettext_lazy("case event", "办结")
    ESCALATED = "escalated", _("超期督办")


# Events a resident sees in their case history (notes only when public).
RESIDENT_VISIBLE_EVENTS: frozenset[str] = frozenset(
    {
        EventKind.SUBMITTED,
        EventKind.ROUTED,
        EventKind.TRIAGED,
        EventKind.TRANSFERRED,
        EventKind.REPLY,
        EventKind.EXTENSION_APPROVED,
        EventKind.MERGED,
        EventKind.RATED,
        EventKind.REOPENED,
        EventKind.CLOSED,
    }
)


class CaseEvent(models.Model):
    """The case history: every state change, transfer (with its reason), note and reply. `public`
    marks what the sender (and, for public cases, the board) may read; internal notes are not.
    `data` keeps structured details: status from/to, old and new category and department."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=24, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True, default="")
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    public = models.BooleanField(default=False)
    text = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["case", "created_at", "id"]
        verbose_name = pgettext_lazy("singular", "办理记录")
        verbose_name_plural = pgettext_lazy("plural", "办理记录")

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind}"


class RatingValue(models.TextChoices):
    SATISFIED = "satisfied", _("满意")
    BASIC = "basic", _("基本满意")
    UNSATISFIED = "unsatisfied", _("不满意")


class Rating(InCaseScope, CreatedModel):
    """The sender's verdict on a reply. An unsatisfied rating reopens the case once; the second
    closes it with the rating kept. The latest rating of a case is its satisfaction figure."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="ratings")
    value = models.CharField(max_length=16, choices=RatingValue.choices)
    comment = models.TextField(blank=True, default="")
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    round = models.PositiveSmallIntegerField(default=1, help_text=_("第几次答复后的评价"))

    class Meta:
        ordering: ClassVar[list[str]] = ["case", "created_at", "id"]
        verbose_name = _("满意度评价")
        verbose_name_plural = pgettext_lazy("plural", "满意度评价")
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["case", "round"], name="casework_rating_once_per_round")
        ]

    def __str__(self) -> str:
        return f"{self.case_id} {self.value}"


class CalendarDay(models.Model):
    """A deviation from the Monday-to-Friday week in this deployment: a public holiday on a
    weekday (`working=False`) or a make-up working day on a weekend (`working=True`). Rows here
    override the defaults in the deployment profile (`casework.conf`)."""

    date = models.DateField(unique=True)
    working = models.BooleanField()
    name = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering: ClassVar[list[str]] = ["date"]
        verbose_name = _("工作日历")
        verbose_name_plural = pgettext_lazy("plural", "工作日历")

    def __str__(self) -> str:
        return f"{self.date} {'工作日' if self.working else '休息日'} {self.name}"


class ContactChannel(models.TextChoices):
    SMS = "sms", _("短信")
    EMAIL = "email", _("电子邮件")


class ContactVerification(CreatedModel):
    """A one-time code sent to an anonymous sender's phone or email. Only a hash of the code is
    kept; a verified record may be used for one message within its lifetime. The client that
    started it holds a random token (only its hash is kept here) and must present it to confirm
    the code and to send with the record: its sequential id alone proves nothing."""

    channel = models.CharField(max_length=8, choices=ContactChannel.choices)
    address = models.CharField(max_length=254, db_index=True)
    code_hash = models.CharField(max_length=64)
    token_hash = models.CharField(max_length=64, default="", editable=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField()
    verified_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    contact_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("接收通知的联系账号（不能登录）"),
    )

    class Meta:
        verbose_name = _("联系方式验证")
        verbose_name_plural = pgettext_lazy("plural", "联系方式验证")

    def __str__(self) -> str:
        return f"{self.channel}:{self.address[:3]}…"

    def is_usable(self, now: dt.datetime | None = None) -> bool:
        moment = now or timezone.now()
        return self.verified_at is not None and self.used_at is None and moment < self.expires_at


class Open311ApiKey(CreatedModel):
    """A key that lets an Open311 client (a FixMyStreet-style front end, a city app) post
    requests and poll updates. Only a SHA-256 of the key is kept and `prefix` identifies it
    to operators. A revoked key stays for the audit trail; a name is unique among active keys,
    so a revoked key's name can be issued again."""

    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["name", "-created_at"]
        verbose_name = _("Open311 接口密钥")
        verbose_name_plural = pgettext_lazy("plural", "Open311 接口密钥")
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(revoked_at__isnull=True),
                name="casework_open311_key_active_name_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

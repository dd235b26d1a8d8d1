"""People, organisations, roles and the audit log: the tables every module shares."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class CreatedModel(models.Model):
    """A row that records when it was made."""

    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class TimestampedModel(CreatedModel):
    """A row that records when it was made and when it last changed (services set
    `updated_at` when they change it)."""

    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        abstract = True


class OrganisationKind(models.TextChoices):
    CITY = "city", _("市")
    DISTRICT = "district", _("区")
    SUBDISTRICT = "subdistrict", _("街道")
    COMMUNITY = "community", _("社区")
    DEPARTMENT = "department", _("部门")


# Which kind of area may sit under which; departments may hang under any node.
AREA_CHILDREN: dict[str, set[str]] = {
    OrganisationKind.CITY: {OrganisationKind.DISTRICT, OrganisationKind.DEPARTMENT},
    OrganisationKind.DISTRICT: {OrganisationKind.SUBDISTRICT, OrganisationKind.DEPARTMENT},
    OrganisationKind.SUBDISTRICT: {OrganisationKind.COMMUNITY, OrganisationKind.DEPARTMENT},
    OrganisationKind.COMMUNITY: {OrganisationKind.DEPARTMENT},
    OrganisationKind.DEPARTMENT: {OrganisationKind.DEPARTMENT},
}


class DepartmentFunction(models.TextChoices):
    PUBLIC_SECURITY = "public_security", _("公安")
    EDUCATION = "education", _("教育")
    HEALTH = "health", _("卫生健康")
    CIVIL_AFFAIRS = "civil_affairs", _("民政")
    TOURISM = "tourism", _("文化旅游")
    TRANSPORT = "transport", _("交通运输")
    MARKET_REGULATION = "market_regulation", _("市场监管")
    UTILITIES = "utilities", _("城市公用事业")
    HOSPITAL = "hospital", _("医院")
    HOUSING = "housing", _("住房和城乡建设")
    ENVIRONMENT = "environment", _("生态环境")
    EMERGENCY = "emergency", _("应急管理")
    OTHER = "other", _("其他")


class Organisation(models.Model):
    """A node of the government tree. `path` is a materialised path ("/1/4/17/") so that
    "is X inside Y's subtree" is one string prefix test, in Python and in SQL."""

    kind = models.CharField(max_length=16, choices=OrganisationKind.choices)
    function = models.CharField(
        max_length=32, choices=DepartmentFunction.choices, blank=True, default=""
    )
    name = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200, blank=True, default="")
    code = models.CharField(max_length=32, unique=True, help_text=_("行政区划或机构代码"))
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(max_length=255, db_index=True, editable=False)
    depth = models.PositiveSmallIntegerField(default=0, editable=False)

    class Meta:
        ordering: ClassVar[list[str]] = ["path"]
        verbose_name = _("组织机构")
        verbose_name_plural = pgettext_lazy("plural", "组织机构")

    def __str__(self) -> str:
        return self.name

    def is_within(self, other: Organisation) -> bool:
        return self.path.startswith(other.path)

    @property
    def is_area(self) -> bool:
        return self.kind != OrganisationKind.DEPARTMENT

    def display_name(self, language: str) -> str:
        return self.name_en if language.startswith("en") and self.name_en else self.name


class CoordinateSystem(models.TextChoices):
    WGS84 = "wgs84", "WGS-84"
    GCJ02 = "gcj02", "GCJ-02"


class Resident(models.Model):
    """A person the government serves. Personal data: every read goes through an audited
    selector. The identity number is stored encrypted with a keyed hash for exact lookup."""

    name = models.CharField(max_length=100)
    name_en = models.CharField(max_length=100, blank=True, default="")
    phone = models.CharField(max_length=32, blank=True, default="")
    address = models.CharField(max_length=300, blank=True, default="")
    community = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="residents")
    # The coordinate as given, with its system, and the WGS-84 equivalent for computation.
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    crs = models.CharField(
        max_length=8, choices=CoordinateSystem.choices, default=CoordinateSystem.GCJ02
    )
    wgs84_latitude = models.FloatField(null=True, blank=True, editable=False)
    wgs84_longitude = models.FloatField(null=True, blank=True, editable=False)
    identity_encrypted = models.BinaryField(null=True, blank=True, editable=False)
    identity_hash = models.CharField(
        max_length=64, blank=True, default="", db_index=True, editable=False
    )
    identity_last4 = models.CharField(max_length=4, blank=True, default="", editable=False)
    birth_year = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = pgettext_lazy("singular", "居民")
        verbose_name_plural = pgettext_lazy("plural", "居民")
        indexes: ClassVar[list[models.Index]] = [models.Index(fields=["community", "name"])]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"

    @property
    def organisation(self) -> Organisation:
        return self.community

    @property
    def identity_masked(self) -> str:
        if not self.identity_last4:
            return ""
        return "*" * 14 + self.identity_last4


class User(AbstractUser):
    """An account: a resident's, a staff member's or both. Roles come from RoleAssignment."""

    resident = models.OneToOneField(
        Resident, null=True, blank=True, on_delete=models.SET_NULL, related_name="account"
    )
    phone = models.CharField(max_length=32, blank=True, default="")
    language = models.CharField(
        max_length=10, choices=[("zh-hans", "简体中文"), ("en", "English")], default="zh-hans"
    )

    class Meta(AbstractUser.Meta):  # type: ignore[name-defined]
        swappable = "AUTH_USER_MODEL"
        verbose_name = _("账号")
        verbose_name_plural = pgettext_lazy("plural", "账号")

    def display_name(self, language: str = "") -> str:
        """The account's name; on an English page (`language` "en") the English name of the
        resident it belongs to, when one is recorded."""
        if language.startswith("en") and self.resident_id is not None:
            english = self.resident.name_en if self.resident is not None else ""
            if english:
                return english
        full = f"{self.last_name}{self.first_name}".strip()
        return full or self.username


class RoleAssignment(models.Model):
    """A staff role held over an organisation's whole subtree."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(max_length=48)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="role_assignments"
    )
    granted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["user", "role", "organisation"], name="role_assignment_unique"
            )
        ]
        verbose_name = _("角色授权")
        verbose_name_plural = pgettext_lazy("plural", "角色授权")

    def __str__(self) -> str:
        return f"{self.user} · {self.role} @ {self.organisation}"


class ApiToken(models.Model):
    """A bearer token for the HTTP API. Only a SHA-256 of the token is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("接口令牌")
        verbose_name_plural = pgettext_lazy("plural", "接口令牌")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class AppendOnlyError(Exception):
    pass


class AuditEvent(models.Model):
    """One row per change and per view of personal data. Append-only: the application never
    updates or deletes a row, and database triggers refuse it too (migration 0002)."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, db_index=True)
    object_id = models.CharField(max_length=64, blank=True, default="", db_index=True)
    object_label = models.CharField(max_length=200, blank=True, default="")
    organisation_path = models.CharField(max_length=255, blank=True, default="")
    purpose = models.CharField(max_length=200, blank=True, default="")
    changes = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=36, blank=True, default="")

    class Meta:
        ordering: ClassVar[list[str]] = ["-at", "-id"]
        verbose_name = pgettext_lazy("singular", "审计记录")
        verbose_name_plural = pgettext_lazy("plural", "审计记录")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_type}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not self._state.adding:
            raise AppendOnlyError("audit events cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events cannot be deleted")


class PeriodicTaskRun(models.Model):
    """Claims one time slot of a periodic task so that several workers enqueue it once."""

    name = models.CharField(max_length=100)
    slot = models.BigIntegerField()
    claimed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["name", "slot"], name="periodic_task_slot_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name}@{self.slot}"

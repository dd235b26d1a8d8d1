"""The portal's tables: the service catalogue with its versioned guides, the search index over
it, and online applications with their materials and history."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civichub.core.models import CreatedModel, Organisation, Resident, TimestampedModel


class ServiceKind(models.TextChoices):
    """事项类型, with the two letters a service code carries."""

    LICENSING = "XK", _("行政许可")
    CONFIRMATION = "QR", _("行政确认")
    BENEFIT = "JF", _("行政给付")
    PUBLIC = "GG", _("公共服务")
    OTHER = "QT", _("其他行政权力")


class Service(TimestampedModel):
    """A service in the catalogue (政务服务事项). Its guide lives in versions; the published
    one is what residents read and apply under."""

    code = models.CharField(max_length=32, unique=True, help_text=_("事项编码"))
    kind = models.CharField(max_length=2, choices=ServiceKind.choices)
    department = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    # life event keys (conf.life_events) this service belongs to
    life_events = models.JSONField(default=list, blank=True)
    online_application = models.BooleanField(default=False)
    published = models.ForeignKey(
        "ServiceVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.code

    @property
    def organisation(self) -> Organisation:
        return self.department


class VersionState(models.TextChoices):
    DRAFT = "draft", _("草稿")
    IN_REVIEW = "in_review", _("待审核")
    PUBLISHED = "published", _("已发布")
    SUPERSEDED = "superseded", _("已替换")
    RETURNED = "returned", _("已退回")


class ServiceVersion(CreatedModel):
    """One version of a service guide: every element, in zh-Hans and English, as a document
    checked by `guide.GuideContent`. Published versions are never edited again."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    state = models.CharField(max_length=12, choices=VersionState.choices)
    name = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200, blank=True, default="")
    content = models.JSONField(default=dict)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_note = models.CharField(max_length=500, blank=True, default="")
    submitted_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["service", "number"], name="portal_version_number")
        ]

    def __str__(self) -> str:
        return f"{self.service.code} v{self.number}"

    @property
    def organisation(self) -> Organisation:
        return self.service.department


class SearchEntry(models.Model):
    """One searchable document (a published service, one of its questions, an open dataset, a
    public notice): the text shown. `search.py` writes its tokens into `SearchPosting` and
    queries those."""

    kind = models.CharField(max_length=16)  # "service", "faq", "dataset" or "notice"
    # the service of a "service" or "faq" entry; none for the other kinds
    service = models.ForeignKey(
        Service, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    # what the entry stands for where it has no service ("dataset:<slug>", "notice:<id>"), so
    # that a change of the source replaces its entry; and the page a result links to
    source = models.CharField(max_length=100, blank=True, default="", db_index=True)
    url = models.CharField(max_length=300, blank=True, default="")
    title = models.CharField(max_length=300)
    title_en = models.CharField(blank=True, default="", max_length=300)
    summary = models.TextField(blank=True, default="")
    summary_en = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return self.title


class SearchToken(models.Model):
    """An indexed token and the number of entries holding it (its document frequency, for the
    weight of a query word and for choosing the rarest word to start from). The row with the
    empty token counts the entries."""

    token = models.CharField(max_length=64, primary_key=True)
    # "han" (a character or two adjacent ones), "en" (an English word), "py" (a word's pinyin
    # or initials), "pyt" (a whole title's pinyin or initials), "" for the count row
    kind = models.CharField(max_length=4)
    entries = models.IntegerField(default=0)

    def __str__(self) -> str:
        return self.token


class SearchPosting(models.Model):
    """One token of one entry, with its static weight in that entry (`impact`: where it stands,
    title, pinyin or body, how often, how long the field is). Read best-first per token and
    group (services, everything else), so the first places of a query word are an index range
    however many entries hold it."""

    token = models.CharField(max_length=64)
    entry = models.ForeignKey(SearchEntry, on_delete=models.CASCADE, related_name="+")
    is_service = models.BooleanField()
    impact = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "entry"], name="portal_posting_token_entry")
        ]
        indexes = [
            # a token's postings of a group best first, ties by entry, with the entry in the
            # index: the first places are read from the index alone, the same on both databases
            models.Index(
                fields=["token", "is_service", "-impact", "entry"], name="portal_posting_order"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.token} {self.entry_id}"


class ApplicationStatus(models.TextChoices):
    SUBMITTED = "submitted", _("已提交")
    ACCEPTED = "accepted", _("已受理")
    MORE_NEEDED = "more_needed", _("待补正")
    APPROVED = "approved", _("已办结（准予）")
    REFUSED = "refused", _("已办结（不予）")
    WITHDRAWN = "withdrawn", pgettext_lazy("application state", "已撤回")


OPEN_STATUSES = (
    ApplicationStatus.SUBMITTED,
    ApplicationStatus.ACCEPTED,
    ApplicationStatus.MORE_NEEDED,
)


class Application(TimestampedModel):
    """An online application (一网通办): the answers with their sources, the consent to prefill,
    the promised deadline on the working-day calendar, and the decision."""

    reference = models.CharField(max_length=24, unique=True)
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="applications")
    version = models.ForeignKey(ServiceVersion, on_delete=models.PROTECT, related_name="+")
    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    resident = models.ForeignKey(
        Resident, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=12, choices=ApplicationStatus.choices, default=ApplicationStatus.SUBMITTED
    )
    # {field key: {"value": str, "source": "registry" | "applicant", "flagged": bool}}
    answers = models.JSONField(default=dict)
    prefill_consent_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True, default="")
    verification_code = models.CharField(max_length=32, blank=True, default="", db_index=True)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["applicant", "created_at"], name="portal_app_applicant_idx"),
            models.Index(fields=["status", "due_at"], name="portal_app_queue_idx"),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def organisation(self) -> Organisation:
        return self.service.department

    def answer(self, key: str) -> Any:
        return (self.answers.get(key) or {}).get("value", "")


class Material(CreatedModel):
    """An uploaded document for an application (申请材料)."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="materials")
    name = models.CharField(max_length=200)
    file = models.FileField(upload_to="portal/materials/%Y/%m/")
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()

    def __str__(self) -> str:
        return self.name

    @property
    def organisation(self) -> Organisation:
        return self.application.organisation


class ApplicationEvent(CreatedModel):
    """One step of an application's history, shown to the applicant and to staff."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="events")
    status = models.CharField(max_length=12, choices=ApplicationStatus.choices)
    note = models.CharField(max_length=500, blank=True, default="")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.application} {self.status}"


class Certificate(CreatedModel):
    """The result of an approved application as a PDF (办件结果), signed with the deployment's
    Ed25519 key over its exact bytes. The verification code finds it on the public page; a
    revoked certificate stays on record and shows as revoked."""

    application = models.OneToOneField(
        Application, on_delete=models.PROTECT, related_name="certificate"
    )
    code = models.CharField(max_length=32, unique=True)
    pdf = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    signature = models.BinaryField()
    # the first 16 hex digits of the SHA-256 of the public key that signed it
    key_id = models.CharField(max_length=16)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=500, blank=True, default="")
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.code

    @property
    def organisation(self) -> Organisation:
        return self.application.organisation


class Frequency(models.TextChoices):
    """Update frequencies, as the EU's frequency vocabulary names them (DCAT-AP)."""

    DAILY = "DAILY", _("每日")
    WEEKLY = "WEEKLY", _("每周")
    MONTHLY = "MONTHLY", _("每月")
    QUARTERLY = "QUARTERLY", _("每季度")
    ANNUAL = "ANNUAL", _("每年")
    IRREGULAR = "IRREG", _("不定期")


class Dataset(TimestampedModel):
    """An open dataset (开放数据集) in the catalogue, described with DCAT's fields. Its rows
    come from a named source (`opendata.SOURCES`), computed when downloaded: only
    non-personal tables and aggregates, with small counts suppressed."""

    slug = models.SlugField(max_length=80, unique=True)
    title = models.CharField(max_length=200)
    title_en = models.CharField(max_length=200, blank=True, default="")
    description = models.TextField(blank=True, default="")
    description_en = models.TextField(blank=True, default="")
    publisher = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    licence = models.CharField(max_length=32)
    frequency = models.CharField(max_length=12, choices=Frequency.choices)
    keywords = models.JSONField(default=list, blank=True)
    theme = models.CharField(max_length=32, blank=True, default="")
    source = models.CharField(max_length=64)
    issued_at = models.DateTimeField(null=True, blank=True)
    published = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.slug

    @property
    def organisation(self) -> Organisation:
        return self.publisher

"""The data hub's tables. Departments' records stay as they came (`SourceRecord`, each value an
`AttributeValue` with its provenance and validity); the person registry (`Person`) only links
them. Imports (`ImportBatch`) can be withdrawn as a whole; the linkage's uncertain pairs wait in
`ReviewItem`; `Agreement` says who may read what for which purpose; `AccessEntry` is the
resident-facing log of every read (the Data Tracker)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civichub.core.models import CreatedModel, Organisation, Resident


class Source(models.Model):
    """A department's data set, described by its mapping file (`sources/<key>.toml`)."""

    key = models.SlugField(max_length=48, unique=True)
    name = models.CharField(max_length=100)
    department = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    format = models.CharField(max_length=8)
    mapping = models.JSONField(default=dict)
    url = models.URLField(blank=True, default="")
    pull_every_minutes = models.PositiveIntegerField(default=0)
    cursor = models.CharField(max_length=200, blank=True, default="")
    last_pulled_at = models.DateTimeField(null=True, blank=True)
    last_received_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("数据源")
        verbose_name_plural = _("数据源")
        ordering: ClassVar[list[str]] = ["key"]

    def __str__(self) -> str:
        return self.name

    @property
    def organisation(self) -> Organisation:
        return self.department


class BatchStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("导入中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")
    ROLLED_BACK = "rolled_back", pgettext_lazy("import batch state", "已撤回")


class ImportBatch(CreatedModel):
    """One delivery of a source: a file or one REST pull. `content_hash` makes a re-run of the
    same delivery a no-op."""

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="batches")
    status = models.CharField(max_length=12, choices=BatchStatus.choices, default="queued")
    file_name = models.CharField(max_length=200, blank=True, default="")
    format = models.CharField(max_length=8, default="csv")  # how the payload is read
    content_hash = models.CharField(max_length=64)
    payload = models.BinaryField(null=True, blank=True, editable=False)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    rows_accepted = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    rows_unchanged = models.PositiveIntegerField(default=0)
    values_written = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    rolled_back_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        verbose_name = _("导入批次")
        verbose_name_plural = _("导入批次")
        ordering: ClassVar[list[str]] = ["-pk"]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["source", "content_hash"], name="datahub_batch_hash")
        ]

    def __str__(self) -> str:
        return f"{self.source_id}#{self.pk}"

    @property
    def organisation(self) -> Organisation:
        return self.source.department


class RowError(models.Model):
    """A refused row: its number in the delivery (1 = the first data row), a stable code, the
    field and the raw row, so the rejects file can be sent back to the department."""

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="row_errors")
    row_number = models.PositiveIntegerField()
    code = models.CharField(max_length=32)
    field = models.CharField(max_length=64, blank=True, default="")
    message = models.CharField(max_length=300)
    # [[column, value], ...] in the delivery's order (a JSON object's keys lose their order in
    # PostgreSQL's jsonb)
    raw = models.JSONField(default=list)

    class Meta:
        ordering: ClassVar[list[str]] = ["row_number", "pk"]

    def __str__(self) -> str:
        return f"{self.row_number}: {self.code}"


class Person(CreatedModel):
    """One person in the registry. Holds only what linkage needs (the identity number
    encrypted, with its keyed lookup hash); every other value stays on the source records."""

    name = models.CharField(max_length=100)
    name_key = models.CharField(max_length=100, db_index=True)  # pinyin, no tones
    identity_encrypted = models.BinaryField(null=True, blank=True, editable=False)
    identity_hash = models.CharField(max_length=64, null=True, blank=True, unique=True)
    birth_date = models.DateField(null=True, blank=True, db_index=True)
    gender = models.CharField(max_length=1, blank=True, default="")
    keys = models.JSONField(default=dict)  # what linkage compares (linkage.record_keys)
    community = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resident = models.ForeignKey(
        Resident, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("人员")
        verbose_name_plural = _("人员")

    def __str__(self) -> str:
        return self.name

    @property
    def organisation(self) -> Organisation | None:
        return self.community


class LinkMethod(models.TextChoices):
    IDENTITY = "identity", _("身份证号")
    SCORE = "score", _("概率匹配")
    NEW = "new", _("新建人员")
    REVIEW = "review", _("人工审核")
    PENDING = "pending", _("待审核")


class SourceRecord(CreatedModel):
    """A department's record of one person, linked to a person of the registry (or waiting in
    review). The link is the only thing the hub changes; the values are the source's."""

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="records")
    record_id = models.CharField(max_length=100)
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="records"
    )
    link_method = models.CharField(max_length=10, choices=LinkMethod.choices)
    link_weight = models.FloatField(null=True, blank=True)
    identity_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    keys = models.JSONField(default=dict)  # the normalised fields linkage compares
    batch = models.ForeignKey(ImportBatch, on_delete=models.PROTECT, related_name="+")
    # Where the record says the person lives, as the registry's address entity, and the
    # household register's household there (the register's own records: their household).
    address = models.ForeignKey(
        "Address", null=True, blank=True, on_delete=models.SET_NULL, related_name="records"
    )
    household = models.ForeignKey(
        "Household", null=True, blank=True, on_delete=models.SET_NULL, related_name="records"
    )

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["source", "record_id"], name="datahub_record_once")
        ]

    def __str__(self) -> str:
        return f"{self.source_id}:{self.record_id}"

    @property
    def organisation(self) -> Organisation | None:
        return self.person.community if self.person else None


class AttributeValue(models.Model):
    """One value with its provenance: which source, which of its records, which delivery,
    when it arrived and when it held. A changed value closes the old one (valid_to,
    `closed_by`), so the history stays and a withdrawn batch reopens what it closed."""

    record = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="values")
    name = models.CharField(max_length=64)
    value = models.TextField()
    batch = models.ForeignKey(ImportBatch, on_delete=models.PROTECT, related_name="values")
    received_at = models.DateTimeField(default=timezone.now)
    valid_from = models.DateTimeField(default=timezone.now)
    valid_to = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="closed"
    )

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["record", "name", "valid_to"], name="datahub_value_current")
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class ReviewStatus(models.TextChoices):
    OPEN = "open", _("待审核")
    SAME = "same", _("同一人")
    DIFFERENT = "different", _("不同人")


class ReviewItem(CreatedModel):
    """An uncertain pair: a record and the registry's best candidate, with the match weight
    and each field's part of it, for a person to settle."""

    record = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="reviews")
    candidate = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    weight = models.FloatField()
    explanation = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=ReviewStatus.choices, default="open")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["pk"]

    def __str__(self) -> str:
        return f"review {self.record_id}~{self.candidate_id}"

    @property
    def organisation(self) -> Organisation | None:
        return self.candidate.community


class AgreementScope(models.TextChoices):
    AREA = "area", _("范围内全部人员")
    CONTRACTED = "contracted", _("仅本人签约的居民")


class AgreementBasis(models.TextChoices):
    LAW = "law", _("法律依据")
    CONSENT = "consent", _("本人单独同意")


class Agreement(CreatedModel):
    """A sharing agreement (the X-Road model): the providing source admits the reader
    organisation's role to these attributes, for this purpose, on this legal basis, over the
    people of `area`, between its dates; approved by the source department's head.

    `scope` narrows the people further: `contracted` admits a reader only to the people whose
    source record names them in the source's contract attribute (a family doctor and the
    residents who signed with them). `basis` is PIPL's: `law` rests on the legal basis
    written in the agreement; `consent` admits a reader only to the people who gave their
    separate consent to this agreement's text (`consent_version`) and have not withdrawn it."""

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="agreements")
    reader = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=48)
    area = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    attributes = models.JSONField(default=list)
    purpose = models.CharField(max_length=100)
    legal_basis = models.CharField(max_length=200, blank=True, default="")
    scope = models.CharField(
        max_length=12, choices=AgreementScope.choices, default=AgreementScope.AREA
    )
    basis = models.CharField(max_length=8, choices=AgreementBasis.choices, default="law")
    consent_text = models.TextField(blank=True, default="")
    consent_version = models.CharField(max_length=20, blank=True, default="")
    valid_from = models.DateField()
    valid_until = models.DateField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("共享协议")
        verbose_name_plural = _("共享协议")
        ordering: ClassVar[list[str]] = ["pk"]

    def __str__(self) -> str:
        return f"{self.source_id} → {self.reader_id}/{self.role}: {self.purpose}"

    @property
    def organisation(self) -> Organisation:
        return self.source.department


class Consent(models.Model):
    """A resident's separate consent (PIPL art. 29) to one agreement that rests on consent: the
    purpose and the version of the text they agreed to, when they gave it and when they
    withdrew it. A withdrawn consent stays as it was; giving it again makes a new row."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="consents")
    agreement = models.ForeignKey(Agreement, on_delete=models.PROTECT, related_name="consents")
    purpose = models.CharField(max_length=100)
    text_version = models.CharField(max_length=20)
    given_at = models.DateTimeField(default=timezone.now)
    given_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-given_at", "-pk"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["person", "agreement"],
                condition=models.Q(withdrawn_at=None),
                name="datahub_consent_one_in_force",
            )
        ]

    def __str__(self) -> str:
        return f"consent {self.person_id}/{self.agreement_id}"

    @property
    def organisation(self) -> Organisation | None:
        return self.person.community


class AccessEntry(models.Model):
    """One read of a person's data, as the person sees it: when, who (their organisation and
    role), why and which attributes. Written in the read's transaction, never changed."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="accesses")
    at = models.DateTimeField(default=timezone.now)
    reader = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reader_label = models.CharField(max_length=150)
    organisation = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    role = models.CharField(max_length=48, blank=True, default="")
    purpose = models.CharField(max_length=200)
    attributes = models.JSONField(default=list)
    channel = models.CharField(max_length=16, default="web")

    class Meta:
        ordering: ClassVar[list[str]] = ["-at", "-pk"]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["person", "at"], name="datahub_access_person_at")
        ]

    def __str__(self) -> str:
        return f"{self.person_id} read by {self.reader_label} at {self.at}"


class CorrectionStatus(models.TextChoices):
    OPEN = "open", _("待答复")
    CORRECTED = "corrected", _("已更正")
    DECLINED = "declined", _("未更正")


class CorrectionRequest(CreatedModel):
    """A resident asks the source department to correct a value. The department answers; the
    corrected value arrives with its next delivery (the hub never edits a source's value)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="corrections")
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="corrections")
    value = models.ForeignKey(
        AttributeValue, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attribute = models.CharField(max_length=64)
    current_value = models.TextField()
    proposed_value = models.CharField(max_length=300, blank=True, default="")
    reason = models.CharField(max_length=500)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=CorrectionStatus.choices, default="open")
    answer = models.CharField(max_length=500, blank=True, default="")
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering: ClassVar[list[str]] = ["-pk"]

    def __str__(self) -> str:
        return f"correction {self.pk}: {self.attribute}"

    @property
    def organisation(self) -> Organisation:
        return self.source.department


class ExchangeEntry(models.Model):
    """One call of a department system to the hub's exchange API, logged like X-Road's
    message log: the request id, the client (the account its token belongs to), the service,
    the acting official it names (`X-Acting-User`), the purpose or case, and the SHA-256 of
    the response, so a returned record is provably tied to its query. Never changed."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    request_id = models.CharField(max_length=36, db_index=True)
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    client_label = models.CharField(max_length=150)
    organisation_path = models.CharField(max_length=255, blank=True, default="")
    service = models.CharField(max_length=100)
    acting_user = models.CharField(max_length=100, blank=True, default="")
    purpose = models.CharField(max_length=200, blank=True, default="")
    status = models.PositiveSmallIntegerField()
    response_hash = models.CharField(max_length=64)
    # the hash chain: each entry's hash covers its own fields and the previous entry's hash,
    # so an edited, deleted or inserted entry breaks every hash after it (`exchange_verify`)
    sequence = models.PositiveBigIntegerField(null=True, unique=True)
    previous_hash = models.CharField(max_length=64, blank=True, default="")
    entry_hash = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering: ClassVar[list[str]] = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.request_id} {self.service}"


class ExchangeChainHead(models.Model):
    """The one row holding the message log's last sequence number and hash. Writers lock it,
    so entries are chained one after another; it also shows a deleted last entry."""

    sequence = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, blank=True, default="")

    def __str__(self) -> str:
        return f"exchange chain at {self.sequence}"


class Household(models.Model):
    """A household of the registry, as the household register (户) numbers it, at an address."""

    number = models.CharField(max_length=40)
    address = models.ForeignKey(
        "Address", null=True, blank=True, on_delete=models.SET_NULL, related_name="households"
    )
    community = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("户")
        verbose_name_plural = _("户")
        ordering: ClassVar[list[str]] = ["number"]
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["source", "number"], name="datahub_household_once")
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def organisation(self) -> Organisation | None:
        return self.community


class Address(models.Model):
    """An address of the registry: the key (`linkage.address_key`: the street and the numbers)
    is what makes two spellings of one address, by one department or several, the same
    entity; `text` keeps the first spelling seen."""

    key = models.CharField(max_length=300, unique=True)
    text = models.CharField(max_length=300)
    community = models.ForeignKey(
        Organisation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("地址")
        verbose_name_plural = _("地址")

    def __str__(self) -> str:
        return self.text

    @property
    def organisation(self) -> Organisation | None:
        return self.community


class Membership(models.Model):
    """A person's place in a household, from one source record (the register's relation to
    the head); ended when a later delivery moves the record to another household or gives
    another relation."""

    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="members")
    record = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="households"
    )
    relation = models.CharField(max_length=20, blank=True, default="")
    since = models.DateTimeField(default=timezone.now)
    until = models.DateTimeField(null=True, blank=True)
    # The deliveries that started and ended it, so withdrawing a delivery undoes both.
    batch = models.ForeignKey(
        "ImportBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ended_by = models.ForeignKey(
        "ImportBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering: ClassVar[list[str]] = ["household", "pk"]

    def __str__(self) -> str:
        return f"{self.household_id}: {self.record_id}"

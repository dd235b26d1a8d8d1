"""Reads shared by the pages, the API, tasks and other modules. Reads of a person's data go
through `person_attributes` (staff, within an agreement) or `my_record` (the person), and
every staff read leaves an access entry the person sees (the Data Tracker) and an audit row.

The public surface for other modules: `person_for_resident`, `person_attributes`
(`PersonAttributes` of `AttributeReading`s, each value with its source and dates) and
`my_record`."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record, audit_refusal
from civichub.core.config import module_config
from civichub.core.errors import NotFound, PermissionDenied, ValidationFailed
from civichub.core.models import Organisation, User
from civichub.core.permissions import require, role_paths, scope_filter
from civichub.datahub.conf import DatahubSettings
from civichub.datahub.mapping import mapping_from_dict
from civichub.datahub.models import (
    AccessEntry,
    Agreement,
    AgreementBasis,
    AgreementScope,
    AttributeValue,
    BatchStatus,
    Consent,
    CorrectionRequest,
    CorrectionStatus,
    ExchangeEntry,
    ImportBatch,
    Membership,
    Person,
    ReviewItem,
    ReviewStatus,
    RowError,
    Source,
    SourceRecord,
)

REVIEW_PURPOSE = "记录关联审核"


def _purpose(purpose: str) -> str:
    purpose = purpose.strip()
    if not purpose:
        raise ValidationFailed.on("purpose", _("请说明查看个人信息的事由。"))
    return purpose[:100]


# Sources and imports -----------------------------------------------------------------------


@dataclass(frozen=True)
class SourceHealth:
    source: Source
    batches: int
    rows_accepted: int
    rows_rejected: int
    records: int
    linked: int
    open_reviews: int
    stale: bool

    @property
    def linkage_rate(self) -> float | None:
        return self.linked / self.records if self.records else None


def _sources(actor: User) -> QuerySet[Source]:
    return scope_filter(
        actor,
        "datahub.source.view",
        Source.objects.select_related("department"),
        "department__path",
    )


def source_list(*, actor: User) -> list[SourceHealth]:
    """Each source in the caller's scope with its health: rows accepted and refused,
    linkage rate, open review items, and whether it has gone stale."""
    stale_before = timezone.now() - dt.timedelta(hours=module_config(DatahubSettings).stale_hours)
    result = []
    for source in _sources(actor):
        batches = source.batches.exclude(status=BatchStatus.ROLLED_BACK).aggregate(
            n=Count("pk"), ok=Sum("rows_accepted"), bad=Sum("rows_rejected")
        )
        records = SourceRecord.objects.filter(source=source).aggregate(
            n=Count("pk"), linked=Count("pk", filter=Q(person__isnull=False))
        )
        result.append(
            SourceHealth(
                source=source,
                batches=batches["n"],
                rows_accepted=batches["ok"] or 0,
                rows_rejected=batches["bad"] or 0,
                records=records["n"],
                linked=records["linked"],
                open_reviews=ReviewItem.objects.filter(
                    record__source=source, status=ReviewStatus.OPEN
                ).count(),
                stale=source.last_received_at is None or source.last_received_at < stale_before,
            )
        )
    return result


def source_get(*, actor: User, key: str) -> Source:
    source = _sources(actor).filter(key=key).first()
    if source is None:
        raise NotFound(_("没有代码为 %(key)s 的数据源。") % {"key": key})
    return source


def source_attribute_names(source: Source) -> list[str]:
    return mapping_from_dict(source.mapping).attribute_names


def batch_list(*, actor: User, source: Source) -> QuerySet[ImportBatch]:
    require(actor, "datahub.source.view", source)
    return source.batches.defer("payload").all()


def batch_get(*, actor: User, pk: int) -> ImportBatch:
    batch = ImportBatch.objects.defer("payload").select_related("source__department")
    found = batch.filter(pk=pk).first()
    if found is None:
        raise NotFound(_("没有编号为 %(pk)s 的导入批次。") % {"pk": pk})
    require(actor, "datahub.source.view", found)
    return found


def batch_row_errors(*, actor: User, batch: ImportBatch, limit: int = 100) -> list[RowError]:
    require(actor, "datahub.source.view", batch)
    return list(batch.row_errors.all()[:limit])


def batch_rejects_csv(*, actor: User, batch: ImportBatch) -> str:
    """The rejects file: each refused row with its number, code, column and message, then
    the row as delivered, to send back to the department."""
    require(actor, "datahub.source.view", batch)
    errors = list(batch.row_errors.all())
    columns: list[str] = []
    for error in errors:
        columns.extend(c for c, _value in error.raw if c not in columns)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row_number", "code", "field", "message", *columns])
    for error in errors:
        writer.writerow(
            [error.row_number, error.code, error.field, error.message]
            + [dict(error.raw).get(c, "") for c in columns]
        )
    audit_record(
        actor=actor,
        action="datahub.rejects.download",
        obj=batch,
        purpose="退回部门更正",
        changes={"rows": len(errors)},
    )
    return out.getvalue()


# Review --------------------------------------------------------------------------------------


def review_queue(*, actor: User) -> QuerySet[ReviewItem]:
    queryset = ReviewItem.objects.filter(status=ReviewStatus.OPEN).select_related(
        "record__source", "candidate__community"
    )
    return scope_filter(actor, "datahub.review.decide", queryset, "candidate__community__path")


def review_open_count(user: User) -> int:
    return review_queue(actor=user).count()


@transaction.atomic
def review_get(*, actor: User, pk: int) -> ReviewItem:
    """One uncertain pair with both sides' compared fields: a read of personal data, audited."""
    item = ReviewItem.objects.select_related("record__source", "candidate__community")
    found = item.filter(pk=pk).first()
    if found is None:
        raise NotFound(_("没有编号为 %(pk)s 的待审核记录。") % {"pk": pk})
    require(actor, "datahub.review.decide", found)
    audit_record(
        actor=actor,
        action="datahub.review.view",
        obj=found,
        organisation=found.candidate.community,
        purpose=REVIEW_PURPOSE,
    )
    return found


# Agreements ----------------------------------------------------------------------------------


def agreement_list(*, actor: User) -> QuerySet[Agreement]:
    queryset = Agreement.objects.select_related("source", "reader", "area")
    return scope_filter(actor, "datahub.agreement.view", queryset, "source__department__path")


def agreement_get(*, actor: User, pk: int) -> Agreement:
    found = agreement_list(actor=actor).filter(pk=pk).first()
    if found is None:
        raise NotFound(_("没有编号为 %(pk)s 的共享协议。") % {"pk": pk})
    return found


@dataclass(frozen=True)
class Grant:
    agreement: Agreement
    organisation_path: str
    role: str


def _contracted(actor: User, person: Person, source: Source) -> bool:
    """Whether the person's current record of this source names the reader in the source's
    contract attribute (the family doctor they signed with), by account name or full name."""
    contract = mapping_from_dict(source.mapping).contract
    if not contract:
        return False
    return AttributeValue.objects.filter(
        record__person=person,
        record__source=source,
        name=contract,
        valid_to=None,
        value__in=[actor.get_username(), actor.display_name()],
    ).exists()


def _consented(person: Person, agreement: Agreement) -> bool:
    """PIPL's separate consent: given to this agreement's current text and not withdrawn."""
    return Consent.objects.filter(
        person=person,
        agreement=agreement,
        withdrawn_at=None,
        text_version=agreement.consent_version,
    ).exists()


def _grants(actor: User, person: Person, purpose: str) -> list[Grant]:
    """The agreements in force that let this user read this person for this purpose: the
    user holds the agreement's role at its reader organisation (or below), the person lives
    in its area, is contracted with the user where the agreement says so, and has consented
    where the agreement rests on consent."""
    if person.community is None:
        return []
    today = timezone.localdate()
    held = role_paths(actor)
    found = []
    agreements = (
        Agreement.objects.filter(ended_at=None, valid_from__lte=today, purpose=purpose)
        .filter(Q(valid_until=None) | Q(valid_until__gte=today))
        .select_related("reader", "area", "source")
    )
    for agreement in agreements:
        if not person.community.path.startswith(agreement.area.path):
            continue
        grant = next(
            (
                Grant(agreement, path, role)
                for role, path in held
                if role == agreement.role and path.startswith(agreement.reader.path)
            ),
            None,
        )
        if grant is None:
            continue
        if agreement.scope == AgreementScope.CONTRACTED and not _contracted(
            actor, person, agreement.source
        ):
            continue
        if agreement.basis == AgreementBasis.CONSENT and not _consented(person, agreement):
            continue
        found.append(grant)
    return found


# Reading a person ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AttributeReading:
    """One value with its provenance (the Myinfo model: each value says where it came from)."""

    id: int
    name: str
    value: str
    source: str
    source_name: str
    record_id: str
    received_at: dt.datetime
    valid_from: dt.datetime
    valid_to: dt.datetime | None


@dataclass
class PersonAttributes:
    person_id: int
    purpose: str
    values: list[AttributeReading] = field(default_factory=list)
    withheld: list[str] = field(default_factory=list)


def _reading(value: AttributeValue) -> AttributeReading:
    return AttributeReading(
        id=value.pk,
        name=value.name,
        value=value.value,
        source=value.record.source.key,
        source_name=value.record.source.name,
        record_id=value.record.record_id,
        received_at=value.received_at,
        valid_from=value.valid_from,
        valid_to=value.valid_to,
    )


def _values(person: Person, *, current: bool = True) -> QuerySet[AttributeValue]:
    queryset = AttributeValue.objects.filter(record__person=person).select_related("record__source")
    if current:
        queryset = queryset.filter(valid_to=None)
    return queryset.order_by("name", "record__source__key", "-valid_from")


def person_get(*, pk: int) -> Person:
    person = Person.objects.select_related("community").filter(pk=pk).first()
    if person is None:
        raise NotFound(_("没有编号为 %(pk)s 的人员。") % {"pk": pk})
    return person


def person_for_resident(*, resident_id: int) -> Person | None:
    """The registry's person linked (by identity number) to a core resident, if any."""
    return Person.objects.select_related("community").filter(resident_id=resident_id).first()


@transaction.atomic
def person_attributes(
    *,
    actor: User,
    person: Person,
    names: list[str] | None,
    purpose: str,
    channel: str = "web",
) -> PersonAttributes:
    """The current values of the named attributes (all, with no names) that an agreement in
    force lets the caller read for this purpose; the others are listed as withheld. Checked
    by core's permission check (`datahub.person.read`), then by the agreements; recorded as an
    access entry the person sees and as an audit row."""
    purpose = _purpose(purpose)
    require(actor, "datahub.person.read")
    grants = _grants(actor, person, purpose)
    if not grants:
        audit_refusal(actor=actor, action="datahub.person.read", obj=person)
        raise PermissionDenied(
            _("没有共享协议允许您为此用途查看该人员的信息。"), action="datahub.person.read"
        )
    allowed = {(g.agreement.source_id, name) for g in grants for name in g.agreement.attributes}
    wanted = set(names) if names else None
    readings = [
        _reading(v)
        for v in _values(person)
        if (v.record.source_id, v.name) in allowed and (wanted is None or v.name in wanted)
    ]
    read_names = sorted({r.name for r in readings})
    organisation = Organisation.objects.filter(path=grants[0].organisation_path).first()
    AccessEntry.objects.create(
        person=person,
        reader=actor,
        reader_label=actor.get_full_name() or actor.get_username(),
        organisation=organisation,
        role=grants[0].role,
        purpose=purpose,
        attributes=read_names,
        channel=channel,
    )
    audit_record(
        actor=actor,
        action="datahub.person.read",
        obj=person,
        purpose=purpose,
        changes={"attributes": read_names, "agreements": sorted(g.agreement.pk for g in grants)},
    )
    return PersonAttributes(
        person_id=person.pk,
        purpose=purpose,
        values=readings,
        withheld=sorted(wanted - set(read_names)) if wanted else [],
    )


@dataclass(frozen=True)
class ConsentChoice:
    """An agreement resting on consent that covers the person, and their consent in force."""

    agreement: Agreement
    consent: Consent | None


@dataclass
class MyRecord:
    person: Person
    values: list[AttributeReading]
    history: list[AttributeReading]
    accesses: list[AccessEntry]
    corrections: list[CorrectionRequest]
    consents: list[ConsentChoice] = field(default_factory=list)
    consent_history: list[Consent] = field(default_factory=list)
    households: list[Membership] = field(default_factory=list)


def _consent_agreements(person: Person) -> list[Agreement]:
    """Agreements in force resting on consent whose area covers the person."""
    if person.community is None:
        return []
    today = timezone.localdate()
    found = (
        Agreement.objects.filter(basis=AgreementBasis.CONSENT, ended_at=None)
        .filter(valid_from__lte=today)
        .filter(Q(valid_until=None) | Q(valid_until__gte=today))
        .select_related("source", "reader", "area")
    )
    return [a for a in found if person.community.path.startswith(a.area.path)]


def my_consent_agreement(*, actor: User, pk: int) -> tuple[Person, Agreement]:
    """The signed-in resident and one agreement they may give or withdraw consent to."""
    person = person_for_resident(resident_id=actor.resident_id) if actor.resident_id else None
    if person is None:
        raise NotFound(_("数据中台中还没有与您的账户关联的记录。"))
    require(actor, "datahub.consent.manage", person)
    found = next((a for a in _consent_agreements(person) if a.pk == pk), None)
    if found is None:
        raise NotFound(_("没有编号为 %(pk)s 的共享协议。") % {"pk": pk})
    return person, found


@transaction.atomic
def my_record(*, actor: User) -> MyRecord | None:
    """The signed-in resident's own record: every current value with its source and date,
    the values they replaced, and every read of the record by staff."""
    if actor.resident_id is None:
        return None
    person = person_for_resident(resident_id=actor.resident_id)
    if person is None:
        return None
    require(actor, "datahub.mydata.view", person)
    values = [_reading(v) for v in _values(person)]
    history = [_reading(v) for v in _values(person, current=False).exclude(valid_to=None)]
    accesses = list(AccessEntry.objects.filter(person=person).select_related("organisation")[:500])
    corrections = list(CorrectionRequest.objects.filter(person=person).select_related("source"))
    given = Consent.objects.filter(person=person).select_related("agreement__source")
    in_force = {c.agreement_id: c for c in given if c.withdrawn_at is None}
    audit_record(actor=actor, action="datahub.mydata.view", obj=person, purpose="本人查看")
    return MyRecord(
        person=person,
        values=values,
        history=history,
        accesses=accesses,
        corrections=corrections,
        consents=[ConsentChoice(a, in_force.get(a.pk)) for a in _consent_agreements(person)],
        consent_history=list(given),
        households=list(
            Membership.objects.filter(person=person, until=None).select_related(
                "household__address"
            )
        ),
    )


def my_value_get(*, actor: User, pk: int) -> AttributeValue:
    """One of the signed-in resident's own current values (for a correction request)."""
    value = AttributeValue.objects.select_related("record__person").filter(pk=pk).first()
    person = value.record.person if value is not None else None
    if value is None or person is None:
        raise NotFound(_("没有编号为 %(pk)s 的信息。") % {"pk": pk})
    require(actor, "datahub.mydata.view", person)
    return value


def correction_list(*, actor: User) -> QuerySet[CorrectionRequest]:
    """Correction requests to the caller's departments, open ones first."""
    queryset = CorrectionRequest.objects.select_related("source", "person").order_by(
        "-status", "-pk"
    )
    return scope_filter(actor, "datahub.correction.answer", queryset, "source__department__path")


def correction_get(*, actor: User, pk: int) -> CorrectionRequest:
    found = correction_list(actor=actor).filter(pk=pk).first()
    if found is None:
        raise NotFound(_("没有编号为 %(pk)s 的更正申请。") % {"pk": pk})
    return found


def correction_open_count(user: User) -> int:
    return correction_list(actor=user).filter(status=CorrectionStatus.OPEN).count()


def access_log(*, actor: User, person: Person) -> list[AccessEntry]:
    """Auditors: every read of one person's data."""
    require(actor, "datahub.access.view", person)
    return list(AccessEntry.objects.filter(person=person).select_related("organisation"))


def exchange_log(
    *,
    actor: User,
    service: str = "",
    request_id: str = "",
    client: str = "",
    acting_user: str = "",
    purpose: str = "",
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet[ExchangeEntry]:
    """Auditors search the exchange API's message log within their subtree: by service,
    request id, client, acting official, purpose (a part of it) and time."""
    queryset = ExchangeEntry.objects.all()
    exact = {
        "service": service,
        "request_id": request_id,
        "client_label": client,
        "acting_user": acting_user,
    }
    queryset = queryset.filter(**{k: v for k, v in exact.items() if v})
    if purpose:
        queryset = queryset.filter(purpose__contains=purpose)
    if since is not None:
        queryset = queryset.filter(at__gte=since)
    if until is not None:
        queryset = queryset.filter(at__lt=until)
    return scope_filter(actor, "datahub.access.view", queryset, "organisation_path")

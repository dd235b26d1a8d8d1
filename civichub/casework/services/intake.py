"""Intake: a message is stored with its photos and its tracking number in one short
transaction, and routing and the acknowledgement are scheduled after commit, so they never delay
or endanger the intake."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from civichub.casework import workdays
from civichub.casework.codes import code_hash
from civichub.casework.conf import casework_settings
from civichub.casework.models import (
    AttributeDatatype,
    Case,
    CaseChannel,
    CaseKind,
    CasePhoto,
    Category,
    CategorySource,
    ContactChannel,
    ContactVerification,
    EventKind,
    PhotoState,
)
from civichub.casework.permissions import is_sender, may
from civichub.casework.photos import (
    CheckedPhoto,
    DeferredPhoto,
    PhotoUpload,
    check_photo,
    gps_point,
)
from civichub.casework.selectors import active_category, jurisdiction
from civichub.casework.services._shared import (
    add_event,
    locked,
    photo_limit_message,
    save_case,
    too_long,
)
from civichub.casework.services.contacts import contact_account, normalise_contact
from civichub.casework.services.photo_processing import process_case_photo
from civichub.casework.services.routing import after_intake
from civichub.core import geo
from civichub.core.audit import audit_record
from civichub.core.conf import core_settings
from civichub.core.errors import NotFound, PermissionDenied, ValidationFailed
from civichub.core.files import files_kept_on_commit
from civichub.core.models import CoordinateSystem, User
from civichub.core.permissions import require
from civichub.core.services import place_errors

TITLE_MAX = 200
TEXT_MAX = 4000  # the Open311 description limit; the web form uses the same
ADDRESS_MAX = 300


def attributes_validate(category: Category, values: dict[str, Any]) -> dict[str, Any]:
    """Checks answers to the category's attributes; returns them cleaned (list types as lists).
    Errors are keyed `attributes.<code>`."""
    definitions = {a.code: a for a in category.attributes.all() if a.variable}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for code in sorted(set(values) - set(definitions)):
        errors[f"attributes.{code}"] = [_("该类别没有这个附加项。")]
    for code, attribute in definitions.items():
        raw = values.get(code)
        empty = raw is None or raw == "" or raw == []
        if empty:
            if attribute.required:
                errors[f"attributes.{code}"] = [_("此项必填。")]
            continue
        key = f"attributes.{code}"
        if attribute.datatype == AttributeDatatype.MULTIVALUELIST:
            items = [str(v) for v in (raw if isinstance(raw, list) else [raw])]
            bad = [v for v in items if v not in attribute.value_keys()]
            if bad:
                errors[key] = [_("不在可选值之列：%(values)s。") % {"values": ", ".join(bad)}]
            cleaned[code] = items
        elif attribute.datatype == AttributeDatatype.SINGLEVALUELIST:
            value = str(raw[0] if isinstance(raw, list) and len(raw) == 1 else raw)
            if isinstance(raw, list) and len(raw) != 1 or value not in attribute.value_keys():
                errors[key] = [_("请从可选值中选择一项。")]
            cleaned[code] = value
        elif attribute.datatype == AttributeDatatype.NUMBER:
            try:
                number = float(str(raw))
            except ValueError:
                errors[key] = [_("请填写数字。")]
            else:
                if number != number or number in (float("inf"), float("-inf")):
                    errors[key] = [_("请填写有限的数字。")]
                cleaned[code] = number
        elif attribute.datatype == AttributeDatatype.DATETIME:
            parsed = parse_datetime(str(raw)) if not isinstance(raw, list) else None
            if parsed is None:
                errors[key] = [_("请按 ISO 8601 格式填写日期和时间。")]
            else:
                cleaned[code] = parsed.isoformat()
        else:
            if isinstance(raw, list):
                errors[key] = [_("只能填写一个值。")]
            else:
                cleaned[code] = str(raw)[:4000]
    if errors:
        raise ValidationFailed(_("有些附加项未填写或填写有误。"), errors=errors)
    return cleaned


# One statement (an upsert returning the new value; SQLite 3.35+ and PostgreSQL): it creates the
# year's row or takes its lock until commit, so concurrent intakes queue here, briefly, and the
# numbers of committed cases are gap-free and never repeat. `TrackingCounter` is the table.
_NEXT_NUMBER_SQL = (
    'INSERT INTO "casework_trackingcounter" ("year", "last") VALUES (%s, 1) '
    'ON CONFLICT ("year") DO UPDATE SET "last" = "casework_trackingcounter"."last" + 1 '
    'RETURNING "last"'
)


def _next_tracking_number(now: dt.datetime) -> str:
    year = timezone.localtime(now).year
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_NUMBER_SQL, [year])
        row = cursor.fetchone()
    return f"{year}-{int(row[0]):06d}"


@dataclass(frozen=True)
class Submitted:
    """The stored case and, for senders without an account, the access code they track it
    with (shown once; only its hash is kept)."""

    case: Case
    access_code: str


def checked_photos(
    photos: Sequence[PhotoUpload], keep_location: bool
) -> list[CheckedPhoto | DeferredPhoto]:
    conf = casework_settings()
    if len(photos) > int(conf.photo_max_count):
        raise ValidationFailed.on("photos", photo_limit_message(int(conf.photo_max_count)))
    return [
        check_photo(
            upload,
            index=i,
            keep_location=keep_location,
            max_bytes=int(conf.photo_max_bytes),
            max_pixels=int(conf.photo_max_pixels),
            allowed_formats=list(conf.photo_types),
        )
        for i, upload in enumerate(photos)
    ]


def case_submit(
    *,
    actor: User | None,
    kind: str,
    text: str,
    title: str = "",
    channel: str = CaseChannel.WEB,
    is_public: bool = False,
    address: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    crs: str | None = None,
    category_key: str | None = None,
    attributes: dict[str, Any] | None = None,
    photos: Sequence[PhotoUpload] = (),
    keep_photo_location: bool = False,
    contact_name: str = "",
    contact_phone: str = "",
    contact_email: str = "",
    verification: ContactVerification | None = None,
    extra: dict[str, Any] | None = None,
    received_at: dt.datetime | None = None,
    schedule_routing: bool = True,
) -> Submitted:
    """Accepts a message and gives it a tracking number at once.

    Who may send: a signed-in account (web, api); anyone with a verified phone or email
    (`verification`, web and api); staff logging a call (`channel="phone"`, needs
    casework.case.log_call; the caller's phone is taken as given); the Open311 layer
    (`channel="open311"`, actor None, vouched for by its API key).

    `category_key` is the sender's (or Open311 service_code's) choice; without it the router
    picks one after commit. Photos are checked before anything is stored: one bad photo refuses
    the whole message with a message naming it. Routing and the acknowledgement are scheduled
    with `transaction.on_commit` and never delay or endanger the intake; `schedule_routing=False`
    leaves both to a caller that routes the case itself in the same transaction (the demo city,
    whose made-up history would otherwise queue a task per message ahead of the first real one).
    """
    now = received_at or timezone.now()
    crs = crs or core_settings().default_crs
    title, text, address = title.strip(), text.strip(), address.strip()
    category = _checked_message(
        kind=kind,
        channel=channel,
        text=text,
        title=title,
        address=address,
        latitude=latitude,
        longitude=longitude,
        crs=crs,
        category_key=category_key,
    )
    cleaned_attributes = attributes_validate(category, attributes or {}) if category else {}
    if not category and attributes:
        raise ValidationFailed.on("attributes", _("请先选择类别，再填写附加项。"))
    sender = _sender(
        actor=actor,
        channel=channel,
        verification=verification,
        now=now,
        contact_phone=contact_phone,
        contact_email=contact_email,
    )
    checked = checked_photos(photos, keep_photo_location)
    if latitude is None and checked and keep_photo_location:
        # The sender kept the photo's location and gave no pin: the photo's GPS is the place.
        point = next((p for p in (gps_point(c.gps) for c in checked) if p), None)
        if point is not None:
            latitude, longitude, crs = point[0], point[1], CoordinateSystem.WGS84
    kind = kind or (category.default_kind if category else CaseKind.HELP)
    case = Case(
        kind=kind,
        title=title or text[:30],
        text=text,
        channel=channel,
        is_public=is_public,
        address=address,
        latitude=latitude,
        longitude=longitude,
        crs=crs,
        category=category,
        category_source=CategorySource.SENDER if category else CategorySource.NONE,
        attributes=cleaned_attributes,
        submitter=sender.submitter,
        contact_name=contact_name.strip()[:100],
        contact_phone=sender.contact_phone.strip()[:32],
        contact_email=sender.contact_email.strip()[:254],
        contact_verified=sender.contact_verified,
        logged_by=sender.logged_by,
        extra=extra or {},
        created_at=now,
        updated_at=now,
    )
    if latitude is not None and longitude is not None:
        case.wgs84_latitude, case.wgs84_longitude = geo.to_wgs84(latitude, longitude, crs)
    return _store_submission(
        case,
        actor=actor,
        sender=sender,
        checked=checked,
        verification=verification,
        now=now,
        schedule_routing=schedule_routing,
    )


def _checked_message(
    *,
    kind: str,
    channel: str,
    text: str,
    title: str,
    address: str,
    latitude: float | None,
    longitude: float | None,
    crs: str,
    category_key: str | None,
) -> Category | None:
    """Refuses a message with a missing or wrong field (all such fields named at once) and
    returns the category the sender chose, if any."""
    errors: dict[str, list[str]] = {}
    if kind not in CaseKind.values and not (kind == "" and category_key):
        errors["kind"] = [
            _("留言类型须为以下之一：%(choices)s。") % {"choices": ", ".join(CaseKind.values)}
        ]
    if channel not in CaseChannel.values:
        errors["channel"] = [
            _("渠道须为以下之一：%(choices)s。") % {"choices": ", ".join(CaseChannel.values)}
        ]
    if not text:
        errors["text"] = [_("请填写留言内容。")]
    elif len(text) > TEXT_MAX:
        errors["text"] = [too_long(TEXT_MAX)]
    if len(title) > TITLE_MAX:
        errors["title"] = [too_long(TITLE_MAX)]
    if len(address) > ADDRESS_MAX:
        errors["address"] = [too_long(ADDRESS_MAX)]
    errors.update(place_errors(latitude, longitude, crs))
    category: Category | None = None
    if category_key:
        category = active_category(category_key)
        if category is None:
            message = _("没有代码为 %(key)s 的类别。") % {"key": category_key}
            raise NotFound(message, errors={"category": [message]})
    if errors:
        raise ValidationFailed(_("留言填写不完整或有误。"), errors=errors)
    return category


@dataclass(frozen=True)
class _Sender:
    """Who the message is from, as intake records it."""

    signed_in: bool
    submitter: User | None
    contact_verified: bool
    logged_by: User | None
    contact_phone: str
    contact_email: str


def _sender(
    *,
    actor: User | None,
    channel: str,
    verification: ContactVerification | None,
    now: dt.datetime,
    contact_phone: str,
    contact_email: str,
) -> _Sender:
    """The sender by channel: staff logging a call, the Open311 layer, a signed-in account, or
    a verified phone or email; refuses anyone else."""
    signed_in = actor is not None and actor.is_authenticated
    submitter: User | None = None
    contact_verified = False
    logged_by: User | None = None
    if channel == CaseChannel.PHONE:
        if not signed_in:
            raise PermissionDenied(_("只有工作人员可以登记来电。"))
        require(actor, "casework.case.log_call")
        logged_by = actor
        if contact_phone:
            submitter = contact_account(phone=normalise_contact("sms", contact_phone))
            contact_verified = True  # staff spoke to the caller on this number
    elif channel == CaseChannel.OPEN311:
        submitter = actor if signed_in else None
    elif signed_in:
        submitter = actor
    else:
        if verification is None or not verification.is_usable(now):
            raise ValidationFailed.on("contact", _("请先登录，或先验证手机号码或电子邮箱。"))
        submitter = verification.contact_user
        contact_verified = True
        if verification.channel == ContactChannel.SMS:
            contact_phone = verification.address
        else:
            contact_email = verification.address
    return _Sender(
        signed_in=signed_in,
        submitter=submitter,
        contact_verified=contact_verified,
        logged_by=logged_by,
        contact_phone=contact_phone,
        contact_email=contact_email,
    )


def _store_submission(
    case: Case,
    *,
    actor: User | None,
    sender: _Sender,
    checked: Sequence[CheckedPhoto | DeferredPhoto],
    verification: ContactVerification | None,
    now: dt.datetime,
    schedule_routing: bool = True,
) -> Submitted:
    """Numbers and saves the case with its photos, spends the verification, records the event
    and the audit row, and schedules routing (unless told not to): all in one transaction.
    Photo files written before a failure are removed."""
    conf = casework_settings()
    with files_kept_on_commit() as written:
        case.tracking_number = _next_tracking_number(now)
        case.jurisdiction = jurisdiction()
        case.due_at = workdays.deadline(now, int(conf.deadline_working_days[case.kind]))
        access_code = ""
        if sender.submitter is None or not sender.signed_in or case.channel == CaseChannel.PHONE:
            access_code = secrets.token_urlsafe(9)
            case.access_code_hash = code_hash(access_code)
        case.save()
        store_photos(case, checked, written)
        if verification is not None and not sender.signed_in:
            _spend_verification(verification, case, now)
        add_event(
            case,
            EventKind.SUBMITTED,
            actor=actor if sender.signed_in else None,
            public=True,
            data={"channel": case.channel, "photos": len(checked)},
            at=now,
        )
        audit_record(
            actor=actor if sender.signed_in else None,
            action="casework.case.submit",
            obj=case,
            changes={
                "tracking_number": case.tracking_number,
                "channel": case.channel,
                "kind": case.kind,
                "photos": len(checked),
                "category": case.category.key if case.category else None,
            },
        )
        if schedule_routing:
            transaction.on_commit(partial(_enqueue_after_intake, case.pk), robust=True)
    return Submitted(case=case, access_code=access_code)


def _spend_verification(verification: ContactVerification, case: Case, now: dt.datetime) -> None:
    """A verified contact sends one message: a second use is refused."""
    updated = ContactVerification.objects.filter(pk=verification.pk, used_at__isnull=True).update(
        used_at=now, used_by=case
    )
    if not updated:
        raise ValidationFailed.on("contact", _("该验证已经用过，请重新验证。"))


def store_photos(
    case: Case, checked: Sequence[CheckedPhoto | DeferredPhoto], written: list[str]
) -> list[CasePhoto]:
    """Writes the files and rows; each file name goes into `written` at once, so the caller's
    `files_kept_on_commit` removes the files if its transaction does not commit. A deferred
    (large) photo is stored as received, `processing`, and its task is enqueued once the
    transaction commits."""
    stored_photos = []
    for photo in checked:
        if isinstance(photo, DeferredPhoto):
            stored = _pending_photo(case, photo)
            data, name = photo.data, f"{case.tracking_number}-pending-{secrets.token_hex(6)}"
        else:
            stored = CasePhoto(
                case=case,
                content_type=photo.content_type,
                width=photo.width,
                height=photo.height,
                size=len(photo.data),
                original_name=photo.original_name,
                location_kept=photo.location_kept,
            )
            data, name = (
                photo.data,
                f"{case.tracking_number}-{secrets.token_hex(6)}.{photo.extension}",
            )
        stored.image.save(name, ContentFile(data), save=False)
        written.append(stored.image.name)
        stored.save()
        if stored.state == PhotoState.PROCESSING:
            transaction.on_commit(partial(process_case_photo.enqueue, stored.pk), robust=True)
        stored_photos.append(stored)
    return stored_photos


def _pending_photo(case: Case, photo: DeferredPhoto) -> CasePhoto:
    probed = photo.probed
    return CasePhoto(
        case=case,
        content_type=probed.content_type,
        width=probed.width,
        height=probed.height,
        size=len(photo.data),
        original_name=probed.original_name,
        location_kept=photo.keep_location,
        state=PhotoState.PROCESSING,
    )


def case_photos_add(
    *, actor: User | None, case: Case, photos: Sequence[PhotoUpload], keep_location: bool = False
) -> list[CasePhoto]:
    """Adds photos to a case: its sender, or staff who may note on it. Every photo is checked
    before any is stored; a refusal leaves the case and its photos as they were."""
    if actor is not None and not (is_sender(actor, case) or may(actor, "casework.case.note", case)):
        raise PermissionDenied(_("只有来信人或办理该留言的工作人员可以添加照片。"))
    if not photos:
        raise ValidationFailed.on("photos", _("请选择照片。"))
    existing = case.photos.count()
    limit = int(casework_settings().photo_max_count)
    if existing + len(photos) > limit:
        raise ValidationFailed.on("photos", photo_limit_message(limit))
    checked = checked_photos(photos, keep_location)
    with files_kept_on_commit() as written:
        case = locked(case)
        stored = store_photos(case, checked, written)
        save_case(case, [])
        audit_record(
            actor=actor,
            action="casework.case.photos_add",
            obj=case,
            changes={"photos": len(stored)},
        )
    return stored


def _enqueue_after_intake(case_id: int) -> None:
    after_intake.enqueue(case_id)

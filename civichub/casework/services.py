"""Every write to casework's tables. Keyword-only, typed, atomic, permission-checked (through
`casework.permissions`) and audited (`core.audit.audit_record`, same transaction).

Intake comes first and stands alone: `case_submit` stores the message, its photos and its
tracking number in one short transaction and returns. Routing (`case_route`) and the
acknowledgement to the sender (`case_acknowledge`) run after commit as tasks; each is idempotent,
and the periodic `cases_sweep` runs them again for any case they missed (a crash, a lost task),
so an accepted message is never lost and never routed twice.

State changes by staff write their notifications into the notify outbox in the same transaction,
so a reply and the notice of it commit together; the outbox retries delivery.

`actor=None` means the system (a task, the Open311 layer acting for an API key holder, seeding):
the permission check is skipped and the change is audited as `system:<channel>`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from civichub.casework import routing_rules, workdays
from civichub.casework.conf import casework_settings
from civichub.casework.models import (
    AWAITING_REPLY,
    LIST_DATATYPES,
    AttributeDatatype,
    CalendarDay,
    Case,
    CaseChannel,
    CaseEvent,
    CaseKind,
    CasePhoto,
    CaseStatus,
    Category,
    CategoryAttribute,
    CategorySource,
    CommunityArea,
    ContactChannel,
    ContactVerification,
    EventKind,
    ExtensionState,
    Rating,
    RatingValue,
    TrackingCounter,
)
from civichub.casework.permissions import HANDLER, HEAD, WORKER, may, require_case
from civichub.casework.photos import CheckedPhoto, PhotoUpload, check_photo, gps_point
from civichub.core import geo
from civichub.core.audit import audit_record
from civichub.core.errors import Conflict, NotFound, PermissionDenied, RateLimited, ValidationFailed
from civichub.core.models import (
    CoordinateSystem,
    Organisation,
    OrganisationKind,
    RoleAssignment,
    User,
)
from civichub.core.permissions import require

logger = logging.getLogger("civichub.casework")

TITLE_MAX = 200
TEXT_MAX = 4000  # the Open311 description limit; the web form uses the same
ADDRESS_MAX = 300


def _too_long(limit: int) -> str:
    return ngettext("最多 %(limit)d 个字符。", "最多 %(limit)d 个字符。", limit) % {"limit": limit}


def _photo_limit_message(limit: int) -> str:
    return ngettext("每条留言最多 %(limit)d 张照片。", "每条留言最多 %(limit)d 张照片。", limit) % {
        "limit": limit
    }


def _check(actor: User | None, action: str, case: Case | None = None) -> None:
    if actor is None:
        return
    if case is None:
        require(actor, action)
    else:
        require_case(actor, action, case)


def _label(actor: User | None) -> str:
    if actor is None:
        from civichub.core.context import current

        return f"system:{current().channel}"
    return actor.get_username()


def _event(
    case: Case,
    kind: str,
    *,
    actor: User | None,
    text: str = "",
    public: bool = False,
    data: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case,
        kind=kind,
        actor=actor,
        actor_label=_label(actor),
        organisation=case.department or case.community,
        public=public,
        text=text,
        data=data or {},
        created_at=at or timezone.now(),
    )


def _locked(case: Case) -> Case:
    """Re-reads the case under a row lock so concurrent changes serialise."""
    return (
        Case.objects.select_for_update(of=("self",))
        .select_related("department", "community", "jurisdiction", "category", "submitter")
        .get(pk=case.pk)
    )


def _save(case: Case, fields: Iterable[str]) -> None:
    case.updated_at = timezone.now()
    case.save(update_fields=[*fields, "updated_at"])


def _notify(
    recipients: Iterable[User | int],
    kind: str,
    context: dict[str, Any],
    *,
    actor: User | None,
    dedupe_key: str | None = None,
) -> None:
    """Into the outbox, in the caller's transaction."""
    from civichub.notify.services import notification_send

    ids = sorted({r if isinstance(r, int) else r.pk for r in recipients})
    if ids:
        notification_send(
            recipients=ids, kind=kind, context=context, actor=actor, dedupe_key=dedupe_key
        )


def _case_context(case: Case) -> dict[str, Any]:
    return {
        "tracking_number": case.tracking_number,
        "title": case.title,
        "department": case.department.name if case.department else "",
        "community": case.community.name if case.community else "",
        "due_at": timezone.localtime(case.due_at).strftime("%Y-%m-%d") if case.due_at else "",
        "status": case.get_status_display(),
    }


# Deployment set-up: taxonomy, areas, calendar -------------------------------------------------


@transaction.atomic
def category_create(
    *,
    actor: User | None,
    key: str,
    name: str,
    department: Organisation | None,
    name_en: str = "",
    description: str = "",
    group: str = "",
    keywords: Sequence[str] = (),
    default_kind: str = CaseKind.HELP,
    service_type: str = "realtime",
    order: int = 100,
    active: bool = True,
) -> Category:
    """A taxonomy entry and the department it routes to."""
    _check(actor, "casework.taxonomy.manage")
    errors: dict[str, list[str]] = {}
    if not key.strip() or "/" in key or " " in key:
        errors["key"] = [_("请填写类别代码，不含空格或斜杠（代码会用在网址中）。")]
    if not name.strip():
        errors["name"] = [_("请填写名称。")]
    if department is not None and department.kind != OrganisationKind.DEPARTMENT:
        errors["department"] = [_("所选机构不是部门。")]
    if default_kind not in CaseKind.values:
        errors["default_kind"] = [_("未知的留言类型：%(kind)s。") % {"kind": default_kind}]
    if errors:
        raise ValidationFailed(_("类别信息有误。"), errors=errors)
    if Category.objects.filter(key=key).exists():
        message = _("类别代码 %(key)s 已存在。") % {"key": key}
        raise Conflict(message, errors={"key": [message]})
    category = Category.objects.create(
        key=key,
        name=name.strip(),
        name_en=name_en,
        description=description,
        group=group,
        department=department,
        keywords=[k for k in keywords if k],
        default_kind=default_kind,
        service_type=service_type,
        order=order,
        active=active,
    )
    audit_record(
        actor=actor,
        action="casework.category.create",
        obj=category,
        organisation=department,
        changes={"key": key, "department": department.code if department else None},
    )
    return category


@transaction.atomic
def category_update(*, actor: User | None, category: Category, changes: dict[str, Any]) -> Category:
    _check(actor, "casework.taxonomy.manage")
    editable = {
        "name",
        "name_en",
        "description",
        "group",
        "department",
        "keywords",
        "default_kind",
        "service_type",
        "order",
        "active",
    }
    unknown = set(changes) - editable
    if unknown:
        raise ValidationFailed(
            _("这些字段不能修改。"), errors={f: [_("此字段不能修改。")] for f in sorted(unknown)}
        )
    department = changes.get("department", category.department)
    if department is not None and department.kind != OrganisationKind.DEPARTMENT:
        message = _("所选机构不是部门。")
        raise ValidationFailed(message, errors={"department": [message]})
    diff = {}
    for field, value in changes.items():
        before = getattr(category, field)
        setattr(category, field, value)
        diff[field] = [str(before), str(value)]
    category.save()
    audit_record(actor=actor, action="casework.category.update", obj=category, changes=diff)
    return category


@transaction.atomic
def category_attribute_create(
    *,
    actor: User | None,
    category: Category,
    code: str,
    datatype: str,
    description: str,
    order: int | None = None,
    required: bool = False,
    variable: bool = True,
    datatype_description: str = "",
    values: Sequence[dict[str, str]] = (),
) -> CategoryAttribute:
    """An extra question for a category (an Open311 attribute)."""
    _check(actor, "casework.taxonomy.manage")
    errors: dict[str, list[str]] = {}
    if not code or "/" in code or " " in code:
        errors["code"] = [_("请填写附加项代码，不含空格或斜杠。")]
    if datatype not in AttributeDatatype.values:
        errors["datatype"] = [
            _("数据类型须为以下之一：%(choices)s。")
            % {"choices": ", ".join(AttributeDatatype.values)}
        ]
    if datatype in LIST_DATATYPES and not values:
        errors["values"] = [_("列表类型须列出可选值。")]
    if any(not isinstance(v, dict) or not v.get("key") or "name" not in v for v in values):
        errors["values"] = [_("每个可选值都须有代码和名称。")]
    if order is not None and order < 1:
        errors["order"] = [_("顺序须为正整数。")]
    if errors:
        raise ValidationFailed(_("附加项信息有误。"), errors=errors)
    if order is None:
        last = category.attributes.order_by("-order").values_list("order", flat=True).first()
        order = (last or 0) + 1
    if category.attributes.filter(Q(code=code) | Q(order=order)).exists():
        message = _("同一类别中附加项的代码和顺序不能重复。")
        raise Conflict(message, errors={"code": [message]})
    attribute = CategoryAttribute.objects.create(
        category=category,
        code=code,
        datatype=datatype,
        description=description,
        order=order,
        required=required,
        variable=variable,
        datatype_description=datatype_description,
        values=[{"key": str(v["key"]), "name": str(v["name"])} for v in values],
    )
    audit_record(
        actor=actor,
        action="casework.category.attribute_create",
        obj=category,
        changes={"code": code, "datatype": datatype},
    )
    return attribute


@transaction.atomic
def community_area_set(
    *,
    actor: User | None,
    community: Organisation,
    centre_latitude: float,
    centre_longitude: float,
    radius_m: float = 500.0,
    crs: str = CoordinateSystem.WGS84,
    polygon: dict[str, Any] | None = None,
    address_terms: Sequence[str] = (),
) -> CommunityArea:
    """Where a community lies (centre and radius, or a WGS-84 GeoJSON polygon)."""
    _check(actor, "casework.taxonomy.manage")
    if community.kind != OrganisationKind.COMMUNITY:
        message = _("所选机构不是社区。")
        raise ValidationFailed(message, errors={"community": [message]})
    if polygon is not None and (
        polygon.get("type") != "Polygon" or not isinstance(polygon.get("coordinates"), list)
    ):
        message = _("请提供 GeoJSON 多边形（Polygon）。")
        raise ValidationFailed(message, errors={"polygon": [message]})
    lat, lng = geo.to_wgs84(centre_latitude, centre_longitude, crs)
    area, _created = CommunityArea.objects.update_or_create(
        community=community,
        defaults={
            "centre_latitude": lat,
            "centre_longitude": lng,
            "radius_m": radius_m,
            "polygon": polygon,
            "address_terms": [t for t in address_terms if t],
        },
    )
    audit_record(
        actor=actor,
        action="casework.community_area.set",
        obj=area,
        changes={"radius_m": radius_m, "polygon": polygon is not None},
    )
    return area


@transaction.atomic
def calendar_day_set(
    *, actor: User | None, date: dt.date, working: bool, name: str = ""
) -> CalendarDay:
    """Marks a day as a holiday or a make-up working day for this deployment."""
    _check(actor, "casework.taxonomy.manage")
    day, _created = CalendarDay.objects.update_or_create(
        date=date, defaults={"working": working, "name": name[:100]}
    )
    audit_record(
        actor=actor,
        action="casework.calendar.set",
        object_type="casework.calendarday",
        object_id=date.isoformat(),
        changes={"working": working, "name": name},
    )
    return day


# Anonymous senders: contact verification ---------------------------------------------------


def _code_hash(code: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), code.encode(), hashlib.sha256).hexdigest()


def _normalise_contact(channel: str, address: str) -> str:
    address = address.strip()
    if channel == ContactChannel.EMAIL:
        address = address.lower()
        if "@" not in address or len(address) > 254 or address.startswith("@"):
            message = _("请填写有效的电子邮箱。")
            raise ValidationFailed(message, errors={"address": [message]})
        return address
    digits = "".join(ch for ch in address if ch.isdigit() or ch == "+")
    if not 6 <= len(digits.lstrip("+")) <= 15:
        message = _("请填写有效的手机号码。")
        raise ValidationFailed(message, errors={"address": [message]})
    return digits


def contact_account(*, phone: str = "", email: str = "") -> User:
    """The account that receives notifications for an anonymous sender's contact. It has no
    usable password and no roles: nobody signs in with it; it only gives the notify outbox a
    recipient with a phone or an email address."""
    from civichub.core.services import user_create

    key = f"{phone}|{email}"
    username = "contact-" + hashlib.sha256(key.encode()).hexdigest()[:20]
    existing = User.objects.filter(username=username).first()
    if existing is not None:
        return existing
    account = user_create(actor=None, username=username, password=None, email=email, phone=phone)
    # A one-time code must not wait for the morning: the sender is at the form now.
    from civichub.notify.services import preference_update

    preference_update(
        actor=account,
        channels={},
        blocked_channels=[],
        quiet_hours_enabled=False,
        quiet_start=None,
        quiet_end=None,
    )
    return account


@transaction.atomic
def contact_verification_start(*, channel: str, address: str) -> ContactVerification:
    """Sends a six-digit one-time code to a phone (SMS) or email address, through notify."""
    if channel not in ContactChannel.values:
        message = _("请选择手机短信或电子邮件。")
        raise ValidationFailed(message, errors={"channel": [message]})
    address = _normalise_contact(channel, address)
    conf = casework_settings()
    now = timezone.now()
    recent = ContactVerification.objects.filter(
        address=address, created_at__gte=now - dt.timedelta(hours=1)
    ).count()
    if recent >= 5:
        raise RateLimited(_("该联系方式获取验证码的次数过多，请稍后再试。"))
    code = f"{secrets.randbelow(1_000_000):06d}"
    account = contact_account(
        phone=address if channel == ContactChannel.SMS else "",
        email=address if channel == ContactChannel.EMAIL else "",
    )
    verification = ContactVerification.objects.create(
        channel=channel,
        address=address,
        code_hash=_code_hash(code),
        created_at=now,
        expires_at=now + dt.timedelta(minutes=int(conf["verification_code_minutes"])),
        contact_user=account,
    )
    from civichub.notify.services import notification_send

    notification_send(
        recipients=[account],
        kind="casework.contact_code",
        context={"code": code, "minutes": conf["verification_code_minutes"]},
        channels=["inapp", channel],
    )
    audit_record(
        actor=None,
        action="casework.contact.verify_start",
        obj=verification,
        changes={"channel": channel},
    )
    return verification


def contact_verification_confirm(*, verification_id: int, code: str) -> ContactVerification:
    """Checks the code. A wrong try is counted (and committed) before the error is raised, so
    the attempt limit holds."""
    conf = casework_settings()
    with transaction.atomic():
        verification = (
            ContactVerification.objects.select_for_update().filter(pk=verification_id).first()
        )
        if verification is None:
            raise NotFound(_("没有找到该验证记录，请重新获取验证码。"))
        now = timezone.now()
        if verification.verified_at is not None:
            return verification
        if now >= verification.expires_at:
            message = _("验证码已过期，请重新获取。")
            raise ValidationFailed(message, errors={"code": [message]})
        if verification.attempts >= int(conf["verification_max_attempts"]):
            raise RateLimited(_("验证码输错次数过多，请重新获取。"))
        verification.attempts += 1
        correct = hmac.compare_digest(verification.code_hash, _code_hash(code.strip()))
        if correct:
            verification.verified_at = now
            # A verified contact may be used for a message within the use window.
            verification.expires_at = now + dt.timedelta(hours=int(conf["verification_use_hours"]))
        verification.save(update_fields=["attempts", "verified_at", "expires_at"])
        audit_record(
            actor=None,
            action="casework.contact.verified" if correct else "casework.contact.wrong_code",
            obj=verification,
        )
    if not correct:
        message = _("验证码不正确。")
        raise ValidationFailed(message, errors={"code": [message]})
    return verification


# Intake ------------------------------------------------------------------------------------


def jurisdiction() -> Organisation:
    """The area that receives cases before routing: the profile's code, else the tree's root."""
    code = casework_settings()["jurisdiction_code"]
    query = (
        Organisation.objects.filter(code=code)
        if code
        else Organisation.objects.filter(parent__isnull=True)
    )
    root = query.order_by("path").first()
    if root is None:
        raise Conflict(_("尚无受理留言的机构，请先建立组织机构。"))
    return root


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


def _next_tracking_number(now: dt.datetime) -> str:
    year = timezone.localtime(now).year
    TrackingCounter.objects.bulk_create([TrackingCounter(year=year, last=0)], ignore_conflicts=True)
    # The UPDATE takes the row lock until commit: concurrent intakes queue here, briefly.
    TrackingCounter.objects.filter(year=year).update(last=F("last") + 1)
    number = TrackingCounter.objects.filter(year=year).values_list("last", flat=True).get()
    return f"{year}-{number:06d}"


def _place_errors(
    latitude: float | None, longitude: float | None, crs: str
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if crs not in CoordinateSystem.values:
        errors["crs"] = [_("未知的坐标系：%(crs)s。") % {"crs": crs}]
    if (latitude is None) != (longitude is None):
        errors["location"] = [_("请同时填写纬度和经度，或都不填写。")]
    elif (
        latitude is not None
        and longitude is not None
        and not (-90 <= latitude <= 90 and -180 <= longitude <= 180)
    ):
        errors["location"] = [_("纬度或经度超出范围。")]
    return errors


@dataclass(frozen=True)
class Submitted:
    """The stored case and, for senders without an account, the access code they track it
    with (shown once; only its hash is kept)."""

    case: Case
    access_code: str


def _checked_photos(photos: Sequence[PhotoUpload], keep_location: bool) -> list[CheckedPhoto]:
    conf = casework_settings()
    if len(photos) > int(conf["photo_max_count"]):
        message = _photo_limit_message(int(conf["photo_max_count"]))
        raise ValidationFailed(message, errors={"photos": [message]})
    return [
        check_photo(
            upload,
            index=i,
            keep_location=keep_location,
            max_bytes=int(conf["photo_max_bytes"]),
            max_pixels=int(conf["photo_max_pixels"]),
            allowed_formats=list(conf["photo_types"]),
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
) -> Submitted:
    """Accepts a message and gives it a tracking number at once.

    Who may send: a signed-in account (web, api); anyone with a verified phone or email
    (`verification`, web and api); staff logging a call (`channel="phone"`, needs
    casework.case.log_call; the caller's phone is taken as given); the Open311 layer
    (`channel="open311"`, actor None, vouched for by its API key).

    `category_key` is the sender's (or Open311 service_code's) choice; without it the router
    picks one after commit. Photos are checked before anything is stored: one bad photo refuses
    the whole message with a message naming it. Routing and the acknowledgement are scheduled
    with `transaction.on_commit` and never delay or endanger the intake.
    """
    conf = casework_settings()
    now = received_at or timezone.now()
    crs = crs or str(settings.CIVICHUB_PROFILE.get("default_crs", CoordinateSystem.GCJ02))
    title, text, address = title.strip(), text.strip(), address.strip()
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
        errors["text"] = [_too_long(TEXT_MAX)]
    if len(title) > TITLE_MAX:
        errors["title"] = [_too_long(TITLE_MAX)]
    if len(address) > ADDRESS_MAX:
        errors["address"] = [_too_long(ADDRESS_MAX)]
    errors.update(_place_errors(latitude, longitude, crs))
    category: Category | None = None
    if category_key:
        category = Category.objects.filter(key=category_key, active=True).first()
        if category is None:
            message = _("没有代码为 %(key)s 的类别。") % {"key": category_key}
            raise NotFound(message, errors={"category": [message]})
    if errors:
        raise ValidationFailed(_("留言填写不完整或有误。"), errors=errors)
    cleaned_attributes = attributes_validate(category, attributes or {}) if category else {}
    if not category and attributes:
        message = _("请先选择类别，再填写附加项。")
        raise ValidationFailed(message, errors={"attributes": [message]})

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
            submitter = contact_account(phone=_normalise_contact("sms", contact_phone))
            contact_verified = True  # staff spoke to the caller on this number
    elif channel == CaseChannel.OPEN311:
        submitter = actor if signed_in else None
    elif signed_in:
        submitter = actor
    else:
        if verification is None or not verification.is_usable(now):
            message = _("请先登录，或先验证手机号码或电子邮箱。")
            raise ValidationFailed(message, errors={"contact": [message]})
        submitter = verification.contact_user
        contact_verified = True
        if verification.channel == ContactChannel.SMS:
            contact_phone = verification.address
        else:
            contact_email = verification.address

    checked = _checked_photos(photos, keep_photo_location)
    if latitude is None and checked and keep_photo_location:
        # The sender kept the photo's location and gave no pin: the photo's GPS is the place.
        point = next((p for p in (gps_point(c.gps) for c in checked) if p), None)
        if point is not None:
            latitude, longitude, crs = point[0], point[1], CoordinateSystem.WGS84

    kind = kind or (category.default_kind if category else CaseKind.HELP)
    written: list[str] = []
    try:
        with transaction.atomic():
            case = Case(
                tracking_number=_next_tracking_number(now),
                kind=kind,
                title=title or text[:30],
                text=text,
                channel=channel,
                is_public=is_public,
                address=address,
                latitude=latitude,
                longitude=longitude,
                crs=crs,
                jurisdiction=jurisdiction(),
                category=category,
                category_source=CategorySource.SENDER if category else CategorySource.NONE,
                attributes=cleaned_attributes,
                submitter=submitter,
                contact_name=contact_name.strip()[:100],
                contact_phone=contact_phone.strip()[:32],
                contact_email=contact_email.strip()[:254],
                contact_verified=contact_verified,
                logged_by=logged_by,
                extra=extra or {},
                created_at=now,
                updated_at=now,
                due_at=workdays.deadline(now, int(conf["deadline_working_days"][kind])),
            )
            if latitude is not None and longitude is not None:
                case.wgs84_latitude, case.wgs84_longitude = geo.to_wgs84(latitude, longitude, crs)
            access_code = ""
            if submitter is None or not signed_in or channel == CaseChannel.PHONE:
                access_code = secrets.token_urlsafe(9)
                case.access_code_hash = _code_hash(access_code)
            case.save()
            _store_photos(case, checked, written)
            if verification is not None and not signed_in:
                updated = ContactVerification.objects.filter(
                    pk=verification.pk, used_at__isnull=True
                ).update(used_at=now, used_by=case)
                if not updated:
                    message = _("该验证已经用过，请重新验证。")
                    raise ValidationFailed(message, errors={"contact": [message]})
            _event(
                case,
                EventKind.SUBMITTED,
                actor=actor if signed_in else None,
                public=True,
                data={"channel": channel, "photos": len(checked)},
                at=now,
            )
            audit_record(
                actor=actor if signed_in else None,
                action="casework.case.submit",
                obj=case,
                changes={
                    "tracking_number": case.tracking_number,
                    "channel": channel,
                    "kind": kind,
                    "photos": len(checked),
                    "category": category.key if category else None,
                },
            )
            transaction.on_commit(partial(_enqueue_after_intake, case.pk), robust=True)
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise
    return Submitted(case=case, access_code=access_code)


def _store_photos(
    case: Case, checked: Sequence[CheckedPhoto], written: list[str]
) -> list[CasePhoto]:
    """Writes the files and rows; each file name goes into `written` at once, so the caller
    can remove the files if its transaction fails."""
    stored_photos = []
    for photo in checked:
        stored = CasePhoto(
            case=case,
            content_type=photo.content_type,
            width=photo.width,
            height=photo.height,
            size=len(photo.data),
            original_name=photo.original_name,
            location_kept=photo.location_kept,
        )
        stored.image.save(
            f"{case.tracking_number}-{secrets.token_hex(6)}.{photo.extension}",
            ContentFile(photo.data),
            save=False,
        )
        written.append(stored.image.name)
        stored.save()
        stored_photos.append(stored)
    return stored_photos


def case_photos_add(
    *, actor: User | None, case: Case, photos: Sequence[PhotoUpload], keep_location: bool = False
) -> list[CasePhoto]:
    """Adds photos to a case: its sender, or staff who may note on it. Every photo is checked
    before any is stored; a refusal leaves the case and its photos as they were."""
    if actor is not None and not (
        (may(actor, "casework.case.view", case) and case.submitter_id == actor.pk)
        or may(actor, "casework.case.note", case)
    ):
        raise PermissionDenied(_("只有来信人或办理该留言的工作人员可以添加照片。"))
    if not photos:
        message = _("请选择照片。")
        raise ValidationFailed(message, errors={"photos": [message]})
    existing = case.photos.count()
    limit = int(casework_settings()["photo_max_count"])
    if existing + len(photos) > limit:
        message = _photo_limit_message(limit)
        raise ValidationFailed(message, errors={"photos": [message]})
    checked = _checked_photos(photos, keep_location)
    written: list[str] = []
    try:
        with transaction.atomic():
            case = _locked(case)
            stored = _store_photos(case, checked, written)
            _save(case, [])
            audit_record(
                actor=actor,
                action="casework.case.photos_add",
                obj=case,
                changes={"photos": len(stored)},
            )
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise
    return stored


def _enqueue_after_intake(case_id: int) -> None:
    from civichub.casework.tasks import acknowledge_case, route_case

    route_case.enqueue(case_id)
    acknowledge_case.enqueue(case_id)


# Routing (system) ---------------------------------------------------------------------------


def _staff_at(organisation: Organisation | None, roles: Iterable[str]) -> list[int]:
    if organisation is None:
        return []
    return list(
        RoleAssignment.objects.filter(organisation=organisation, role__in=list(roles))
        .values_list("user_id", flat=True)
        .distinct()
    )


def _department_heads(department: Organisation | None, fallback: Organisation) -> list[int]:
    """Heads at the department, else at the nearest department above it, else dispatchers at
    the jurisdiction."""
    node = department
    while node is not None and node.kind == OrganisationKind.DEPARTMENT:
        heads = _staff_at(node, [HEAD])
        if heads:
            return heads
        node = node.parent
    return _staff_at(fallback, ["case_dispatcher"])


def local_department(
    department: Organisation | None, community: Organisation | None
) -> Organisation | None:
    """The department that serves the case's place: with the profile's
    `route_to_local_department`, a department of the same function under the nearest area above
    the community (a district's education bureau rather than the city's); else `department`."""
    if (
        department is None
        or community is None
        or not department.function
        or not casework_settings()["route_to_local_department"]
    ):
        return department
    ancestors = [int(pk) for pk in community.path.strip("/").split("/") if pk]
    candidates = Organisation.objects.filter(
        kind=OrganisationKind.DEPARTMENT,
        function=department.function,
        parent_id__in=ancestors,
    ).select_related("parent")
    best = max(candidates, key=lambda o: o.depth, default=None)
    return best or department


@transaction.atomic
def case_route(*, case_id: int, now: dt.datetime | None = None) -> Case:
    """Routes a `received` case: category (the sender's, or the router's), department from the
    category, community from the place. Confident → `assigned` to the department; otherwise
    `triage`. A no-op for a case already routed, so running it twice is harmless."""
    case = _locked(Case.objects.get(pk=case_id))
    if case.status != CaseStatus.RECEIVED:
        return case
    now = now or timezone.now()
    conf = casework_settings()
    threshold = float(conf["triage_threshold"])
    case.routing_attempts += 1
    category = case.category
    confidence: float | None = 1.0 if category is not None else None
    if category is None:
        key, confidence = routing_rules.route_category(f"{case.title}\n{case.text}")
        case.router_category_key = key or ""
        case.router_confidence = confidence
        if key is not None:
            category = (
                Category.objects.filter(key=key, active=True).select_related("department").first()
            )
            if category is not None:
                case.category = category
                case.category_source = CategorySource.ROUTER
    community = routing_rules.route_community(case, float(conf["nearest_community_max_m"]))
    case.community = community
    confident = (
        category is not None
        and category.department is not None
        and (case.category_source == CategorySource.SENDER or (confidence or 0) >= threshold)
    )
    if confident and category is not None:
        case.department = local_department(category.department, community)
        case.status = CaseStatus.ASSIGNED
    else:
        case.status = CaseStatus.TRIAGE
    case.routed_at = now
    case.routing_error = ""
    _save(
        case,
        [
            "routing_attempts",
            "router_category_key",
            "router_confidence",
            "category",
            "category_source",
            "community",
            "department",
            "status",
            "routed_at",
            "routing_error",
        ],
    )
    _event(
        case,
        EventKind.ROUTED,
        actor=None,
        public=case.status == CaseStatus.ASSIGNED,
        data={
            "category": category.key if category else None,
            "confidence": confidence,
            "department": case.department.code if case.department else None,
            "community": community.code if community else None,
            "status": case.status,
        },
        at=now,
    )
    audit_record(
        actor=None,
        action="casework.case.route",
        obj=case,
        changes={
            "status": case.status,
            "category": category.key if category else None,
            "confidence": confidence,
        },
    )
    recipients = _staff_at(case.department, [HANDLER, HEAD]) + _staff_at(community, [WORKER])
    if case.status == CaseStatus.TRIAGE:
        recipients += _staff_at(case.jurisdiction, ["case_dispatcher"])
    _notify(
        recipients,
        "casework.case_new",
        _case_context(case),
        actor=None,
        dedupe_key=f"casework.new:{case.pk}:{case.status}",
    )
    return case


@transaction.atomic
def case_routing_failed(*, case_id: int, error: str) -> None:
    """Records a failed routing attempt; the case stays `received` for the sweep."""
    case = _locked(Case.objects.get(pk=case_id))
    case.routing_attempts += 1
    case.routing_error = error[:300]
    _save(case, ["routing_attempts", "routing_error"])
    _event(case, EventKind.ROUTING_FAILED, actor=None, data={"error": error[:300]})


@transaction.atomic
def case_acknowledge(*, case_id: int) -> bool:
    """Tells the sender their tracking number and deadline. Idempotent through the outbox's
    dedupe key; returns False when there is nobody to tell."""
    case = Case.objects.select_related("department", "community").get(pk=case_id)
    if case.extra.get("acknowledged"):
        return False
    recipients = [case.submitter_id] if case.submitter_id else []
    _notify(
        recipients,
        "casework.case_received",
        _case_context(case),
        actor=None,
        dedupe_key=f"casework.received:{case.pk}",
    )
    Case.objects.filter(pk=case.pk).update(extra={**case.extra, "acknowledged": True})
    return bool(recipients)


@dataclass
class SweepResult:
    routed: int = 0
    failed: int = 0
    acknowledged: int = 0


def cases_sweep(*, now: dt.datetime | None = None) -> SweepResult:
    """Routes cases left `received` longer than the profile's `routing_sweep_minutes`, and
    acknowledges cases whose acknowledgement was lost. Each case in its own transaction, so one
    bad case does not hold up the rest."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(minutes=int(casework_settings()["routing_sweep_minutes"]))
    result = SweepResult()
    stale = Case.objects.filter(status=CaseStatus.RECEIVED, created_at__lte=cutoff)
    for case_id in stale.order_by("created_at").values_list("pk", flat=True)[:2000]:
        try:
            case_route(case_id=case_id, now=now)
            result.routed += 1
        except Exception as exc:
            logger.exception("routing case %s failed", case_id)
            case_routing_failed(case_id=case_id, error=f"{type(exc).__name__}: {exc}")
            result.failed += 1
    unacknowledged = Case.objects.filter(created_at__lte=cutoff, submitter__isnull=False).exclude(
        extra__has_key="acknowledged"
    )
    for case_id in unacknowledged.values_list("pk", flat=True)[:2000]:
        if case_acknowledge(case_id=case_id):
            result.acknowledged += 1
    return result


# Casework (staff) ------------------------------------------------------------------------------


def _require_open(case: Case) -> None:
    if case.status == CaseStatus.CLOSED:
        raise Conflict(_("留言 %(number)s 已办结。") % {"number": case.tracking_number})


@transaction.atomic
def case_triage(
    *,
    actor: User | None,
    case: Case,
    category: Category,
    department: Organisation | None = None,
    note: str = "",
) -> Case:
    """Settles a case the router was unsure of: sets its category (training data, like a
    transfer) and sends it to the category's department (or the one given)."""
    case = _locked(case)
    _check(actor, "casework.case.triage", case)
    _require_open(case)
    if case.status not in {CaseStatus.RECEIVED, CaseStatus.TRIAGE}:
        raise Conflict(_("只有待分拣的留言可以分拣；已派单的留言请转办。"))
    target = department or local_department(category.department, case.community)
    if target is None or target.kind != OrganisationKind.DEPARTMENT:
        message = _("该类别没有对应的承办部门，请选择部门。")
        raise ValidationFailed(_("请选择承办部门。"), errors={"department": [message]})
    before = {"category": case.category.key if case.category else None}
    case.category = category
    case.category_source = CategorySource.STAFF
    case.department = target
    case.status = CaseStatus.ASSIGNED
    if case.routed_at is None:
        case.routed_at = timezone.now()
    _save(case, ["category", "category_source", "department", "status", "routed_at"])
    _event(
        case,
        EventKind.TRIAGED,
        actor=actor,
        text=note,
        public=True,
        data={**before, "to_category": category.key, "department": target.code},
    )
    audit_record(
        actor=actor,
        action="casework.case.triage",
        obj=case,
        changes={"category": [before["category"], category.key], "department": target.code},
    )
    _notify(
        _staff_at(target, [HANDLER, HEAD]),
        "casework.case_new",
        _case_context(case),
        actor=actor,
        dedupe_key=f"casework.new:{case.pk}:{target.pk}",
    )
    return case


@transaction.atomic
def case_assign(*, actor: User | None, case: Case, assignee: User) -> Case:
    """Gives the case to a handler, who must be allowed to reply to it; work starts."""
    case = _locked(case)
    _check(actor, "casework.case.assign", case)
    _require_open(case)
    if case.status in {CaseStatus.RECEIVED, CaseStatus.TRIAGE}:
        raise Conflict(_("请先分派或分拣留言，再指定承办人。"))
    if not may(assignee, "casework.case.reply", case):
        message = _("此人不能承办这件留言。")
        raise ValidationFailed(message, errors={"assignee": [message]})
    before = case.assignee_id
    case.assignee = assignee
    if case.status in {CaseStatus.ASSIGNED, CaseStatus.REOPENED}:
        case.status = CaseStatus.IN_PROGRESS
    _save(case, ["assignee", "status"])
    _event(
        case,
        EventKind.ASSIGNED,
        actor=actor,
        data={"from": before, "to": assignee.pk, "assignee": assignee.display_name()},
    )
    audit_record(
        actor=actor,
        action="casework.case.assign",
        obj=case,
        changes={"assignee": [before, assignee.pk]},
    )
    if actor is None or assignee.pk != actor.pk:
        _notify(
            [assignee],
            "casework.case_assigned",
            _case_context(case),
            actor=actor,
            dedupe_key=f"casework.assigned:{case.pk}:{assignee.pk}:{case.events.count()}",
        )
    return case


@transaction.atomic
def case_transfer(
    *,
    actor: User | None,
    case: Case,
    reason: str,
    category: Category | None = None,
    department: Organisation | None = None,
) -> Case:
    """Sends the case to another department (the new category's, or the one given), with a
    reason. The corrected category is kept as training data for the router (the event's
    `from_category`/`to_category`, and `category_source = staff`)."""
    case = _locked(case)
    _check(actor, "casework.case.transfer", case)
    _require_open(case)
    if not reason.strip():
        message = _("请填写转办理由。")
        raise ValidationFailed(message, errors={"reason": [message]})
    target = department or (
        local_department(category.department, case.community) if category else None
    )
    if target is None or target.kind != OrganisationKind.DEPARTMENT:
        message = _("请选择转至的部门。")
        raise ValidationFailed(message, errors={"department": [message]})
    if target.pk == case.department_id and (category is None or category.pk == case.category_id):
        raise Conflict(_("这件留言已由该部门承办。"))
    before_category = case.category.key if case.category else None
    before_department = case.department.code if case.department else None
    if category is not None:
        case.category = category
        case.category_source = CategorySource.STAFF
    case.department = target
    case.assignee = None
    case.status = CaseStatus.ASSIGNED if case.status != CaseStatus.REPLIED else case.status
    if case.routed_at is None:
        case.routed_at = timezone.now()
    _save(case, ["category", "category_source", "department", "assignee", "status", "routed_at"])
    _event(
        case,
        EventKind.TRANSFERRED,
        actor=actor,
        text=reason.strip(),
        public=True,
        data={
            "from_category": before_category,
            "to_category": case.category.key if case.category else None,
            "from_department": before_department,
            "to_department": target.code,
            "training": True,
        },
    )
    audit_record(
        actor=actor,
        action="casework.case.transfer",
        obj=case,
        changes={
            "department": [before_department, target.code],
            "category": [before_category, case.category.key if case.category else None],
            "reason": reason.strip()[:200],
        },
    )
    _notify(
        _staff_at(target, [HANDLER, HEAD]),
        "casework.case_new",
        _case_context(case),
        actor=actor,
        dedupe_key=f"casework.transfer:{case.pk}:{case.events.count()}",
    )
    return case


@transaction.atomic
def case_note(*, actor: User | None, case: Case, text: str, public: bool = False) -> CaseEvent:
    """An internal note (staff only) or, with `public`, one the sender can read."""
    case = _locked(case)
    _check(actor, "casework.case.note", case)
    if not text.strip():
        message = _("请填写备注内容。")
        raise ValidationFailed(message, errors={"text": [message]})
    event = _event(case, EventKind.NOTE, actor=actor, text=text.strip()[:4000], public=public)
    _save(case, [])
    audit_record(actor=actor, action="casework.case.note", obj=case, changes={"public": public})
    return event


@transaction.atomic
def case_reply(*, actor: User | None, case: Case, text: str, public: bool = True) -> CaseEvent:
    """Answers the sender (always visible to them); `public` also shows the reply on the public
    board when the message itself is public. The sender is notified; they may then rate it."""
    case = _locked(case)
    _check(actor, "casework.case.reply", case)
    _require_open(case)
    if case.status in {CaseStatus.RECEIVED, CaseStatus.TRIAGE}:
        raise Conflict(_("请先分派或分拣留言，再答复。"))
    if not text.strip():
        message = _("请填写答复内容。")
        raise ValidationFailed(message, errors={"text": [message]})
    now = timezone.now()
    event = _event(
        case,
        EventKind.REPLY,
        actor=actor,
        text=text.strip()[:8000],
        public=True,
        data={"board": bool(public and case.is_public), "round": case.reopen_count + 1},
        at=now,
    )
    case.status = CaseStatus.REPLIED
    case.first_replied_at = case.first_replied_at or now
    case.last_replied_at = now
    if case.assignee_id is None and actor is not None:
        case.assignee = actor
    _save(case, ["status", "first_replied_at", "last_replied_at", "assignee"])
    audit_record(actor=actor, action="casework.case.reply", obj=case, changes={"public": public})
    if case.submitter_id:
        _notify(
            [case.submitter_id],
            "casework.case_replied",
            {**_case_context(case), "reply": event.text[:500]},
            actor=actor,
            dedupe_key=f"casework.reply:{event.pk}",
        )
    return event


def _close(case: Case, *, actor: User | None, reason: str, text: str = "") -> None:
    now = timezone.now()
    case.status = CaseStatus.CLOSED
    case.closed_at = now
    case.close_reason = reason
    _save(case, ["status", "closed_at", "close_reason"])
    _event(
        case, EventKind.CLOSED, actor=actor, text=text, public=True, data={"reason": reason}, at=now
    )


@transaction.atomic
def case_close(*, actor: User | None, case: Case, reason: str = "resolved", note: str = "") -> Case:
    """Closes a case by staff decision (for example: answered but never rated)."""
    case = _locked(case)
    _check(actor, "casework.case.close", case)
    _require_open(case)
    if case.first_replied_at is None and not note.strip():
        message = _("留言尚未答复，办结时请填写给来信人的办结说明。")
        raise ValidationFailed(message, errors={"note": [message]})
    _close(case, actor=actor, reason=reason[:32] or "resolved", text=note.strip()[:4000])
    audit_record(actor=actor, action="casework.case.close", obj=case, changes={"reason": reason})
    if case.submitter_id:
        _notify(
            [case.submitter_id],
            "casework.case_closed",
            _case_context(case),
            actor=actor,
            dedupe_key=f"casework.closed:{case.pk}:{case.reopen_count}",
        )
    return case


@transaction.atomic
def case_extension_request(*, actor: User | None, case: Case, days: int, reason: str) -> Case:
    """Asks the department head for `days` more working days."""
    case = _locked(case)
    _check(actor, "casework.case.extend_request", case)
    _require_open(case)
    limit = int(casework_settings()["max_extension_working_days"])
    errors: dict[str, list[str]] = {}
    if not 1 <= days <= limit:
        errors["days"] = [
            ngettext(
                "延期天数须在 1 到 %(limit)d 个工作日之间。",
                "延期天数须在 1 到 %(limit)d 个工作日之间。",
                limit,
            )
            % {"limit": limit}
        ]
    if not reason.strip():
        errors["reason"] = [_("请填写延期理由。")]
    if errors:
        raise ValidationFailed(_("延期申请填写不完整或有误。"), errors=errors)
    if case.extension_state == ExtensionState.REQUESTED:
        raise Conflict(_("已有一项延期申请等待审批。"))
    case.extension_state = ExtensionState.REQUESTED
    case.extension_requested_days = days
    case.extension_reason = reason.strip()[:500]
    _save(case, ["extension_state", "extension_requested_days", "extension_reason"])
    _event(
        case,
        EventKind.EXTENSION_REQUESTED,
        actor=actor,
        text=case.extension_reason,
        data={"days": days},
    )
    audit_record(
        actor=actor, action="casework.case.extend_request", obj=case, changes={"days": days}
    )
    _notify(
        _department_heads(case.department, case.jurisdiction),
        "casework.extension_requested",
        {**_case_context(case), "days": days, "reason": case.extension_reason},
        actor=actor,
        dedupe_key=f"casework.extension:{case.pk}:{case.events.count()}",
    )
    return case


@transaction.atomic
def case_extension_decide(*, actor: User | None, case: Case, approve: bool, note: str = "") -> Case:
    """The head approves (the deadline moves by the requested working days) or refuses."""
    case = _locked(case)
    _check(actor, "casework.case.extend_approve", case)
    if case.extension_state != ExtensionState.REQUESTED:
        raise Conflict(_("没有等待审批的延期申请。"))
    days = case.extension_requested_days
    before = case.due_at
    if approve:
        case.due_at = workdays.extend(case.due_at or timezone.now(), days)
        case.extension_days += days
        case.extension_state = ExtensionState.APPROVED
    else:
        case.extension_state = ExtensionState.REJECTED
    case.extension_requested_days = 0
    _save(case, ["due_at", "extension_days", "extension_state", "extension_requested_days"])
    _event(
        case,
        EventKind.EXTENSION_APPROVED if approve else EventKind.EXTENSION_REJECTED,
        actor=actor,
        text=note.strip()[:500],
        public=approve,
        data={"days": days, "due_at": case.due_at.isoformat() if case.due_at else None},
    )
    audit_record(
        actor=actor,
        action="casework.case.extend_decide",
        obj=case,
        changes={
            "approved": approve,
            "days": days,
            "due_at": [
                before.isoformat() if before else None,
                case.due_at.isoformat() if case.due_at else None,
            ],
        },
    )
    return case


@transaction.atomic
def case_merge(*, actor: User | None, case: Case, into: Case, reason: str = "") -> Case:
    """Closes `case` as a duplicate of `into`; the sender is told where to follow it. The
    primary (open, or already answered and closed) must not itself be a duplicate; the actor
    needs the merge action on both."""
    if case.pk == into.pk:
        message = _("留言不能合并到它自己。")
        raise ValidationFailed(message, errors={"into": [message]})
    case = _locked(case)
    into = _locked(into)
    _check(actor, "casework.case.merge", case)
    _check(actor, "casework.case.merge", into)
    _require_open(case)
    if into.merged_into_id is not None:
        raise Conflict(_("请合并到被重复的原留言，而不是另一件重复件。"))
    if case.duplicates.exists():
        raise Conflict(_("已有重复件合并到这件留言，请反向合并。"))
    case.merged_into = into
    _save(case, ["merged_into"])
    _close(case, actor=actor, reason="duplicate", text=reason.strip()[:500])
    _event(
        case,
        EventKind.MERGED,
        actor=actor,
        text=reason.strip()[:500],
        public=True,
        data={"into": into.tracking_number},
    )
    _event(
        into,
        EventKind.MERGED,
        actor=actor,
        text=reason.strip()[:500],
        data={"duplicate": case.tracking_number},
    )
    audit_record(
        actor=actor,
        action="casework.case.merge",
        obj=case,
        changes={"into": into.tracking_number},
    )
    if case.submitter_id:
        _notify(
            [case.submitter_id],
            "casework.case_merged",
            {**_case_context(case), "into": into.tracking_number},
            actor=actor,
            dedupe_key=f"casework.merged:{case.pk}",
        )
    return case


# The resident's side ----------------------------------------------------------------------------


def access_code_matches(case: Case, code: str) -> bool:
    return bool(case.access_code_hash) and hmac.compare_digest(
        case.access_code_hash, _code_hash(code.strip())
    )


@transaction.atomic
def case_rate(
    *,
    actor: User | None,
    case: Case,
    value: str,
    comment: str = "",
    access_code: str = "",
) -> Rating:
    """The sender rates the latest reply. Satisfied or basically satisfied closes the case. The
    first unsatisfied rating reopens it for another answer (with a new deadline); a second
    unsatisfied rating closes it, the rating kept."""
    case = _locked(case)
    if not (
        (actor is not None and may(actor, "casework.case.rate", case))
        or (access_code and access_code_matches(case, access_code))
    ):
        raise PermissionDenied(_("只有来信人可以评价答复。"))
    if value not in RatingValue.values:
        message = _("请选择评价。")
        raise ValidationFailed(message, errors={"value": [message]})
    if case.status != CaseStatus.REPLIED:
        raise Conflict(_("没有等待评价的答复。"))
    now = timezone.now()
    rating = Rating.objects.create(
        case=case,
        value=value,
        comment=comment.strip()[:2000],
        rater=actor if actor is not None and actor.is_authenticated else case.submitter,
        round=case.reopen_count + 1,
        created_at=now,
    )
    _event(
        case,
        EventKind.RATED,
        actor=rating.rater,
        text=rating.comment,
        public=True,
        data={"value": value, "round": rating.round},
        at=now,
    )
    reopened = False
    if value == RatingValue.UNSATISFIED and case.reopen_count == 0:
        conf = casework_settings()
        case.reopen_count = 1
        case.status = CaseStatus.REOPENED
        case.due_at = workdays.deadline(now, int(conf["deadline_working_days"][case.kind]))
        case.escalation_level = 0
        _save(case, ["reopen_count", "status", "due_at", "escalation_level"])
        _event(case, EventKind.REOPENED, actor=rating.rater, public=True, data={"rating": value})
        reopened = True
    else:
        _close(case, actor=rating.rater, reason=f"rated_{value}")
    audit_record(
        actor=actor,
        action="casework.case.rate",
        obj=case,
        changes={"value": value, "reopened": reopened},
    )
    if reopened:
        _notify(
            _staff_at(case.department, [HANDLER, HEAD])
            + ([case.assignee_id] if case.assignee_id else []),
            "casework.case_reopened",
            {**_case_context(case), "comment": rating.comment[:300]},
            actor=actor,
            dedupe_key=f"casework.reopened:{case.pk}",
        )
    return rating


# Overdue escalation (system) -------------------------------------------------------------------


def _escalation_step(overdue_days: int, steps: list[int]) -> int:
    return sum(1 for threshold in steps if overdue_days >= threshold)


@dataclass
class EscalationResult:
    checked: int = 0
    escalated: int = 0


def cases_escalate_overdue(*, now: dt.datetime | None = None) -> EscalationResult:
    """Notifies the department head of every overdue case, once per overdue step (the profile's
    `escalation_steps_working_days`); each case in its own transaction."""
    now = now or timezone.now()
    steps = sorted(int(s) for s in casework_settings()["escalation_steps_working_days"])
    cal = workdays.calendar()
    result = EscalationResult()
    overdue = Case.objects.filter(status__in=list(AWAITING_REPLY), due_at__lt=now)
    for case_id, due_at, level in overdue.values_list("pk", "due_at", "escalation_level"):
        result.checked += 1
        assert due_at is not None  # filtered on due_at__lt
        step = _escalation_step(workdays.working_days_overdue(due_at, now, cal), steps)
        if step > level and _escalate(case_id=case_id, step=step, now=now):
            result.escalated += 1
    return result


@transaction.atomic
def _escalate(*, case_id: int, step: int, now: dt.datetime) -> bool:
    case = _locked(Case.objects.get(pk=case_id))
    if case.escalation_level >= step or not case.is_overdue(now):
        return False
    case.escalation_level = step
    _save(case, ["escalation_level"])
    _event(case, EventKind.ESCALATED, actor=None, data={"step": step}, at=now)
    audit_record(actor=None, action="casework.case.escalate", obj=case, changes={"step": step})
    _notify(
        _department_heads(case.department, case.jurisdiction),
        "casework.case_overdue",
        {**_case_context(case), "step": step},
        actor=None,
        dedupe_key=f"casework.overdue:{case.pk}:{case.reopen_count}:{step}",
    )
    return True

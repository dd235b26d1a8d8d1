"""Deployment set-up: the category taxonomy and its attributes, where communities lie, and the
working-day calendar."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from civichub.casework.models import (
    LIST_DATATYPES,
    AttributeDatatype,
    CalendarDay,
    CaseKind,
    Category,
    CategoryAttribute,
    CommunityArea,
)
from civichub.casework.services._shared import check
from civichub.core import geo
from civichub.core.audit import audit_record
from civichub.core.errors import Conflict, ValidationFailed
from civichub.core.models import CoordinateSystem, Organisation, OrganisationKind, User


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
    check(actor, "casework.taxonomy.manage")
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
    check(actor, "casework.taxonomy.manage")
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
        raise ValidationFailed.on("department", _("所选机构不是部门。"))
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
    check(actor, "casework.taxonomy.manage")
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
    check(actor, "casework.taxonomy.manage")
    if community.kind != OrganisationKind.COMMUNITY:
        raise ValidationFailed.on("community", _("所选机构不是社区。"))
    if polygon is not None and (
        polygon.get("type") != "Polygon" or not isinstance(polygon.get("coordinates"), list)
    ):
        raise ValidationFailed.on("polygon", _("请提供 GeoJSON 多边形（Polygon）。"))
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
    check(actor, "casework.taxonomy.manage")
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

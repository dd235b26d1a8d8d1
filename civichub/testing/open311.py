"""Test and benchmark data for the Open311 interface, built through the services: the small
city, three services (one with a question of every datatype, one without questions, one
`batch`), an API key, and public and private cases in several states."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from civichub.casework import services
from civichub.casework.models import Case, Category
from civichub.casework.open311.keys import open311_key_create
from civichub.core.models import User
from civichub.testing.areas import community_areas_set
from civichub.testing.city import SmallCity, build_city, staff_user

# WGS-84 pins inside the test communities' areas.
PIN_A1 = (30.0000, 120.0000)
PIN_B1 = (30.2000, 120.3000)
# The sender's personal data, which no GET may show.
SENDER_NAME = "张三丰"
SENDER_PHONE = "13912345678"
SENDER_EMAIL = "zhang.sanfeng@example.org"
SENDER_DEVICE = "device-7f3a9c"
SENDER_ACCOUNT = "account-55821"


@dataclass
class Open311World:
    city: SmallCity
    pothole: Category
    streetlight: Category
    bulky: Category
    key: str
    key_name: str
    handler: User
    resident: User
    open_case: Case
    closed_case: Case
    duplicate_case: Case
    private_case: Case
    old_case: Case
    gcj_case: Case


def _categories(city: SmallCity) -> tuple[Category, Category, Category]:
    pothole = services.category_create(
        actor=None,
        key="pothole",
        name="路面坑洼",
        name_en="Pothole",
        description="坑洼、破损的道路路面",
        group="道路",
        department=city.health_a,
        keywords=["坑", "路面", "pothole"],
        default_kind="complaint",
        order=1,
    )
    attributes: list[dict[str, object]] = [
        {
            "code": "size",
            "datatype": "singlevaluelist",
            "description": "坑有多大？",
            "required": True,
            "values": [
                {"key": "small", "name": "小于脸盆"},
                {"key": "large", "name": "大于脸盆"},
            ],
        },
        {
            "code": "hazards",
            "datatype": "multivaluelist",
            "description": "影响哪些人？",
            "values": [
                {"key": "cars", "name": "机动车"},
                {"key": "bikes", "name": "自行车"},
                {"key": "walkers", "name": "行人"},
            ],
        },
        {"code": "depth_cm", "datatype": "number", "description": "深度（厘米）"},
        {"code": "seen_at", "datatype": "datetime", "description": "何时发现"},
        {"code": "landmark", "datatype": "string", "description": "附近的标志物"},
        {"code": "details", "datatype": "text", "description": "其他情况"},
        {
            "code": "safety",
            "datatype": "text",
            "description": "如有人受伤请拨打 120。",
            "variable": False,
        },
    ]
    for order, spec in enumerate(attributes, start=1):
        services.category_attribute_create(
            actor=None,
            category=pothole,
            code=str(spec["code"]),
            datatype=str(spec["datatype"]),
            description=str(spec["description"]),
            order=order,
            required=bool(spec.get("required", False)),
            variable=bool(spec.get("variable", True)),
            datatype_description="选择一项" if spec["datatype"] == "singlevaluelist" else "",
            values=list(spec.get("values", [])),  # type: ignore[call-overload]
        )
    streetlight = services.category_create(
        actor=None,
        key="streetlight",
        name="路灯不亮",
        name_en="Streetlight out",
        group="市政设施",
        department=city.health_a,
        default_kind="help",
        order=2,
    )
    bulky = services.category_create(
        actor=None,
        key="bulky-waste",
        name="大件垃圾清运",
        department=city.health_a,
        service_type="batch",
        order=3,
    )
    return pothole, streetlight, bulky


def _open311_case(
    category: Category,
    text: str,
    *,
    key_id: int,
    received_at: dt.datetime | None = None,
    is_public: bool = True,
    pin: tuple[float, float] = PIN_A1,
) -> Case:
    return services.case_submit(
        actor=None,
        kind="",
        title="",
        text=text,
        channel="open311",
        is_public=is_public,
        address="桃源路 12 号",
        latitude=pin[0],
        longitude=pin[1],
        crs="wgs84",
        category_key=category.key,
        attributes={"size": "large"} if category.key == "pothole" else {},
        contact_name=SENDER_NAME,
        contact_phone=SENDER_PHONE,
        contact_email=SENDER_EMAIL,
        extra={
            "open311": {"key_id": key_id, "device_id": SENDER_DEVICE, "account_id": SENDER_ACCOUNT}
        },
        received_at=received_at,
    ).case


def build_open311_world() -> Open311World:
    city = build_city()
    community_areas_set({city.community_a1: PIN_A1, city.community_b1: PIN_B1}, radius_m=800)
    pothole, streetlight, bulky = _categories(city)
    key, secret = open311_key_create(actor=None, name="fixmystreet")
    handler = staff_user("department_handler", city.health_a)
    resident = staff_user(
        None, None, first_name="三丰", last_name="张", email=SENDER_EMAIL, phone=SENDER_PHONE
    )
    now = timezone.now()

    open_case = _open311_case(
        pothole,
        "桃源路口有个大坑，晚上看不见。",
        key_id=key.pk,
        received_at=now - dt.timedelta(days=3),
    )
    services.case_route(case_id=open_case.pk)
    services.case_reply(actor=handler, case=open_case, text="已安排养护队本周修补。", public=True)

    closed_case = _open311_case(
        streetlight, "小区门口路灯坏了一周。", key_id=key.pk, received_at=now - dt.timedelta(days=2)
    )
    services.case_route(case_id=closed_case.pk)
    services.case_reply(actor=handler, case=closed_case, text="路灯已更换。", public=True)
    services.case_close(actor=handler, case=closed_case, reason="resolved")

    duplicate_case = _open311_case(
        pothole, "桃源路口的坑还在。", key_id=key.pk, received_at=now - dt.timedelta(days=1)
    )
    services.case_route(case_id=duplicate_case.pk)
    services.case_merge(actor=handler, case=duplicate_case, into=open_case, reason="同一个坑")

    private_case = services.case_submit(
        actor=resident,
        kind="consultation",
        title="关于我家老人的医保",
        text="我家老人的医保卡丢了，怎么补办？",
        channel="web",
        is_public=False,
        category_key=streetlight.key,
        received_at=now - dt.timedelta(hours=5),
    ).case
    old_case = _open311_case(
        streetlight, "去年冬天的路灯问题。", key_id=key.pk, received_at=now - dt.timedelta(days=120)
    )
    gcj_case = services.case_submit(
        actor=resident,
        kind="complaint",
        title="人行道破损",
        text="人行道砖块松动。",
        channel="web",
        is_public=True,
        latitude=30.1,
        longitude=120.1,
        crs="gcj02",
        category_key=pothole.key,
        attributes={"size": "small"},
        received_at=now - dt.timedelta(hours=1),
    ).case
    for case in (open_case, closed_case, duplicate_case, private_case, old_case, gcj_case):
        case.refresh_from_db()
    return Open311World(
        city=city,
        pothole=pothole,
        streetlight=streetlight,
        bulky=bulky,
        key=secret,
        key_name=key.name,
        handler=handler,
        resident=resident,
        open_case=open_case,
        closed_case=closed_case,
        duplicate_case=duplicate_case,
        private_case=private_case,
        old_case=old_case,
        gcj_case=gcj_case,
    )

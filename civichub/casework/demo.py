"""Demo data for casework: a taxonomy of eleven categories mapped to the demo city's departments
(by function; cases go to the district bureau where there is one), each community's area from
the city plan, a dispatcher, and a few hundred messages in every state, sent, routed, answered
and rated through the services. Times are then moved back so the history spans the last four
months; nothing here is real.
"""

from __future__ import annotations

import datetime as dt
from random import Random

from django.utils import timezone

from civichub.casework import services, workdays
from civichub.casework.conf import casework_settings
from civichub.casework.models import Case, CaseEvent, CaseStatus, Category, CommunityArea, Rating
from civichub.core import services as core_services
from civichub.core.demo import DEFAULT_SEED, DemoLogin, plan_city
from civichub.core.models import (
    DepartmentFunction,
    Organisation,
    OrganisationKind,
    RoleAssignment,
    User,
)

# key, name, name en, group, function, default kind, keywords, (title, text) pairs
TAXONOMY: tuple[tuple[str, str, str, str, str, str, list[str], list[tuple[str, str]]], ...] = (
    (
        "road-traffic",
        "道路交通",
        "Roads and traffic",
        "城市管理",
        DepartmentFunction.TRANSPORT,
        "complaint",
        ["红绿灯", "公交", "道路", "停车", "堵车", "路面", "坑洼"],
        [
            (
                "{road}路面坑洼",
                "{road}靠近小区门口的路面有多处坑洼，雨天积水，电动车经过很危险，希望尽快修补。",
            ),
            (
                "{road}红绿灯时间太短",
                "{road}路口的行人绿灯只有十几秒，老人过马路来不及，建议延长。",
            ),
            ("公交站台缺少遮雨棚", "{road}公交站没有遮雨棚，下雨天等车的居民淋雨，希望加装。"),
            ("小区周边乱停车堵路", "{road}两侧长期乱停车，早晚高峰堵车严重，消防车都进不来。"),
        ],
    ),
    (
        "environment",
        "生态环境",
        "Environment",
        "城市管理",
        DepartmentFunction.ENVIRONMENT,
        "complaint",
        ["噪音", "污染", "异味", "油烟", "排污", "粉尘"],
        [
            ("夜间施工噪音扰民", "{road}工地晚上十一点后还在施工，噪音很大，影响休息。"),
            ("餐馆油烟直排", "{road}一家餐馆油烟直接排向居民楼，窗户都不敢开。"),
            ("河道有异味", "{road}旁边的河道最近有很重的异味，疑似有人偷排污水。"),
        ],
    ),
    (
        "housing",
        "住房物业",
        "Housing and property management",
        "住房",
        DepartmentFunction.HOUSING,
        "help",
        ["物业", "电梯", "小区", "漏水", "违建", "装修", "维修基金"],
        [
            ("电梯经常故障", "我们楼的电梯一个月坏了三次，物业修了又坏，老人上下楼很困难。"),
            ("楼顶违建", "{road}某小区顶楼住户私自搭建阳光房，存在安全隐患。"),
            ("物业不处理楼道漏水", "楼道顶部漏水两个月了，多次找物业都说没有维修基金。"),
        ],
    ),
    (
        "education",
        "教育入学",
        "Education",
        "公共服务",
        DepartmentFunction.EDUCATION,
        "consultation",
        ["学校", "入学", "学位", "幼儿园", "老师", "学生", "课后"],
        [
            ("孩子入学材料咨询", "孩子今年上小学，户口和房产不在一个区，请问需要准备哪些材料？"),
            ("幼儿园收费问题", "{road}附近的幼儿园今年突然涨价，请问收费标准是否经过备案？"),
            ("建议增加课后服务", "建议学校增加课后服务时间，双职工家庭五点前接不了孩子。"),
        ],
    ),
    (
        "health",
        "医疗卫生",
        "Health care",
        "公共服务",
        DepartmentFunction.HEALTH,
        "consultation",
        ["医院", "看病", "医保", "疫苗", "诊所", "挂号", "卫生"],
        [
            ("社区卫生服务中心挂号难", "社区卫生服务中心每天只放很少的号，老人排队也挂不上。"),
            ("疫苗接种时间咨询", "请问成人流感疫苗在哪里可以接种，需要预约吗？"),
            ("医保报销流程咨询", "异地就医的医保报销需要哪些手续？"),
        ],
    ),
    (
        "social-aid",
        "社会救助与养老",
        "Social assistance and elderly care",
        "民生保障",
        DepartmentFunction.CIVIL_AFFAIRS,
        "help",
        ["低保", "养老", "老人", "残疾", "救助", "困难", "高龄"],
        [
            ("申请低保咨询", "家里老人长期生病，收入很低，请问怎么申请低保？"),
            ("社区养老服务点太少", "建议在{road}附近增设老年食堂，方便独居老人吃饭。"),
            ("高龄补贴没有发放", "我父亲今年八十岁，高龄补贴一直没有到账，请帮忙查一下。"),
        ],
    ),
    (
        "market",
        "市场监管",
        "Market regulation",
        "市场",
        DepartmentFunction.MARKET_REGULATION,
        "complaint",
        ["食品", "商家", "价格", "假冒", "消费", "过期", "缺斤短两"],
        [
            ("超市销售过期食品", "{road}一家超市货架上有过期的牛奶，还在正常销售。"),
            ("菜市场缺斤短两", "{road}菜市场有摊贩的秤不准，买两斤只有一斤七两。"),
            ("预付卡商家跑路", "{road}的健身房关门了，办的会员卡还有几千元没用。"),
        ],
    ),
    (
        "public-security",
        "治安户政",
        "Public security and household registration",
        "公共安全",
        DepartmentFunction.PUBLIC_SECURITY,
        "consultation",
        ["治安", "盗窃", "诈骗", "户口", "身份证", "报警"],
        [
            ("小区电动车被盗", "最近小区连续有电动车被盗，希望加强夜间巡逻。"),
            ("身份证补办咨询", "身份证丢了，请问在哪里补办，要多久？"),
            ("接到疑似诈骗电话", "有人冒充客服打电话让我转账，想反映一下这个号码。"),
        ],
    ),
    (
        "utilities",
        "水电燃气",
        "Water, power and gas",
        "城市管理",
        DepartmentFunction.UTILITIES,
        "help",
        ["停水", "停电", "燃气", "水压", "供暖", "水费", "电费"],
        [
            ("小区频繁停水", "{road}附近小区这周停了三次水，没有提前通知。"),
            ("高层水压不足", "我家住十八楼，白天水压很低，热水器都打不着火。"),
            ("燃气费账单异常", "这个月燃气费比平时高了三倍，家里并没有多用。"),
        ],
    ),
    (
        "safety",
        "安全隐患",
        "Safety hazards",
        "公共安全",
        DepartmentFunction.EMERGENCY,
        "complaint",
        ["隐患", "消防", "火灾", "危险", "井盖", "坍塌", "堆放"],
        [
            ("井盖破损", "{road}人行道上的井盖破了一个洞，晚上看不清容易踩空。"),
            ("楼道堆放杂物", "楼道里堆满纸箱和旧家具，堵住了消防通道。"),
            ("广告牌松动", "{road}一栋楼外墙的广告牌松动，刮风时摇晃，很危险。"),
        ],
    ),
    (
        "culture-tourism",
        "文化旅游",
        "Culture and tourism",
        "公共服务",
        DepartmentFunction.TOURISM,
        "suggestion",
        ["景区", "旅游", "导游", "图书馆", "文化", "公园"],
        [
            ("建议图书馆延长开放时间", "市图书馆晚上六点就关门，建议周末延长到九点。"),
            ("景区门票价格咨询", "请问本市景区对六十岁以上老人是否免票？"),
            ("表扬文化站工作人员", "文化站的工作人员组织的书法班很好，感谢他们的耐心。"),
        ],
    ),
)
ROADS = ("桃源路", "杏花街", "松林大道", "江滨路", "建设路", "人民路", "湖光巷", "新华街")
REPLIES = (
    "您好，您反映的问题已收悉。经核实，我们已安排工作人员现场处理，预计一周内完成。感谢您的监督。",
    "您好，经调查，情况属实，已责令相关单位整改，并将持续跟踪。如有新情况请再次反映。",
    "您好，您咨询的事项答复如下：请携带身份证和相关材料到街道便民服务中心办理，工作日均可。",
    "您好，您的建议很有价值，我们已转交相关科室研究，将在后续工作中统筹考虑。",
)


def _department_for(function: str, city: Organisation) -> Organisation | None:
    return (
        Organisation.objects.filter(
            kind=OrganisationKind.DEPARTMENT, function=function, parent=city
        ).first()
        or Organisation.objects.filter(
            kind=OrganisationKind.DEPARTMENT, function=function, path__startswith=city.path
        )
        .order_by("depth", "path")
        .first()
    )


def seed_taxonomy(city: Organisation) -> list[Category]:
    categories = []
    for order, (key, name, name_en, group, function, kind, keywords, _texts) in enumerate(
        TAXONOMY, start=1
    ):
        category = Category.objects.filter(key=key).first() or services.category_create(
            actor=None,
            key=key,
            name=name,
            name_en=name_en,
            group=group,
            department=_department_for(function, city),
            keywords=keywords,
            default_kind=kind,
            order=order,
            description=f"{name}方面的问题、求助和咨询。",
        )
        categories.append(category)
    road = next(c for c in categories if c.key == "road-traffic")
    if not road.attributes.exists():
        services.category_attribute_create(
            actor=None,
            category=road,
            code="hazard",
            datatype="singlevaluelist",
            description="是否影响通行安全？",
            required=False,
            values=[
                {"key": "none", "name": "不影响"},
                {"key": "some", "name": "有一定影响"},
                {"key": "severe", "name": "严重影响"},
            ],
        )
    utilities = next(c for c in categories if c.key == "utilities")
    if not utilities.attributes.exists():
        services.category_attribute_create(
            actor=None,
            category=utilities,
            code="since",
            datatype="datetime",
            description="问题从什么时候开始？",
        )
    return categories


def seed_areas(city: Organisation, size: str, seed: int = DEFAULT_SEED) -> int:
    plan = plan_city(size=size, seed=seed)
    communities = {
        o.code: o
        for o in Organisation.objects.filter(
            kind=OrganisationKind.COMMUNITY, path__startswith=city.path
        )
    }
    count = 0
    for item in plan.organisations:
        if item.kind != OrganisationKind.COMMUNITY or item.area is None:
            continue
        community = communities.get(item.code)
        if community is None:
            continue
        services.community_area_set(
            actor=None,
            community=community,
            centre_latitude=item.area.latitude,
            centre_longitude=item.area.longitude,
            radius_m=item.area.radius_m,
            crs="gcj02",
        )
        count += 1
    return count


DISPATCHER_USERNAME = "dispatcher"
DISPATCHER_PASSWORD = "demo-dispatcher-2026"  # noqa: S105  (a documented demo login)


def demo_logins(*, seed: int = DEFAULT_SEED) -> list[DemoLogin]:
    """The casework demo login, shown with core's in `civichub demo`."""
    city = plan_city(size="small", seed=seed).organisations[0]
    return [
        DemoLogin(
            role="case_dispatcher",
            username=DISPATCHER_USERNAME,
            password=DISPATCHER_PASSWORD,
            description_zh="热线调度员：分拣待定类别的留言",
            description_en="Hotline dispatcher: triages messages without a sure category",
            organisation_code=city.code,
            organisation_name=city.name,
            organisation_name_en=city.name_en,
        )
    ]


def _dispatcher(city: Organisation) -> User:
    existing = User.objects.filter(username="dispatcher").first()
    if existing is not None:
        return existing
    user = core_services.user_create(
        actor=None,
        username=DISPATCHER_USERNAME,
        password=DISPATCHER_PASSWORD,
        last_name="周",
        first_name="敏",
        validate=False,
    )
    core_services.role_grant(actor=None, user=user, role="case_dispatcher", organisation=city)
    return user


def _staff_for(case: Case) -> User | None:
    for organisation in (case.department, case.community):
        if organisation is None:
            continue
        assignment = (
            RoleAssignment.objects.filter(
                organisation=organisation,
                role__in=["department_handler", "community_worker", "department_head"],
            )
            .select_related("user")
            .order_by("role", "pk")
            .first()
        )
        if assignment is not None:
            return assignment.user
    return None


def _backdate(case: Case, received_at: dt.datetime, rng: Random) -> None:
    """Moves the case's history back so it starts at `received_at`: the demo's clock. Each
    later event follows the one before by a few hours to a few days, and none lies in the
    future: for a recent case the steps are shortened to end before now."""
    events = list(case.events.order_by("created_at", "pk"))
    steps = [
        0.0 if event.kind in {"submitted", "routed"} else rng.uniform(2, 60) for event in events
    ]
    room = (timezone.now() - received_at).total_seconds() / 3600 - 0.25
    scale = min(1.0, max(room, 0.0) / sum(steps)) if sum(steps) else 1.0
    clock = received_at
    for event, hours in zip(events, steps, strict=True):
        clock += dt.timedelta(hours=hours * scale)
        CaseEvent.objects.filter(pk=event.pk).update(created_at=clock)
    replies = list(case.events.filter(kind="reply").order_by("created_at", "pk"))
    closed = case.events.filter(kind="closed").order_by("-created_at").first()
    days = int(casework_settings().deadline_working_days[case.kind])
    Case.objects.filter(pk=case.pk).update(
        created_at=received_at,
        updated_at=clock,
        routed_at=received_at if case.routed_at else None,
        due_at=workdays.deadline(received_at, days),
        first_replied_at=replies[0].created_at if replies else None,
        last_replied_at=replies[-1].created_at if replies else None,
        closed_at=closed.created_at if closed else None,
    )
    Rating.objects.filter(case=case).update(created_at=clock)


# How many messages the demo city's history holds, by the demo's size.
MESSAGES = {"small": 300, "city": 1500}


def seed(*, city: Organisation, size: str, seed: int = DEFAULT_SEED) -> None:
    """Called by `civichub demo` after core's data, in one transaction."""
    rng = Random(f"{seed}:casework")
    categories = seed_taxonomy(city)
    seed_areas(city, size, seed)
    _dispatcher(city)
    by_key = {c.key: c for c in categories}
    texts = {row[0]: row[7] for row in TAXONOMY}
    areas = list(CommunityArea.objects.filter(community__path__startswith=city.path))
    senders = list(User.objects.filter(resident__isnull=False).order_by("pk")[:50])
    demo_resident = User.objects.filter(username="resident").first()
    count = MESSAGES[size]
    now = timezone.now()
    for i in range(count):
        key = rng.choice(list(by_key))
        title, text = rng.choice(texts[key])
        road = rng.choice(ROADS)
        area = rng.choice(areas) if areas else None
        lat = lng = None
        if area is not None and rng.random() < 0.8:
            lat = area.centre_latitude + rng.uniform(-0.002, 0.002)
            lng = area.centre_longitude + rng.uniform(-0.002, 0.002)
        sender = (
            demo_resident
            if (i % 10 == 0 and demo_resident)
            else (rng.choice(senders) if senders else None)
        )
        kind = Category.objects.get(key=key).default_kind
        submitted = services.case_submit(
            actor=sender,
            channel="web" if sender else "open311",
            kind=kind,
            title=title.format(road=road),
            text=text.format(road=road),
            latitude=lat,
            longitude=lng,
            crs="wgs84",
            address=road,
            is_public=rng.random() < 0.6,
            # A third choose their category; the router picks the rest.
            category_key=key if rng.random() < 0.33 else None,
            # Routed just below, and their senders were told when these (backdated) messages
            # arrived: no task per message queued ahead of a visitor's first one, and no
            # acknowledgement of months-old messages from the worker or the sweep.
            extra={"acknowledged": True},
            schedule_routing=False,
        )
        case = services.case_route(case_id=submitted.case.pk)
        received_at = now - dt.timedelta(days=rng.uniform(0, 120))
        stage = rng.random()
        if case.status == CaseStatus.TRIAGE:
            if stage < 0.5:
                case = services.case_triage(actor=None, case=case, category=by_key[key])
            else:
                _backdate(case, received_at, rng)
                continue
        handler = _staff_for(case)
        if stage < 0.15 or handler is None:
            _backdate(case, received_at, rng)
            continue
        case = services.case_assign(actor=None, case=case, assignee=handler)
        if stage < 0.3:
            _backdate(case, received_at, rng)
            continue
        services.case_reply(actor=None, case=case, text=rng.choice(REPLIES), public=True)
        case.refresh_from_db()
        if stage < 0.45:
            _backdate(case, received_at, rng)
            continue
        value = rng.choices(["satisfied", "basic", "unsatisfied"], weights=[70, 20, 10])[0]
        if case.submitter_id:
            services.case_rate(actor=case.submitter, case=case, value=value)
        else:
            services.case_close(actor=None, case=case)
        _backdate(Case.objects.get(pk=case.pk), received_at, rng)

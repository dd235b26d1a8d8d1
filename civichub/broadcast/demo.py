"""Demo data for broadcast: the city police's verified account and the first district's
account, run by the demo publisher; a week's worth of posts (one with a picture), an emergency
alert for the first district (pushed to its residents' inboxes by the worker), and the demo
resident following, reposting, commenting and subscribed to another district's alerts. A
keyword filter holds one comment for the moderation page. Nothing here is real."""

from __future__ import annotations

import datetime as dt
import io

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import slugify
from PIL import Image, ImageDraw

from civichub.broadcast import services
from civichub.broadcast.models import BroadcastAccount, Post
from civichub.broadcast.permissions import PUBLISHER
from civichub.core import services as core_services
from civichub.core.models import Organisation, OrganisationKind, User

PUBLISHER_USERNAME = "publisher"  # core's demo logins
RESIDENT_USERNAME = "resident"

POSTS = [
    (
        "traffic",
        "节假日出行提示：明日上午 8 时至 11 时城区主干道车流量大，请错峰出行。",
        "Holiday travel: heavy traffic on main roads tomorrow 8–11 am; travel earlier or later.",
    ),
    (
        "road_closure",
        "因管道施工，滨江路（人民桥至东湖路段）本周六 22 时起封闭，请绕行。",
        "Binjiang Road (Renmin Bridge to Donghu Road) closes from 10 pm Saturday for pipe works.",
    ),
    (
        "safety",
        "近期冒充客服退款的电信诈骗高发，请勿向陌生人透露验证码。",
        "Refund-scam calls are frequent: never tell a stranger your verification code.",
    ),
    (
        "news",
        "全市交通安全宣传月启动，各社区将开展“小黄帽”安全课堂。",
        "Road-safety month starts: every community holds safety classes for children.",
    ),
    (
        "notice",
        "户籍窗口周末延时服务至 17 时，办理身份证请带好户口簿。",
        "Household registration counters stay open until 5 pm at weekends.",
    ),
]


def _road_picture() -> bytes:
    """A small drawn map of the closure: two roads, the closed stretch in red."""
    image = Image.new("RGB", (480, 270), "#eef1f4")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 120, 480, 150), fill="#9aa5b1")
    draw.rectangle((220, 0, 250, 270), fill="#9aa5b1")
    draw.rectangle((250, 120, 420, 150), fill="#c62828")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def seed(*, city: Organisation, size: str) -> None:
    if BroadcastAccount.objects.filter(organisation__path__startswith=city.path).exists():
        return
    in_city = Organisation.objects.filter(path__startswith=city.path)
    police = (
        in_city.filter(kind=OrganisationKind.DEPARTMENT, function="public_security")
        .order_by("path")
        .first()
    ) or city
    district = in_city.filter(kind=OrganisationKind.DISTRICT).order_by("path").first()
    short = city.name.removesuffix("市") or city.name
    base = slugify((city.name_en or "").removesuffix(" City")) or "city"
    account = services.account_create(
        actor=None,
        organisation=police,
        handle=f"safe-{base}"[:30],
        name=f"平安{short}",
        name_en=f"Safe {city.name_en}" if city.name_en else "",
        description=f"{city.name}公安局官方发布：交通、治安和安全提示。",
        verified=True,
    )
    district_account = None
    if district is not None:
        district_base = slugify((district.name_en or "").removesuffix(" District")) or "district"
        district_account = services.account_create(
            actor=None,
            organisation=district,
            handle=f"{district_base}-gov"[:30],
            name=f"{district.name}发布",
            name_en=f"{district.name_en} Government" if district.name_en else "",
            description=f"{district.name}人民政府官方发布。",
            verified=True,
        )
    publisher = User.objects.filter(username=PUBLISHER_USERNAME).first()
    if publisher is not None:
        core_services.role_grant(actor=None, user=publisher, role=PUBLISHER, organisation=city)

    posts = _seed_posts(account)
    if district_account is not None and district is not None:
        services.post_publish(
            actor=None,
            account=district_account,
            text=f"{district.name}今夜有大到暴雨，低洼地带居民请注意防范。",
            text_en="Heavy rain tonight; residents of low-lying streets, take care.",
            category="weather",
            target_area_ids=[district.pk],
            alert=services.AlertFields(
                category="Met",
                event="暴雨橙色预警",
                urgency="Expected",
                severity="Severe",
                certainty="Likely",
                expires=timezone.now() + dt.timedelta(days=1),
                instruction="请远离低洼地带和地下空间，非必要不外出。",
                event_en="Orange rainstorm warning",
                instruction_en="Keep away from low-lying streets and underground spaces; "
                "stay indoors unless you must go out.",
            ),
        )
    services.keyword_filter_add(actor=None, account=account, word="代购")

    resident = User.objects.filter(username=RESIDENT_USERNAME).first()
    if resident is not None:
        _seed_resident(resident, in_city, district, [account, district_account], posts)


def _seed_posts(account: BroadcastAccount) -> list[Post]:
    posts = []
    for category, text, text_en in POSTS:
        images = []
        if category == "road_closure":
            images = [
                services.ImageIn(
                    name="binjiang.png",
                    data=_road_picture(),
                    alt_text="示意图：滨江路人民桥至东湖路段（红色）封闭，可经东西向主路绕行。",
                )
            ]
        posts.append(
            services.post_publish(
                actor=None,
                account=account,
                text=text,
                text_en=text_en,
                category=category,
                images=images,
            )
        )
    return posts


def _seed_resident(
    resident: User,
    in_city: QuerySet[Organisation],
    district: Organisation | None,
    accounts: list[BroadcastAccount | None],
    posts: list[Post],
) -> None:
    """The demo resident follows, reposts, favourites, comments, reads and subscribes."""
    for followed in accounts:
        if followed is not None:
            services.follow_create(actor=resident, account_id=followed.pk)
    services.repost_create(actor=resident, post_id=posts[1].pk, comment="周末出行的朋友注意")
    services.favourite_create(actor=resident, post_id=posts[2].pk)
    question = services.comment_create(
        actor=resident, post_id=posts[1].pk, text="封闭到几点恢复通行？"
    )
    services.comment_create(
        actor=resident, post_id=posts[1].pk, text="楼上问的我也想知道", parent_id=question.pk
    )
    services.comment_create(actor=resident, post_id=posts[3].pk, text="专业代购，价格优惠")
    for post in posts:
        services.post_view_record(viewer=resident, post=post)
    other = (
        in_city.filter(kind=OrganisationKind.DISTRICT)
        .exclude(pk=district.pk if district is not None else 0)
        .order_by("path")
        .first()
    )
    if other is not None:
        services.area_subscribe(actor=resident, area_id=other.pk)

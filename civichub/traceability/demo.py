"""Demo data: a small pork supply chain in the demo city, captured through the services as
EPCIS events (farm → slaughterhouse → wholesale market → stalls, a canteen), and the demo
logins of a regulator and a stall keeper."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from civichub.core import services as core_services
from civichub.core.demo import DEFAULT_SEED, DemoLogin, plan_city
from civichub.core.models import Organisation, User
from civichub.traceability import services
from civichub.traceability.models import Participant, ParticipantKind

REGULATOR_USERNAME = "food_regulator"
REGULATOR_PASSWORD = "demo-regulator-2026"  # noqa: S105  (a documented demo login)
STALL_USERNAME = "stall_keeper"
STALL_PASSWORD = "demo-stall-2026"  # noqa: S105  (a documented demo login)
GTIN = "06901234000016"

_NODES = (
    (ParticipantKind.FARM, "秦川生态养殖场", "Qinchuan Eco Farm", "6901234000016", 34.37, 108.63),
    (
        ParticipantKind.SLAUGHTERHOUSE,
        "城北定点屠宰场",
        "North Slaughterhouse",
        "6901234000023",
        34.38,
        108.95,
    ),
    (
        ParticipantKind.WHOLESALE_MARKET,
        "朱雀农产品批发市场",
        "Zhuque Wholesale Market",
        "6901234000030",
        34.22,
        108.93,
    ),
    (
        ParticipantKind.STALL,
        "东关菜市场 12 号摊位",
        "Dongguan Market Stall 12",
        "6901234000047",
        34.26,
        108.97,
    ),
    (
        ParticipantKind.CANTEEN,
        "第一中学食堂",
        "No. 1 Middle School Canteen",
        "6901234000054",
        34.25,
        108.94,
    ),
)


def _user(username: str, password: str, role: str, organisation: Organisation) -> User:
    existing = User.objects.filter(username=username).first()
    if existing is not None:
        return existing
    user = core_services.user_create(
        actor=None, username=username, password=password, validate=False
    )
    core_services.role_grant(actor=None, user=user, role=role, organisation=organisation)
    return user


def seed(*, city: Organisation, size: str) -> None:
    del size  # one small chain whatever the size: it is there to be scanned and recalled
    if Participant.objects.exists():
        return
    _user(REGULATOR_USERNAME, REGULATOR_PASSWORD, "food_regulator", city)
    keeper = _user(STALL_USERNAME, STALL_PASSWORD, "trace_operator", city)
    # The places that sell and serve the food are in the city's first communities, where a
    # recall's announcement goes.
    communities = list(
        Organisation.objects.filter(kind="community", path__startswith=city.path).order_by("path")[
            :3
        ]
    )
    nodes = [
        services.participant_register(
            actor=None,
            kind=kind,
            name=name,
            name_en=name_en,
            gln=gln,
            organisation=city,
            latitude=lat,
            longitude=lon,
            members=[keeper] if kind == ParticipantKind.STALL else [],
            area=communities[n % len(communities)] if communities and n >= 2 else None,
        )
        for n, (kind, name, name_en, gln, lat, lon) in enumerate(_NODES)
    ]
    farm, slaughterhouse, market, stall, canteen = nodes
    product = services.product_register(
        actor=None, gtin=GTIN, name="冷鲜猪肉", name_en="Chilled pork", category="meat"
    )
    lot = services.lot_register(actor=None, product=product, lot="P20261201", origin=farm)
    start = timezone.now() - timedelta(days=2)
    steps = (
        (
            "killing",
            slaughterhouse,
            {"certificate": "A61010012345", "animals": ["PIG-0001", "PIG-0002"]},
        ),
        ("inspecting", slaughterhouse, {"results": {"瘦肉精": 0.0}}),
        ("shipping", slaughterhouse, {"destination": market}),
        ("receiving", market, {"quantity": 180.0}),
        ("receiving", stall, {"quantity": 40.0}),
        ("receiving", canteen, {"quantity": 60.0}),
    )
    for hours, (step, node, details) in enumerate(steps):
        services.node_event_record(
            actor=None,
            step=step,
            lot=lot,
            participant=node,
            when=start + timedelta(hours=hours * 3),
            **details,  # type: ignore[arg-type]
        )


def demo_logins(*, seed: int = DEFAULT_SEED) -> list[DemoLogin]:
    city = plan_city(size="small", seed=seed).organisations[0]
    where = {
        "organisation_code": city.code,
        "organisation_name": city.name,
        "organisation_name_en": city.name_en,
    }
    return [
        DemoLogin(
            role="food_regulator",
            username=REGULATOR_USERNAME,
            password=REGULATOR_PASSWORD,
            description_zh="食品追溯监管员：查看追溯图、发起召回",
            description_en="Food regulator: reads trace graphs, starts recalls",
            **where,
        ),
        DemoLogin(
            role="trace_operator",
            username=STALL_USERNAME,
            password=STALL_PASSWORD,
            description_zh="摊主：登记到货、确认召回下架",
            description_en="Stall keeper: records deliveries, acknowledges recalls",
            **where,
        ),
    ]

"""The portal's part of the deployment profile: one frozen dataclass, each default written once
here. A deployment overrides keys in `settings.CIVICHUB_PORTAL`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from civichub.core.config import ModuleConfig

# Words residents use for the same thing: a query for one also finds the others.
DEFAULT_SYNONYMS: tuple[tuple[str, ...], ...] = (
    ("社保", "社会保险", "社会保障"),
    ("医保", "医疗保险", "新农合"),
    ("户口", "户籍"),
    ("身份证", "居民身份证"),
    ("低保", "最低生活保障"),
    ("结婚", "婚姻登记"),
    ("离婚", "婚姻登记"),
    ("养老金", "养老保险", "退休金"),
    ("生孩子", "生育"),
    ("上学", "入学"),
    ("搬家", "迁移"),
    ("死亡", "身故", "去世", "过世"),
    ("公租房", "公共租赁住房", "廉租房"),
    # everyday and former names of services people still use
    ("暂住证", "居住证"),
    ("准生证", "生育登记"),
    ("二胎", "二孩", "生育"),
    ("疫苗", "预防接种"),
    ("改名", "改名字", "姓名变更"),
    ("小升初", "初中入学"),
    ("养老院", "养老机构"),
    ("怀孕", "孕妇"),
    ("建档", "建册"),
    ("第一次", "首次"),
    ("丢失", "遗失"),
    ("补助", "补贴", "资助"),
    ("贫困", "困难"),
    ("大病", "重大疾病"),
    ("丧葬", "殡葬"),
)

# Life events on the home page: (key, zh-Hans, English). Services name the events they serve.
DEFAULT_LIFE_EVENTS: tuple[tuple[str, str, str], ...] = (
    ("birth", "生育", "Having a baby"),
    ("school", "上学", "Going to school"),
    ("work", "就业", "Work"),
    ("marriage", "婚姻", "Marriage"),
    ("old_age", "养老", "Old age"),
    ("illness", "就医", "Illness"),
    ("moving", "搬家", "Moving house"),
    ("death", "身后事", "Death of a family member"),
)


@dataclass(frozen=True)
class PortalSettings(ModuleConfig):
    setting: ClassVar[str] = "CIVICHUB_PORTAL"

    # How many notices and alerts from broadcast the home page shows.
    home_notices: int = 5
    # Search results per group (services, notices, guides' questions, open data).
    search_results: int = 10
    # How far back search finds broadcast's notices and alerts (days since published).
    search_notice_days: int = 183
    # Synonym groups for search; every word of a group finds the others.
    synonyms: tuple[tuple[str, ...], ...] = DEFAULT_SYNONYMS
    # The life events offered on the home page.
    life_events: tuple[tuple[str, str, str], ...] = DEFAULT_LIFE_EVENTS
    # The largest uploaded material, in bytes, and the content types accepted.
    material_max_bytes: int = 10 * 1024 * 1024
    material_types: tuple[str, ...] = field(default=("application/pdf", "image/jpeg", "image/png"))
    # Site address used in exported catalogues (schema.org, CPSV-AP) for absolute links; empty:
    # the platform's (core's `site_url`, CIVICHUB_SITE_URL).
    site_url: str = ""
    # The area code prefix of service codes (6-digit division + 2-digit township).
    division_code: str = "99010000"
    # Public checks of verification codes per client address and minute (`/services/verify/`).
    verify_per_minute: int = 20

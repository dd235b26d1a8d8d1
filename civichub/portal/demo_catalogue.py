"""The demo city's service catalogue: about sixty services of five departments, written the way
a city's 办事指南 are (names, 事项类型, limits, visits, materials), in zh-Hans and English."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# (department function, code letters, legal basis zh, legal basis en)
DEPARTMENTS = {
    "public_security": (
        "GA",
        "《中华人民共和国户口登记条例》《中华人民共和国居民身份证法》",
        "Household Registration Regulations; Resident Identity Card Law",
    ),
    "civil_affairs": (
        "MZ",
        "《婚姻登记条例》《社会救助暂行办法》《殡葬管理条例》",
        "Marriage Registration Regulations; Interim Measures on Social Assistance",
    ),
    "education": (
        "JY",
        "《中华人民共和国义务教育法》《中华人民共和国教育法》",
        "Compulsory Education Law; Education Law",
    ),
    "health": (
        "WJ",
        "《中华人民共和国母婴保健法》《中华人民共和国基本医疗卫生与健康促进法》",
        "Maternal and Infant Health Care Law; Basic Medical and Health Care Law",
    ),
    "housing": (
        "ZJ",
        "《公共租赁住房管理办法》《住房公积金管理条例》",
        "Public Rental Housing Measures; Housing Provident Fund Regulations",
    ),
}


# The services, one a line in demo_services.json: [department, kind, name zh, name en,
#  life events, legal days, promised days, visits, online application, fee [amount zh, basis] or
#  null, materials [[zh, en, form, count], ...], description zh, description en]
SERVICES: list[list[Any]] = json.loads(
    (Path(__file__).with_name("demo_services.json")).read_text(encoding="utf-8")
)

FAQS = {
    "社会保障卡申领": [
        (
            "社保卡多久能拿到？",
            "网上申请后约十个工作日制卡完成，可选择邮寄或到网点领取。",
            "How long until I get my card?",
            "About ten working days; by post or collect it.",
        )
    ],
    "户口迁移（市内迁移）": [
        (
            "户口迁移需要本人到场吗？",
            "网上提交材料审核通过后，到派出所现场领取户口簿一次即可。",
            "Must I come in person?",
            "Once online review passes, one visit to collect the booklet.",
        )
    ],
    "小学一年级入学报名": [
        (
            "没有房产可以报名吗？",
            "持居住证和租赁合同的家庭可按随迁子女政策报名。",
            "Can we apply without owning a home?",
            "Yes, with a residence permit and tenancy agreement.",
        )
    ],
    "内地居民婚姻登记（结婚登记）": [
        (
            "结婚登记要预约吗？",
            "建议网上预约，材料齐全当场办结。",
            "Do we need an appointment?",
            "Booking online is advised; done on the spot.",
        )
    ],
    "最低生活保障申请": [
        (
            "低保多久审批？",
            "受理后二十个工作日内作出决定，期间会入户调查。",
            "How long does dibao approval take?",
            "A decision within 20 working days after a home visit.",
        )
    ],
}

STEPS = (
    ("申请", "Apply"),
    ("受理", "Acceptance"),
    ("审查", "Review"),
    ("决定", "Decision"),
    ("送达", "Delivery"),
)

FORM = [
    {
        "key": "name",
        "label": "申请人姓名",
        "label_en": "Applicant's name",
        "prefill": "name",
        "required": True,
    },
    {
        "key": "identity_number",
        "label": "身份证号码",
        "label_en": "ID number",
        "prefill": "identity_number",
        "required": True,
    },
    {
        "key": "phone",
        "label": "联系电话",
        "label_en": "Phone",
        "prefill": "phone",
        "required": True,
    },
    {
        "key": "address",
        "label": "住址",
        "label_en": "Address",
        "prefill": "address",
        "required": False,
    },
    {
        "key": "note",
        "label": "补充说明",
        "label_en": "Anything else",
        "prefill": "",
        "required": False,
    },
]

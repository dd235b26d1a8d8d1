"""The service guide (办事指南) as a document: every standard element, zh-Hans and English, with
its checks. A version's `content` holds exactly this shape; services validate it before saving
and pages, JSON-LD and CPSV-AP read it through `GuideView`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

AUDIENCES = {"person", "legal_person", "both"}
MATERIAL_FORMS = {"original", "copy", "electronic"}
# Registry facts a form field may be prefilled from (`prefill.py` knows how to read each).
PREFILL_SOURCES = {"", "name", "name_en", "phone", "address", "community", "identity_number"}

TEXT_FIELDS = (
    "description",
    "legal_basis",
    "conditions",
    "location",
    "hours",
    "result",
)
ALL_FIELDS = (
    *TEXT_FIELDS,
    *(f"{f}_en" for f in TEXT_FIELDS),
    "audience",
    "phone",
    "complaint_phone",
    "legal_limit_days",
    "promised_limit_days",
    "fee",
    "visits",
    "fully_online",
    "materials",
    "steps",
    "faqs",
    "form",
)


def empty_guide() -> dict[str, Any]:
    guide: dict[str, Any] = dict.fromkeys((*TEXT_FIELDS, *(f"{f}_en" for f in TEXT_FIELDS)), "")
    guide.update(
        audience="person",
        phone="",
        complaint_phone="12345",
        legal_limit_days=20,
        promised_limit_days=10,
        fee={"free": True, "amount": "", "amount_en": "", "basis": ""},
        visits=0,
        fully_online=True,
        materials=[],
        steps=[],
        faqs=[],
        form=[],
    )
    return guide


def guide_errors(content: dict[str, Any]) -> dict[str, list[str]]:
    """The guide's problems by element; empty when it may be saved."""
    errors: dict[str, list[str]] = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    unknown = set(content) - set(ALL_FIELDS)
    if unknown:
        fail("content", _("未知的指南要素：%(keys)s") % {"keys": ", ".join(sorted(unknown))})
    for field in ("description", "legal_basis", "conditions"):
        if not str(content.get(field, "")).strip():
            fail(field, _("此要素必填。"))
    if content.get("audience") not in AUDIENCES:
        fail("audience", _("受理对象须为个人、法人或两者。"))
    for field in ("legal_limit_days", "promised_limit_days", "visits"):
        value = content.get(field)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 365:
            fail(field, _("须为 0 到 365 的整数。"))
    legal, promised = content.get("legal_limit_days"), content.get("promised_limit_days")
    if isinstance(legal, int) and isinstance(promised, int) and legal and promised > legal:
        fail("promised_limit_days", _("承诺时限不能长于法定时限。"))
    fee = content.get("fee")
    if not isinstance(fee, dict) or ("free" not in fee):
        fail("fee", _("须说明是否收费。"))
    elif not fee["free"] and not (fee.get("amount") and fee.get("basis")):
        fail("fee", _("收费事项须写明收费标准和收费依据。"))
    for n, material in enumerate(content.get("materials") or []):
        if not material.get("name") or material.get("form") not in MATERIAL_FORMS:
            fail(
                "materials",
                _("第 %(n)d 项材料须有名称和形式（原件、复印件或电子）。") % {"n": n + 1},
            )
        elif not isinstance(material.get("count"), int) or material["count"] < 1:
            fail("materials", _("第 %(n)d 项材料的份数须为正整数。") % {"n": n + 1})
    if not content.get("steps"):
        fail("steps", _("须列出办理流程。"))
    keys = set()
    for field in content.get("form") or []:
        if not field.get("key") or field["key"] in keys or not field.get("label"):
            fail("form", _("表单字段须有唯一的键和标签。"))
        keys.add(field.get("key"))
        if field.get("prefill", "") not in PREFILL_SOURCES:
            fail("form", _("未知的预填来源：%(source)s") % {"source": field.get("prefill")})
    return errors


@dataclass(frozen=True)
class GuideView:
    """The guide in one language for a page: `text("conditions")` picks the English element
    when the reader reads English and one is written."""

    content: dict[str, Any]
    english: bool

    def text(self, field: str) -> str:
        if self.english and self.content.get(f"{field}_en"):
            return str(self.content[f"{field}_en"])
        return str(self.content.get(field, ""))

    def pick(self, item: dict[str, Any], field: str) -> str:
        if self.english and item.get(f"{field}_en"):
            return str(item[f"{field}_en"])
        return str(item.get(field, ""))

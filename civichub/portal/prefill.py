"""Prefill: the facts the government already holds about a resident, each with its source.

They are read from core's resident registry; a module that provides `resident_facts` through
core's registry (the data hub) is asked too, and its values, each a mapping with `value`,
`source` (the providing department's name) and `updated_at`, replace the registry's for the
keys it knows. The hub gives nothing unless a sharing agreement covers the purpose."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civichub.core import registry
from civichub.core import selectors as core_selectors
from civichub.core.errors import NotFound
from civichub.core.models import User

# Audit purpose of the read (fixed wording, as core's purposes).
PREFILL_PURPOSE = "网上办事预填（本人同意）"
OWN_VIEW_PURPOSE = "本人查看个人信息"
REGISTRY_SOURCE = "registry"
SOURCE_LABELS = {
    REGISTRY_SOURCE: _("居民信息登记（社区核实）"),
    "hub": _("数据共享平台"),
    "applicant": _("申请人填写"),
}


@dataclass(frozen=True)
class Fact:
    value: str
    source: str
    updated_at: dt.datetime | None = None

    @property
    def source_label(self) -> str:
        return str(SOURCE_LABELS.get(self.source, self.source))


def resident_facts(*, actor: User, purpose: str = PREFILL_PURPOSE) -> dict[str, Fact]:
    """The actor's own facts by prefill key (guide.PREFILL_SOURCES); empty for an account with
    no resident record. The read is permission-checked (the resident's own record) and
    audited with its purpose; call it only after the resident consented."""
    if actor.resident_id is None:
        return {}
    try:
        resident = core_selectors.resident_get(actor=actor, pk=actor.resident_id, purpose=purpose)
    except NotFound:
        return {}
    now = timezone.now()
    values = {
        "name": resident.name,
        "name_en": resident.name_en,
        "phone": resident.phone,
        "address": resident.address,
        "community": resident.community.name,
        "identity_number": resident.identity_masked,
    }
    facts = {key: Fact(value, REGISTRY_SOURCE, now) for key, value in values.items() if value}
    provided = registry.provided("resident_facts")
    if provided is not None:
        hub: dict[str, dict[str, Any]] = provided(actor=actor, purpose=purpose)
        for key, item in hub.items():
            if item.get("value"):
                facts[key] = Fact(str(item["value"]), str(item["source"]), item.get("updated_at"))
    return facts

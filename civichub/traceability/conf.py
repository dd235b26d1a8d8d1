"""The traceability module's part of the deployment profile: one frozen dataclass, each default
written once here. A deployment overrides keys in `settings.CIVICHUB_TRACEABILITY`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from civichub.core.config import ModuleConfig


@dataclass(frozen=True)
class TraceabilitySettings(ModuleConfig):
    setting: ClassVar[str] = "CIVICHUB_TRACEABILITY"

    # The GS1 EPCIS 2.0 JSON Schema (EPCIS-JSON-Schema.json from ref.gs1.org) on disk. GS1
    # publishes it without an open-source licence, so civichub does not ship it: a deployment
    # downloads it and names it here. Empty: civichub's own structural schema (the required
    # fields, the five event types and their actions) is used instead.
    epcis_json_schema_path: str = ""
    # The most events one capture document may carry (advertised as GS1-EPCIS-Capture-Limit).
    capture_limit: int = 500
    # The largest capture document in bytes (GS1-EPCIS-Capture-File-Size-Limit).
    capture_file_size_limit: int = 2_000_000
    # The origin printed in QR codes (https://trace.example.gov.cn); empty: the request's own.
    resolver_base_url: str = ""
    # The number of hops a trace follows before it stops (a carcass cut, mixed, packed: 6).
    trace_max_hops: int = 12
    # Events per page of an EPCIS query (perPage's default and its upper bound).
    query_page_size: int = 100
    query_max_page_size: int = 1000
    # Days after the last receiving event that the shopper's page still calls the food fresh.
    freshness_days: int = 3
    # The 6-digit GB/T 2260 area code that begins the deployment's 20-digit trace codes.
    trace_code_area: str = "610100"
    # Hours a recall notice may stay unacknowledged before its participant is reminded (and
    # again after as many hours from the last reminder), and the most reminders sent by the
    # periodic check; the regulator can remind at any time from the recall's page.
    recall_reminder_hours: float = 2.0
    recall_max_reminders: int = 3
    # The broadcast account (its handle) that announces recalls to the public; empty: the
    # account of the recall's organisation or of the nearest organisation above it.
    recall_announcement_account: str = ""
    # Days the public alert of a recall stays in force (its CAP `expires`); closing the recall
    # sooner does not withdraw it.
    recall_alert_days: int = 7

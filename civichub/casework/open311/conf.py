"""The Open311 part of the deployment profile, with documented defaults.

A deployment overrides any field through the Django setting `CIVICHUB_OPEN311` (a dict):

    CIVICHUB_OPEN311 = {"jurisdiction_id": "qingshan.gov.cn", "contact": "12345@qingshan.gov.cn"}

Code reads it with `open311_settings()` (`core.config.module_config(Open311Settings)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from civichub.core.config import ModuleConfig, module_config


@dataclass(frozen=True)
class Open311Settings(ModuleConfig):
    """Fields:

    - `jurisdiction_id` — this endpoint's jurisdiction, as clients send it (the spec suggests
      the city's domain). Empty means the code of the organisation that receives cases (the
      casework profile's `jurisdiction_code`, else the root of the tree). A request without a
      jurisdiction_id, with an empty one or with this one is served; any other value is
      answered 404.
    - `charset_in_content_type` — send `text/xml; charset=utf-8` and `application/json;
      charset=utf-8` (the spec's recommendation). Off sends the bare types, which the SeeClickFix
      validator's exact-match test expects.
    - `max_requests` — the most requests one GET /requests answers (the spec's default is 1,000);
      also the largest `page_size` of the pagination extension.
    - `max_days` — the longest start_date..end_date span, and the default window (the last 90 days).
    - `submissions_public` — whether a request posted through Open311 shows on the public board
      and in GET /requests. Open311 front ends (FixMyStreet) publish what they send, so on.
    - `publish_place` — whether GET /requests carries the address and the WGS-84 point of public
      requests. The place of a street fault is what a map client needs; a deployment whose cases
      are mostly about homes may turn it off.
    - `contact`, `key_service` — the discovery document's contact and how to obtain a key.
    - `changeset` — when this endpoint last changed (discovery); an ISO 8601 date and time.
    - `endpoint_type` — discovery's endpoint type, `production` or `test`.
    - `service_notice` — the notice returned with a new request; `{tracking_number}` and
      `{expected}` (the reply deadline, ISO 8601) are filled in.
    """

    setting: ClassVar[str] = "CIVICHUB_OPEN311"

    jurisdiction_id: str = ""
    charset_in_content_type: bool = True
    max_requests: int = 1000
    max_days: int = 90
    submissions_public: bool = True
    publish_place: bool = True
    contact: str = ""
    key_service: str = "Ask the operator for a key (civichub open311 create-key --name NAME)."
    changeset: str = "2026-11-30T00:00:00Z"
    endpoint_type: str = "production"
    service_notice: str = "Tracking number {tracking_number}; a reply is due by {expected}."


def open311_settings() -> Open311Settings:
    """The defaults with the deployment's `CIVICHUB_OPEN311` overrides applied."""
    return module_config(Open311Settings)

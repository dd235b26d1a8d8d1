"""The Open311 part of the deployment profile, with documented defaults.

A deployment overrides any key through the Django setting `CIVICHUB_OPEN311` (a dict merged over
`DEFAULTS`):

    CIVICHUB_OPEN311 = {"jurisdiction_id": "qingshan.gov.cn", "contact": "12345@qingshan.gov.cn"}

Keys:

- `jurisdiction_id` — this endpoint's jurisdiction, as clients send it (the spec suggests the
  city's domain). Empty means the code of the organisation that receives cases (the casework
  profile's `jurisdiction_code`, else the root of the tree). A request without a jurisdiction_id,
  with an empty one or with this one is served; any other value is answered 404.
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

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "jurisdiction_id": "",
    "charset_in_content_type": True,
    "max_requests": 1000,
    "max_days": 90,
    "submissions_public": True,
    "publish_place": True,
    "contact": "",
    "key_service": "Ask the operator for a key (civichub open311 create-key --name NAME).",
    "changeset": "2026-11-30T00:00:00Z",
    "endpoint_type": "production",
    "service_notice": "Tracking number {tracking_number}; a reply is due by {expected}.",
}


def open311_settings() -> dict[str, Any]:
    """DEFAULTS with the deployment's `CIVICHUB_OPEN311` overrides merged in."""
    overrides: dict[str, Any] = getattr(settings, "CIVICHUB_OPEN311", {}) or {}
    return {key: overrides.get(key, default) for key, default in DEFAULTS.items()}

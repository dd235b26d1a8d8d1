"""Open311 GeoReport v2 for casework: the standard translated to and from casework's services
and reads, never a second copy of their rules.

- A service is an active `Category` (service_code = its key); its `CategoryAttribute`s are the
  service definition.
- A request is a public `Case`; service_request_id is its tracking number ("2026-000123").
  POST /requests calls `casework.services.case_submit` with channel `open311`.
- Updates (mySociety's `servicerequestupdates`) are the case's public history events.
- Keys: `keys.py` (issued with `civichub open311 create-key`).
- Per-deployment settings: `conf.py` (`CIVICHUB_OPEN311`).

Both Python clients parse XML so that an empty container becomes None and a single child a
dict rather than a list (xmltodict in `georeport`, xml2dict in `open311`): an empty result is
still `<service_requests></service_requests>` (`[]` in JSON) with 200, as the spec says, and
callers of those clients must expect None or a dict there.
"""

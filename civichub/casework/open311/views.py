"""The GeoReport v2 endpoints. Thin: parse the arguments, call a selector or the casework
intake service, render the document in the format the suffix names.

Every call runs inside one error boundary (`open311_endpoint`): refusals become the spec's error
document with 400, 403 or 404; anything unexpected is logged and answered with a 500 error
document carrying the request id. Never an HTML page, whatever went wrong.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.core.exceptions import SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator, validate_email
from django.http import HttpRequest, HttpResponse, QueryDict, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone, translation
from django.views.decorators.csrf import csrf_exempt

from civichub.casework import services as casework
from civichub.casework.models import (
    AttributeDatatype,
    CaseChannel,
    CoordinateSystem,
    Open311ApiKey,
    ServiceType,
)
from civichub.casework.open311 import selectors
from civichub.casework.open311.conf import open311_settings
from civichub.casework.open311.keys import open311_key_authenticate
from civichub.casework.open311.render import (
    FORMATS,
    JSON,
    MEDIA_TYPES,
    XML,
    ErrorItem,
    Many,
    document,
    errors_document,
    w3c_datetime,
)
from civichub.casework.open311.translate import (
    SPECIFICATION,
    STATUSES,
    Open311Error,
    Params,
    parse_w3c,
    split_list,
)
from civichub.casework.services import TEXT_MAX
from civichub.core.context import acting, current
from civichub.core.errors import DomainError, NotFound, PermissionDenied
from civichub.core.http import client_address

logger = logging.getLogger("civichub.casework.open311")

Endpoint = Callable[..., HttpResponse]
GET = ("GET", "HEAD")
MEDIA_URL_MAX = 500
OPTIONAL_TEXT_MAX = 100


def open311_endpoint(*methods: str) -> Callable[[Endpoint], Endpoint]:
    """The Open311 error boundary around one endpoint: the format from the suffix, the allowed
    methods, the acting context for the audit log, and every failure as an error document."""

    def decorate(view: Endpoint) -> Endpoint:
        @wraps(view)
        def endpoint(request: HttpRequest, fmt: str, **kwargs: Any) -> HttpResponse:
            if fmt not in FORMATS:
                return errors_document(
                    XML, 404, [ErrorItem(404, f"Unknown format .{fmt}; use .xml or .json")]
                )
            context = current()
            # GeoReport v2 is an English protocol: its field names and this layer's own error
            # descriptions are English, so the services' messages (Chinese source strings) are
            # given in English too and one error document never mixes two languages.
            with (
                acting(
                    ip_address=context.ip_address or client_address(request),
                    channel="open311",
                    request_id=context.request_id,
                ),
                translation.override("en"),
            ):
                try:
                    if request.method not in methods:
                        raise Open311Error(
                            400, f"Method {request.method} is not allowed here; use {methods[0]}"
                        )
                    return view(request, fmt, **kwargs)
                except Open311Error as exc:
                    return errors_document(fmt, exc.status, exc.items)
                except DomainError as exc:
                    return _domain_error(fmt, exc)
                except (SuspiciousOperation, MultiPartParserError, UnreadablePostError) as exc:
                    logger.info("open311: unreadable request: %s", exc)
                    return errors_document(
                        fmt, 400, [ErrorItem(400, f"The request could not be read: {exc}")]
                    )
                except Exception:
                    logger.exception("open311: %s %s failed", request.method, request.path)
                    description = f"Internal error; quote request id {current().request_id}"
                    return errors_document(fmt, 500, [ErrorItem(500, description)])

        return csrf_exempt(endpoint)

    return decorate


# Names of the intake service's fields in Open311's terms, for error messages.
_FIELD_NAMES = {
    "text": "description",
    "title": "description",
    "location": "lat/long",
    "address": "address_string",
    "category": "service_code",
    "kind": "service_code",
    "contact": "email",
}


def _field(name: str) -> str:
    if name.startswith("attributes."):
        return f"attribute[{name.removeprefix('attributes.')}]"
    return _FIELD_NAMES.get(name, name)


def _domain_error(fmt: str, exc: DomainError) -> HttpResponse:
    if isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, PermissionDenied):
        status = 403
    else:
        status = 400
    items = [
        ErrorItem(status, f"{_field(field)}: {message}")
        for field, messages in sorted(exc.errors.items())
        for message in messages
    ]
    return errors_document(fmt, status, items or [ErrorItem(status, exc.message)])


# Discovery and services -------------------------------------------------------------------------


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri(request.path.rsplit("/", 1)[0])


@open311_endpoint(*GET)
def discovery(request: HttpRequest, fmt: str) -> HttpResponse:
    conf = open311_settings()
    return document(
        fmt,
        "discovery",
        {
            "changeset": conf.changeset,
            "contact": conf.contact,
            "key_service": conf.key_service,
            "endpoints": Many(
                "endpoint",
                [
                    {
                        "specification": SPECIFICATION,
                        "url": _base_url(request),
                        "changeset": conf.changeset,
                        "type": conf.endpoint_type,
                        "formats": Many("format", [MEDIA_TYPES[XML], MEDIA_TYPES[JSON]]),
                    }
                ],
            ),
        },
    )


@open311_endpoint(*GET)
def service_list(request: HttpRequest, fmt: str) -> HttpResponse:
    selectors.check_jurisdiction(Params(request.GET).get("jurisdiction_id"))
    return document(fmt, "services", Many("service", selectors.services()))


@open311_endpoint(*GET)
def service_definition(request: HttpRequest, fmt: str, service_code: str) -> HttpResponse:
    selectors.check_jurisdiction(Params(request.GET).get("jurisdiction_id"))
    return document(fmt, "service_definition", selectors.service_definition(service_code))


# Requests ---------------------------------------------------------------------------------------


@open311_endpoint("GET", "HEAD", "POST")
def requests(request: HttpRequest, fmt: str) -> HttpResponse:
    if request.method == "POST":
        return _request_create(request, fmt)
    params = Params(request.GET)
    selectors.check_jurisdiction(params.get("jurisdiction_id"))
    return document(
        fmt, "service_requests", Many("request", selectors.requests_find(_query(params)))
    )


@open311_endpoint(*GET)
def request_detail(request: HttpRequest, fmt: str, service_request_id: str) -> HttpResponse:
    params = Params(request.GET)
    selectors.check_jurisdiction(params.get("jurisdiction_id"))
    found = selectors.request_get(service_request_id, extended=_extended(params))
    return document(fmt, "service_requests", Many("request", [found]))


@open311_endpoint(*GET)
def token(request: HttpRequest, fmt: str, token: str) -> HttpResponse:
    selectors.check_jurisdiction(Params(request.GET).get("jurisdiction_id"))
    return document(fmt, "service_requests", Many("request", [selectors.token_get(token)]))


def _extended(params: Params) -> bool:
    return params.get("extensions").lower() == "true"


def _positive_int(params: Params, name: str, default: int, maximum: int) -> int:
    raw = params.get(name)
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        raise Open311Error(400, f"{name}: a whole number from 1 to {maximum}")
    return int(raw)


def _window(
    params: Params, *, both_or_neither: bool = False
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """start_date/end_date: both give the range (at most `max_days`), one gives `max_days` from
    or up to it, neither gives the last `max_days` days."""
    days = int(open311_settings().max_days)
    span = dt.timedelta(days=days)
    raw_start, raw_end = params.get("start_date"), params.get("end_date")
    if both_or_neither and bool(raw_start) != bool(raw_end):
        raise Open311Error(400, "start_date and end_date: give both or neither")
    start = parse_w3c("start_date", raw_start) if raw_start else None
    end = parse_w3c("end_date", raw_end) if raw_end else None
    if start is not None and end is not None:
        if end < start:
            raise Open311Error(400, "end_date: before start_date")
        if end - start > span:
            raise Open311Error(400, f"start_date..end_date: spans more than {days} days")
        return start, end
    if start is not None:
        return start, start + span
    if end is not None:
        return end - span, end
    return timezone.now() - span, None


def _query(params: Params) -> selectors.RequestQuery:
    maximum = int(open311_settings().max_requests)
    extended = _extended(params)
    ids = split_list(params.get("service_request_id"))
    if ids:
        if len(ids) > maximum:
            raise Open311Error(400, f"service_request_id: at most {maximum} ids")
        return selectors.RequestQuery(
            ids=ids,
            service_codes=[],
            statuses=[],
            start=None,
            end=None,
            offset=0,
            limit=maximum,
            extended=extended,
        )
    statuses = [s.lower() for s in split_list(params.get("status"))]
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise Open311Error(400, f"status: {', '.join(unknown)} is not open or closed")
    start, end = _window(params)
    page_size = _positive_int(params, "page_size", maximum, maximum)
    page = _positive_int(params, "page", 1, 1_000_000)
    return selectors.RequestQuery(
        ids=[],
        service_codes=split_list(params.get("service_code")),
        statuses=statuses,
        start=start,
        end=end,
        offset=(page - 1) * page_size,
        limit=page_size,
        extended=extended,
    )


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _form(request: HttpRequest) -> QueryDict:
    """The form body, with or without `; charset=utf-8` (Django reads the charset; UTF-8
    without one). A body with no content type is read as a form; any other type is refused."""
    if request.content_type in FORM_TYPES:
        return request.POST
    if not request.body:
        return QueryDict()
    if request.content_type in ("", None):
        return QueryDict(request.body, encoding=request.encoding or "utf-8")
    raise Open311Error(
        400,
        f"Send the request as {FORM_TYPES[0]}, not {request.content_type} (the spec's encoding)",
    )


def _number(
    params: Params, name: str, low: float, high: float, problems: list[str]
) -> float | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        problems.append(f"{name}: not a number")
        return None
    if not low <= value <= high:
        problems.append(f"{name}: out of range ({low:g} to {high:g})")
        return None
    return value


def _answers(
    category: selectors.IntakeService, given: dict[str, list[str]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Splits `attribute[...]` into answers to the service's questions (for the intake
    service to check) and anything else, kept with the case but not checked: FixMyStreet, for
    one, sends `attribute[fixmystreet_id]` to every service."""
    answers: dict[str, Any] = {}
    others: dict[str, Any] = {}
    for code, values in given.items():
        datatype = category.questions.get(code)
        if datatype is None:
            others[code] = values[0] if len(values) == 1 else values
        elif datatype == AttributeDatatype.MULTIVALUELIST:
            answers[code] = values
        else:
            answers[code] = values[0] if len(values) == 1 else values
    return answers, others


@dataclass(frozen=True)
class _PlaceAndContact:
    latitude: float | None
    longitude: float | None
    address: str
    address_id: str
    email: str
    media_url: str


def _checked_place_and_contact(params: Params) -> _PlaceAndContact:
    """The place and the contact details of POST /requests, every problem named at once."""
    problems: list[str] = []
    latitude = _number(params, "lat", -90, 90, problems)
    longitude = _number(params, "long", -180, 180, problems)
    if (params.get("lat") == "") != (params.get("long") == ""):
        problems.append("lat/long: give both lat and long")
    address = params.get("address_string")
    address_id = params.get("address_id")
    if not (params.get("lat") and params.get("long")) and not address and not address_id:
        problems.append("location: give lat and long, address_string or address_id")
    email = params.get("email")
    if email:
        try:
            validate_email(email)
        except DjangoValidationError:
            problems.append("email: not a valid email address")
    media_url = params.get("media_url")
    if media_url:
        try:
            if len(media_url) > MEDIA_URL_MAX:
                raise DjangoValidationError("too long")
            URLValidator(schemes=["http", "https"])(media_url)
        except DjangoValidationError:
            problems.append(f"media_url: an http(s) URL of at most {MEDIA_URL_MAX} characters")
    for name in ("device_id", "account_id", "first_name", "last_name", "phone"):
        if len(params.get(name)) > OPTIONAL_TEXT_MAX:
            problems.append(f"{name}: at most {OPTIONAL_TEXT_MAX} characters")
    if problems:
        raise Open311Error(400, *problems)
    return _PlaceAndContact(
        latitude=latitude,
        longitude=longitude,
        address=address,
        address_id=address_id,
        email=email,
        media_url=media_url,
    )


def _request_create(request: HttpRequest, fmt: str) -> HttpResponse:
    """POST /requests: checks the key and the arguments, then hands the message to casework's
    intake (`case_submit`), which stores it, gives it a tracking number and routes it after
    commit, exactly as a message from the web form."""
    params = Params(_form(request), request.GET)
    params.check_text()
    selectors.check_jurisdiction(params.get("jurisdiction_id"))
    key = _key(params)

    code = params.get("service_code")
    if not code:
        raise Open311Error(400, "service_code: required")
    category = selectors.intake_service(code)

    place = _checked_place_and_contact(params)
    latitude, longitude = place.latitude, place.longitude
    address, address_id = place.address, place.address_id
    email, media_url = place.email, place.media_url

    answers, other_attributes = _answers(category, params.attributes())
    batch = category.service_type == ServiceType.BATCH
    token_value = secrets.token_urlsafe(12) if batch else ""
    extra: dict[str, Any] = {
        "key_id": key.pk,
        "key": key.name,
        "device_id": params.get("device_id"),
        "account_id": params.get("account_id"),
        "address_id": address_id,
        "media_url": media_url,
        "token": token_value,
        "attributes": other_attributes,
    }
    description = params.get("description") or category.name
    context = current()
    with acting(
        ip_address=context.ip_address,
        channel=f"open311:{key.name}",
        request_id=context.request_id,
    ):
        submitted = casework.case_submit(
            actor=None,
            kind="",
            title="",
            text=description,
            channel=CaseChannel.OPEN311,
            is_public=bool(open311_settings().submissions_public),
            address=address,
            latitude=latitude,
            longitude=longitude,
            crs=CoordinateSystem.WGS84,
            category_key=category.key,
            attributes=answers,
            contact_name=f"{params.get('first_name')} {params.get('last_name')}".strip(),
            contact_phone=params.get("phone"),
            contact_email=email,
            extra={"open311": {k: v for k, v in extra.items() if v}},
        )
    case = submitted.case
    notice = str(open311_settings().service_notice).format(
        tracking_number=case.tracking_number, expected=w3c_datetime(case.due_at) or ""
    )
    created: dict[str, Any] = (
        {"token": token_value} if batch else {"service_request_id": case.tracking_number}
    )
    created.update({"service_notice": notice, "account_id": None})
    return document(fmt, "service_requests", Many("request", [created]))


# The mySociety updates extension ---------------------------------------------------------------


# The mySociety extension's statuses (`perllib/Open311/Endpoint/Role/mySociety.pm`), which a
# client may send in upper case.
MYSOCIETY_STATUSES = frozenset(
    {
        "open",
        "closed",
        "fixed",
        "in_progress",
        "planned",
        "action_scheduled",
        "investigating",
        "duplicate",
        "not_councils_responsibility",
        "no_further_action",
        "internal_referral",
        "cancelled",
        "reopen",
        "for_triage",
    }
)


@open311_endpoint("GET", "HEAD", "POST")
def service_request_updates(request: HttpRequest, fmt: str) -> HttpResponse:
    """GET /servicerequestupdates: what happened to requests between start_date and end_date
    (both or neither; neither is the last `max_days` days), for a key holder. POST: the key
    holder passes on an update to a request it posted (a comment on FixMyStreet); it becomes an
    internal note for the staff handling the case, through casework's `case_note`. A client
    cannot change a case's status: the status it reports is kept in the note's text."""
    if request.method == "POST":
        return _update_create(request, fmt)
    params = Params(request.GET)
    selectors.check_jurisdiction(params.get("jurisdiction_id"))
    key = _key(params)
    start, end = _window(params, both_or_neither=True)
    updates = selectors.updates_find(
        key=key,
        start=start or timezone.now(),
        end=end or timezone.now(),
        limit=int(open311_settings().max_requests),
    )
    return document(fmt, "service_request_updates", Many("request_update", updates))


def _key(params: Params) -> Open311ApiKey:
    secret = params.get("api_key")
    key = open311_key_authenticate(secret) if secret else None
    if key is None:
        raise Open311Error(403, "api_key: " + ("not a valid key" if secret else "required"))
    return key


def _update_create(request: HttpRequest, fmt: str) -> HttpResponse:
    params = Params(_form(request), request.GET)
    params.check_text()
    selectors.check_jurisdiction(params.get("jurisdiction_id"))
    key = _key(params)
    problems = [
        f"{name}: required"
        for name in ("service_request_id", "update_id", "status", "description")
        if not params.get(name)
    ]
    status = params.get("status").lower()
    if status and status not in MYSOCIETY_STATUSES:
        problems.append(f"status: {params.get('status')} is not a mySociety status")
    if params.get("updated_datetime"):
        parse_w3c("updated_datetime", params.get("updated_datetime"))
    if len(params.get("description")) > TEXT_MAX:
        problems.append(f"description: at most {TEXT_MAX} characters")
    if problems:
        raise Open311Error(400, *problems)
    case = selectors.case_posted_by(key=key, service_request_id=params.get("service_request_id"))
    text = f"{key.name} ({status.upper()}, update {params.get('update_id')}): "
    context = current()
    with acting(
        ip_address=context.ip_address, channel=f"open311:{key.name}", request_id=context.request_id
    ):
        event = casework.case_note(
            actor=None, case=case, text=text + params.get("description"), public=False
        )
    return document(
        fmt, "service_request_updates", Many("request_update", [{"update_id": str(event.pk)}])
    )


# Anything else under the prefix -----------------------------------------------------------------


@csrf_exempt
def unknown_resource(request: HttpRequest, rest: str = "") -> HttpResponse:
    fmt = JSON if rest.endswith(".json") else XML
    return errors_document(fmt, 404, [ErrorItem(404, f"No resource /{rest}")])

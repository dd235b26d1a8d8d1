"""EPCIS 2.0 REST binding (GS1 EPCIS 2.0 OpenAPI, the common subset): `/capture` (202 and a
job), `/capture/{id}`, `/events` (GET queries, POST one event), `/events/{eventID}`,
`/epcs/{epc}/events`, `/eventTypes/{type}/events`, named queries (`/queries`,
`/queries/{name}`, `/queries/{name}/events`), paging with `perPage` and `nextPageToken`.
Errors are problem documents with the EPCIS exception type and each error's JSON path."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import quote, urlencode

from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt

from civichub.core.config import module_config
from civichub.core.errors import (
    Conflict,
    DomainError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from civichub.core.http import request_user_or_none
from civichub.core.permissions import require
from civichub.traceability import selectors, services
from civichub.traceability.conf import TraceabilitySettings
from civichub.traceability.gs1.epcis import DEFAULT_CONTEXT, EVENT_TYPES
from civichub.traceability.models import CaptureJob, Event, NamedQuery

View = Callable[..., HttpResponse]
_EXCEPTIONS = {
    ValidationFailed: "epcisException:ValidationException",
    NotFound: "epcisException:NoSuchResourceException",
    PermissionDenied: "epcisException:SecurityException",
    NotAuthenticated: "epcisException:SecurityException",
    Conflict: "epcisException:ConflictException",
}
_TOKEN_SALT = "traceability.epcis.page"  # noqa: S105  (a signing salt, not a secret)


def _headers(response: HttpResponse) -> HttpResponse:
    conf = module_config(TraceabilitySettings)
    response["GS1-EPCIS-Version"] = "2.0.0"
    response["GS1-CBV-Version"] = "2.0.0"
    response["GS1-EPCIS-Capture-Limit"] = str(conf.capture_limit)
    response["GS1-EPCIS-Capture-File-Size-Limit"] = str(conf.capture_file_size_limit)
    return response


def problem(exc: DomainError) -> HttpResponse:
    kind = next(
        (name for cls, name in _EXCEPTIONS.items() if isinstance(exc, cls)),
        "epcisException:ImplementationException",
    )
    body: dict[str, Any] = {"type": kind, "title": exc.title, "status": exc.status}
    body["detail"] = exc.message
    if exc.errors:
        body["errors"] = [{"path": p, "message": "; ".join(m)} for p, m in exc.errors.items()]
    response = JsonResponse(body, status=exc.status, content_type="application/problem+json")
    return _headers(response)


def epcis_endpoint(*methods: str) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        @wraps(view)
        def endpoint(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                response = HttpResponse(status=405)
                response["Allow"] = ", ".join(methods)
                return _headers(response)
            try:
                return _headers(view(request, **kwargs))
            except DomainError as exc:
                return problem(exc)

        return csrf_exempt(endpoint)

    return decorate


def _json_body(request: HttpRequest) -> dict[str, Any]:
    limit = module_config(TraceabilitySettings).capture_file_size_limit
    if len(request.body) > limit:
        raise ValidationFailed.on("$", f"the document is over {limit} bytes")
    try:
        document = json.loads(request.body or b"null")
    except ValueError as exc:
        raise ValidationFailed.on("$", f"not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ValidationFailed.on("$", "a JSON object is expected")
    return document


@epcis_endpoint("GET")
def top_level(request: HttpRequest) -> HttpResponse:
    return JsonResponse(["capture", "events", "eventTypes", "epcs", "queries"], safe=False)


@epcis_endpoint("GET", "POST")
def capture(request: HttpRequest) -> HttpResponse:
    user = request_user_or_none(request)
    if request.method == "GET":
        require(user, "traceability.event.view")
        jobs = CaptureJob.objects.order_by("-created_at")[:100]
        return JsonResponse([_job(j) for j in jobs], safe=False)
    require(user, "traceability.event.capture")
    behaviour = request.headers.get("GS1-Capture-Error-Behaviour", "rollback")
    job = services.capture_job_submit(
        actor=user, document=_json_body(request), error_behaviour=behaviour
    )
    response = HttpResponse(status=202)
    response["Location"] = f"/epcis/capture/{job.pk}"
    return response


def _job(job: CaptureJob) -> dict[str, Any]:
    return {
        "captureID": str(job.pk),
        "createdAt": job.created_at.isoformat(),
        "finishedAt": job.finished_at.isoformat() if job.finished_at else None,
        "running": job.state == CaptureJob.State.RUNNING,
        "success": job.state == CaptureJob.State.SUCCESS,
        "captureErrorBehaviour": job.error_behaviour,
        "errors": job.errors,
        "capturedCount": job.captured,
        "duplicateCount": job.duplicates,
    }


@epcis_endpoint("GET")
def capture_job(request: HttpRequest, capture_id: str) -> HttpResponse:
    require(request_user_or_none(request), "traceability.event.view")
    job = CaptureJob.objects.filter(pk=capture_id).first()
    if job is None:
        raise NotFound("no such capture job")
    return JsonResponse(_job(job))


def _export(event: Event) -> dict[str, Any]:
    return {k: v for k, v in event.body.items() if k != "@context"}


def _query_document(events: list[Event], name: str = "") -> dict[str, Any]:
    results: dict[str, Any] = {"resultsBody": {"eventList": [_export(e) for e in events]}}
    if name:
        results["queryName"] = name
    return {
        "@context": [DEFAULT_CONTEXT],
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": timezone.now().isoformat(),
        "epcisBody": {"queryResults": results},
    }


def _page(request: HttpRequest, params: dict[str, str], path: str, name: str = "") -> HttpResponse:
    conf = module_config(TraceabilitySettings)
    user = request_user_or_none(request)
    events = selectors.events_query(user=user, params=params)
    try:
        per_page = min(int(params.get("perPage", conf.query_page_size)), conf.query_max_page_size)
    except ValueError as exc:
        raise ValidationFailed.on("perPage", "an integer is expected") from exc
    descending = params.get("orderDirection", "ASC").upper() == "DESC"
    if params.get("orderBy", "eventTime") not in ("eventTime",):
        raise ValidationFailed.on("orderBy", "only eventTime is supported")
    token = params.get("nextPageToken")
    if token:
        try:
            after = signing.loads(token, salt=_TOKEN_SALT)
        except signing.BadSignature as exc:
            raise ValidationFailed.on("nextPageToken", "unknown or expired token") from exc
        when = parse_datetime(str(after.get("t", "")))
        if when is None:
            raise ValidationFailed.on("nextPageToken", "unknown or expired token")
        if descending:
            events = events.filter(event_time__lt=when) | events.filter(
                event_time=when, pk__lt=after["i"]
            )
        else:
            events = events.filter(event_time__gt=when) | events.filter(
                event_time=when, pk__gt=after["i"]
            )
    order = ("-event_time", "-pk") if descending else ("event_time", "pk")
    found = list(events.order_by(*order)[: per_page + 1])
    response = JsonResponse(_query_document(found[:per_page], name))
    if len(found) > per_page:
        last = found[per_page - 1]
        next_token = signing.dumps(
            {"t": last.event_time.isoformat(), "i": last.pk}, salt=_TOKEN_SALT
        )
        query = {k: v for k, v in request.GET.dict().items() if k != "nextPageToken"}
        query["nextPageToken"] = next_token
        response["Link"] = f'<{path}?{urlencode(query)}>; rel="next"'
    return response


@epcis_endpoint("GET", "POST")
def events(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request, request.GET.dict(), request.path)
    user = request_user_or_none(request)
    require(user, "traceability.event.capture")
    event = _json_body(request)
    if event.get("type") not in EVENT_TYPES:
        raise ValidationFailed.on("$.type", "one EPCIS event is expected")
    document = {
        "@context": event.get("@context", [DEFAULT_CONTEXT]),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": timezone.now().isoformat(),
        "epcisBody": {"eventList": [{k: v for k, v in event.items() if k != "@context"}]},
    }
    result = services.events_capture(actor=user, document=document)
    if result.duplicates:
        raise Conflict("the event was already captured (same event hash); nothing stored")
    response = HttpResponse(status=201)
    response["Location"] = f"/epcis/events/{quote(result.captured[0], safe='')}"
    return response


@epcis_endpoint("GET")
def event_detail(request: HttpRequest, event_id: str) -> HttpResponse:
    event = selectors.event_by_id(user=request_user_or_none(request), event_id=event_id)
    return JsonResponse(_query_document([event]))


@epcis_endpoint("GET")
def epc_events(request: HttpRequest, epc: str) -> HttpResponse:
    params = request.GET.dict() | {"MATCH_anyEPC": epc}
    params.pop("MATCH_anyEPCClass", None)
    user = request_user_or_none(request)
    instance = selectors.events_query(user=user, params=params)
    if not instance.exists():
        params = request.GET.dict() | {"MATCH_anyEPCClass": epc}
    return _page(request, params, request.path)


@epcis_endpoint("GET")
def event_type_events(request: HttpRequest, event_type: str) -> HttpResponse:
    if event_type not in EVENT_TYPES:
        raise NotFound("no such event type")
    return _page(request, request.GET.dict() | {"eventType": event_type}, request.path)


def _named(query: NamedQuery) -> dict[str, Any]:
    return {"name": query.name, "query": query.query}


@epcis_endpoint("GET", "POST")
def queries(request: HttpRequest) -> HttpResponse:
    user = request_user_or_none(request)
    if request.method == "GET":
        found = selectors.named_query_list(user=user)[:1000]
        return JsonResponse([_named(q) for q in found], safe=False)
    body = _json_body(request)
    created = services.named_query_create(
        actor=user, name=body.get("name", ""), query=body.get("query")
    )
    response = HttpResponse(status=201)
    response["Location"] = f"/epcis/queries/{quote(created.name, safe='')}"
    return response


@epcis_endpoint("GET", "DELETE")
def query_detail(request: HttpRequest, name: str) -> HttpResponse:
    user = request_user_or_none(request)
    if request.method == "DELETE":
        services.named_query_delete(actor=user, name=name)
        return HttpResponse(status=204)
    return JsonResponse(_named(selectors.named_query_get(user=user, name=name)))


@epcis_endpoint("GET")
def query_events(request: HttpRequest, name: str) -> HttpResponse:
    """The named query's results, a page at a time: its definition, with `perPage` and
    `nextPageToken` from the request."""
    query = selectors.named_query_get(user=request_user_or_none(request), name=name)
    params = selectors.named_query_params(query.query)
    params |= {k: v for k, v in request.GET.dict().items() if k in ("perPage", "nextPageToken")}
    return _page(request, params, request.path, query.name)

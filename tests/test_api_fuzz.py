"""Schemathesis over every operation of docs/openapi.json, against a live test server over the
small demo city, as a visitor and as every demo login (each a role).

Each operation gets a fixed budget of generated requests, valid ones and invalid ones (wrong
types, values outside the schema's bounds, missing fields), each sent as an identity drawn from
the logins. A run fails on any 5xx, any error under /api/ that is not JSON (a problem document,
or a standard's own JSON), a status code or content type the document does not declare, and a
response body that violates the document's schema. Runs are derandomised, so CI sees the same
requests every time; `CIVICHUB_FUZZ_EXAMPLES` raises the budget for a longer run by hand."""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.conf import settings
from django.test import Client
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from civichub.broadcast.models import BroadcastAccount, Comment, KeywordFilter, Post
from civichub.casework.models import Case, ContactVerification
from civichub.core import demo, services
from civichub.core.models import Organisation, Resident, User
from civichub.notify.models import Dispatch, Notification
from civichub.wellbeing.models import Alert, AwayPeriod, Household, Meter, VisitTask

pytestmark = pytest.mark.django_db(transaction=True)

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
EXAMPLES_PER_OPERATION = int(os.environ.get("CIVICHUB_FUZZ_EXAMPLES", "10"))
JSON_TYPES = ("application/json", "application/problem+json")


def problem_for_every_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """An error under /api/ is JSON: a problem document (or a standard's own JSON), never an
    HTML page or plain text."""
    content_type = response.headers.get("content-type", [""])[0]
    if response.status_code >= 400 and not content_type.startswith(JSON_TYPES):
        raise AssertionError(
            f"{response.status_code} answered as {content_type or 'no content type'}, "
            "not a problem document"
        )
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    problem_for_every_error,
]


@dataclass
class Tally:
    operations: int = 0
    examples: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, str] = field(default_factory=dict)
    slowest: list[tuple[float, str]] = field(default_factory=list)


def identities() -> dict[str, dict[str, str]]:
    """A visitor, and a bearer token for every demo login."""
    headers: dict[str, dict[str, str]] = {"visitor": {}}
    for login in demo.demo_logins():
        user = User.objects.get(username=login.username)
        _, secret = services.api_token_create(actor=user, name="fuzz")
        headers[f"{login.role}:{login.username}"] = {"Authorization": f"Bearer {secret}"}
    return headers


def known_values() -> dict[str, list[Any]]:
    """Path parameters that name records of the demo city, so that half the requests reach past
    the 404 into the handlers. Tokens are left out: a request deleting one would sign an
    identity out for the rest of the run."""
    first = slice(0, 8)

    def pks(model: Any) -> list[Any]:
        return list(model.objects.order_by("pk").values_list("pk", flat=True)[first])

    return {
        "handle": list(BroadcastAccount.objects.values_list("handle", flat=True)[first]),
        "post_id": pks(Post),
        "comment_id": pks(Comment),
        "filter_id": pks(KeywordFilter),
        "user_id": pks(User),
        "tracking_number": list(Case.objects.values_list("tracking_number", flat=True)[first]),
        "verification_id": pks(ContactVerification),
        "resident_id": pks(Resident),
        "org_id": pks(Organisation),
        "notification_id": pks(Notification),
        "dispatch_id": pks(Dispatch),
        "household_id": pks(Household),
        "meter_pk": pks(Meter),
        "alert_id": pks(Alert),
        "away_id": pks(AwayPeriod),
        "visit_id": pks(VisitTask),
        "action": ["casework.case.view", "core.resident.view", "broadcast.post.publish"],
    }


def operation_strategy(operation: Any, known: dict[str, list[Any]]) -> Any:
    """Valid and invalid requests, with generated path parameters and with known ones."""
    generated = [operation.as_strategy(mode) for mode in GenerationMode]
    names = [p.name for p in operation.path_parameters]
    if not names or not all(known.get(name) for name in names):
        return st.one_of(generated)
    fixed = st.fixed_dictionaries({name: st.sampled_from(known[name]) for name in names})
    targeted = fixed.flatmap(
        lambda values: operation.as_strategy(GenerationMode.POSITIVE, path_parameters=values)
    )
    return st.one_of([*generated, targeted, targeted])


def fuzz_operation(
    operation: Any,
    base_url: str,
    who: dict[str, dict[str, str]],
    known: dict[str, list[Any]],
    tally: Tally,
) -> None:
    strategy = operation_strategy(operation, known)

    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=strategy, identity=st.sampled_from(sorted(who)))
    def run(case: Any, identity: str) -> None:
        response = case.call(base_url=base_url, headers=who[identity], timeout=30)
        tally.examples += 1
        tally.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis groups its failures
            raise AssertionError(f"as {identity}: {exc}") from exc

    started = time.perf_counter()
    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # one operation's must not hide the others'
        tally.failures[operation.label] = str(exc)[:2000]
    tally.slowest.append((time.perf_counter() - started, operation.label))


def test_every_operation_answers_without_server_errors_html_or_schema_violations(
    live_server: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path
    demo.seed_city(size="small", progress=False)
    who = identities()
    known = known_values()
    schema = schemathesis.openapi.from_dict(json.loads(DOCUMENT.read_text()))
    tally = Tally()
    for result in schema.get_all_operations():
        operation = result.ok()
        tally.operations += 1
        fuzz_operation(operation, live_server.url, who, known, tally)
    slowest = ", ".join(f"{label} {seconds:.1f}s" for seconds, label in sorted(tally.slowest)[-5:])
    print(  # noqa: T201 - the counts are the report of the run
        f"\nfuzz: {tally.operations} operations, {len(who)} identities, {tally.examples} "
        f"requests, statuses {dict(sorted(tally.statuses.items()))}, "
        f"{len(tally.failures)} operations failing; slowest: {slowest}"
    )
    report = "\n\n".join(f"{label}:\n{message}" for label, message in tally.failures.items())
    assert not tally.failures, f"{len(tally.failures)} operations failed:\n\n{report}"


METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def test_every_method_a_path_lacks_is_a_405_problem_naming_the_allowed_ones(db: Any) -> None:
    """Schemathesis sends only the documented methods; the others are tried here, on every
    path of the document: a 405 problem with the Allow header, never an HTML page."""
    document = json.loads(DOCUMENT.read_text())
    client = Client()
    tried = 0
    for template, operations in document["paths"].items():
        path = re.sub(r"\{[^}]+\}", "1", template)
        allowed = {method.upper() for method in operations}
        for method in sorted(METHODS - allowed):
            response = client.generic(method, path)
            tried += 1
            assert response.status_code == 405, (method, path, response.status_code)
            assert response["Content-Type"] == "application/problem+json", (method, path)
            assert {m.strip() for m in response["Allow"].split(",")} == allowed, (method, path)
    assert tried > 300

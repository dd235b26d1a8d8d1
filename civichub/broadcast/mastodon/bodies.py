"""Request bodies as Mastodon takes them: forms (also on PUT) or JSON."""

from __future__ import annotations

import json

from django.http import HttpRequest, QueryDict

from civichub.core.errors import ValidationFailed


def json_form(request: HttpRequest) -> None:
    """Mastodon takes JSON bodies as well as forms (some apps send only JSON): a JSON object
    becomes the request's form, lists as `name[]` the way form clients send them. A form sent
    with PUT or PATCH is parsed too."""
    if request.method in {"PUT", "PATCH"} and request.content_type in {
        "application/x-www-form-urlencoded",
        "",
    }:
        # Django parses forms of POST requests only; Mastodon edits a status with PUT.
        request.POST = QueryDict(request.body, encoding=request.encoding)
        return
    if request.method not in {"POST", "PUT", "PATCH"} or request.content_type != "application/json":
        return
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise ValidationFailed("Validation failed: the body is not JSON") from None
    if not isinstance(body, dict):
        raise ValidationFailed("Validation failed: the body is not a JSON object")
    form = QueryDict(mutable=True)
    for name, value in body.items():
        if isinstance(value, list):
            form.setlist(f"{name}[]", [str(v) for v in value])
        elif isinstance(value, bool):
            form[name] = "1" if value else "0"
        elif value is not None:
            form[name] = value if isinstance(value, str) else json.dumps(value)
    request.POST = form  # type: ignore[assignment]  # Django's stubs call POST immutable

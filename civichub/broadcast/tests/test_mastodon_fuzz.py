"""The Mastodon client API has no OpenAPI document here, so these strategies are written by hand
from its routes: every endpoint (the streaming ones aside: they hold the connection open) with
any method, as a visitor, a resident or a publisher, with ids of real statuses, comments,
reblogs and accounts and edge values (ids beyond 64 bits, negative, empty, arbitrary text),
paging and filter parameters, and form or JSON bodies. Whatever is sent, the answer is never a
5xx, and an error is Mastodon's `{"error": ...}` JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civichub.broadcast import services
from civichub.broadcast.mastodon import services as mastodon_services
from civichub.broadcast.tests.conftest import Broadcast

EXAMPLES = 200
SCOPES = "read write follow push"

TEXT = st.text(max_size=30)
NUMBERS = st.one_of(
    st.integers().map(str),
    st.sampled_from(["", "-1", "0", str(2**63), str(2**64), "1e3", "NaN"]),
)
PATHS = [
    "api/v1/instance",
    "api/v2/instance",
    "api/v1/apps",
    "api/v1/apps/verify_credentials",
    "api/v1/accounts/verify_credentials",
    "api/v1/accounts/relationships",
    "api/v1/accounts/lookup",
    "api/v1/accounts/{account}",
    "api/v1/accounts/{account}/statuses",
    "api/v1/accounts/{account}/follow",
    "api/v1/accounts/{account}/unfollow",
    "api/v1/accounts/{account}/following",
    "api/v1/accounts/{account}/followers",
    "api/v1/favourites",
    "api/v1/preferences",
    "api/v1/filters",
    "api/v1/media",
    "api/v2/media",
    "api/v1/statuses",
    "api/v1/statuses/{status}",
    "api/v1/statuses/{status}/context",
    "api/v1/statuses/{status}/history",
    "api/v1/statuses/{status}/source",
    "api/v1/statuses/{status}/reblog",
    "api/v1/statuses/{status}/unreblog",
    "api/v1/statuses/{status}/favourite",
    "api/v1/statuses/{status}/unfavourite",
    "api/v1/timelines/home",
    "api/v1/timelines/public",
    "api/v1/timelines/tag/{tag}",
    "api/v2/search",
    "api/v1/notifications",
    "api/v1/notifications/{notification}",
    "api/v1/no-such-thing",
    "oauth/token",
    "oauth/revoke",
]
QUERY = {
    "max_id": NUMBERS,
    "since_id": NUMBERS,
    "min_id": NUMBERS,
    "limit": NUMBERS,
    "local": st.sampled_from(["true", "false", "1", "x"]),
    "only_media": st.sampled_from(["true", "false"]),
    "q": TEXT,
    "type": st.one_of(st.sampled_from(["accounts", "statuses", "hashtags"]), TEXT),
    "acct": TEXT,
    "id[]": NUMBERS,
    "types[]": st.one_of(st.sampled_from(["mention", "status", "favourite"]), TEXT),
    "exclude_types[]": TEXT,
}
BODY = {
    "status": st.text(max_size=600),
    "in_reply_to_id": NUMBERS,
    "media_ids[]": st.lists(NUMBERS, max_size=3),
    "visibility": st.one_of(st.sampled_from(["public", "unlisted", "private", "direct"]), TEXT),
    "category": TEXT,
    "client_name": TEXT,
    "redirect_uris": st.one_of(st.just("urn:ietf:wg:oauth:2.0:oob"), TEXT),
    "scopes": st.one_of(st.just(SCOPES), TEXT),
    "website": TEXT,
    "grant_type": st.one_of(st.sampled_from(["password", "client_credentials", "code"]), TEXT),
    "client_id": TEXT,
    "client_secret": TEXT,
    "username": TEXT,
    "password": TEXT,
    "token": TEXT,
}


@st.composite
def some(draw: Any, choices: dict[str, Any]) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(sorted(choices)), max_size=3, unique=True))
    return {name: draw(choices[name]) for name in names}


@pytest.fixture
def ids(bc: Broadcast) -> dict[str, list[str]]:
    """Real ids of the kinds a path names, and what a client may make of them."""
    post = services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="道路施工", category="traffic"
    )
    comment = services.comment_create(actor=bc.resident_a, post_id=post.pk, text="几点结束？")
    edges = ["", "0", "-1", str(2**63), str(2**64), "c", "r", "u", "a", "c" + str(2**64)]
    return {
        "status": [str(post.pk), f"c{comment.pk}", f"r{post.pk}", *edges],
        "account": [f"a{bc.police.pk}", f"u{bc.resident_a.pk}", "safe-qingshan", *edges],
        "notification": ["1", *edges],
        "tag": ["交通", "%", *edges],
    }


@pytest.fixture
def tokens(bc: Broadcast) -> dict[str, str]:
    app, _secret = mastodon_services.client_app_register(name="fuzz", scopes_text=SCOPES)
    headers = {"visitor": ""}
    for name, user in (("resident", bc.resident_a), ("publisher", bc.police_publisher)):
        _token, secret = mastodon_services.token_for_password(app=app, user=user, scope_text=SCOPES)
        headers[name] = f"Bearer {secret}"
    return headers


@st.composite
def mastodon_requests(draw: Any, ids: dict[str, list[str]]) -> tuple[str, str, Any, str]:
    path = draw(st.sampled_from(PATHS))
    for kind, values in ids.items():
        if "{" + kind + "}" in path:
            path = path.replace("{" + kind + "}", draw(st.one_of(st.sampled_from(values), TEXT)))
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
    query = draw(some(QUERY))
    body = draw(some(BODY)) if method != "GET" else None
    encoding = draw(st.sampled_from(["form", "json", "broken"]))
    return method, path, (query, body), encoding


def send(client: Client, method: str, path: str, query: Any, body: Any, encoding: str) -> Any:
    url = "/" + path.replace("?", "%3F").replace("#", "%23")
    call = getattr(client, method.lower())
    if body is None:
        return call(url, query)
    url += "?" + "&".join(f"{k}={v}" for k, v in query.items() if isinstance(v, str))
    if encoding == "json":
        return call(url, json.dumps(body), content_type="application/json")
    if encoding == "broken":
        return call(url, b'{"status": ', content_type="application/json")
    flat = {k: v for k, v in body.items() if isinstance(v, str | list)}
    if method == "POST":
        return call(url, flat)
    return call(
        url,
        "&".join(f"{k}={v}" for k, v in flat.items() if isinstance(v, str)),
        content_type="application/x-www-form-urlencoded",
    )


@pytest.mark.django_db
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    # One city for all the examples: what a request stores stays for the next.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_the_mastodon_api_answers_anything_in_its_error_format_and_never_a_5xx(
    ids: dict[str, list[str]], tokens: dict[str, str], data: Any
) -> None:
    method, path, (query, body), encoding = data.draw(mastodon_requests(ids))
    who = data.draw(st.sampled_from(sorted(tokens)))
    client = Client(raise_request_exception=False)
    if tokens[who]:
        client.defaults["HTTP_AUTHORIZATION"] = tokens[who]
    response = send(client, method, path, query, body, encoding)
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400 and path.startswith("api/"):
        assert response["Content-Type"].startswith("application/json"), response.content[:300]
        assert isinstance(json.loads(response.content).get("error"), str)

"""What nginx's micro-cache may keep (`SharedCacheMiddleware`, `core.http.share_publicly`,
`docs/nginx.conf`): only public pages asked for by a visitor, never a signed-in user's page."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory

from civichub.core import services
from civichub.core.http import share_publicly
from civichub.core.middleware import SharedCacheMiddleware

ROOT = Path(__file__).resolve().parents[3]
# The pages shared among visitors: each shows every visitor the same thing. Sharing another
# page is a decision to review here, not a line slipped into a view.
SHARED_PAGES = {
    ("civichub/casework/views.py", "board"),
    ("civichub/casework/api.py", "board"),
    ("civichub/broadcast/views.py", "home"),
    ("civichub/portal/views.py", "home"),
    ("civichub/portal/views.py", "service_index"),
    ("civichub/portal/views.py", "service_detail"),
    ("civichub/broadcast/syndication.py", "cap_index"),
    ("civichub/broadcast/syndication.py", "account_feed"),
    ("civichub/broadcast/syndication.py", "category_feed"),
}
PUBLIC_URLS = [
    "/messages/board/",
    "/api/casework/board",
    "/broadcast/cap/index.atom",
    "/broadcast/",
    "/",
    "/services/",
]


def _signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_a_visitors_public_page_may_be_shared_and_sets_no_cookie(db: Any, url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 200
    assert response["X-Accel-Expires"] == str(settings.PUBLIC_PAGE_CACHE_SECONDS)
    assert not response.cookies  # no form token, no session: nothing of one browser's


def test_a_visitor_with_a_form_token_cookie_still_gets_the_shared_page(db: Any) -> None:
    client = Client()
    client.cookies[settings.CSRF_COOKIE_NAME] = "x" * 32
    response = client.get("/messages/board/")
    assert response["X-Accel-Expires"] == str(settings.PUBLIC_PAGE_CACHE_SECONDS)
    assert 'name="csrfmiddlewaretoken"' not in response.content.decode()


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_a_signed_in_users_page_is_never_shared(city: Any, make_user: Any, url: str) -> None:
    user = make_user("community_worker", city.community_a1)
    response = _signed_in(user).get(url)
    assert response.status_code == 200
    assert "X-Accel-Expires" not in response


def test_a_search_of_the_service_catalogue_is_not_shared(db: Any) -> None:
    assert "X-Accel-Expires" not in Client().get("/services/", {"q": "户口"})


def test_a_bearer_token_request_is_never_shared(city: Any, make_user: Any) -> None:
    user = make_user(None, None)
    _token, secret = services.api_token_create(actor=user, name="test")
    response = Client().get("/api/casework/board", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    assert "X-Accel-Expires" not in response


@pytest.mark.parametrize("cookie", [settings.SESSION_COOKIE_NAME, "messages"])
def test_a_request_with_a_session_or_messages_is_never_shared(db: Any, cookie: str) -> None:
    client = Client()
    client.cookies[cookie] = "something"
    assert "X-Accel-Expires" not in client.get("/messages/board/")


def test_pages_that_did_not_ask_are_never_shared(city: Any, make_user: Any) -> None:
    assert "X-Accel-Expires" not in Client().get("/accounts/login/")
    assert "X-Accel-Expires" not in Client().get("/broadcast/publish/", follow=True)
    assert "X-Accel-Expires" not in Client().get("/healthz")
    user = make_user("community_worker", city.community_a1)
    client = _signed_in(user)
    for url in ("/dashboard/", "/broadcast/", "/api/me", "/api/casework/cases/mine"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "X-Accel-Expires" not in response, url


def _through_middleware(response: HttpResponse, *, shared: bool = True) -> HttpResponse:
    request = RequestFactory().get("/somewhere/")

    def view(request: HttpRequest) -> HttpResponse:
        if shared:
            share_publicly(request)
        return response

    result = SharedCacheMiddleware(view)(request)
    assert isinstance(result, HttpResponse)
    return result


def test_an_answer_that_sets_a_cookie_or_is_private_is_never_shared() -> None:
    with_cookie = HttpResponse("x")
    with_cookie.set_cookie("anything", "1")
    assert "X-Accel-Expires" not in _through_middleware(with_cookie)
    for control in ("private", "no-store", "no-cache", "max-age=0, no-cache, private"):
        response = HttpResponse("x")
        response["Cache-Control"] = control
        assert "X-Accel-Expires" not in _through_middleware(response), control
    assert "X-Accel-Expires" not in _through_middleware(HttpResponse("x", status=404))
    assert _through_middleware(HttpResponse("x"))["X-Accel-Expires"] == "2"


def test_a_view_cannot_mark_itself_shared_around_the_middleware() -> None:
    response = HttpResponse("x")
    response["X-Accel-Expires"] = "3600"
    assert "X-Accel-Expires" not in _through_middleware(response, shared=False)


def test_only_the_reviewed_public_pages_ask_to_be_shared() -> None:
    asking = set()
    for path in (ROOT / "civichub").rglob("*.py"):
        relative = path.relative_to(ROOT).as_posix()
        if "/tests/" in relative or relative == "civichub/core/http.py":
            continue
        function = None
        for line in path.read_text(encoding="utf-8").splitlines():
            found = re.match(r"(?:async )?def (\w+)\(", line)
            if found:
                function = found.group(1)
            if "share_publicly(request)" in line:
                asking.add((relative, function))
    assert asking == SHARED_PAGES


def test_nginx_caches_only_what_civichub_marks_and_never_for_a_session_or_token() -> None:
    config = (ROOT / "docs" / "nginx.conf").read_text()
    directives = re.sub(r"#[^\n]*", "", config)
    assert "proxy_cache_valid" not in directives  # nothing cached for a time of nginx's choosing
    personal = re.search(r'map "([^"]+)" \$civichub_personal', directives)
    assert personal is not None
    for variable in (
        "$http_authorization",
        f"$cookie_{settings.SESSION_COOKIE_NAME}",
        "$cookie_messages",
    ):
        assert variable in personal.group(1)
    assert "proxy_cache_bypass $civichub_personal;" in directives
    assert "proxy_no_cache $civichub_personal;" in directives
    ignored = re.search(r"proxy_ignore_headers ([^;]+);", directives)
    assert ignored is not None
    assert "Set-Cookie" not in ignored.group(1) and "X-Accel-Expires" not in ignored.group(1)
    key = re.search(r'proxy_cache_key "([^"]+)";', directives)
    assert key is not None
    for part in ("$host", "$request_uri", "$http_accept_language", "$cookie_django_language"):
        assert part in key.group(1)
    assert settings.LANGUAGE_COOKIE_NAME == "django_language"
    # The event streams are never cached: their location does not turn the cache on.
    streams = directives.split("location ~ ^/(broadcast/stream/", 1)[1]
    assert "proxy_cache " not in streams


def test_a_visitor_switches_language_without_a_form_token(db: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/messages/board/"})
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "en"


def test_a_signed_in_users_language_switch_still_needs_the_form_token(
    city: Any, make_user: Any
) -> None:
    user = make_user("community_worker", city.community_a1)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/dashboard/"})
    assert response.status_code == 403
    page = client.get("/dashboard/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    response = client.post(
        "/i18n/setlang/",
        {"language": "en", "next": "/dashboard/", "csrfmiddlewaretoken": token.group(1)},
    )
    assert response.status_code == 302


def test_the_operations_guide_deploys_the_nginx_configuration_the_load_test_runs_behind() -> None:
    guide = (ROOT / "docs" / "operations.md").read_text()
    assert "[`docs/nginx.conf`](nginx.conf)" in guide
    assert "upstream civichub {" not in guide  # no second copy to drift from the tested one
    load = (ROOT / "benchmarks" / "load.py").read_text()
    assert 'NGINX_SITE = ROOT / "docs" / "nginx.conf"' in load

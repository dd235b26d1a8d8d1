"""OAuth for Mastodon clients against a live test server: Mastodon.py's `auth_request_url()` and
`log_in(code=...)` through sign-in and the consent page; redirect URIs checked against the
registered ones; codes single-use, short-lived, bound to their app and redirect URI and stored
hashed; PKCE; the client-credentials grant; revocation; scopes granted only within the app's."""

from __future__ import annotations

import base64
import hashlib
import secrets
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from mastodon import Mastodon
from mastodon.errors import MastodonIllegalArgumentError, MastodonUnauthorizedError

from civichub.broadcast.mastodon import services as oauth_services
from civichub.broadcast.mastodon.models import OAuthAuthorization, OAuthToken
from civichub.broadcast.tests.conftest import Broadcast
from civichub.core.models import AuditEvent

PASSWORD = "correct horse battery 9"
CALLBACK = "https://client.example/callback"
pytestmark = pytest.mark.django_db(transaction=True)


class Form(HTMLParser):
    """The inputs of a page's forms (name -> value) and the value of the code field."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.code = ""
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "input" and "name" in values:
            self.fields[values["name"]] = values.get("value", "")
        if tag == "input" and values.get("id") == "oauth-code":
            self.code = values.get("value", "")


def sign_in(session: requests.Session, response: requests.Response, username: str) -> Any:
    """Fills in the login page a client was sent to; returns the page it leads on to."""
    assert "/accounts/login/" in response.url
    form = Form(response.text)
    return session.post(
        response.url,
        data={**form.fields, "username": username, "password": PASSWORD},
        headers={"Referer": response.url},
    )


def consent(
    session: requests.Session, page: requests.Response, decision: str = "approve"
) -> requests.Response:
    form = Form(page.text)
    return session.post(
        page.url,
        data={**form.fields, "decision": decision},
        headers={"Referer": page.url},
        allow_redirects=False,
    )


def new_app(base: str, redirect_uris: str = "urn:ietf:wg:oauth:2.0:oob", **kw: Any) -> Mastodon:
    client_id, client_secret = Mastodon.create_app(
        "Qingshan Reader", api_base_url=base, redirect_uris=redirect_uris, **kw
    )
    return Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base)


def test_mastodon_py_signs_in_through_the_consent_page_with_an_authorization_code(
    live_server: Any, bc: Broadcast
) -> None:
    scopes = ["read", "write", "follow"]
    client = new_app(live_server.url, scopes=scopes)
    url = client.auth_request_url(scopes=scopes, allow_http=True)
    assert urlsplit(url).path == "/oauth/authorize"

    browser = requests.Session()
    login = browser.get(url)
    page = sign_in(browser, login, bc.resident_a.username)
    assert page.status_code == 200 and urlsplit(page.url).path == "/oauth/authorize"
    assert "Qingshan Reader" in page.text
    for scope in scopes:
        assert f"({scope})" in page.text

    shown = consent(browser, page)
    assert shown.status_code == 200
    code = Form(shown.text).code
    assert len(code) >= 32

    token = client.log_in(code=code, scopes=scopes, allow_http=True)
    assert client.account_verify_credentials().username == bc.resident_a.username

    # Only hashes are kept, of the code and of the token.
    grant = OAuthAuthorization.objects.get()
    assert grant.code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert grant.used_at is not None and grant.scopes == "read write follow"
    stored = OAuthToken.objects.get(user=bc.resident_a)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert {"mastodon.authorization.grant", "mastodon.token.create"} <= set(
        AuditEvent.objects.filter(actor=bc.resident_a).values_list("action", flat=True)
    )

    # A code is good for one token only.
    second = new_app(live_server.url, scopes=scopes)
    second.client_id, second.client_secret = client.client_id, client.client_secret
    with pytest.raises(MastodonIllegalArgumentError, match="invalid_grant"):
        second.log_in(code=code, scopes=scopes, allow_http=True)

    # Revoked, the token opens nothing.
    client.revoke_access_token(allow_http=True)
    stale = Mastodon(access_token=token, api_base_url=live_server.url)
    with pytest.raises(MastodonUnauthorizedError, match="The access token is invalid"):
        stale.account_verify_credentials()


def test_a_signed_in_resident_goes_straight_to_consent_and_force_login_asks_again(
    live_server: Any, bc: Broadcast
) -> None:
    client = new_app(live_server.url, scopes=["read"])
    browser = requests.Session()
    sign_in(browser, browser.get(f"{live_server.url}/accounts/login/"), bc.resident_a.username)
    page = browser.get(client.auth_request_url(scopes=["read"], allow_http=True))
    assert urlsplit(page.url).path == "/oauth/authorize" and "(read)" in page.text

    forced = browser.get(
        client.auth_request_url(scopes=["read"], force_login=True, allow_http=True)
    )
    assert "/accounts/login/" in forced.url
    again = sign_in(browser, forced, bc.resident_b.username)
    assert urlsplit(again.url).path == "/oauth/authorize"
    code = Form(consent(browser, again).text).code
    client.log_in(code=code, scopes=["read"], allow_http=True)
    assert client.account_verify_credentials().username == bc.resident_b.username


def test_the_code_goes_only_to_a_registered_redirect_uri_with_the_state(
    live_server: Any, bc: Broadcast
) -> None:
    client = new_app(live_server.url, redirect_uris=CALLBACK, scopes=["read"])
    browser = requests.Session()
    sign_in(browser, browser.get(f"{live_server.url}/accounts/login/"), bc.resident_a.username)

    elsewhere = client.auth_request_url(
        redirect_uris="https://evil.example/steal", scopes=["read"], allow_http=True
    )
    refused = browser.get(elsewhere, allow_redirects=False)
    assert refused.status_code == 400 and "Location" not in refused.headers

    page = browser.get(
        client.auth_request_url(
            redirect_uris=CALLBACK, scopes=["read"], state="s-8231", allow_http=True
        )
    )
    approved = consent(browser, page)
    assert approved.status_code == 302
    location = urlsplit(approved.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    query = parse_qs(location.query)
    assert query["state"] == ["s-8231"]

    # The code must come back with the redirect URI it was issued for.
    with pytest.raises(MastodonIllegalArgumentError, match="invalid_grant"):
        client.log_in(code=query["code"][0], scopes=["read"], allow_http=True)
    client.log_in(code=query["code"][0], redirect_uri=CALLBACK, scopes=["read"], allow_http=True)
    assert client.account_verify_credentials().username == bc.resident_a.username

    page = browser.get(
        client.auth_request_url(
            redirect_uris=CALLBACK, scopes=["read"], state="s-2", allow_http=True
        )
    )
    denied = consent(browser, page, decision="deny")
    assert denied.status_code == 302
    assert parse_qs(urlsplit(denied.headers["Location"]).query) == {
        "error": ["access_denied"],
        "state": ["s-2"],
    }
    assert OAuthAuthorization.objects.count() == 1


def test_a_code_expires_and_serves_only_the_app_it_was_issued_to(
    live_server: Any, bc: Broadcast, monkeypatch: pytest.MonkeyPatch
) -> None:
    ours = new_app(live_server.url, scopes=["read"])
    theirs = new_app(live_server.url, scopes=["read"])
    browser = requests.Session()
    page = sign_in(
        browser,
        browser.get(ours.auth_request_url(scopes=["read"], allow_http=True)),
        bc.resident_a.username,
    )
    code = Form(consent(browser, page).text).code
    with pytest.raises(MastodonIllegalArgumentError, match="invalid_grant"):
        theirs.log_in(code=code, scopes=["read"], allow_http=True)

    import datetime as dt

    monkeypatch.setattr(oauth_services, "CODE_LIFETIME", dt.timedelta(seconds=-1))
    page = browser.get(ours.auth_request_url(scopes=["read"], allow_http=True))
    expired = Form(consent(browser, page).text).code
    with pytest.raises(MastodonIllegalArgumentError, match="invalid_grant"):
        ours.log_in(code=expired, scopes=["read"], allow_http=True)
    ours.log_in(code=code, scopes=["read"], allow_http=True)  # the first, still fresh, works


def test_pkce_binds_the_code_to_the_clients_verifier(live_server: Any, bc: Broadcast) -> None:
    client = new_app(live_server.url, scopes=["read"])
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    url = client.auth_request_url(scopes=["read"], allow_http=True)
    url += f"&code_challenge={challenge.decode()}&code_challenge_method=S256"
    browser = requests.Session()
    page = sign_in(browser, browser.get(url), bc.resident_a.username)
    code = Form(consent(browser, page).text).code
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": "urn:ietf:wg:oauth:2.0:oob",
        "client_id": client.client_id,
        "client_secret": client.client_secret,
    }
    without = requests.post(f"{live_server.url}/oauth/token", data=form, timeout=10)
    assert without.status_code == 400 and without.json()["error"] == "invalid_grant"
    # The failed attempt did not use the code up.
    granted = requests.post(
        f"{live_server.url}/oauth/token", data={**form, "code_verifier": verifier}, timeout=10
    )
    assert granted.status_code == 200 and granted.json()["scope"] == "read"


def test_scopes_are_granted_only_within_the_apps_and_are_checked(
    live_server: Any, bc: Broadcast
) -> None:
    narrow = new_app(live_server.url, scopes=["read"])
    with pytest.raises(MastodonIllegalArgumentError, match="invalid_scope"):
        narrow.log_in(
            username=bc.resident_a.username,
            password=PASSWORD,
            scopes=["read", "write"],
            allow_http=True,
        )
    refused = requests.post(
        f"{live_server.url}/api/v1/apps",
        data={"client_name": "x", "scopes": "read write:everything"},
        timeout=10,
    )
    assert refused.status_code == 422 and "write:everything" in refused.json()["error"]
    for field, value in (
        ("redirect_uris", "javascript:alert(1)"),
        ("redirect_uris", "https://client.example/cb#fragment"),
        ("website", "javascript:alert(1)"),
    ):
        bad = requests.post(
            f"{live_server.url}/api/v1/apps",
            data={"client_name": "x", "scopes": "read", field: value},
            timeout=10,
        )
        assert bad.status_code == 422, (field, value)
        assert bad.json()["error"].startswith("Validation failed: ")
    bad_client = requests.post(
        f"{live_server.url}/oauth/token",
        data={"grant_type": "password", "client_id": "nobody", "client_secret": "x"},
        timeout=10,
    )
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
    assert "error_description" in bad_client.json()


def test_client_credentials_give_an_app_token_that_reads_public_data_only(
    live_server: Any, bc: Broadcast
) -> None:
    client = new_app(live_server.url, scopes=["read", "write"])
    response = requests.post(
        f"{live_server.url}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "scope": "read",
        },
        timeout=10,
    )
    assert response.status_code == 200
    app_token = response.json()["access_token"]
    assert OAuthToken.objects.get(user=None).scopes == "read"
    headers = {"Authorization": f"Bearer {app_token}"}
    me = requests.get(
        f"{live_server.url}/api/v1/apps/verify_credentials", headers=headers, timeout=10
    )
    assert me.json()["name"] == "Qingshan Reader"
    public = requests.get(f"{live_server.url}/api/v1/timelines/public", headers=headers, timeout=10)
    assert public.status_code == 200
    home = requests.get(f"{live_server.url}/api/v1/timelines/home", headers=headers, timeout=10)
    assert home.status_code == 422
    assert home.json() == {"error": "This method requires an authenticated user"}


def test_a_resident_sees_the_apps_they_authorised_and_withdraws_one(
    live_server: Any, bc: Broadcast
) -> None:
    reader = new_app(live_server.url, scopes=["read"])
    reader.log_in(
        username=bc.resident_a.username, password=PASSWORD, scopes=["read"], allow_http=True
    )
    other_client_id, other_secret = Mastodon.create_app(
        "Weather Widget", api_base_url=live_server.url, scopes=["read:statuses"]
    )
    widget = Mastodon(
        client_id=other_client_id, client_secret=other_secret, api_base_url=live_server.url
    )
    widget.log_in(
        username=bc.resident_a.username,
        password=PASSWORD,
        scopes=["read:statuses"],
        allow_http=True,
    )
    Mastodon.create_app("Never Used", api_base_url=live_server.url)  # no token: not listed

    browser = requests.Session()
    url = f"{live_server.url}/oauth/authorized_applications"
    page = sign_in(browser, browser.get(url), bc.resident_a.username)
    assert "Qingshan Reader" in page.text and "Weather Widget" in page.text
    assert "Never Used" not in page.text
    assert "(read:statuses)" in page.text

    reader_app = OAuthToken.objects.get(app__name="Qingshan Reader").app_id
    form = Form(page.text)
    withdrawn = browser.post(
        url,
        data={"csrfmiddlewaretoken": form.fields["csrfmiddlewaretoken"], "app": reader_app},
        headers={"Referer": url},
    )
    assert withdrawn.status_code == 200
    assert "Qingshan Reader" not in withdrawn.text and "Weather Widget" in withdrawn.text
    with pytest.raises(MastodonUnauthorizedError):
        reader.account_verify_credentials()
    assert widget.timeline_home() == []
    assert AuditEvent.objects.filter(action="mastodon.authorization.revoke").count() == 1

    # Another resident's page lists none of these, and cannot withdraw them.
    other = requests.Session()
    theirs = sign_in(other, other.get(url), bc.resident_b.username)
    assert "Weather Widget" not in theirs.text
    widget_app = OAuthToken.objects.get(app__name="Weather Widget").app_id
    other.post(
        url,
        data={
            "csrfmiddlewaretoken": Form(theirs.text).fields["csrfmiddlewaretoken"],
            "app": widget_app,
        },
        headers={"Referer": url},
    )
    assert widget.timeline_home() == []


def test_apps_that_send_json_bodies_register_sign_in_and_post(
    live_server: Any, bc: Broadcast
) -> None:
    registered = requests.post(
        f"{live_server.url}/api/v1/apps",
        json={
            "client_name": "JSON Client",
            "redirect_uris": [CALLBACK, "urn:ietf:wg:oauth:2.0:oob"],
            "scopes": "read write",
        },
        timeout=10,
    ).json()
    assert registered["redirect_uris"] == [CALLBACK, "urn:ietf:wg:oauth:2.0:oob"]
    token = requests.post(
        f"{live_server.url}/oauth/token",
        json={
            "grant_type": "password",
            "client_id": registered["client_id"],
            "client_secret": registered["client_secret"],
            "username": bc.police_publisher.username,
            "password": PASSWORD,
            "scope": "read write",
        },
        timeout=10,
    ).json()
    assert token["scope"] == "read write"
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    posted = requests.post(
        f"{live_server.url}/api/v1/statuses",
        json={"status": "JSON 发布", "sensitive": False},
        headers=headers,
        timeout=10,
    )
    assert posted.status_code == 200 and posted.json()["content"] == "<p>JSON 发布</p>"
    broken = requests.post(
        f"{live_server.url}/api/v1/statuses",
        data="{not json",
        headers={**headers, "Content-Type": "application/json"},
        timeout=10,
    )
    assert broken.status_code == 422 and broken.json()["error"].startswith("Validation failed")


def test_the_consent_pages_speak_english_to_an_english_reader(
    live_server: Any, bc: Broadcast
) -> None:
    import re

    client = new_app(live_server.url, scopes=["read", "write:statuses"])
    browser = requests.Session()
    browser.headers["Accept-Language"] = "en"
    login = browser.get(client.auth_request_url(scopes=["read", "write:statuses"], allow_http=True))
    page = sign_in(browser, login, bc.resident_a.username)
    assert "Let “Qingshan Reader” use your account?" in page.text
    assert "post, repost and reply" in page.text
    code_page = consent(browser, page)
    client.log_in(
        code=Form(code_page.text).code, scopes=["read", "write:statuses"], allow_http=True
    )
    apps_page = browser.get(f"{live_server.url}/oauth/authorized_applications")
    assert "Withdraw access" in apps_page.text and "post, repost and reply" in apps_page.text
    for shown in (page, code_page, apps_page):
        main = shown.text.split('<main id="main" tabindex="-1">')[1].split("</main>")[0]
        assert not re.search(r"[\u4e00-\u9fff]", main), main


def test_password_guessing_at_the_token_endpoint_is_locked_out_like_the_login_page(
    live_server: Any, bc: Broadcast
) -> None:
    client = new_app(live_server.url, scopes=["read"])
    form = {
        "grant_type": "password",
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "username": bc.resident_a.username,
        "scope": "read",
    }
    url = f"{live_server.url}/oauth/token"
    for guess in range(4):
        wrong = requests.post(url, data={**form, "password": f"guess {guess}"}, timeout=10)
        assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    # The fifth failure locks the user name out from this address, the right password too.
    for password in ("guess 4", PASSWORD):
        locked = requests.post(url, data={**form, "password": password}, timeout=10)
        assert locked.status_code == 429
        assert locked.json()["error"] == "invalid_grant" and "access_token" not in locked.json()
    assert not OAuthToken.objects.filter(user=bc.resident_a).exists()


def test_the_consent_page_speaks_the_language_the_app_asks_for(
    live_server: Any, bc: Broadcast
) -> None:
    client = new_app(live_server.url, scopes=["read"])
    browser = requests.Session()
    sign_in(browser, browser.get(f"{live_server.url}/accounts/login/"), bc.resident_a.username)
    chinese = browser.get(client.auth_request_url(scopes=["read"], allow_http=True))
    assert "授权“Qingshan Reader”使用您的账号？" in chinese.text
    english = browser.get(client.auth_request_url(scopes=["read"], lang="en", allow_http=True))
    assert '<html lang="en">' in english.text
    assert "Let “Qingshan Reader” use your account?" in english.text
    shown = consent(browser, english)
    assert '<html lang="en">' in shown.text and "Authorisation code" in shown.text

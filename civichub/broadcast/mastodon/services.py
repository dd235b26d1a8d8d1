"""OAuth 2.0 for Mastodon clients: app registration, authorization codes, access tokens and
their revocation. Every change is atomic and audited; codes and tokens are stored hashed.

Errors are `OAuthError`s carrying RFC 6749's error code, which the OAuth endpoints render as
`{"error": code, "error_description": text}` (English, as Mastodon and its clients use them)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils import timezone

from civichub.broadcast.mastodon import scopes
from civichub.broadcast.mastodon.models import OAuthAuthorization, OAuthToken
from civichub.broadcast.models import ClientApp
from civichub.core import events
from civichub.core.audit import audit_record
from civichub.core.errors import DomainError, ValidationFailed
from civichub.core.models import User

OOB = "urn:ietf:wg:oauth:2.0:oob"
CODE_LIFETIME = dt.timedelta(minutes=10)
# A token's last use is recorded at most once a minute: a write per request would serialise
# API reads on SQLite.
TOUCH_INTERVAL = dt.timedelta(minutes=1)


class OAuthError(DomainError):
    """An RFC 6749 error: `error` is the standard's code, the message its description."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.status = status


def _invalid_grant() -> OAuthError:
    return OAuthError(
        "invalid_grant",
        "The provided authorization grant is invalid, expired, revoked, does not match the "
        "redirection URI used in the authorization request, or was issued to another client.",
    )


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# Schemes a browser would run or read locally instead of handing to an app.
UNSAFE_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "blob", "about"})


def _valid_redirect_uri(uri: str) -> bool:
    if uri == OOB:
        return True
    parts = urlsplit(uri)
    # Native apps register custom schemes (org.example.app:/callback); no fragment is allowed.
    return (
        bool(parts.scheme)
        and parts.scheme.lower() not in UNSAFE_SCHEMES
        and not parts.fragment
        and (parts.scheme not in {"http", "https"} or bool(parts.netloc))
    )


def _valid_website(url: str) -> bool:
    """The app's website is shown as a link on the consent page: a web address or nothing."""
    parts = urlsplit(url)
    return not url or (parts.scheme in {"http", "https"} and bool(parts.netloc))


def _scopes_checked(requested: list[str], field: str) -> str:
    wrong = scopes.unknown(requested)
    if wrong:
        raise ValidationFailed(
            f"Validation failed: {field} {' '.join(wrong)} is not a known scope",
            errors={field: [f"unknown scope: {s}" for s in wrong]},
        )
    return " ".join(requested)


@transaction.atomic
def client_app_register(
    *, name: str, website: str = "", redirect_uris: str = OOB, scopes_text: str = ""
) -> tuple[ClientApp, str]:
    """POST /api/v1/apps. Returns the app and its client secret, shown once."""
    name = name.strip()
    if not name:
        raise ValidationFailed(
            "Validation failed: Application name can't be blank", errors={"client_name": ["blank"]}
        )
    uris = redirect_uris.split() or [OOB]
    bad = [uri for uri in uris if not _valid_redirect_uri(uri)]
    if bad:
        raise ValidationFailed(
            "Validation failed: Redirect URI must be an absolute URI.",
            errors={"redirect_uris": bad},
        )
    website = website.strip()
    if not _valid_website(website):
        raise ValidationFailed(
            "Validation failed: Website must be an http or https address.",
            errors={"website": ["not a web address"]},
        )
    granted = _scopes_checked(scopes.parse(scopes_text or scopes.DEFAULT_SCOPES), "scopes")
    secret = secrets.token_urlsafe(32)
    app = ClientApp.objects.create(
        name=name[:100],
        website=website[:300],
        redirect_uris="\n".join(uris),
        scopes=granted,
        client_id=secrets.token_urlsafe(24),
        client_secret_hash=secret_hash(secret),
    )
    audit_record(actor=None, action="mastodon.app.register", obj=app)
    return app, secret


def client_app_authenticate(client_id: str, client_secret: str) -> ClientApp:
    app = ClientApp.objects.filter(client_id=client_id).first()
    if app is None or not secrets.compare_digest(
        app.client_secret_hash, secret_hash(client_secret)
    ):
        raise OAuthError(
            "invalid_client",
            "Client authentication failed due to unknown client, no client authentication "
            "included, or unsupported authentication method.",
            status=401,
        )
    return app


def client_app_get(client_id: str) -> ClientApp | None:
    return ClientApp.objects.filter(client_id=client_id).first()


def redirect_uri_registered(app: ClientApp, redirect_uri: str) -> bool:
    return redirect_uri in app.redirect_uris.split()


def requested_scopes(app: ClientApp, scope_text: str) -> str:
    """The scopes a client asks for, checked against the scopes its app registered."""
    requested = scopes.parse(scope_text or scopes.DEFAULT_SCOPES)
    if scopes.unknown(requested) or not scopes.covers(app.scopes, requested):
        raise OAuthError(
            "invalid_scope",
            "The requested scope is invalid, unknown, or malformed.",
        )
    return " ".join(requested)


@transaction.atomic
def authorization_grant(
    *,
    actor: User,
    app: ClientApp,
    redirect_uri: str,
    scope_text: str,
    code_challenge: str = "",
    code_challenge_method: str = "",
) -> str:
    """The resident approved the app on the consent page: returns a single-use code."""
    if not redirect_uri_registered(app, redirect_uri):
        raise OAuthError("invalid_redirect_uri", "The redirect uri included is not valid.")
    granted = requested_scopes(app, scope_text)
    if code_challenge and code_challenge_method not in {"S256", ""}:
        raise OAuthError("invalid_request", "Only the S256 code challenge method is supported.")
    code = secrets.token_urlsafe(32)
    now = timezone.now()
    authorization = OAuthAuthorization.objects.create(
        app=app,
        user=actor,
        code_hash=secret_hash(code),
        redirect_uri=redirect_uri,
        scopes=granted,
        code_challenge=code_challenge[:128],
        created_at=now,
        expires_at=now + CODE_LIFETIME,
    )
    audit_record(
        actor=actor,
        action="mastodon.authorization.grant",
        obj=authorization,
        changes={"app": app.name, "scopes": granted},
    )
    return code


def _pkce_matches(challenge: str, verifier: str) -> bool:
    digest = hashlib.sha256(verifier.encode()).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return secrets.compare_digest(challenge, expected)


def _token_create(*, app: ClientApp, user: User | None, granted: str) -> tuple[OAuthToken, str]:
    secret = secrets.token_urlsafe(32)
    token = OAuthToken.objects.create(
        app=app, user=user, token_hash=secret_hash(secret), scopes=granted
    )
    audit_record(
        actor=user,
        action="mastodon.token.create",
        obj=token,
        changes={"app": app.name, "scopes": granted},
    )
    return token, secret


@transaction.atomic
def token_for_code(
    *, app: ClientApp, code: str, redirect_uri: str, code_verifier: str = ""
) -> tuple[OAuthToken, str]:
    """The authorization-code grant: each code is redeemed once, before it expires, by the app
    it was issued to, with the redirect URI of the authorization request."""
    now = timezone.now()
    authorization = (
        OAuthAuthorization.objects.select_related("user")
        .filter(code_hash=secret_hash(code), app=app)
        .first()
    )
    if (
        authorization is None
        or authorization.expires_at <= now
        or authorization.redirect_uri != redirect_uri
        or not authorization.user.is_active
    ):
        raise _invalid_grant()
    if authorization.code_challenge and not _pkce_matches(
        authorization.code_challenge, code_verifier
    ):
        raise _invalid_grant()
    # The conditional update is the single-use guarantee: of two concurrent redemptions only
    # one changes the row.
    redeemed = OAuthAuthorization.objects.filter(pk=authorization.pk, used_at__isnull=True).update(
        used_at=now
    )
    if not redeemed:
        raise _invalid_grant()
    return _token_create(app=app, user=authorization.user, granted=authorization.scopes)


@transaction.atomic
def token_for_password(*, app: ClientApp, user: User, scope_text: str) -> tuple[OAuthToken, str]:
    """The password grant (the caller has authenticated the user)."""
    return _token_create(app=app, user=user, granted=requested_scopes(app, scope_text))


@transaction.atomic
def token_for_app(*, app: ClientApp, scope_text: str) -> tuple[OAuthToken, str]:
    """The client-credentials grant: a token of the app itself, acting for nobody."""
    return _token_create(app=app, user=None, granted=requested_scopes(app, scope_text))


@transaction.atomic
def token_revoke(*, app: ClientApp, secret: str) -> None:
    """POST /oauth/revoke. Revoking an unknown or another app's token is silently done nothing
    to (RFC 7009), so that the answer tells a caller nothing about other tokens."""
    token = OAuthToken.objects.filter(
        token_hash=secret_hash(secret), app=app, revoked_at__isnull=True
    ).first()
    if token is None:
        return
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit_record(actor=token.user, action="mastodon.token.revoke", obj=token)
    _streams_end([token.token_hash])


def _streams_end(token_hashes: list[str]) -> None:
    """The streams the revoked tokens opened end once the revocation commits (Mastodon's
    streaming server closes them too)."""
    if token_hashes:
        channels = [events.credential_channel(h) for h in token_hashes]
        events.publish(channels, events.Event(events.STREAM_END))


def token_authenticate(secret: str) -> OAuthToken | None:
    """The live token for a bearer secret, with its app and user, or None."""
    token = (
        OAuthToken.objects.select_related("app", "user")
        .filter(token_hash=secret_hash(secret), revoked_at__isnull=True)
        .first()
    )
    if token is None or (token.user is not None and not token.user.is_active):
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOUCH_INTERVAL:
        OAuthToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def token_json(token: OAuthToken, secret: str) -> dict[str, Any]:
    return {
        "access_token": secret,
        "token_type": "Bearer",
        "scope": token.scopes,
        "created_at": int(token.created_at.timestamp()),
    }


@transaction.atomic
def authorization_revoke(*, actor: User, app_id: int) -> int:
    """A resident withdraws an app's access: every token the app holds for them stops working
    and its unused codes with them. Returns the number of tokens revoked."""
    now = timezone.now()
    app = ClientApp.objects.filter(pk=app_id).first()
    if app is None:
        return 0
    live = OAuthToken.objects.filter(app=app, user=actor, revoked_at__isnull=True)
    hashes = list(live.values_list("token_hash", flat=True))
    revoked = live.update(revoked_at=now)
    _streams_end(hashes)
    OAuthAuthorization.objects.filter(app=app, user=actor, used_at__isnull=True).update(used_at=now)
    audit_record(
        actor=actor,
        action="mastodon.authorization.revoke",
        obj=app,
        changes={"tokens": revoked},
    )
    return revoked

"""HTTP Signatures on requests between servers (ActivityPub deliveries now): signing in the
draft-cavage form every fediverse server reads, and verifying both that form (as Mastodon sends
it: `Signature: keyId=…,algorithm=…,headers="(request-target) host date digest",signature=…`)
and RFC 9421 (`Signature-Input` and `Signature`, through the `http-message-signatures` library,
which implements the RFC's signature base and Content-Digest in full).

Whatever the form, a verified request has: a signature by the key its key id names over the
method, the target, the host and a time; a body digest (Digest or Content-Digest) that matches
the body, covered by the signature; and a time within `window` of now. Replays are the caller's
to refuse (`SignedRequest.replay_key` names the signature once)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import http_message_signatures as hms
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from http_message_signatures import algorithms as hms_algorithms

__all__ = [
    "SignatureRefused",
    "SignedRequest",
    "digest_header",
    "key_pair_new",
    "private_key_load",
    "sign_request",
    "verify_request",
]

_CAVAGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class SignatureRefused(Exception):
    """The request's signature, digest or time does not hold; `reason` says which part."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class SignedRequest:
    key_id: str
    # A digest of the signature value: the same request sent twice has the same one.
    replay_key: str
    form: str  # "cavage" or "rfc9421"


def key_pair_new() -> tuple[str, str]:
    """A new RSA key pair as (private PEM, public PEM): RSA-SHA256 is what every server reads."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def private_key_load(pem: str) -> rsa.RSAPrivateKey:
    """A private key from PEM (checked on load, which costs more than a signature: a sender of
    many requests loads it once)."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("only RSA keys sign requests")
    return key


def digest_header(body: bytes) -> str:
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()


def http_date(when: dt.datetime) -> str:
    return format_datetime(when.astimezone(dt.UTC), usegmt=True)


def sign_request(
    *,
    method: str,
    url: str,
    body: bytes,
    key_id: str,
    private_key_pem: str | rsa.RSAPrivateKey,
    now: dt.datetime,
) -> dict[str, str]:
    """The headers that sign a request in the draft-cavage form (Host, Date, Digest on a body,
    Signature over "(request-target) host date digest")."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Host": parts.netloc, "Date": http_date(now)}
    names = ["(request-target)", "host", "date"]
    if method.upper() != "GET" or body:
        headers["Digest"] = digest_header(body)
        names.append("digest")
    lines = [
        f"(request-target): {method.lower()} {target}"
        if name == "(request-target)"
        else f"{name}: {headers[name.capitalize()]}"
        for name in names
    ]
    key = private_key_load(private_key_pem) if isinstance(private_key_pem, str) else private_key_pem
    signature = key.sign("\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
    headers["Signature"] = (
        f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(names)}",'
        f'signature="{base64.b64encode(signature).decode()}"'
    )
    return headers


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _time_checked(when: dt.datetime, now: dt.datetime, window: dt.timedelta) -> None:
    if abs(now - when) > window:
        raise SignatureRefused("time")


def _digest_checked(headers: dict[str, str], body: bytes) -> None:
    """A Digest header's SHA-256 (the algorithm Mastodon sends) must match the body."""
    value = headers.get("digest", "")
    for part in value.split(","):
        algorithm, _sep, encoded = part.strip().partition("=")
        if algorithm.lower() == "sha-256":
            if encoded != base64.b64encode(hashlib.sha256(body).digest()).decode():
                raise SignatureRefused("digest")
            return
    raise SignatureRefused("digest")


def _public_key(pem: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise SignatureRefused("key") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise SignatureRefused("key")
    return key


def _verify_cavage(
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    public_key_for: Callable[[str], str],
    now: dt.datetime,
    window: dt.timedelta,
) -> SignedRequest:
    params = dict(_CAVAGE_PARAM.findall(headers["signature"]))
    key_id, value = params.get("keyId", ""), params.get("signature", "")
    names = params.get("headers", "date").lower().split()
    if not key_id or not value:
        raise SignatureRefused("signature")
    if params.get("algorithm", "hs2019").lower() not in ("rsa-sha256", "hs2019"):
        raise SignatureRefused("algorithm")
    # The target, the host and a time must be covered, and on a request with a body the digest.
    if "(request-target)" not in names or "host" not in names:
        raise SignatureRefused("coverage")
    if "date" in names:
        try:
            sent = parsedate_to_datetime(headers.get("date", ""))
        except (TypeError, ValueError) as exc:
            raise SignatureRefused("time") from exc
        _time_checked(sent, now, window)
    elif "(created)" in names and params.get("created", "").isdigit():
        _time_checked(dt.datetime.fromtimestamp(int(params["created"]), dt.UTC), now, window)
    else:
        raise SignatureRefused("coverage")
    if headers.get("host", "").lower() != urlsplit(url).netloc.lower():
        raise SignatureRefused("host")
    if method.upper() == "POST" or body:
        if "digest" not in names:
            raise SignatureRefused("coverage")
        _digest_checked(headers, body)
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = []
    for name in names:
        if name == "(request-target)":
            lines.append(f"(request-target): {method.lower()} {target}")
        elif name in ("(created)", "(expires)"):
            lines.append(f"{name}: {params.get(name[1:-1], '')}")
        elif name in headers:
            lines.append(f"{name}: {headers[name]}")
        else:
            raise SignatureRefused("coverage")
    try:
        signature = base64.b64decode(value, validate=True)
        _public_key(public_key_for(key_id)).verify(
            signature, "\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256()
        )
    except (InvalidSignature, ValueError) as exc:
        raise SignatureRefused("signature") from exc
    return SignedRequest(key_id, hashlib.sha256(value.encode()).hexdigest(), "cavage")


@dataclass
class _Message:
    """A request as `http-message-signatures` reads one."""

    method: str
    url: str
    headers: Any


class _KeyResolver(hms.HTTPSignatureKeyResolver):
    def __init__(self, public_key_for: Callable[[str], str]) -> None:
        self.public_key_for = public_key_for

    def resolve_public_key(self, key_id: str) -> Any:
        return _public_key(self.public_key_for(key_id))


def _verify_rfc9421(
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    public_key_for: Callable[[str], str],
    window: dt.timedelta,
) -> SignedRequest:
    verifier = hms.HTTPMessageVerifier(
        signature_algorithm=hms_algorithms.RSA_V1_5_SHA256,
        key_resolver=_KeyResolver(public_key_for),
    )
    # Clocks may differ a little; the window is the signature's age limit.
    verifier.max_clock_skew = min(window, dt.timedelta(minutes=1))
    required = ["@method", "@target-uri"] + (["content-digest"] if body else [])
    message = _Message(method.upper(), url, hms.structures.CaseInsensitiveDict(headers))
    try:
        (result, *_more) = verifier.verify(
            message, max_age=window, require_components=required, body=body or None
        )
    except SignatureRefused:
        raise
    except (hms.HTTPMessageSignaturesException, ValueError) as exc:
        raise SignatureRefused("signature") from exc
    key_id = str(result.parameters.get("keyid", ""))
    return SignedRequest(
        key_id, hashlib.sha256(headers["signature"].encode()).hexdigest(), "rfc9421"
    )


def verify_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    public_key_for: Callable[[str], str],
    now: dt.datetime,
    window: dt.timedelta,
) -> SignedRequest:
    """Verifies a request signed either way (RFC 9421 where `Signature-Input` is present).
    `url` is the address the request was sent to as this server's configuration names it;
    `public_key_for(key_id)` returns the signer's public key PEM (raising SignatureRefused
    where it cannot). Raises SignatureRefused naming what failed."""
    lowered = _lower(headers)
    if "signature" not in lowered:
        raise SignatureRefused("unsigned")
    if "signature-input" in lowered:
        return _verify_rfc9421(
            method=method,
            url=url,
            headers=lowered,
            body=body,
            public_key_for=public_key_for,
            window=window,
        )
    return _verify_cavage(
        method=method,
        url=url,
        headers=lowered,
        body=body,
        public_key_for=public_key_for,
        now=now,
        window=window,
    )

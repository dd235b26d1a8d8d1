"""The one way the platform sends HTTP requests to addresses it is given (Web Push endpoints now;
connectors and webhooks later). A URL someone else supplies must not turn the server into a
client of its own network: addresses inside it (loopback, private, link-local, multicast,
reserved, unspecified; IPv4, IPv6 and IPv4-mapped IPv6) are refused when the URL is accepted,
after resolving its host, and again when the connection is made, to the address that was just
checked, so a name that resolves differently the second time (DNS rebinding) cannot get through.

CIVICHUB_OUTBOUND_ALLOW_LOOPBACK (off) lets loopback through, for a local test push service;
nothing lets the rest of the inside through."""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection

__all__ = [
    "OutboundRefused",
    "address_refusal",
    "checked_addresses",
    "guarded_session",
    "url_check",
]


class OutboundRefused(Exception):
    """A URL or the address its host resolves to is not one the platform may connect to.
    `reason` is the address class ("loopback", "private", "link_local", "multicast", "reserved",
    "unspecified"), or "scheme" or "unresolvable". Not an OSError: retrying cannot help."""

    def __init__(self, reason: str, *, host: str = "", address: str = "") -> None:
        self.reason = reason
        self.host = host
        self.address = address
        where = f"{host} ({address})" if address and address != host else host or address
        super().__init__(f"address refused ({reason}): {where}")


def address_refusal(address: str) -> str | None:
    """Why the platform may not connect to this IP address, or None if it may."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(
        address.split("%", 1)[0]  # an IPv6 zone index names an interface, not an address
    )
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return None if settings.OUTBOUND_ALLOW_LOOPBACK else "loopback"
    if ip.is_link_local:
        return "link_local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:  # shared address space (100.64/10), NAT64, and the like
        return "reserved"
    return None


def checked_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, all of them allowed, or OutboundRefused naming the
    first that is not (one bad answer refuses the name: which one is used is not ours to pick).
    A failed lookup raises socket.gaierror."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(answer[4][0]) for answer in answers))
    for address in addresses:
        reason = address_refusal(address)
        if reason is not None:
            raise OutboundRefused(reason, host=host, address=address)
    if not addresses:
        raise OutboundRefused("unresolvable", host=host)
    return addresses


def url_check(url: str, *, allow_http: bool = False) -> list[str]:
    """Checks a URL before it is stored: https (or http where the caller allows it), a host,
    and every address the host resolves to allowed. Returns those addresses."""
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        raise OutboundRefused("scheme", host=parts.hostname or "")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise OutboundRefused("scheme", host=parts.hostname) from exc
    try:
        return checked_addresses(parts.hostname, port)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundRefused("unresolvable", host=parts.hostname) from exc


class _GuardedConnectionMixin:
    """Resolves and checks at connect time, then connects to a checked address itself rather
    than letting the socket layer resolve the name again."""

    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        try:
            addresses = checked_addresses(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        error: OSError | None = None
        for address in addresses:
            try:
                sock = connection.create_connection(
                    (address, self.port),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from exc
            except OSError as exc:
                error = exc
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        raise NewConnectionError(
            self,  # type: ignore[arg-type]
            f"Failed to establish a new connection: {error}",
        )


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _GuardedHTTPConnectionPool,
            "https": _GuardedHTTPSConnectionPool,
        }


def guarded_session() -> requests.Session:
    """A requests session whose every connection (redirects included) goes through the address
    check. Proxies from the environment are ignored: a proxy would make the check meaningless."""
    session = requests.Session()
    session.trust_env = False
    adapter = _GuardedAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session

"""Broadcast's part of the deployment profile (`CIVICHUB_BROADCAST`, set from the environment
in settings.py; the README lists the variables), and the addresses CAP messages and Atom feeds
are written with: the configured site, never a request's Host header."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from civichub.core.conf import core_settings
from civichub.core.config import ModuleConfig, module_config

# CAP 1.2 §3.2.1: a sender or identifier has no spaces, commas or restricted characters.
_CAP_FORBIDDEN = frozenset(" ,<&\t\r\n")


@dataclass(frozen=True)
class BroadcastSettings(ModuleConfig):
    setting: ClassVar[str] = "CIVICHUB_BROADCAST"

    # The CAP `sender` of every alert, unique to the deployment (CAP suggests an Internet
    # domain name or an address). Empty: the host name of the site address (`site_url`).
    cap_sender: str = ""
    # How long a cancelled alert stays in the public CAP index after its Cancel message, so
    # that aggregators polling it see the cancellation.
    cap_cancelled_hours: int = 24
    # Short videos: the largest upload accepted and the longest running time, both checked on
    # the probed container (not the file name), and the heights transcoded for playback
    # (HLS renditions, smallest first; the MP4 is the largest that does not upscale).
    video_max_bytes: int = 200 * 1024 * 1024
    video_max_seconds: int = 180
    video_heights: tuple[int, ...] = (360, 720)
    # ActivityPub: how far a signed request's time may lie from now (its signature is kept
    # this long, twice, to refuse the same request sent again), and how many times a
    # delivery to another server is tried (1 minute after the first failure, then four
    # times longer each time up to 12 hours: eight tries span about a day and a half).
    federation_signature_seconds: int = 3600
    federation_max_attempts: int = 8
    # ActivityPub: the most activities the inboxes take in a minute from one server (the
    # actor's host) and, separately, from one client address; more are answered 429 before any
    # signature is checked or key fetched, so one busy or hostile server cannot starve the rest.
    federation_inbox_per_minute: int = 600


def broadcast_settings() -> BroadcastSettings:
    return module_config(BroadcastSettings)


def site_url() -> str:
    """The site's public address without a trailing slash."""
    return core_settings().site_url.rstrip("/")


def absolute(path: str) -> str:
    """A path of this site (as `reverse` gives it) as a full address on the configured site."""
    return site_url() + path


def cap_sender() -> str:
    sender = broadcast_settings().cap_sender or (urlsplit(site_url()).hostname or "")
    if not sender or _CAP_FORBIDDEN & set(sender):
        raise ImproperlyConfigured(
            f"The CAP sender {sender!r} must be non-empty and free of spaces, commas, '<' and '&'"
            " (set CIVICHUB_CAP_SENDER or CIVICHUB_SITE_URL)."
        )
    return sender

"""One-time and access codes are kept only as keyed hashes (HMAC-SHA256 with the deployment's
secret key): the contact verification codes sent to anonymous senders and the access code an
anonymous sender follows their case with."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from civichub.casework.models import Case


def code_hash(code: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), code.encode(), hashlib.sha256).hexdigest()


def code_matches(stored_hash: str, code: str) -> bool:
    """Whether `code` (surrounding spaces ignored) is the one whose hash is stored."""
    return bool(stored_hash) and hmac.compare_digest(stored_hash, code_hash(code.strip()))


def access_code_matches(case: Case, code: str) -> bool:
    return code_matches(case.access_code_hash, code)

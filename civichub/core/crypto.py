"""Encryption of identity numbers and keyed hashes for exact lookup.

Keys come from CIVICHUB_IDENTITY_KEYS (comma-separated Fernet keys, newest first, so keys can be
rotated with MultiFernet) or, for an embedded install, from a key file created in the data
directory on first use. The lookup hash is an HMAC-SHA256 under a key derived from the newest
key; the hash of a number cannot be computed without it. Rotation: put a new key first; until
`civichub rotate_identity_key` has re-encrypted every number and recomputed its hash, lookups try
the hash under every key (`identity_lookup_hashes`), so residents stay findable; then the old
key can be removed, and nothing stored depends on it any more.
"""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from civichub.core.keyfiles import read_or_create


@lru_cache(maxsize=1)
def _keys() -> tuple[bytes, ...]:
    configured = [k.encode() for k in settings.IDENTITY_KEYS]
    if configured:
        return tuple(configured)
    return (read_or_create(settings.DATA_DIR / "keys" / "identity.key", Fernet.generate_key),)


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(k) for k in _keys()])


@lru_cache(maxsize=1)
def _hash_keys() -> tuple[bytes, ...]:
    """One HMAC key per identity key, newest first."""
    return tuple(hmac.new(k, b"civichub identity lookup", hashlib.sha256).digest() for k in _keys())


def normalise_identity_number(value: str) -> str:
    return value.strip().replace(" ", "").upper()


def encrypt_identity(value: str) -> bytes:
    return _fernet().encrypt(normalise_identity_number(value).encode())


def decrypt_identity(token: bytes | memoryview) -> str:
    return _fernet().decrypt(bytes(token)).decode()


def _lookup_hash(key: bytes, value: str) -> str:
    return hmac.new(key, normalise_identity_number(value).encode(), hashlib.sha256).hexdigest()


def identity_lookup_hash(value: str) -> str:
    """The hash to store: under the newest key."""
    return _lookup_hash(_hash_keys()[0], value)


def identity_lookup_hashes(value: str) -> list[str]:
    """The hashes to look for: under every key, newest first (a rotation may be under way)."""
    return [_lookup_hash(key, value) for key in _hash_keys()]


def encrypt_text(value: str) -> bytes:
    """A short secret kept only until it is used (a one-time code inside a message to send),
    under the same keys as identity numbers, so key rotation covers it."""
    return _fernet().encrypt(value.encode())


def decrypt_text(token: bytes | memoryview) -> str:
    return _fernet().decrypt(bytes(token)).decode()


def encrypted_with_newest_key(token: bytes | memoryview) -> bool:
    """Whether `token` is already under the first (newest) key, so rotation can skip it."""
    try:
        Fernet(_keys()[0]).decrypt(bytes(token))
    except InvalidToken:
        return False
    return True


def reencrypt_with_newest_key(token: bytes | memoryview) -> bytes:
    """The same plaintext under the newest key (MultiFernet.rotate keeps the original time)."""
    return _fernet().rotate(bytes(token))


def reset_key_cache() -> None:
    _keys.cache_clear()
    _fernet.cache_clear()
    _hash_keys.cache_clear()

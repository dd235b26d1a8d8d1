"""Open311 API keys: issued and revoked by operators (`civichub open311 create-key|revoke-key`),
checked on every POST and on the updates feed. The key is shown once; only its SHA-256 is kept
(a key is 32 random bytes, so a plain hash suffices, as for core's API tokens). Issuing and
revoking are audited; `actor=None` is the operator at the command line (`system:cli`)."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.casework import reference
from civichub.casework.models import Open311ApiKey
from civichub.core.audit import audit_record
from civichub.core.errors import Conflict, NotFound, ValidationFailed
from civichub.core.models import User
from civichub.core.permissions import require

KEY_PREFIX = "o311_"
NAME_MAX = 100
# Recording every use would make each POST write one more row; once a minute is enough to see
# which keys are alive.
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _check(actor: User | None) -> None:
    if actor is not None:
        require(actor, "casework.taxonomy.manage")


@transaction.atomic
def open311_key_create(*, actor: User | None, name: str) -> tuple[Open311ApiKey, str]:
    """Issues a key for a client named `name`; returns the record and the key, which is never
    stored and cannot be shown again."""
    _check(actor)
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed.on(
            "name", _("请填写使用该密钥的客户端名称（1 到 %(max)d 个字符）。") % {"max": NAME_MAX}
        )
    if Open311ApiKey.objects.filter(name=name, revoked_at__isnull=True).exists():
        message = _("已有名为 %(name)s 的有效密钥，请先吊销它。") % {"name": name}
        raise Conflict(message, errors={"name": [message]})
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = Open311ApiKey.objects.create(name=name, key_hash=key_hash(secret), prefix=secret[:12])
    audit_record(
        actor=actor,
        action="casework.open311_key.create",
        obj=key,
        changes={"name": name, "prefix": key.prefix},
    )
    return key, secret


@transaction.atomic
def open311_key_revoke(*, actor: User | None, name: str) -> Open311ApiKey:
    """Revokes the active key named `name`; requests carrying it are refused from now on."""
    _check(actor)
    key = (
        Open311ApiKey.objects.select_for_update()
        .filter(name=name.strip(), revoked_at__isnull=True)
        .first()
    )
    if key is None:
        message = _("没有名为 %(name)s 的有效密钥。") % {"name": name.strip()}
        raise NotFound(message, errors={"name": [message]})
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="casework.open311_key.revoke",
        obj=key,
        changes={"name": key.name, "prefix": key.prefix},
    )
    return key


def _read_active_keys() -> dict[str, Open311ApiKey]:
    return {k.key_hash: k for k in Open311ApiKey.objects.filter(revoked_at__isnull=True)}


# The active keys, kept in the process like intake's reference data: issuing or revoking a key
# (any save or delete, `casework.signals`) replaces every process's copy once it commits.
_active_keys = reference.ProcessCached(_read_active_keys)


def open311_key_authenticate(secret: str) -> Open311ApiKey | None:
    """The active key `secret` is, or None."""
    if not secret:
        return None
    kept = _active_keys.get().get(key_hash(secret))
    if kept is None:
        return None
    now = timezone.now()
    if kept.last_used_at is None or now - kept.last_used_at > LAST_USED_RESOLUTION:
        Open311ApiKey.objects.filter(pk=kept.pk).update(last_used_at=now)
        kept.last_used_at = now
    return copy.copy(kept)


def open311_keys() -> list[Open311ApiKey]:
    return list(Open311ApiKey.objects.all())

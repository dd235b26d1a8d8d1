"""Sending to accounts. `notification_send` writes the inbox rows and the deliveries in bulk and,
once the transaction commits, enqueues one task per chunk of delivery ids (`tasks`); a worker
then delivers them (`delivering`).

`notification_send` does not check a permission: a module calls it after checking its own
(a case handler notifying a resident need not be allowed anything in `notify`). The actor is
recorded in the audit log."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.crypto import encrypt_text
from civichub.core.errors import Conflict, ValidationFailed
from civichub.core.models import User
from civichub.core.permissions import require
from civichub.notify import kinds
from civichub.notify.models import (
    OUTSIDE_CHANNELS,
    Channel,
    Dispatch,
    Notification,
    NotificationPreference,
    Priority,
    PushSubscription,
)
from civichub.notify.services.delivering import chunks, deliveries_enqueue
from civichub.notify.services.planning import (
    NOTIFICATION_COLUMNS,
    Contact,
    SendTally,
    deliveries_insert,
    insert_returning_ids,
    row_values,
)

RECIPIENT_CHUNK = 2000  # recipients read and written per round trip


def _recipient_ids(recipients: Iterable[User | int] | QuerySet[User]) -> Iterator[list[int]]:
    if isinstance(recipients, QuerySet):
        ids: Iterable[int] = (
            recipients.order_by("pk")
            .values_list("pk", flat=True)
            .distinct()
            .iterator(chunk_size=RECIPIENT_CHUNK)
        )
    else:
        ids = _unique(r if isinstance(r, int) else r.pk for r in recipients)
    yield from chunks(ids, RECIPIENT_CHUNK)


def _unique(ids: Iterable[int]) -> Iterator[int]:
    seen: set[int] = set()
    for pk in ids:
        if pk not in seen:
            seen.add(pk)
            yield pk


def _validated_channels(kind: kinds.NotificationKind, channels: Iterable[str] | None) -> list[str]:
    requested = list(channels) if channels is not None else list(kind.default_channels)
    unknown = sorted(set(requested) - set(Channel.values))
    if unknown:
        raise ValidationFailed.on(
            "channels", _("未知的通知渠道：%(channels)s。") % {"channels": ", ".join(unknown)}
        )
    return [c for c in OUTSIDE_CHANNELS if c in requested]


def _send_chunk(
    *,
    dispatch: Dispatch,
    user_ids: list[int],
    channels: list[str],
    dedupe_key: str,
    emergency: bool,
    now: dt.datetime,
    tally: SendTally,
) -> None:
    contacts = list(
        User.objects.filter(pk__in=user_ids, is_active=True).values_list(
            "pk", "email", "phone", "resident__phone", "language"
        )
    )
    if dedupe_key:
        already = set(
            Notification.objects.filter(
                recipient_id__in=user_ids, dedupe_key=dedupe_key
            ).values_list("recipient_id", flat=True)
        )
        contacts = [c for c in contacts if c[0] not in already]
    if not contacts:
        return
    db_value = connection.ops.adapt_datetimefield_value
    db_now = db_value(now)
    notification_ids = insert_returning_ids(
        Notification,
        NOTIFICATION_COLUMNS,
        [
            row_values(
                NOTIFICATION_COLUMNS,
                dispatch_id=dispatch.pk,
                recipient_id=pk,
                language=language if language in kinds.LANGUAGES else kinds.DEFAULT_LANGUAGE,
                dedupe_key=dedupe_key,
                created_at=db_now,
                read_at=None,
            )
            for pk, _email, _phone, _resident_phone, language in contacts
        ],
    )
    tally.recipients += len(notification_ids)
    if not channels:
        return

    preferences = {
        p.user_id: p for p in NotificationPreference.objects.filter(user_id__in=user_ids)
    }
    with_push = (
        set(PushSubscription.objects.filter(user_id__in=user_ids).values_list("user_id", flat=True))
        if Channel.PUSH in channels
        else set()
    )
    deliveries_insert(
        dispatch=dispatch,
        contacts=[
            Contact(notification_id, pk, email, phone or resident_phone or "", pk in with_push)
            for notification_id, (pk, email, phone, resident_phone, _lang) in zip(
                notification_ids, contacts, strict=True
            )
        ],
        preferences=preferences,
        channels=channels,
        emergency=emergency,
        now=now,
        tally=tally,
    )


def notification_send(
    *,
    recipients: Iterable[User | int] | QuerySet[User],
    kind: str,
    context: dict[str, Any],
    priority: str = Priority.NORMAL,
    channels: Iterable[str] | None = None,
    actor: User | None = None,
    dedupe_key: str | None = None,
) -> Dispatch:
    """Notify every recipient: an inbox row each, and a delivery per outside channel that their
    preferences allow and that can reach them. Non-emergency deliveries in a recipient's quiet
    hours wait, deferred, until the hours end. One audit row per call."""
    with dedupe_conflicts(), transaction.atomic():
        send = send_open(
            kind=kind,
            context=context,
            priority=priority,
            channels=channels,
            actor=actor,
            dedupe_key=dedupe_key,
        )
        for user_ids in _recipient_ids(recipients):
            _send_chunk(
                dispatch=send.dispatch,
                user_ids=user_ids,
                channels=send.channels,
                dedupe_key=send.dedupe_key,
                emergency=send.emergency,
                now=send.now,
                tally=send.tally,
            )
        return send_close(send, actor=actor)


@contextmanager
def dedupe_conflicts() -> Iterator[None]:
    """An integrity error in a send is in practice the dedupe constraint: a concurrent send with
    the same key got there first."""
    try:
        yield
    except IntegrityError as exc:
        message = _("使用这个去重键的发送已在进行中。")
        raise Conflict(message, errors={"dedupe_key": [message]}) from exc


@dataclass
class Send:
    dispatch: Dispatch
    channels: list[str]  # the outside channels asked for
    emergency: bool
    now: dt.datetime
    dedupe_key: str
    tally: SendTally = field(default_factory=SendTally)


def _sealed_texts(definition: kinds.NotificationKind, context: dict[str, Any]) -> bytes | None:
    if not definition.secret:
        return None
    texts = {lang: kinds.render(definition, lang, context) for lang in kinds.LANGUAGES}
    return encrypt_text(json.dumps(texts, ensure_ascii=False))


def send_open(
    *,
    kind: str,
    context: dict[str, Any],
    priority: str,
    channels: Iterable[str] | None,
    actor: User | None,
    dedupe_key: str | None,
) -> Send:
    """Checks the request and writes the dispatch with its texts rendered once per language."""
    definition = kinds.get(kind)
    if definition is None:
        raise ValidationFailed.on("kind", _("未知的通知种类：%(kind)s。") % {"kind": kind})
    if priority not in Priority.values:
        raise ValidationFailed.on(
            "priority", _("未知的优先级：%(priority)s。") % {"priority": priority}
        )
    if dedupe_key is not None and len(dedupe_key) > 200:
        raise ValidationFailed.on("dedupe_key", _("去重键最多 200 个字符。"))
    outside = _validated_channels(definition, channels)
    now = timezone.now()
    dispatch = Dispatch.objects.create(
        kind=kind,
        category=definition.category,
        priority=priority,
        actor=actor,
        created_at=now,
        texts={lang: kinds.render_masked(definition, lang, context) for lang in kinds.LANGUAGES},
        sealed_texts=_sealed_texts(definition, context),
    )
    return Send(
        dispatch=dispatch,
        channels=outside,
        emergency=priority == Priority.EMERGENCY,
        now=now,
        dedupe_key=dedupe_key or "",
    )


def send_close(send: Send, *, actor: User | None, address: str = "") -> Dispatch:
    """Counts, audits (one row per send) and enqueues the queued deliveries after commit."""
    dispatch, tally = send.dispatch, send.tally
    dispatch.recipient_count = tally.recipients
    dispatch.delivery_count = tally.deliveries
    dispatch.save(update_fields=["recipient_count", "delivery_count"])
    audit_record(
        actor=actor,
        action="notification.send",
        obj=dispatch,
        changes={
            "kind": dispatch.kind,
            "priority": dispatch.priority,
            "channels": ["inapp", *send.channels],
            "recipients": tally.recipients,
            "deliveries": tally.deliveries,
            "deferred": tally.deferred,
            "dedupe_key": send.dedupe_key,
            **({"address": address} if address else {}),
        },
    )
    for ids in tally.queued.values():
        transaction.on_commit(
            partial(deliveries_enqueue, ids, emergency=send.emergency), robust=True
        )
    return dispatch


def notification_test_send(
    *,
    actor: User,
    recipient: User,
    channels: list[str],
    priority: str = Priority.NORMAL,
    message: str = "",
) -> Dispatch:
    """An operator checks the channels end to end by notifying one account."""
    require(actor, "notify.test.send")
    return notification_send(
        recipients=[recipient],
        kind="notify.test",
        priority=priority,
        channels=channels,
        actor=actor,
        context={"sender": actor.display_name(), "message": message[:500]},
    )

"""Every write to the outbox. Keyword-only, typed, atomic and audited.

Sending is in two halves. `notification_send` (and, for one address of someone without an
account, `notification_send_to_address`) writes the inbox rows and the deliveries in bulk
and, once the transaction commits, enqueues one task per chunk of delivery ids. A worker then
claims deliveries with a conditional UPDATE (state queued → sending, with a fresh lease token),
sends them through the channel adapter, and records the outcome only while its claim still
holds. `delivery_sweep` runs periodically: it re-queues deferred deliveries and temporary
failures that are due, and takes back leases that expired with their worker.

`notification_send` does not check a permission: a module calls it after checking its own
(a case handler notifying a resident need not be allowed anything in `notify`). The actor is
recorded in the audit log.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import math
import random
import secrets
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    F,
    Model,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.errors import Conflict, NotFound, ValidationFailed
from civichub.core.models import User
from civichub.core.permissions import require
from civichub.notify import kinds
from civichub.notify.channels import (
    ChannelAdapter,
    DeliveryError,
    TemporaryDeliveryError,
    adapter_for,
)
from civichub.notify.models import (
    OUTSIDE_CHANNELS,
    Channel,
    Delivery,
    DeliveryState,
    Dispatch,
    FailureKind,
    Notification,
    NotificationPreference,
    Priority,
    PushSubscription,
)

logger = logging.getLogger("civichub.notify")

RECIPIENT_CHUNK = 2000  # recipients read and written per round trip
DELIVERY_TASK_CHUNK = 500  # deliveries per enqueued task
CLAIM_BATCH = 20  # deliveries a worker claims at once; the lease must cover sending them all
LEASE_SECONDS = 600
SWEEP_PAGE = 5000
SWEEP_MAX_PAGES = 400  # 2 million rows per sweep run; the next run continues
# A queued row whose task was lost (the queue was down at commit) is enqueued again after this.
# Long, because during a large send rows legitimately wait in the queue for a while, and each
# re-enqueue of a row still waiting costs a task that finds nothing to claim.
STALE_QUEUE_SECONDS = 3600
MAX_BACKOFF_SECONDS = 6 * 3600
EMERGENCY_TASK_PRIORITY = 50


def _chunks(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _profile_int(key: str, default: int) -> int:
    value = settings.CIVICHUB_PROFILE.get(key, default)
    return int(value) if isinstance(value, int | str) else default


def _max_attempts() -> int:
    return _profile_int("notification_max_attempts", 6)


def retry_delay(attempt: int) -> dt.timedelta:
    """Exponential backoff with "equal jitter": between half and all of base·2^(attempt-1), so
    that deliveries failing together (a gateway outage) do not all come back at once."""
    base = _profile_int("notification_backoff_seconds", 30)
    ceiling = min(base * 2 ** max(attempt - 1, 0), MAX_BACKOFF_SECONDS)
    return dt.timedelta(seconds=ceiling / 2 + random.uniform(0, ceiling / 2))


# Sending ---------------------------------------------------------------------------------


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
    yield from _chunks(ids, RECIPIENT_CHUNK)


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
        message = _("未知的通知渠道：%(channels)s。") % {"channels": ", ".join(unknown)}
        raise ValidationFailed(message, errors={"channels": [message]})
    return [c for c in OUTSIDE_CHANNELS if c in requested]


def _delivery_plan(
    channel: str,
    *,
    preference: NotificationPreference,
    category: str,
    emergency: bool,
    now: dt.datetime,
) -> tuple[str, dt.datetime | None] | None:
    """The initial state of a delivery to someone the channel can reach, or None when their
    preferences rule it out."""
    if preference.is_blocked(channel):
        return None
    if not emergency and not preference.channel_enabled(category, channel):
        return None
    if not emergency:
        quiet_until = preference.quiet_until(now)
        if quiet_until is not None:
            return DeliveryState.DEFERRED, quiet_until
    return DeliveryState.QUEUED, None


@dataclass
class _SendTally:
    recipients: int = 0
    deferred: int = 0
    queued: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))

    @property
    def deliveries(self) -> int:
        return self.deferred + sum(len(ids) for ids in self.queued.values())

    def add(self, channel: str, state: str, delivery_id: int) -> None:
        """Counts a new delivery: a queued one is enqueued after commit, a deferred one waits."""
        if state == DeliveryState.QUEUED:
            self.queued[channel].append(delivery_id)
        else:
            self.deferred += 1


NOTIFICATION_COLUMNS = (
    "dispatch_id",
    "recipient_id",
    "language",
    "dedupe_key",
    "created_at",
    "read_at",
)
DELIVERY_COLUMNS = (
    "notification_id",
    "channel",
    "state",
    "failure",
    "attempts",
    "next_attempt_at",
    "enqueued_at",
    "lease_token",
    "lease_expires_at",
    "last_error",
    "sent_at",
    "created_at",
    "updated_at",
    "address",
)


def _row(columns: tuple[str, ...], **values: Any) -> tuple[Any, ...]:
    """One row's values in column order; a missing column is a KeyError, not a shifted row."""
    return tuple(str(values[c]) if isinstance(values[c], Enum) else values[c] for c in columns)


def _insert_returning_ids(
    model: type[Model], columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> list[int]:
    """INSERT … RETURNING id for many rows, ids in the rows' order (the guarantee bulk_create
    relies on too). The outbox's two big tables use it because bulk_create spends most of a
    large send preparing values one field at a time, while these rows are already in database
    form. PostgreSQL takes one array per column (a short statement however many rows); SQLite
    (≥ 3.35, for RETURNING) takes multi-row VALUES."""
    if not rows:
        return []
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    column_list = ", ".join(quote(c) for c in columns)
    returning = quote(model._meta.pk.column)
    ids: list[int] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            fields = {f.column: f for f in model._meta.concrete_fields}
            arrays = ", ".join(f"%s::{fields[c].db_type(connection)}[]" for c in columns)
            for start in range(0, len(rows), 10000):
                part = rows[start : start + 10000]
                cursor.execute(
                    f"INSERT INTO {table} ({column_list}) "  # noqa: S608  (names are ours)
                    f"SELECT * FROM unnest({arrays}) RETURNING {returning}",
                    [list(column) for column in zip(*part, strict=True)],
                )
                ids.extend(row[0] for row in cursor.fetchall())
            return ids
        placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
        per_statement = 30000 // len(columns)  # under SQLite's limit of bound variables
        for start in range(0, len(rows), per_statement):
            part = rows[start : start + per_statement]
            cursor.execute(
                f"INSERT INTO {table} ({column_list}) VALUES "  # noqa: S608  (names are ours)
                f"{', '.join([placeholders] * len(part))} RETURNING {returning}",
                [value for row in part for value in row],
            )
            ids.extend(row[0] for row in cursor.fetchall())
    return ids


def _send_chunk(
    *,
    dispatch: Dispatch,
    user_ids: list[int],
    channels: list[str],
    dedupe_key: str,
    emergency: bool,
    now: dt.datetime,
    tally: _SendTally,
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
    notification_ids = _insert_returning_ids(
        Notification,
        NOTIFICATION_COLUMNS,
        [
            _row(
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
    _deliveries_insert(
        dispatch=dispatch,
        contacts=[
            _Contact(notification_id, pk, email, phone or resident_phone or "", pk in with_push)
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


@dataclass(frozen=True)
class _Contact:
    """What deciding a recipient's deliveries needs: their inbox row and how to reach them."""

    notification_id: int
    user_id: int
    email: str
    phone: str
    has_push: bool

    def reachable(self, channel: str) -> bool:
        if channel == Channel.EMAIL:
            return bool(self.email)
        if channel == Channel.SMS:
            return bool(self.phone)
        return self.has_push


def _default_plans(
    *, channels: list[str], category: str, emergency: bool, now: dt.datetime
) -> dict[str, tuple[str, dt.datetime | None] | None]:
    """The plan of each channel for someone who never changed their preferences (most people),
    decided once per send by the same rule as everyone else's."""
    return {
        channel: _delivery_plan(
            channel,
            preference=NotificationPreference(),
            category=category,
            emergency=emergency,
            now=now,
        )
        for channel in channels
    }


def _delivery_row(
    *,
    notification_id: int | None,
    channel: str,
    plan: tuple[str, dt.datetime | None],
    db_now: Any,
) -> tuple[Any, ...]:
    """A new delivery in `DELIVERY_COLUMNS` order, in database form. An account's delivery has
    no address: it goes to the account's current one."""
    state, next_attempt_at = plan
    return _row(
        DELIVERY_COLUMNS,
        notification_id=notification_id,
        channel=channel,
        state=state,
        failure=FailureKind.NONE,
        attempts=0,
        next_attempt_at=(
            None
            if next_attempt_at is None
            else connection.ops.adapt_datetimefield_value(next_attempt_at)
        ),
        enqueued_at=db_now if state == DeliveryState.QUEUED else None,
        lease_token="",
        lease_expires_at=None,
        last_error="",
        sent_at=None,
        created_at=db_now,
        updated_at=db_now,
        address="",
    )


def _deliveries_insert(
    *,
    dispatch: Dispatch,
    contacts: list[_Contact],
    preferences: dict[int, NotificationPreference],
    channels: list[str],
    emergency: bool,
    now: dt.datetime,
    tally: _SendTally,
) -> None:
    """A delivery per channel that can reach the contact and that their preferences allow."""
    if not contacts or not channels:
        return
    db_now = connection.ops.adapt_datetimefield_value(now)
    default_plans = _default_plans(
        channels=channels, category=dispatch.category, emergency=emergency, now=now
    )
    rows: list[tuple[Any, ...]] = []
    planned: list[tuple[str, str]] = []  # (channel, state) of each row
    for contact in contacts:
        preference = preferences.get(contact.user_id)
        for channel in channels:
            if not contact.reachable(channel):
                continue
            plan = (
                default_plans[channel]
                if preference is None
                else _delivery_plan(
                    channel,
                    preference=preference,
                    category=dispatch.category,
                    emergency=emergency,
                    now=now,
                )
            )
            if plan is None:
                continue
            planned.append((channel, plan[0]))
            rows.append(
                _delivery_row(
                    notification_id=contact.notification_id,
                    channel=channel,
                    plan=plan,
                    db_now=db_now,
                )
            )
    delivery_ids = _insert_returning_ids(Delivery, DELIVERY_COLUMNS, rows)
    for delivery_id, (channel, state) in zip(delivery_ids, planned, strict=True):
        tally.add(channel, state, delivery_id)


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
    with _dedupe_conflicts(), transaction.atomic():
        send = _send_open(
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
        return _send_close(send, actor=actor)


@contextmanager
def _dedupe_conflicts() -> Iterator[None]:
    """An integrity error in a send is in practice the dedupe constraint: a concurrent send with
    the same key got there first."""
    try:
        yield
    except IntegrityError as exc:
        message = _("使用这个去重键的发送已在进行中。")
        raise Conflict(message, errors={"dedupe_key": [message]}) from exc


@dataclass
class _Send:
    dispatch: Dispatch
    channels: list[str]  # the outside channels asked for
    emergency: bool
    now: dt.datetime
    dedupe_key: str
    tally: _SendTally = field(default_factory=_SendTally)


def _send_open(
    *,
    kind: str,
    context: dict[str, Any],
    priority: str,
    channels: Iterable[str] | None,
    actor: User | None,
    dedupe_key: str | None,
) -> _Send:
    """Checks the request and writes the dispatch with its texts rendered once per language."""
    definition = kinds.get(kind)
    if definition is None:
        message = _("未知的通知种类：%(kind)s。") % {"kind": kind}
        raise ValidationFailed(message, errors={"kind": [message]})
    if priority not in Priority.values:
        message = _("未知的优先级：%(priority)s。") % {"priority": priority}
        raise ValidationFailed(message, errors={"priority": [message]})
    if dedupe_key is not None and len(dedupe_key) > 200:
        message = _("去重键最多 200 个字符。")
        raise ValidationFailed(message, errors={"dedupe_key": [message]})
    outside = _validated_channels(definition, channels)
    now = timezone.now()
    dispatch = Dispatch.objects.create(
        kind=kind,
        category=definition.category,
        priority=priority,
        actor=actor,
        created_at=now,
        texts={lang: kinds.render(definition, lang, context) for lang in kinds.LANGUAGES},
    )
    return _Send(
        dispatch=dispatch,
        channels=outside,
        emergency=priority == Priority.EMERGENCY,
        now=now,
        dedupe_key=dedupe_key or "",
    )


def _send_close(send: _Send, *, actor: User | None, address: str = "") -> Dispatch:
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


ADDRESS_CHANNELS: tuple[str, ...] = (Channel.SMS, Channel.EMAIL)
_PHONE_CHARACTERS = frozenset("0123456789+-() ")


def _address_errors(channel: str, address: str) -> list[str]:
    if channel == Channel.EMAIL:
        try:
            validate_email(address)
        except DjangoValidationError:
            return [_("不是有效的电子邮件地址。")]
        return []
    digits = sum(ch.isdigit() for ch in address)
    if not address or len(address) > 32 or set(address) - _PHONE_CHARACTERS or digits < 3:
        return [_("不是有效的手机号码。")]
    return []


def masked_address(address: str) -> str:
    """How the audit log names an address: enough to tell deliveries apart, not to reach anyone
    (the last four digits of a phone number; the first letter and domain of an e-mail)."""
    if "@" in address:
        local, _at, domain = address.rpartition("@")
        return f"{local[:1]}…@{domain}"
    return f"…{address[-4:]}"


def notification_send_to_address(
    *,
    kind: str,
    channel: str,
    address: str,
    language: str = kinds.DEFAULT_LANGUAGE,
    context: dict[str, Any],
    priority: str = Priority.NORMAL,
    actor: User | None = None,
    dedupe_key: str | None = None,
) -> Dispatch:
    """Notifies someone who has no account (a resident's relative known by a phone number) on
    one outside channel, SMS or e-mail: the same kinds and templates, the same delivery with its
    retries, backoff and lease, and the same audit row as `notification_send`. There is no
    inbox and there are no preferences: the deployment's default quiet hours defer a normal
    notification, an emergency goes at once. The address is kept on the delivery alone, and only
    until it is sent or has failed for good (the retries need it); the audit row names it
    masked. A `dedupe_key` already used for
    an address send makes this a no-op, as for a recipient already notified."""
    address = address.strip()
    if channel not in ADDRESS_CHANNELS:
        message = _("只能通过短信或电子邮件发送到地址。")
        raise ValidationFailed(message, errors={"channel": [message]})
    address_errors = _address_errors(channel, address)
    if address_errors:
        raise ValidationFailed(address_errors[0], errors={"address": address_errors})
    if language not in kinds.LANGUAGES:
        language = kinds.DEFAULT_LANGUAGE
    with _dedupe_conflicts(), transaction.atomic():
        send = _send_open(
            kind=kind,
            context=context,
            priority=priority,
            channels=[channel],
            actor=actor,
            dedupe_key=dedupe_key,
        )
        already = bool(send.dedupe_key) and (
            Notification.objects.filter(recipient__isnull=True, dedupe_key=send.dedupe_key)
            .exclude(dispatch=send.dispatch)
            .exists()
        )
        plan = _default_plans(
            channels=[channel],
            category=send.dispatch.category,
            emergency=send.emergency,
            now=send.now,
        )[channel]
        if not already and plan is not None:
            notification = Notification.objects.create(
                dispatch=send.dispatch,
                recipient=None,
                language=language,
                dedupe_key=send.dedupe_key,
                created_at=send.now,
            )
            state, next_attempt_at = plan
            delivery = Delivery.objects.create(
                notification=notification,
                channel=channel,
                address=address,
                state=state,
                next_attempt_at=next_attempt_at,
                enqueued_at=send.now if state == DeliveryState.QUEUED else None,
                created_at=send.now,
                updated_at=send.now,
            )
            send.tally.recipients = 1
            send.tally.add(channel, state, delivery.pk)
        return _send_close(send, actor=actor, address=masked_address(address))


def notification_broadcast(
    *,
    recipients: QuerySet[Any],
    kind: str,
    context: dict[str, Any],
    priority: str = Priority.NORMAL,
    channels: Iterable[str] | None = None,
    actor: User | None = None,
    dedupe_key: str | None = None,
) -> Dispatch:
    """`notification_send` for a recipient set the database can select (a queryset of users or
    of user ids), at a million recipients: the inbox rows and deliveries are written by
    INSERT … SELECT straight from the recipient query, with no Python object per recipient.

    The same rules decide the same deliveries: `_delivery_plan` is evaluated once per channel for
    everyone without preferences (a parameter of the statement), and per person, exactly as
    `notification_send` does, for the few who have set preferences."""
    with _dedupe_conflicts(), transaction.atomic():
        send = _send_open(
            kind=kind,
            context=context,
            priority=priority,
            channels=channels,
            actor=actor,
            dedupe_key=dedupe_key,
        )
        dispatch, now, tally = send.dispatch, send.now, send.tally
        # The recipient query itself, not `id IN (query)`: the database then starts from what
        # selects the recipients (a district's residents) instead of scanning every account.
        users = recipients if recipients.model is User else User.objects.filter(pk__in=recipients)
        users = users.filter(is_active=True)
        if send.dedupe_key:
            users = users.exclude(
                pk__in=Notification.objects.filter(dedupe_key=send.dedupe_key).values(
                    "recipient_id"
                )
            )
        rows = (
            users.order_by("pk")
            .annotate(
                n_dispatch=Value(dispatch.pk),
                n_language=Case(
                    When(language__in=kinds.LANGUAGES, then=F("language")),
                    default=Value(kinds.DEFAULT_LANGUAGE),
                    output_field=CharField(),
                ),
                n_dedupe_key=Value(send.dedupe_key, output_field=CharField()),
                n_created_at=Value(now, output_field=DateTimeField()),
                n_read_at=Cast(Value(None), output_field=DateTimeField()),
            )
            .values_list(
                "n_dispatch", "pk", "n_language", "n_dedupe_key", "n_created_at", "n_read_at"
            )
            .distinct()
        )
        selected, params = rows.query.sql_with_params()
        with connection.cursor() as cursor:
            columns = ", ".join(NOTIFICATION_COLUMNS)
            cursor.execute(f"INSERT INTO {_table(Notification)} ({columns}) {selected}", params)
            tally.recipients = cursor.rowcount
        if send.channels and tally.recipients:
            _broadcast_default_deliveries(send)
            _broadcast_preference_deliveries(send)
        return _send_close(send, actor=actor)


def _table(model: type[Model]) -> str:
    return str(connection.ops.quote_name(model._meta.db_table))


# How each outside channel reaches a recipient, as SQL over the inbox row `n`, the user `u` and
# their resident record `r`: the same tests as `_Contact.reachable`.
_REACHABLE_SQL: dict[str, str] = {
    Channel.EMAIL: "u.email <> ''",
    Channel.SMS: "(u.phone <> '' OR COALESCE(r.phone, '') <> '')",
    Channel.PUSH: "EXISTS (SELECT 1 FROM {push} s WHERE s.user_id = n.recipient_id)",
}


def _contacts_sql() -> str:
    from civichub.core.models import Resident

    return (
        f"FROM {_table(Notification)} n JOIN {_table(User)} u ON u.id = n.recipient_id"
        f" LEFT JOIN {_table(Resident)} r ON r.id = u.resident_id WHERE n.dispatch_id = %s"
    )


def _broadcast_default_deliveries(send: _Send) -> None:
    """One INSERT … SELECT per channel for the recipients without preferences."""
    db_now = connection.ops.adapt_datetimefield_value(send.now)
    plans = _default_plans(
        channels=send.channels,
        category=send.dispatch.category,
        emergency=send.emergency,
        now=send.now,
    )
    no_preference = (
        f"NOT EXISTS (SELECT 1 FROM {_table(NotificationPreference)} p"  # noqa: S608
        " WHERE p.user_id = n.recipient_id)"
    )
    columns = ", ".join(DELIVERY_COLUMNS)
    for channel in send.channels:
        plan = plans[channel]
        if plan is None:
            continue
        queued = plan[0] == DeliveryState.QUEUED
        values = _delivery_row(notification_id=None, channel=channel, plan=plan, db_now=db_now)[1:]
        reachable = _REACHABLE_SQL[channel].format(push=_table(PushSubscription))
        sql = (
            f"INSERT INTO {_table(Delivery)} ({columns}) "  # noqa: S608  (names are ours)
            f"SELECT n.id, {', '.join(['%s'] * len(values))} {_contacts_sql()}"
            f" AND {no_preference} AND {reachable} ORDER BY n.id"
        )
        with connection.cursor() as cursor:
            if queued:
                cursor.execute(f"{sql} RETURNING id", [*values, send.dispatch.pk])
                send.tally.queued[channel].extend(row[0] for row in cursor.fetchall())
            else:
                cursor.execute(sql, [*values, send.dispatch.pk])
                send.tally.deferred += cursor.rowcount


def _broadcast_preference_deliveries(send: _Send) -> None:
    """The recipients who have set preferences, person by person, as `notification_send` does."""
    sql = (
        "SELECT n.id, u.id, u.email, u.phone, COALESCE(r.phone, ''), "  # noqa: S608
        f"EXISTS (SELECT 1 FROM {_table(PushSubscription)} s WHERE s.user_id = u.id) "
        f"{_contacts_sql()} AND EXISTS (SELECT 1 FROM {_table(NotificationPreference)} p"
        " WHERE p.user_id = n.recipient_id) ORDER BY n.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [send.dispatch.pk])
        rows = cursor.fetchall()
    for chunk in _chunks(rows, RECIPIENT_CHUNK):
        preferences = {
            p.user_id: p
            for p in NotificationPreference.objects.filter(user_id__in=[row[1] for row in chunk])
        }
        _deliveries_insert(
            dispatch=send.dispatch,
            contacts=[
                _Contact(notification_id, pk, email, phone or resident_phone, bool(push))
                for notification_id, pk, email, phone, resident_phone, push in chunk
            ],
            preferences=preferences,
            channels=send.channels,
            emergency=send.emergency,
            now=send.now,
            tally=send.tally,
        )


def deliveries_enqueue(delivery_ids: list[int], *, emergency: bool = False) -> int:
    """One task per chunk of deliveries; returns how many tasks were enqueued."""
    from civichub.notify.tasks import deliveries_send

    task = deliveries_send
    if emergency and task.get_backend().supports_priority:
        task = task.using(priority=EMERGENCY_TASK_PRIORITY)
    count = 0
    # One transaction for all the chunks: with the task queue in the database, a million
    # deliveries are 2,000 task rows, and committing each alone would cost one disk flush per
    # row. If it fails, the sweep re-enqueues the deliveries still queued.
    with transaction.atomic():
        for chunk in _chunks(delivery_ids, DELIVERY_TASK_CHUNK):
            task.enqueue(chunk)
            count += 1
    return count


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


# Delivering ------------------------------------------------------------------------------


@dataclass
class Claim:
    token: str
    expires_at: dt.datetime
    deliveries: list[Delivery]


def delivery_claim(
    *,
    delivery_ids: list[int],
    now: dt.datetime | None = None,
    lease_seconds: int = LEASE_SECONDS,
) -> Claim:
    """Takes the queued deliveries among `delivery_ids` for this worker alone: one conditional
    UPDATE moves them to `sending` under a fresh lease token, and only rows still queued at that
    moment move. A second worker claiming the same ids gets none of them."""
    now = now or timezone.now()
    token = secrets.token_hex(16)
    expires_at = now + dt.timedelta(seconds=lease_seconds)
    with transaction.atomic():
        # SKIP LOCKED (PostgreSQL) keeps two workers from waiting on, or deadlocking over, rows
        # the other is claiming; SQLite serialises the transaction instead.
        free = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(pk__in=delivery_ids, state=DeliveryState.QUEUED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if free:
            Delivery.objects.filter(pk__in=free, state=DeliveryState.QUEUED).update(
                state=DeliveryState.SENDING,
                lease_token=token,
                lease_expires_at=expires_at,
                attempts=F("attempts") + 1,
                updated_at=now,
            )
    claimed = list(
        Delivery.objects.filter(pk__in=delivery_ids, state=DeliveryState.SENDING, lease_token=token)
        .select_related("notification__dispatch", "notification__recipient__resident")
        .order_by("pk")
    )
    return Claim(token=token, expires_at=expires_at, deliveries=claimed)


def delivery_mark_sent(*, delivery: Delivery, token: str, now: dt.datetime | None = None) -> bool:
    """Sent, if this worker's claim still holds; False if the lease was lost meanwhile. The
    address of a send to someone without an account is forgotten: it was kept for the retries."""
    now = now or timezone.now()
    return bool(
        Delivery.objects.filter(
            pk=delivery.pk, state=DeliveryState.SENDING, lease_token=token
        ).update(
            state=DeliveryState.SENT,
            failure=FailureKind.NONE,
            sent_at=now,
            last_error="",
            lease_token="",
            lease_expires_at=None,
            next_attempt_at=None,
            updated_at=now,
            address="",
        )
    )


def _next_attempt_at(delivery: Delivery, now: dt.datetime) -> dt.datetime:
    at = now + retry_delay(delivery.attempts)
    if delivery.notification.dispatch.priority == Priority.EMERGENCY:
        return at
    recipient_id = delivery.notification.recipient_id
    preference = (
        None
        if recipient_id is None  # an address without an account: the deployment's defaults
        else NotificationPreference.objects.filter(user_id=recipient_id).first()
    )
    if preference is None:
        preference = NotificationPreference()
    return preference.quiet_until(at) or at


def delivery_mark_failed(
    *, delivery: Delivery, token: str, error: DeliveryError, now: dt.datetime | None = None
) -> str:
    """Records a failed attempt: retried later if temporary and attempts remain, otherwise
    failed for good. Returns the resulting failure kind, or "" if the claim was lost."""
    now = now or timezone.now()
    permanent = error.permanent or delivery.attempts >= _max_attempts()
    values: dict[str, Any] = {
        "state": DeliveryState.FAILED,
        "last_error": str(error)[:500],
        "lease_token": "",
        "lease_expires_at": None,
        "updated_at": now,
    }
    if permanent:
        # No retry will need the address of a send to someone without an account.
        values.update(failure=FailureKind.PERMANENT, next_attempt_at=None, address="")
    else:
        values.update(
            failure=FailureKind.TEMPORARY, next_attempt_at=_next_attempt_at(delivery, now)
        )
    updated = Delivery.objects.filter(
        pk=delivery.pk, state=DeliveryState.SENDING, lease_token=token
    ).update(**values)
    if not updated:
        return ""
    return FailureKind.PERMANENT if permanent else FailureKind.TEMPORARY


def delivery_attempt(
    *, delivery: Delivery, token: str, expires_at: dt.datetime, adapter: ChannelAdapter
) -> str:
    """Sends one claimed delivery. Returns "sent", "temporary", "permanent", "lapsed" (the lease
    ran out before sending, so another worker may own the row: nothing was sent) or "lost"."""
    # The clock says whether our lease ran out; the row says whether the sweep took it back
    # meanwhile (another machine's clock may run ahead). Either way another worker may own it.
    if (
        timezone.now() >= expires_at
        or not Delivery.objects.filter(
            pk=delivery.pk, state=DeliveryState.SENDING, lease_token=token
        ).exists()
    ):
        return "lapsed"
    try:
        adapter.send(delivery)
    except DeliveryError as exc:
        return delivery_mark_failed(delivery=delivery, token=token, error=exc) or "lost"
    except Exception as exc:
        # An adapter bug or an unforeseen library error: retry like an outage, but log it loudly.
        logger.exception("channel %s failed on delivery %s", delivery.channel, delivery.pk)
        error = TemporaryDeliveryError(f"{type(exc).__name__}: {exc}")
        return delivery_mark_failed(delivery=delivery, token=token, error=error) or "lost"
    if delivery_mark_sent(delivery=delivery, token=token):
        return "sent"
    logger.warning("delivery %s was sent after its lease was lost", delivery.pk)
    return "lost"


def delivery_batch_send(*, delivery_ids: list[int]) -> dict[str, int]:
    """What a delivery task does: claim in small batches, send, record; one audit row."""
    outcomes: dict[str, int] = defaultdict(int)
    adapters: dict[str, ChannelAdapter] = {}
    try:
        for batch in _chunks(delivery_ids, CLAIM_BATCH):
            claim = delivery_claim(delivery_ids=batch)
            if len(claim.deliveries) < len(batch):
                outcomes["not_claimed"] += len(batch) - len(claim.deliveries)
            for delivery in claim.deliveries:
                if delivery.channel not in adapters:
                    adapters[delivery.channel] = adapter_for(delivery.channel)
                outcome = delivery_attempt(
                    delivery=delivery,
                    token=claim.token,
                    expires_at=claim.expires_at,
                    adapter=adapters[delivery.channel],
                )
                outcomes[outcome] += 1
    finally:
        for adapter in adapters.values():
            adapter.close()
    result = dict(outcomes)
    if any(v for k, v in result.items() if k != "not_claimed"):
        with transaction.atomic():
            audit_record(
                actor=None,
                action="notification.deliver",
                object_type="notify.delivery",
                changes={"outcomes": result, "deliveries": delivery_ids},
            )
    return result


@dataclass
class SweepResult:
    requeued: int = 0
    reclaimed: int = 0
    abandoned: int = 0
    tasks: int = 0


def delivery_sweep(*, now: dt.datetime | None = None) -> SweepResult:
    """Moves due deliveries back to the queue and enqueues them in chunks: deferred ones whose
    quiet hours ended, temporary failures whose backoff ran out, stale queued ones whose task
    was lost, and `sending` ones whose lease expired (their worker died). One audit row."""
    now = now or timezone.now()
    result = SweepResult()
    due = (
        Q(state=DeliveryState.DEFERRED, next_attempt_at__lte=now)
        | Q(state=DeliveryState.FAILED, failure=FailureKind.TEMPORARY, next_attempt_at__lte=now)
        | Q(
            state=DeliveryState.QUEUED,
            enqueued_at__lte=now - dt.timedelta(seconds=STALE_QUEUE_SECONDS),
        )
        | Q(state=DeliveryState.QUEUED, enqueued_at__isnull=True)
    )
    expired = Q(state=DeliveryState.SENDING, lease_expires_at__lte=now)

    # A delivery whose workers died on every attempt is given up rather than retried forever.
    result.abandoned = Delivery.objects.filter(expired, attempts__gte=_max_attempts()).update(
        state=DeliveryState.FAILED,
        failure=FailureKind.PERMANENT,
        lease_token="",
        lease_expires_at=None,
        last_error="worker lease expired on the last attempt",
        updated_at=now,
        address="",
    )
    for _page in range(SWEEP_MAX_PAGES):
        with transaction.atomic():
            ids = list(
                Delivery.objects.select_for_update(skip_locked=True)
                .filter(due | expired)
                .order_by("pk")
                .values_list("pk", flat=True)[:SWEEP_PAGE]
            )
            if not ids:
                break
            reclaimed = Delivery.objects.filter(pk__in=ids).filter(expired).count()
            Delivery.objects.filter(pk__in=ids).filter(due | expired).update(
                state=DeliveryState.QUEUED,
                lease_token="",
                lease_expires_at=None,
                next_attempt_at=None,
                enqueued_at=now,
                updated_at=now,
            )
            emergency = set(
                Delivery.objects.filter(
                    pk__in=ids, notification__dispatch__priority=Priority.EMERGENCY
                ).values_list("pk", flat=True)
            )
            normal = [pk for pk in ids if pk not in emergency]
            result.requeued += len(ids) - reclaimed
            result.reclaimed += reclaimed
            result.tasks += math.ceil(len(normal) / DELIVERY_TASK_CHUNK) + math.ceil(
                len(emergency) / DELIVERY_TASK_CHUNK
            )
            if emergency:
                transaction.on_commit(
                    partial(deliveries_enqueue, sorted(emergency), emergency=True), robust=True
                )
            if normal:
                transaction.on_commit(partial(deliveries_enqueue, normal), robust=True)
        if len(ids) < SWEEP_PAGE:
            break
    if result.requeued or result.reclaimed or result.abandoned:
        with transaction.atomic():
            audit_record(
                actor=None,
                action="notification.sweep",
                object_type="notify.delivery",
                changes={
                    "requeued": result.requeued,
                    "reclaimed": result.reclaimed,
                    "abandoned": result.abandoned,
                },
            )
    return result


# The recipient's own actions -------------------------------------------------------------


def _own_notification(actor: User, notification_id: int) -> Notification:
    notification = Notification.objects.filter(pk=notification_id, recipient=actor).first()
    if notification is None:
        raise NotFound(_("没有编号为 %(pk)s 的通知。") % {"pk": notification_id})
    return notification


@transaction.atomic
def notification_mark_read(*, actor: User, notification_id: int) -> Notification:
    notification = _own_notification(actor, notification_id)
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
        audit_record(actor=actor, action="notification.read", obj=notification)
    return notification


@transaction.atomic
def notification_mark_all_read(*, actor: User) -> int:
    count = Notification.objects.filter(recipient=actor, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    if count:
        audit_record(
            actor=actor,
            action="notification.read_all",
            object_type="notify.notification",
            changes={"count": count},
        )
    return count


@transaction.atomic
def preference_update(
    *,
    actor: User,
    channels: dict[str, dict[str, bool]],
    blocked_channels: list[str],
    quiet_hours_enabled: bool,
    quiet_start: dt.time | None,
    quiet_end: dt.time | None,
    time_zone: str = "",
) -> NotificationPreference:
    """The actor's own preferences. In-app notifications cannot be switched off: the inbox is
    the record of what the city told a person."""
    errors: dict[str, list[str]] = {}
    known_categories = {c.key for c in kinds.categories()}
    for category, switches in channels.items():
        if category not in known_categories:
            errors.setdefault("channels", []).append(
                _("未知的通知类别：%(category)s。") % {"category": category}
            )
        elif set(switches) - set(OUTSIDE_CHANNELS):
            errors.setdefault("channels", []).append(
                _("通知类别 %(category)s 下有未知的渠道：%(channels)s。")
                % {
                    "category": category,
                    "channels": ", ".join(sorted(set(switches) - set(OUTSIDE_CHANNELS))),
                }
            )
    if set(blocked_channels) - set(OUTSIDE_CHANNELS):
        errors["blocked_channels"] = [
            _("未知的通知渠道：%(channels)s。")
            % {"channels": ", ".join(sorted(set(blocked_channels) - set(OUTSIDE_CHANNELS)))}
        ]
    if (quiet_start is None) != (quiet_end is None):
        errors["quiet_hours"] = [_("请同时填写免打扰的开始和结束时间，或都不填写。")]
    if time_zone:
        try:
            zoneinfo.ZoneInfo(time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            errors["time_zone"] = [_("未知的时区：%(zone)s。") % {"zone": time_zone}]
    if errors:
        raise ValidationFailed(_("通知偏好设置有误。"), errors=errors)
    preference, _created = NotificationPreference.objects.get_or_create(user=actor)
    before = {
        "channels": preference.channels,
        "blocked_channels": preference.blocked_channels,
        "quiet_hours_enabled": preference.quiet_hours_enabled,
        "quiet_start": str(preference.quiet_start or ""),
        "quiet_end": str(preference.quiet_end or ""),
        "time_zone": preference.time_zone,
    }
    preference.channels = {c: {ch: bool(on) for ch, on in s.items()} for c, s in channels.items()}
    preference.blocked_channels = sorted(set(blocked_channels))
    preference.quiet_hours_enabled = quiet_hours_enabled
    preference.quiet_start = quiet_start
    preference.quiet_end = quiet_end
    preference.time_zone = time_zone
    preference.updated_at = timezone.now()
    preference.save()
    after = {
        "channels": preference.channels,
        "blocked_channels": preference.blocked_channels,
        "quiet_hours_enabled": quiet_hours_enabled,
        "quiet_start": str(quiet_start or ""),
        "quiet_end": str(quiet_end or ""),
        "time_zone": time_zone,
    }
    audit_record(
        actor=actor,
        action="notification.preference_update",
        obj=actor,
        changes={k: [before[k], after[k]] for k in after if before[k] != after[k]},
    )
    return preference


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _check_push_endpoint(endpoint: str) -> list[str]:
    parsed = urlparse(endpoint)
    if parsed.scheme == "https" and parsed.hostname:
        return []
    # Plain http only where the operator allows it (a local test push service): otherwise a
    # user could point the server's POSTs at an internal address.
    if (
        parsed.scheme == "http"
        and parsed.hostname
        and getattr(settings, "WEBPUSH_ALLOW_HTTP_ENDPOINTS", settings.DEBUG)
    ):
        return []
    return [_("须为推送服务的 https 网址。")]


@transaction.atomic
def push_subscription_save(
    *, actor: User, endpoint: str, p256dh: str, auth: str, user_agent: str = ""
) -> PushSubscription:
    """Registers (or moves to the actor) a browser's push subscription."""
    errors: dict[str, list[str]] = {}
    endpoint_errors = _check_push_endpoint(endpoint) if len(endpoint) <= 2000 else [_("网址过长。")]
    if endpoint_errors:
        errors["endpoint"] = endpoint_errors
    try:
        key = _b64url_decode(p256dh)
        if len(key) != 65 or key[0] != 4:
            errors["p256dh"] = [_("须为未压缩的 P-256 公钥。")]
    except (binascii.Error, ValueError):
        errors["p256dh"] = [_("不是 base64url 编码。")]
    try:
        if len(_b64url_decode(auth)) != 16:
            errors["auth"] = [_("须为 16 字节的密钥。")]
    except (binascii.Error, ValueError):
        errors["auth"] = [_("不是 base64url 编码。")]
    if errors:
        raise ValidationFailed(_("推送订阅信息有误。"), errors=errors)
    subscription, created = PushSubscription.objects.update_or_create(
        endpoint=endpoint,
        defaults={"user": actor, "p256dh": p256dh, "auth": auth, "user_agent": user_agent[:300]},
    )
    audit_record(
        actor=actor, action="push_subscription.save", obj=subscription, changes={"created": created}
    )
    return subscription


@transaction.atomic
def push_subscription_delete(*, actor: User, endpoint: str) -> bool:
    subscription = PushSubscription.objects.filter(user=actor, endpoint=endpoint).first()
    if subscription is None:
        return False
    audit_record(actor=actor, action="push_subscription.delete", obj=subscription)
    subscription.delete()
    return True

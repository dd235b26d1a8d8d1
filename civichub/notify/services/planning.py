"""What a send writes, shared by the three sends (to accounts, to a database-selected set of
accounts, to an address): the rule deciding each delivery's initial state, the tally of what was
written, and the rows in database form with the bulk INSERT … RETURNING that writes them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from django.db import connection
from django.db.models import Model

from civichub.notify.models import (
    Channel,
    Delivery,
    DeliveryState,
    Dispatch,
    FailureKind,
    NotificationPreference,
)


def delivery_plan(
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
class SendTally:
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


def row_values(columns: tuple[str, ...], **values: Any) -> tuple[Any, ...]:
    """One row's values in column order; a missing column is a KeyError, not a shifted row."""
    return tuple(str(values[c]) if isinstance(values[c], Enum) else values[c] for c in columns)


def insert_returning_ids(
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
                    f"INSERT INTO {table} ({column_list}) "  # noqa: S608  (names are ours)  # nosec B608
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
                f"INSERT INTO {table} ({column_list}) VALUES "  # noqa: S608  (names are ours)  # nosec B608
                f"{', '.join([placeholders] * len(part))} RETURNING {returning}",
                [value for row in part for value in row],
            )
            ids.extend(row[0] for row in cursor.fetchall())
    return ids


@dataclass(frozen=True)
class Contact:
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


def default_plans(
    *, channels: list[str], category: str, emergency: bool, now: dt.datetime
) -> dict[str, tuple[str, dt.datetime | None] | None]:
    """The plan of each channel for someone who never changed their preferences (most people),
    decided once per send by the same rule as everyone else's."""
    return {
        channel: delivery_plan(
            channel,
            preference=NotificationPreference(),
            category=category,
            emergency=emergency,
            now=now,
        )
        for channel in channels
    }


def delivery_row(
    *,
    notification_id: int | None,
    channel: str,
    plan: tuple[str, dt.datetime | None],
    db_now: Any,
) -> tuple[Any, ...]:
    """A new delivery in `DELIVERY_COLUMNS` order, in database form. An account's delivery has
    no address: it goes to the account's current one."""
    state, next_attempt_at = plan
    return row_values(
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


def deliveries_insert(
    *,
    dispatch: Dispatch,
    contacts: list[Contact],
    preferences: dict[int, NotificationPreference],
    channels: list[str],
    emergency: bool,
    now: dt.datetime,
    tally: SendTally,
) -> None:
    """A delivery per channel that can reach the contact and that their preferences allow."""
    if not contacts or not channels:
        return
    db_now = connection.ops.adapt_datetimefield_value(now)
    plans_without_preferences = default_plans(
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
                plans_without_preferences[channel]
                if preference is None
                else delivery_plan(
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
                delivery_row(
                    notification_id=contact.notification_id,
                    channel=channel,
                    plan=plan,
                    db_now=db_now,
                )
            )
    delivery_ids = insert_returning_ids(Delivery, DELIVERY_COLUMNS, rows)
    for delivery_id, (channel, state) in zip(delivery_ids, planned, strict=True):
        tally.add(channel, state, delivery_id)


def table_name(model: type[Model]) -> str:
    return str(connection.ops.quote_name(model._meta.db_table))

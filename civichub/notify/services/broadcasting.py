"""Sending to a recipient set the database selects, at a million recipients: INSERT … SELECT
straight from the recipient query, with no Python object per recipient."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    DateTimeField,
    Exists,
    F,
    OuterRef,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce

from civichub.core.models import Resident, User
from civichub.notify import kinds
from civichub.notify.models import (
    Channel,
    Delivery,
    DeliveryState,
    Dispatch,
    Notification,
    NotificationPreference,
    Priority,
    PushSubscription,
)
from civichub.notify.services.delivering import chunks
from civichub.notify.services.planning import (
    DELIVERY_COLUMNS,
    NOTIFICATION_COLUMNS,
    Contact,
    default_plans,
    deliveries_insert,
    delivery_row,
    table_name,
)
from civichub.notify.services.sending import (
    RECIPIENT_CHUNK,
    Send,
    dedupe_conflicts,
    send_close,
    send_open,
)


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

    The same rules decide the same deliveries: `delivery_plan` is evaluated once per channel for
    everyone without preferences (a parameter of the statement), and per person, exactly as
    `notification_send` does, for the few who have set preferences."""
    with dedupe_conflicts(), transaction.atomic():
        send = send_open(
            kind=kind,
            context=context,
            priority=priority,
            channels=channels,
            actor=actor,
            dedupe_key=dedupe_key,
        )
        dispatch, now, tally = send.dispatch, send.now, send.tally
        if connection.vendor == "postgresql":
            # A million recipients' rows are sorted and joined in memory, not in temporary
            # files (the server's default of 4 MB spills them); for this transaction only.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL work_mem = '256MB'")
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
        rows = users.order_by("pk").annotate(
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
        if connection.vendor == "postgresql":
            _broadcast_in_one_statement(send, rows)
        else:
            selected, params = rows.values_list(*_INBOX_FIELDS).distinct().query.sql_with_params()
            with connection.cursor() as cursor:
                columns = ", ".join(NOTIFICATION_COLUMNS)
                cursor.execute(
                    f"INSERT INTO {table_name(Notification)} ({columns}) {selected}", params
                )
                tally.recipients = cursor.rowcount
            if send.channels and tally.recipients:
                _broadcast_default_deliveries(send)
        if send.channels and tally.recipients:
            _broadcast_preference_deliveries(send)
        return send_close(send, actor=actor)


# The recipient query's fields that make an inbox row, in `NOTIFICATION_COLUMNS` order.
_INBOX_FIELDS = ("n_dispatch", "pk", "n_language", "n_dedupe_key", "n_created_at", "n_read_at")
# What `_broadcast_in_one_statement` adds to each recipient: how each outside channel reaches
# them (the same tests as `Contact.reachable` and `_REACHABLE_SQL`), and whether they have set
# preferences (then they are left to `_broadcast_preference_deliveries`).
_CONTACT_FIELDS = ("email", "phone", "resident_phone", "has_push", "has_preference")
_REACHABLE_COLUMNS: dict[str, str] = {
    Channel.EMAIL: "r.email <> ''",
    Channel.SMS: "(r.phone <> '' OR r.resident_phone <> '')",
    Channel.PUSH: "r.has_push",
}


def _broadcast_in_one_statement(send: Send, rows: QuerySet[Any]) -> None:
    """PostgreSQL: the inbox rows and the deliveries of everyone without preferences in one
    statement that reads the recipients once. The recipient query, with each person's contact
    details and whether they have preferences, is kept in memory (a MATERIALIZED CTE) beside the
    id their inbox row will have, drawn from the table's own identity sequence; the inbox rows
    and the deliveries are both written from it. The three statements SQLite runs (the inbox
    rows, then per channel a delivery INSERT reading the new inbox rows back by dispatch and
    joining them to the users and residents again) read a million rows three times over.

    The same rules decide as everywhere: `default_plans` once per channel for everyone without
    preferences (parameters of the statement), person by person for the rest afterwards
    (`_broadcast_preference_deliveries`). The statement returns the queued deliveries' ids (to
    enqueue), the deferred ones counted per channel, and the number of inbox rows."""
    dispatch, tally = send.dispatch, send.tally
    recipients = rows.annotate(
        email_=F("email"),
        phone_=F("phone"),
        resident_phone_=Coalesce(F("resident__phone"), Value(""), output_field=CharField()),
        has_push_=(
            Exists(PushSubscription.objects.filter(user_id=OuterRef("pk")))
            if Channel.PUSH in send.channels
            else Value(False, output_field=BooleanField())
        ),
        has_preference_=Exists(NotificationPreference.objects.filter(user_id=OuterRef("pk"))),
    ).values_list(*_INBOX_FIELDS, *(f"{name}_" for name in _CONTACT_FIELDS))
    selected, params = recipients.distinct().query.sql_with_params()
    inbox = ", ".join(NOTIFICATION_COLUMNS)
    plans = default_plans(
        channels=send.channels,
        category=dispatch.category,
        emergency=send.emergency,
        now=send.now,
    )
    db_now = connection.ops.adapt_datetimefield_value(send.now)
    # Typed parameters: the channels' SELECTs are joined by UNION ALL, which would take an
    # untyped one for text.
    fields = {f.column: f for f in Delivery._meta.concrete_fields}
    typed = ", ".join(f"%s::{fields[c].db_type(connection)}" for c in DELIVERY_COLUMNS[1:])
    delivery_selects: list[str] = []
    delivery_params: list[Any] = []
    for channel in send.channels:
        plan = plans[channel]
        if plan is None:
            continue
        values = delivery_row(notification_id=None, channel=channel, plan=plan, db_now=db_now)[1:]
        delivery_selects.append(
            f"SELECT r.id, {typed} FROM r"  # noqa: S608  # nosec B608
            f" WHERE NOT r.has_preference AND {_REACHABLE_COLUMNS[channel]}"
        )
        delivery_params += values
    queued = str(DeliveryState.QUEUED)
    # The recipients in id order (the query's own ORDER BY), each with the id of its inbox row.
    sql = (
        "WITH r AS MATERIALIZED (SELECT nextval(%s::regclass) AS id, q.*"  # noqa: S608  # nosec B608
        f" FROM ({selected}) q ({inbox}, {', '.join(_CONTACT_FIELDS)})),"
        f" n AS (INSERT INTO {table_name(Notification)} (id, {inbox})"
        f" SELECT id, {inbox} FROM r RETURNING 1)"
    )
    counted = "SELECT NULL, NULL, count(*) FROM n"
    if delivery_selects:
        sql += (
            f", d AS (INSERT INTO {table_name(Delivery)} ({', '.join(DELIVERY_COLUMNS)})"  # noqa: S608  # nosec B608
            f" {' UNION ALL '.join(delivery_selects)} RETURNING id, channel, state)"
            " SELECT channel, id, 1 FROM d WHERE state = %s UNION ALL"
            " SELECT channel, NULL, count(*) FROM d WHERE state <> %s GROUP BY channel UNION ALL"
        )
        delivery_params += [queued, queued]
    sql += f" {counted}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Notification._meta.db_table])
        (sequence,) = cursor.fetchone()
        cursor.execute(sql, [sequence, *params, *delivery_params])
        for channel, delivery_id, count in cursor.fetchall():
            if channel is None:
                tally.recipients = count
            elif delivery_id is None:
                tally.deferred += count
            else:
                tally.queued[channel].append(delivery_id)


# How each outside channel reaches a recipient, as SQL over the inbox row `n`, the user `u` and
# their resident record `r`: the same tests as `Contact.reachable`.
_REACHABLE_SQL: dict[str, str] = {
    Channel.EMAIL: "u.email <> ''",
    Channel.SMS: "(u.phone <> '' OR COALESCE(r.phone, '') <> '')",
    Channel.PUSH: "EXISTS (SELECT 1 FROM {push} s WHERE s.user_id = n.recipient_id)",
}


def _contacts_sql() -> str:
    return (
        f"FROM {table_name(Notification)} n JOIN {table_name(User)} u ON u.id = n.recipient_id"
        f" LEFT JOIN {table_name(Resident)} r ON r.id = u.resident_id WHERE n.dispatch_id = %s"
    )


def _broadcast_default_deliveries(send: Send) -> None:
    """One INSERT … SELECT per channel for the recipients without preferences."""
    db_now = connection.ops.adapt_datetimefield_value(send.now)
    plans = default_plans(
        channels=send.channels,
        category=send.dispatch.category,
        emergency=send.emergency,
        now=send.now,
    )
    no_preference = (
        f"NOT EXISTS (SELECT 1 FROM {table_name(NotificationPreference)} p"  # noqa: S608  # nosec B608
        " WHERE p.user_id = n.recipient_id)"
    )
    columns = ", ".join(DELIVERY_COLUMNS)
    for channel in send.channels:
        plan = plans[channel]
        if plan is None:
            continue
        queued = plan[0] == DeliveryState.QUEUED
        values = delivery_row(notification_id=None, channel=channel, plan=plan, db_now=db_now)[1:]
        reachable = _REACHABLE_SQL[channel].format(push=table_name(PushSubscription))
        sql = (
            f"INSERT INTO {table_name(Delivery)} ({columns}) "  # noqa: S608  (names are ours)
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


def _broadcast_preference_deliveries(send: Send) -> None:
    """The recipients who have set preferences, person by person, as `notification_send` does."""
    sql = (
        "SELECT n.id, u.id, u.email, u.phone, COALESCE(r.phone, ''), "  # noqa: S608  # nosec B608
        f"EXISTS (SELECT 1 FROM {table_name(PushSubscription)} s WHERE s.user_id = u.id) "
        f"{_contacts_sql()} AND EXISTS (SELECT 1 FROM {table_name(NotificationPreference)} p"
        " WHERE p.user_id = n.recipient_id) ORDER BY n.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [send.dispatch.pk])
        rows = cursor.fetchall()
    for chunk in chunks(rows, RECIPIENT_CHUNK):
        preferences = {
            p.user_id: p
            for p in NotificationPreference.objects.filter(user_id__in=[row[1] for row in chunk])
        }
        deliveries_insert(
            dispatch=send.dispatch,
            contacts=[
                Contact(notification_id, pk, email, phone or resident_phone, bool(push))
                for notification_id, pk, email, phone, resident_phone, push in chunk
            ],
            preferences=preferences,
            channels=send.channels,
            emergency=send.emergency,
            now=send.now,
            tally=send.tally,
        )

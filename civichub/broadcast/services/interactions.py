"""Residents' interactions: follows, reposts and favourites.

Counters change only through atomic updates (`F()`, and for reposts and favourites the post's
counter slots, see `_count`); a unique constraint, not a prior read, keeps a resident to one
repost and one favourite per post."""

from __future__ import annotations

import datetime as dt
import functools
import random
import re
from typing import Any, NamedTuple

import psycopg
from django.db import (
    DEFAULT_DB_ALIAS,
    IntegrityError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.broadcast import streaming
from civichub.broadcast.models import (
    COMMENT_MAX_CHARS,
    COUNTER_SLOTS,
    Block,
    BroadcastAccount,
    Favourite,
    Follow,
    FollowerHour,
    Post,
    PostCounterShard,
    PostState,
    Repost,
)
from civichub.broadcast.services.checks import (
    blocked_error,
    check_text,
    signed_in,
)
from civichub.broadcast.services.reach import bump_hour
from civichub.core.audit import audit_record, audit_sql, audit_sql_params
from civichub.core.bounds import INT64_MAX, INT64_MIN
from civichub.core.counters import action_written
from civichub.core.errors import (
    Conflict,
    NotFound,
)
from civichub.core.models import Organisation, User
from civichub.core.sqlitewrite import sqlite_writer


def follow_create(*, actor: User | None, account_id: int) -> Follow:
    user = signed_in(actor)
    account = BroadcastAccount.objects.select_related("organisation").filter(pk=account_id).first()
    if account is None:
        raise NotFound(_("没有这个账号。"))
    existing = Follow.objects.filter(user=user, account=account).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            follow = Follow.objects.create(user=user, account=account)
            BroadcastAccount.objects.filter(pk=account.pk).update(
                followers_count=F("followers_count") + 1
            )
            bump_hour(FollowerHour, {"account_id": account.pk}, "gained")
            audit_record(
                actor=user,
                action="broadcast.follow.create",
                obj=follow,
                organisation=account.organisation,
            )
            streaming.follows_changed(user.pk)
    except IntegrityError:
        return Follow.objects.get(user=user, account=account)
    return follow


@transaction.atomic
def follow_delete(*, actor: User | None, account_id: int) -> bool:
    user = signed_in(actor)
    deleted, _rows = Follow.objects.filter(user=user, account_id=account_id).delete()
    if not deleted:
        return False
    BroadcastAccount.objects.filter(pk=account_id).update(followers_count=F("followers_count") - 1)
    bump_hour(FollowerHour, {"account_id": account_id}, "lost")
    audit_record(
        actor=user,
        action="broadcast.follow.delete",
        object_type="broadcast.follow",
        object_id=str(account_id),
    )
    streaming.follows_changed(user.pk)
    return True


def _count(post_id: int, *, reposts: int = 0, favourites: int = 0) -> None:
    """Adds to a post's hot counters inside the caller's transaction, atomically and never by
    read-modify-write. On PostgreSQL a writer takes the post's row only if no other writer holds
    it (SKIP LOCKED), and then also folds the free counter slots into it; when the row is taken
    (or cannot go below zero) it adds to one of the post's slots instead, so that concurrent
    reposts do not queue on one row, each holding it through its commit. SQLite has one writer
    at a time: the row itself."""
    post_table = connection.ops.quote_name(Post._meta.db_table)
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {post_table} SET reposts_count = reposts_count + %s,"  # noqa: S608  # nosec B608
                " favourites_count = favourites_count + %s WHERE id = %s",
                [reposts, favourites, post_id],
            )
        return
    shard_table = connection.ops.quote_name(PostCounterShard._meta.db_table)
    with connection.cursor() as cursor:
        # The post's row if no other writer holds it, with its free slots: no row at all when
        # it is held, one row (slot columns empty) when it has no free slot.
        cursor.execute(
            "SELECT p.reposts_count, p.favourites_count, s.id, s.reposts, s.favourites FROM ("  # noqa: S608  # nosec B608
            f"SELECT id, reposts_count, favourites_count FROM {post_table} WHERE id = %s"
            " FOR NO KEY UPDATE SKIP LOCKED) p LEFT JOIN LATERAL (SELECT id, reposts, favourites"
            f" FROM {shard_table} WHERE post_id = p.id FOR UPDATE SKIP LOCKED) s ON true",
            [post_id],
        )
        rows = cursor.fetchall()
        if rows:
            base_reposts, base_favourites = rows[0][0], rows[0][1]
            slots = [(pk, r, f) for _br, _bf, pk, r, f in rows if pk is not None]
            plans = [
                (
                    reposts + sum(r for _pk, r, _f in slots),
                    favourites + sum(f for _pk, _r, f in slots),
                    [pk for pk, _r, _f in slots],
                ),
                (reposts, favourites, []),
            ]
            # The column stays a true partial sum, never below zero: free slots may hold
            # decrements whose increments sit in slots locked by other writers.
            for add_reposts, add_favourites, folded in plans:
                if base_reposts + add_reposts >= 0 and base_favourites + add_favourites >= 0:
                    cursor.execute(
                        f"WITH folded AS (DELETE FROM {shard_table} WHERE id = ANY(%s))"  # noqa: S608  # nosec B608
                        f" UPDATE {post_table} SET reposts_count = reposts_count + %s,"
                        " favourites_count = favourites_count + %s WHERE id = %s",
                        [folded, add_reposts, add_favourites, post_id],
                    )
                    return
        cursor.execute(
            f"INSERT INTO {shard_table} AS s (post_id, slot, reposts, favourites)"  # noqa: S608  # nosec B608
            " VALUES (%s, %s, %s, %s) ON CONFLICT (post_id, slot) DO UPDATE SET"
            " reposts = s.reposts + EXCLUDED.reposts,"
            " favourites = s.favourites + EXCLUDED.favourites",
            [post_id, random.randrange(COUNTER_SLOTS), reposts, favourites],
        )


@transaction.atomic
def post_counters_fold(*, post_id: int) -> Post:
    """Folds a post's counter slots into its row, waiting for writers in flight, and returns
    the post with exact counts: for a read of the post's row alone that must be exact (the
    selectors add the slots themselves). Moving counts between a post and its slots changes
    no count, so it writes no audit row."""
    post = Post.objects.select_for_update(no_key=True).get(pk=post_id)
    slots = list(PostCounterShard.objects.select_for_update().filter(post_id=post_id))
    if slots:
        post.reposts_count += sum(s.reposts for s in slots)
        post.favourites_count += sum(s.favourites for s in slots)
        post.save(update_fields=["reposts_count", "favourites_count"])
        PostCounterShard.objects.filter(pk__in=[s.pk for s in slots]).delete()
    return post


@functools.cache
def _target_sql() -> str:
    """The visible post's account, its organisation's path (for the audit row) and whether the
    account blocked the resident: the read `_interaction_sql` begins with, on its own."""
    q = connection.ops.quote_name
    return (
        "SELECT p.account_id, o.path, EXISTS (SELECT 1"  # noqa: S608 (names are ours)  # nosec B608
        f" FROM {q(Block._meta.db_table)} b"
        " WHERE b.account_id = p.account_id AND b.user_id = %s)"
        f" FROM {q(Post._meta.db_table)} p"
        f" JOIN {q(BroadcastAccount._meta.db_table)} a ON a.id = p.account_id"
        f" JOIN {q(Organisation._meta.db_table)} o ON o.id = a.organisation_id"
        " WHERE p.id = %s AND p.state = %s AND p.published_at <= %s"
    )


def _insert_once(
    model: type[Repost | Favourite], *, post_id: int, user_id: int, **values: Any
) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING on (post, user): the new row's id, or None when the
    resident already has one. No savepoint and no prior read: one statement decides."""
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ["post_id", "user_id", *values]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608  (names are ours)  # nosec B608
            f"VALUES ({', '.join(['%s'] * len(columns))}) "
            "ON CONFLICT (post_id, user_id) DO NOTHING RETURNING id",
            [post_id, user_id, *(_db_value(v) for v in values.values())],
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def _db_value(value: Any) -> Any:
    """A time as the ORM writes it (SQLite: naive UTC text); anything else as it is."""
    if isinstance(value, dt.datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


_DEADLOCK_RETRIES = 3
# The audit row's columns the statement fills from its own rows: the new row, the post's place.
_AUDIT_COMPUTED = {"object_id": "i.id::text", "organisation_path": "t.path"}


@functools.cache
def _interaction_sql(model: type[Repost | Favourite], refuse_blocked: bool) -> str:
    """ONE PostgreSQL statement for a repost or a favourite: it reads the visible post with its
    organisation's path and whether the account blocked the resident; inserts the row unless
    the resident has one (ON CONFLICT DO NOTHING on the unique (post, user)) or is blocked; for
    a new row, writes its audit row and adds one to a counter slot of the post that no other
    writer holds (else to a new slot). It neither touches the post's row nor folds slots: a
    writer that folded deleted slots that other writers then queued behind until its commit
    (a WAL flush), and on a loaded disk the reposts of one post went one flush at a time.
    The slots stay at most `COUNTER_SLOTS` per post; reads add them (`exact_counts`) and
    `post_counters_fold` folds them. As one statement it commits by itself (outside a
    transaction) or with the caller's transaction. Built once per model."""
    q = connection.ops.quote_name
    post_t, shard_t = q(Post._meta.db_table), q(PostCounterShard._meta.db_table)
    account_t, org_t = q(BroadcastAccount._meta.db_table), q(Organisation._meta.db_table)
    block_t, table = q(Block._meta.db_table), q(model._meta.db_table)
    extra = ", comment" if model is Repost else ""
    audit = audit_sql(connection, computed=_AUDIT_COMPUTED)
    allowed_only = " WHERE NOT t.blocked" if refuse_blocked else ""
    return (
        "WITH t AS (SELECT p.id, p.account_id, o.path, EXISTS (SELECT 1"  # noqa: S608 (names are ours)  # nosec B608
        f" FROM {block_t} b WHERE b.account_id = p.account_id AND b.user_id = %(user)s) AS blocked"
        f" FROM {post_t} p JOIN {account_t} a ON a.id = p.account_id"
        f" JOIN {org_t} o ON o.id = a.organisation_id"
        " WHERE p.id = %(post)s AND p.state = %(state)s AND p.published_at <= %(now)s),"
        f" i AS (INSERT INTO {table} (post_id, user_id, created_at{extra})"
        f" SELECT t.id, %(user)s, %(now)s{extra and ', CAST(%(comment)s AS text)'}"
        f" FROM t{allowed_only}"
        " ON CONFLICT (post_id, user_id) DO NOTHING RETURNING id),"
        f" audit AS (INSERT INTO {audit.table} ({audit.columns})"
        f" SELECT {audit.select} FROM i CROSS JOIN t),"
        # A counter slot of the post that no other writer holds (SKIP LOCKED: in flight,
        # each writer takes another), else a new slot. Neither the post's row nor a slot
        # another writer holds is ever waited for.
        f" free AS (SELECT id FROM {shard_t} WHERE post_id = %(post)s AND EXISTS (SELECT 1 FROM i)"
        " LIMIT 1 FOR UPDATE SKIP LOCKED),"
        f" added AS (UPDATE {shard_t} s SET reposts = s.reposts + %(reposts)s,"
        " favourites = s.favourites + %(favourites)s FROM free WHERE s.id = free.id"
        " RETURNING s.id),"
        f" slot AS (INSERT INTO {shard_t} AS s (post_id, slot, reposts, favourites)"
        " SELECT %(post)s, %(slot)s, %(reposts)s, %(favourites)s FROM i"
        " WHERE NOT EXISTS (SELECT 1 FROM added) ON CONFLICT (post_id, slot) DO UPDATE SET"
        " reposts = s.reposts + EXCLUDED.reposts, favourites = s.favourites + EXCLUDED.favourites)"
        " SELECT t.account_id, t.blocked, (SELECT id FROM i) FROM t"
    )


def _interact_once(
    model: type[Repost | Favourite],
    *,
    user: User,
    post_id: int,
    now: dt.datetime,
    action: str,
    refuse_blocked: bool,
    comment: str = "",
) -> tuple[int, bool, int | None]:
    """Runs `_interaction_sql` (PostgreSQL): (the post's account, whether the account blocked
    the resident, the new row's id or None). NotFound when the post is not visible."""
    # The connection itself, looked up once: each use of the `connection` proxy is a lookup.
    db = connections[DEFAULT_DB_ALIAS]
    params = audit_sql_params(
        db,
        computed=_AUDIT_COMPUTED,
        at=now,
        actor=user,
        action=action,
        object_type=model._meta.label_lower,
        object_label=model.label(user.pk, post_id),
    )
    is_repost = model is Repost
    params.update(
        user=user.pk,
        post=post_id,
        state=PostState.PUBLISHED.value,
        now=now,
        comment=comment,
        reposts=int(is_repost),
        favourites=int(not is_repost),
        slot=random.randrange(COUNTER_SLOTS),
    )
    # A prepared statement, on the connection's own session (and transaction, if any): planning
    # the statement costs the database twice what running it does, so it is planned once per
    # connection (Django's cursors send each statement as text, to be planned anew).
    sql = _interaction_sql(model, refuse_blocked)
    for attempt in range(_DEADLOCK_RETRIES + 1):
        db.ensure_connection()
        try:
            with db.wrap_database_errors, psycopg.Cursor(db.connection) as cursor:
                cursor.execute(sql, params, prepare=True)
                row = cursor.fetchone()
            break
        except OperationalError as exc:
            # Rarely, under many concurrent writers of one post, PostgreSQL finds a lock cycle
            # and cancels one statement. Alone in its transaction the statement changed
            # nothing and can run again; inside a caller's transaction, the caller decides.
            deadlock = getattr(exc.__cause__, "sqlstate", None) == "40P01"
            if not deadlock or db.in_atomic_block or attempt == _DEADLOCK_RETRIES:
                raise
    if row is None:
        raise NotFound(_("没有这条发布。"))
    account_id, blocked, pk = row
    return int(account_id), bool(blocked), None if pk is None else int(pk)


def _interact_in_transaction(
    model: type[Repost | Favourite],
    *,
    user: User,
    post_id: int,
    now: dt.datetime,
    action: str,
    refuse_blocked: bool,
    comment: str = "",
) -> tuple[int, bool, int | None]:
    """What `_interact_once` does, for SQLite (which has no writing CTEs): one read of the
    post outside the transaction, then one short transaction (SQLite's one writer at a time)
    of three statements of our own: the row unless the resident has one, its audit row
    (`audit_sql`, the same columns and values as `audit_record`) and the counter. Everything
    is prepared before the database is taken (`sqlite_writer`), so that it is held only for
    the statements themselves. Same answer as `_interact_once`."""
    with connection.cursor() as cursor:
        cursor.execute(
            _target_sql(),
            [user.pk, post_id, PostState.PUBLISHED.value, _db_value(now)],
        )
        target = cursor.fetchone()
    if target is None:
        raise NotFound(_("没有这条发布。"))
    account_id, path, blocked = int(target[0]), str(target[1]), bool(target[2])
    if blocked and refuse_blocked:
        return account_id, True, None
    is_repost = model is Repost
    statements = _sqlite_statements(model)
    row = [post_id, user.pk, _db_value(now), *([comment] if is_repost else [])]
    audit = audit_sql_params(
        connection,
        computed=("object_id",),
        at=now,
        organisation_path=path,
        actor=user,
        action=action,
        object_type=model._meta.label_lower,
        object_label=model.label(user.pk, post_id),
    )
    with sqlite_writer(connection) as cursor:
        cursor.execute(statements.row, row)
        inserted = cursor.fetchone()
        if inserted is None:
            return account_id, blocked, None
        cursor.execute(statements.audit, audit)
        cursor.execute(statements.counter, [int(is_repost), int(not is_repost), post_id])
    return account_id, blocked, int(inserted[0])


class _SqliteStatements(NamedTuple):
    row: str
    audit: str
    counter: str


@functools.cache
def _sqlite_statements(model: type[Repost | Favourite]) -> _SqliteStatements:
    """The three statements of `_interact_in_transaction` in the driver's own placeholders:
    they go to the driver's cursor as they are, not rewritten on every call."""
    q = connection.ops.quote_name
    columns = ["post_id", "user_id", "created_at", *(["comment"] if model is Repost else [])]
    # The audit row's object is the row inserted just before, on the same connection.
    audit = audit_sql(connection, computed={"object_id": "CAST(last_insert_rowid() AS TEXT)"})
    return _SqliteStatements(
        row=f"INSERT INTO {q(model._meta.db_table)} ({', '.join(columns)})"  # noqa: S608  # nosec B608
        f" VALUES ({', '.join('?' * len(columns))})"
        " ON CONFLICT (post_id, user_id) DO NOTHING RETURNING id",
        audit=re.sub(
            r"%\((\w+)\)s",
            r":\1",
            f"INSERT INTO {audit.table} ({audit.columns}) SELECT {audit.select}",  # noqa: S608  # nosec B608
        ),
        counter=f"UPDATE {q(Post._meta.db_table)} SET reposts_count = reposts_count + ?,"  # noqa: S608  # nosec B608
        " favourites_count = favourites_count + ? WHERE id = ?",
    )


def _interact(
    model: type[Repost | Favourite],
    *,
    user: User,
    post_id: int,
    now: dt.datetime,
    action: str,
    refuse_blocked: bool,
    comment: str = "",
) -> tuple[int, bool, int | None]:
    """(the post's account, whether the account blocked the resident, the new row's id or
    None when the resident already had one); NotFound when the post is not visible. A
    refused (blocked) resident gets no row. The audit row and the counter come with the row."""
    if not INT64_MIN <= post_id <= INT64_MAX:  # a page's URL is not bounded as the API's are
        raise NotFound(_("没有这条发布。"))
    interact = _interact_once if connection.vendor == "postgresql" else _interact_in_transaction
    result = interact(
        model,
        user=user,
        post_id=post_id,
        now=now,
        action=action,
        refuse_blocked=refuse_blocked,
        comment=comment,
    )
    if result[2] is not None:
        action_written(action)
    return result


def repost_create(*, actor: User | None, post_id: int, comment: str = "") -> Repost:
    """One repost per resident per post: a second attempt is a Conflict and counts nothing.

    Built for a post reposted hundreds of thousands of times by many clients at once. On
    PostgreSQL it is ONE statement (`_interaction_sql`): the visibility and block check, the
    INSERT … ON CONFLICT DO NOTHING that keeps one repost per resident, the audit row and the
    counter. Elsewhere one query reads the post, then one short transaction inserts, audits
    and counts (`_interact_in_transaction`). The stream event goes out once the repost has
    committed. Nothing is loaded to be returned: the repost is built from what was written."""
    user = signed_in(actor)
    comment = check_text("comment", comment, COMMENT_MAX_CHARS, required=False)
    now = timezone.now()
    account_id, blocked, repost_pk = _interact(
        Repost,
        user=user,
        post_id=post_id,
        now=now,
        action="broadcast.repost.create",
        refuse_blocked=True,
        comment=comment,
    )
    if blocked:
        raise blocked_error()
    if repost_pk is None:
        raise _already_reposted()
    streaming.post_reposted(post_id, account_id)
    return Repost(pk=repost_pk, post_id=post_id, user=user, comment=comment, created_at=now)


def _already_reposted() -> Conflict:
    message = _("您已转发过这条发布。")
    return Conflict(message, errors={"post": [message]})


def _interaction_delete(model: type[Repost | Favourite], user: User, post_id: int) -> bool:
    """Removes the resident's repost or favourite of the post, takes it off the post's counter
    and audits it; False when there was none."""
    deleted, _rows = model.objects.filter(user=user, post_id=post_id).delete()
    if not deleted:
        return False
    name = model._meta.model_name
    _count(post_id, **{f"{name}s": -1})
    audit_record(
        actor=user,
        action=f"broadcast.{name}.delete",
        object_type=f"broadcast.{name}",
        object_id=str(post_id),
    )
    return True


@transaction.atomic
def repost_delete(*, actor: User | None, post_id: int) -> bool:
    return _interaction_delete(Repost, signed_in(actor), post_id)


def favourite_create(*, actor: User | None, post_id: int) -> Favourite:
    """Favouriting twice is harmless: the second call returns the first favourite. The same
    lean path as `repost_create`."""
    user = signed_in(actor)
    now = timezone.now()
    _account_id, _blocked, favourite_pk = _interact(
        Favourite,
        user=user,
        post_id=post_id,
        now=now,
        action="broadcast.favourite.create",
        refuse_blocked=False,
    )
    if favourite_pk is None:
        return Favourite.objects.get(post_id=post_id, user=user)
    return Favourite(pk=favourite_pk, post_id=post_id, user=user, created_at=now)


@transaction.atomic
def favourite_delete(*, actor: User | None, post_id: int) -> bool:
    return _interaction_delete(Favourite, signed_in(actor), post_id)

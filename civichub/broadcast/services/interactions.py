"""Residents' interactions: follows, reposts and favourites.

Counters change only through atomic updates (`F()`, and for reposts and favourites the post's
counter slots, see `_count`); a unique constraint, not a prior read, keeps a resident to one
repost and one favourite per post."""

from __future__ import annotations

import datetime as dt
import functools
import random
from typing import Any

import psycopg
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef
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
    refuse_blocked,
    signed_in,
)
from civichub.broadcast.services.reach import bump_hour
from civichub.core.audit import audit_record, audit_sql, audit_sql_params
from civichub.core.errors import (
    Conflict,
    NotFound,
)
from civichub.core.models import Organisation, User


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
    if connection.vendor != "postgresql":
        Post.objects.filter(pk=post_id).update(
            reposts_count=F("reposts_count") + reposts,
            favourites_count=F("favourites_count") + favourites,
        )
        return
    post_table = connection.ops.quote_name(Post._meta.db_table)
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
    the post with exact counts. Writers fold as they go; this is for a read that must be exact
    at once after a burst (and for tests). Moving counts between a post and its slots changes
    no count, so it writes no audit row."""
    post = Post.objects.select_for_update(no_key=True).get(pk=post_id)
    slots = list(PostCounterShard.objects.select_for_update().filter(post_id=post_id))
    if slots:
        post.reposts_count += sum(s.reposts for s in slots)
        post.favourites_count += sum(s.favourites for s in slots)
        post.save(update_fields=["reposts_count", "favourites_count"])
        PostCounterShard.objects.filter(pk__in=[s.pk for s in slots]).delete()
    return post


def _interaction_target(user: User, post_id: int) -> Post:
    """The visible post a resident reposts or favourites, with its account's organisation (for
    the audit row) and whether the account blocked them, in one query."""
    post = (
        Post.objects.select_related("account__organisation")
        .annotate(
            actor_blocked=Exists(
                Block.objects.filter(account_id=OuterRef("account_id"), user_id=user.pk)
            )
        )
        .filter(pk=post_id, state=PostState.PUBLISHED, published_at__lte=timezone.now())
        .first()
    )
    if post is None:
        raise NotFound(_("没有这条发布。"))
    return post


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
            [post_id, user_id, *values.values()],
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


_DEADLOCK_RETRIES = 3
# The audit row's columns the statement fills from its own rows: the new row, the post's place.
_AUDIT_COMPUTED = {"object_id": "i.id::text", "organisation_path": "t.path"}


@functools.cache
def _interaction_sql(model: type[Repost | Favourite], refuse_blocked: bool) -> str:
    """ONE PostgreSQL statement for a repost or a favourite: it reads the visible post with its
    organisation's path and whether the account blocked the resident; inserts the row unless
    the resident has one (ON CONFLICT DO NOTHING on the unique (post, user)) or is blocked; for
    a new row, writes its audit row and adds to the post's counter as `_count` does: the post's
    row if no other writer holds it (SKIP LOCKED), folding the free counter slots into it when
    the column stays a true partial sum, else one counter slot. As one statement it commits by
    itself (outside a transaction) or with the caller's transaction. Built once per model."""
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
        # The post's row, if no other writer holds it, and then its free slots.
        " r AS (SELECT id, reposts_count, favourites_count FROM "
        f"{post_t} WHERE id = %(post)s AND EXISTS (SELECT 1 FROM i)"
        " FOR NO KEY UPDATE SKIP LOCKED),"
        f" f AS (SELECT s.id, s.reposts, s.favourites FROM {shard_t} s"
        " WHERE s.post_id = %(post)s AND EXISTS (SELECT 1 FROM r) FOR UPDATE SKIP LOCKED),"
        # Fold them only if the column stays >= 0: free slots may hold decrements whose
        # increments sit in slots locked by other writers.
        " plan AS (SELECT r.id, COALESCE(SUM(f.reposts), 0) AS fr,"
        " COALESCE(SUM(f.favourites), 0) AS ff,"
        " r.reposts_count + COALESCE(SUM(f.reposts), 0) + %(reposts)s >= 0"
        " AND r.favourites_count + COALESCE(SUM(f.favourites), 0) + %(favourites)s >= 0 AS fold"
        " FROM r LEFT JOIN f ON true GROUP BY r.id, r.reposts_count, r.favourites_count),"
        f" gone AS (DELETE FROM {shard_t} WHERE id IN (SELECT id FROM f)"
        " AND (SELECT fold FROM plan)),"
        f" bump AS (UPDATE {post_t} p SET"
        " reposts_count = p.reposts_count + %(reposts)s"
        " + CASE WHEN plan.fold THEN plan.fr ELSE 0 END,"
        " favourites_count = p.favourites_count + %(favourites)s"
        " + CASE WHEN plan.fold THEN plan.ff ELSE 0 END FROM plan WHERE p.id = plan.id),"
        f" slot AS (INSERT INTO {shard_t} AS s (post_id, slot, reposts, favourites)"
        " SELECT %(post)s, %(slot)s, %(reposts)s, %(favourites)s FROM i"
        " WHERE NOT EXISTS (SELECT 1 FROM r) ON CONFLICT (post_id, slot) DO UPDATE SET"
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
    params = audit_sql_params(
        connection,
        computed=_AUDIT_COMPUTED,
        at=now,
        actor=user,
        action=action,
        obj=model(post_id=post_id, user_id=user.pk),
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
        connection.ensure_connection()
        try:
            with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
                cursor.execute(sql, params, prepare=True)
                row = cursor.fetchone()
            break
        except OperationalError as exc:
            # Rarely, under many concurrent writers of one post, PostgreSQL finds a lock cycle
            # and cancels one statement. Alone in its transaction the statement changed
            # nothing and can run again; inside a caller's transaction, the caller decides.
            deadlock = getattr(exc.__cause__, "sqlstate", None) == "40P01"
            if not deadlock or connection.in_atomic_block or attempt == _DEADLOCK_RETRIES:
                raise
    if row is None:
        raise NotFound(_("没有这条发布。"))
    account_id, blocked, pk = row
    return int(account_id), bool(blocked), None if pk is None else int(pk)


def repost_create(*, actor: User | None, post_id: int, comment: str = "") -> Repost:
    """One repost per resident per post: a second attempt is a Conflict and counts nothing.

    Built for a post reposted hundreds of thousands of times by many clients at once. On
    PostgreSQL it is ONE statement (`_interaction_sql`): the visibility and block check, the
    INSERT … ON CONFLICT DO NOTHING that keeps one repost per resident, the audit row and the
    counter. Elsewhere one query reads the post, then one transaction inserts, audits and
    counts. The stream event goes out once the repost has committed."""
    user = signed_in(actor)
    comment = check_text("comment", comment, COMMENT_MAX_CHARS, required=False)
    now = timezone.now()
    if connection.vendor == "postgresql":
        account_id, blocked, repost_pk = _interact_once(
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
        streaming.post_reposted(Post(pk=post_id, account_id=account_id))
        return Repost(pk=repost_pk, post_id=post_id, user=user, comment=comment, created_at=now)
    post = _interaction_target(user, post_id)
    if post.actor_blocked:  # type: ignore[attr-defined]
        refuse_blocked(user, post.account_id)
    with transaction.atomic():
        repost_pk = _insert_once(
            Repost, post_id=post.pk, user_id=user.pk, comment=comment, created_at=now
        )
        if repost_pk is None:
            raise _already_reposted()
        repost = Repost(pk=repost_pk, post=post, user=user, comment=comment, created_at=now)
        audit_record(
            actor=user,
            action="broadcast.repost.create",
            obj=repost,
            organisation=post.account.organisation,
        )
        _count(post.pk, reposts=1)
        streaming.post_reposted(post)
    return repost


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
    if connection.vendor == "postgresql":
        _account_id, _blocked, favourite_pk = _interact_once(
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
    post = _interaction_target(user, post_id)
    with transaction.atomic():
        favourite_pk = _insert_once(Favourite, post_id=post.pk, user_id=user.pk, created_at=now)
        if favourite_pk is None:
            return Favourite.objects.get(post=post, user=user)
        favourite = Favourite(pk=favourite_pk, post=post, user=user, created_at=now)
        audit_record(
            actor=user,
            action="broadcast.favourite.create",
            obj=favourite,
            organisation=post.account.organisation,
        )
        _count(post.pk, favourites=1)
    return favourite


@transaction.atomic
def favourite_delete(*, actor: User | None, post_id: int) -> bool:
    return _interaction_delete(Favourite, signed_in(actor), post_id)

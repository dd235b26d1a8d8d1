"""Every write in broadcast: keyword-only, typed, atomic, permission-checked and audited.

Publishing writes the post, one counter update and one audit row, whatever the account's
follower count; nothing is written per follower (the home feed merges at read time). Counters
change only through atomic updates (`F()`, and for reposts and favourites the post's counter
slots, see `_count`); a unique constraint, not a prior read, keeps a resident to one repost
and one favourite per post."""

from __future__ import annotations

import datetime as dt
import functools
import random
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.broadcast import geometry, streaming
from civichub.broadcast.models import (
    ALT_TEXT_MAX_CHARS,
    COMMENT_MAX_CHARS,
    COUNTER_SLOTS,
    KEYWORD_MAX_CHARS,
    POST_MAX_CHARS,
    POST_MAX_IMAGES,
    AlertPush,
    AreaSubscription,
    Block,
    BroadcastAccount,
    CapCategory,
    Category,
    Certainty,
    Comment,
    DrawnArea,
    DrawnAreaKind,
    Favourite,
    Follow,
    FollowerHour,
    KeywordFilter,
    Post,
    PostCounterShard,
    PostImage,
    PostRevision,
    PostState,
    PostViewHour,
    Repost,
    Severity,
    Urgency,
)
from civichub.broadcast.notifications import ALERT
from civichub.core.audit import audit_record
from civichub.core.context import current
from civichub.core.errors import (
    Conflict,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from civichub.core.images import CheckedImage, ImageUpload, check_image
from civichub.core.models import AuditEvent, Organisation, Resident, User
from civichub.core.permissions import require


@dataclass(frozen=True)
class AlertFields:
    """The CAP 1.2 `info` fields an alert carries besides its text and areas."""

    category: str
    event: str
    urgency: str
    severity: str
    certainty: str
    expires: dt.datetime
    instruction: str = ""


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, errors={field: [message]})


def _signed_in(actor: User | None) -> User:
    if actor is None or not actor.is_authenticated:
        raise NotAuthenticated(_("请先登录。"))
    return actor


def _check_text(field: str, text: str, limit: int, *, required: bool = True) -> str:
    text = text.strip()
    if required and not text:
        raise _invalid(field, _("内容不能为空。"))
    if len(text) > limit:
        raise _invalid(
            field,
            _("内容最多 %(limit)d 个字，现有 %(count)d 个字。")
            % {"limit": limit, "count": len(text)},
        )
    return text


def _areas(area_ids: Iterable[int]) -> list[Organisation]:
    ids = sorted({int(pk) for pk in area_ids})
    areas = list(Organisation.objects.filter(pk__in=ids))
    found = {a.pk for a in areas}
    unknown = [pk for pk in ids if pk not in found]
    if unknown or any(not a.is_area for a in areas):
        bad = unknown or [a.pk for a in areas if not a.is_area]
        raise _invalid(
            "target_areas", _("未知的发布区域：%(ids)s。") % {"ids": ", ".join(map(str, bad))}
        )
    return areas


def _alert_checked(alert: AlertFields, now: dt.datetime) -> AlertFields:
    choices = {
        "category": CapCategory.values,
        "urgency": Urgency.values,
        "severity": Severity.values,
        "certainty": Certainty.values,
    }
    for field, allowed in choices.items():
        if getattr(alert, field) not in allowed:
            raise _invalid(field, _("取值必须是：%(values)s。") % {"values": ", ".join(allowed)})
    if not alert.event.strip() or len(alert.event) > 100:
        raise _invalid("event", _("请填写事件名称（最多 100 个字）。"))
    if alert.expires <= now:
        raise _invalid("expires", _("失效时间必须晚于现在。"))
    _check_text("instruction", alert.instruction, 500, required=False)
    return alert


# Images ----------------------------------------------------------------------------------

IMAGE_MAX_BYTES = 10 * 1024 * 1024
IMAGE_MAX_PIXELS = 40_000_000
IMAGE_FORMATS = ["JPEG", "PNG", "WEBP"]


@dataclass(frozen=True)
class ImageIn:
    """An image for a post as received, with the text a screen reader says in its place."""

    name: str
    data: bytes
    alt_text: str


def _checked_image(image: ImageIn, field: str) -> tuple[CheckedImage, str]:
    alt = image.alt_text.strip()
    if not alt:
        raise _invalid(f"{field}.alt_text", _("请为每张图片填写替代文字，供看不见图片的读者使用。"))
    alt = _check_text(f"{field}.alt_text", alt, ALT_TEXT_MAX_CHARS)
    checked = check_image(
        ImageUpload(name=image.name, data=image.data),
        field=field,
        max_bytes=IMAGE_MAX_BYTES,
        max_pixels=IMAGE_MAX_PIXELS,
        allowed_formats=IMAGE_FORMATS,
    )
    return checked, alt


def _stored_name(prefix: str, checked: CheckedImage) -> str:
    return f"{prefix}-{secrets.token_hex(8)}.{checked.extension}"


def _image_store(
    *,
    account: BroadcastAccount,
    checked: CheckedImage,
    alt_text: str,
    uploader: User | None,
    post: Post | None = None,
    position: int = 0,
) -> PostImage:
    """Writes the file, then the row; if the row fails the file is removed again."""
    image = PostImage(
        account=account,
        post=post,
        alt_text=alt_text,
        content_type=checked.content_type,
        width=checked.width,
        height=checked.height,
        size=len(checked.data),
        position=position,
        uploaded_by=uploader,
    )
    image.image.save(_stored_name(account.handle, checked), ContentFile(checked.data), save=False)
    name = image.image.name
    try:
        image.save()
    except BaseException:
        default_storage.delete(name)
        raise
    return image


@transaction.atomic
def media_upload(*, actor: User | None, account: BroadcastAccount, image: ImageIn) -> PostImage:
    """An image uploaded ahead of its post (the API's two steps, as Mastodon clients do):
    checked and re-encoded now, attached by `post_publish(media_ids=...)`."""
    if actor is not None:
        require(actor, "broadcast.post.publish", account)
    checked, alt = _checked_image(image, "file")
    stored = _image_store(account=account, checked=checked, alt_text=alt, uploader=actor)
    audit_record(
        actor=actor,
        action="broadcast.media.upload",
        obj=stored,
        organisation=account.organisation,
        changes={"content_type": stored.content_type, "size": stored.size},
    )
    return stored


UNATTACHED_MEDIA_HOURS = 24


@transaction.atomic
def media_unattached_delete(*, older_than: dt.timedelta | None = None) -> int:
    """Removes images uploaded for a post that was never published (rows, then their files
    once the deletion is committed). The system's own housekeeping, audited as one change."""
    cutoff = timezone.now() - (older_than or dt.timedelta(hours=UNATTACHED_MEDIA_HOURS))
    stale = list(PostImage.objects.filter(post__isnull=True, created_at__lt=cutoff)[:1000])
    if not stale:
        return 0
    names = [image.image.name for image in stale]
    PostImage.objects.filter(pk__in=[image.pk for image in stale]).delete()
    audit_record(
        actor=None,
        action="broadcast.media.expire",
        object_type="broadcast.postimage",
        object_id=",".join(str(image.pk) for image in stale[:50]),
        changes={"images": len(stale)},
    )

    def remove_files() -> None:
        for name in names:
            default_storage.delete(name)

    transaction.on_commit(remove_files)
    return len(stale)


@transaction.atomic
def account_avatar_set(
    *, actor: User | None, account: BroadcastAccount, upload: ImageUpload
) -> BroadcastAccount:
    """The account's picture, re-encoded like post images. The previous file is removed once
    the change is committed."""
    if actor is not None:
        require(actor, "broadcast.post.publish", account)
    checked = check_image(
        upload,
        field="avatar",
        max_bytes=IMAGE_MAX_BYTES,
        max_pixels=IMAGE_MAX_PIXELS,
        allowed_formats=IMAGE_FORMATS,
    )
    account = BroadcastAccount.objects.select_for_update().get(pk=account.pk)
    old = account.avatar.name if account.avatar else ""
    account.avatar.save(
        _stored_name(account.handle, checked), ContentFile(checked.data), save=False
    )
    account.avatar_content_type = checked.content_type
    account.save(update_fields=["avatar", "avatar_content_type"])
    audit_record(
        actor=actor,
        action="broadcast.account.avatar",
        obj=account,
        organisation=account.organisation,
        changes={"content_type": checked.content_type, "size": len(checked.data)},
    )
    if old:
        transaction.on_commit(lambda: default_storage.delete(old))
    return account


# Drawn areas -----------------------------------------------------------------------------

DRAWN_AREAS_MAX = 5


@dataclass(frozen=True)
class DrawnAreaIn:
    """A circle (`lat`, `lon`, `radius_m`) or polygon (`points`, a closed ring of [lat, lon])
    as entered, in `crs` (the deployment's default system when empty)."""

    kind: str
    lat: float | None = None
    lon: float | None = None
    radius_m: float | None = None
    points: Sequence[Sequence[float]] = ()
    crs: str = ""


def _drawn_checked(drawn: Sequence[DrawnAreaIn]) -> list[tuple[DrawnAreaIn, geometry.Shape]]:
    if len(drawn) > DRAWN_AREAS_MAX:
        raise _invalid("drawn_areas", _("最多画 %(n)d 个区域。") % {"n": DRAWN_AREAS_MAX})
    checked: list[tuple[DrawnAreaIn, geometry.Shape]] = []
    for n, area in enumerate(drawn):
        field = f"drawn_areas.{n}"
        shape: geometry.Shape
        if area.kind == DrawnAreaKind.CIRCLE:
            shape = geometry.circle_checked(
                lat=area.lat, lon=area.lon, radius_m=area.radius_m, crs=area.crs, field=field
            )
        elif area.kind == DrawnAreaKind.POLYGON:
            shape = geometry.polygon_checked(points=area.points, crs=area.crs, field=field)
        else:
            raise _invalid(f"{field}.kind", _("区域类型须是 circle 或 polygon。"))
        checked.append((area, shape))
    return checked


def _drawn_store(post: Post, checked: list[tuple[DrawnAreaIn, geometry.Shape]]) -> None:
    rows = []
    for area, shape in checked:
        min_lat, max_lat, min_lon, max_lon = geometry.bounds(shape)
        if isinstance(shape, geometry.Circle):
            given: dict[str, Any] = {"lat": area.lat, "lon": area.lon, "radius_m": area.radius_m}
            stored: dict[str, Any] = {"lat": shape.lat, "lon": shape.lon}
        else:
            given = {"points": [list(p) for p in area.points]}
            stored = {"points": [list(p) for p in shape.points]}
        rows.append(
            DrawnArea(
                post=post,
                kind=area.kind,
                crs=area.crs or str(geometry.default_crs()),
                given=given,
                shape=stored,
                radius_m=shape.radius_m if isinstance(shape, geometry.Circle) else None,
                min_lat=min_lat,
                max_lat=max_lat,
                min_lon=min_lon,
                max_lon=max_lon,
            )
        )
    DrawnArea.objects.bulk_create(rows)


# Repeated submissions ---------------------------------------------------------------------

SUBMISSION_SECONDS = 24 * 3600


class SubmissionPending(Conflict):
    """The same submission is being published by another request right now."""


def publish_once(*, actor: User | None, key: str, publish: Callable[[], Post]) -> tuple[Post, bool]:
    """Runs `publish` once per (actor, key): a form sent twice (a double click, a resent
    request with the same Idempotency-Key) gives back the post the first one made instead of
    a second post. A refused attempt leaves the key free, so the corrected form can be sent.
    Returns the post and whether it came from an earlier submission."""
    if not key:
        return publish(), False
    slot = f"broadcast:submission:{actor.pk if actor else 0}:{key[:100]}"
    if not cache.add(slot, 0, SUBMISSION_SECONDS):
        post_id = cache.get(slot)
        post = Post.objects.select_related("account").filter(pk=post_id).first()
        if post is None:
            raise SubmissionPending(_("这份内容正在发布，请稍候刷新。"))
        return post, True
    try:
        post = publish()
    except BaseException:
        cache.delete(slot)
        raise
    cache.set(slot, post.pk, SUBMISSION_SECONDS)
    return post, False


def alert_preview_checked(
    *,
    alert: AlertFields,
    target_area_ids: Iterable[int] = (),
    drawn_areas: Sequence[DrawnAreaIn] = (),
) -> tuple[list[Organisation], list[geometry.Shape]]:
    """The checks `post_publish` makes on an alert's areas and CAP fields, for a preview that
    saves nothing: the areas and WGS-84 shapes, or ValidationFailed naming the field."""
    areas = _areas(target_area_ids)
    shapes = _drawn_checked(drawn_areas)
    if not areas and not shapes:
        raise _invalid("target_areas", _("预警须选择发布区域。"))
    _alert_checked(alert, timezone.now())
    return areas, [shape for _area, shape in shapes]


def drawn_shape(area: DrawnArea) -> geometry.Shape:
    """The stored WGS-84 shape of a drawn area."""
    if area.kind == DrawnAreaKind.CIRCLE:
        return geometry.Circle(
            lat=area.shape["lat"], lon=area.shape["lon"], radius_m=float(area.radius_m or 0)
        )
    return geometry.Polygon(points=tuple((p[0], p[1]) for p in area.shape["points"]))


# Accounts --------------------------------------------------------------------------------


@transaction.atomic
def account_create(
    *,
    actor: User | None,
    organisation: Organisation,
    handle: str,
    name: str,
    name_en: str = "",
    description: str = "",
    verified: bool = False,
) -> BroadcastAccount:
    if actor is not None:
        require(actor, "broadcast.account.manage", organisation)
    if BroadcastAccount.objects.filter(handle=handle).exists():
        raise Conflict(_("账号名已被使用。"), errors={"handle": [_("账号名已被使用。")]})
    account = BroadcastAccount.objects.create(
        organisation=organisation,
        handle=handle,
        name=_check_text("name", name, 100),
        name_en=name_en.strip(),
        description=_check_text("description", description, 500, required=False),
        verified=verified,
    )
    audit_record(
        actor=actor,
        action="broadcast.account.create",
        obj=account,
        organisation=organisation,
        changes={"handle": handle, "verified": verified},
    )
    return account


# Posts -----------------------------------------------------------------------------------


@transaction.atomic
def post_publish(
    *,
    actor: User | None,
    account: BroadcastAccount,
    text: str,
    category: str,
    text_en: str = "",
    target_area_ids: Iterable[int] = (),
    publish_at: dt.datetime | None = None,
    alert: AlertFields | None = None,
    images: Sequence[ImageIn] = (),
    media_ids: Sequence[int] = (),
    drawn_areas: Sequence[DrawnAreaIn] = (),
) -> Post:
    """Publishes now, or at `publish_at` (the post stays out of feeds until then). An alert is
    published at once and pushed, after commit, to every resident of its target areas.
    Up to four images: new ones in `images`, uploaded ones by `media_ids`; every image is
    checked before anything is stored."""
    if actor is not None:
        require(actor, "broadcast.alert.publish" if alert else "broadcast.post.publish", account)
    now = timezone.now()
    text = _check_text("text", text, POST_MAX_CHARS)
    text_en = _check_text("text_en", text_en, POST_MAX_CHARS, required=False)
    if category not in Category.values:
        raise _invalid("category", _("未知的类别：%(category)s。") % {"category": category})
    areas = _areas(target_area_ids)
    shapes = _drawn_checked(drawn_areas)
    if publish_at is not None and publish_at < now - dt.timedelta(minutes=1):
        raise _invalid("publish_at", _("定时发布的时间不能早于现在。"))
    fields: dict[str, Any] = {}
    if alert is not None:
        if publish_at is not None and publish_at > now:
            raise _invalid("publish_at", _("预警须立即发布，不能定时。"))
        if not areas and not shapes:
            raise _invalid("target_areas", _("预警须选择发布区域。"))
        alert = _alert_checked(alert, now)
        fields = {
            "is_alert": True,
            "cap_category": alert.category,
            "cap_event": alert.event.strip(),
            "cap_urgency": alert.urgency,
            "cap_severity": alert.severity,
            "cap_certainty": alert.certainty,
            "cap_expires": alert.expires,
            "cap_instruction": alert.instruction.strip(),
        }
    if len(images) + len(set(media_ids)) > POST_MAX_IMAGES:
        raise _invalid("images", _("一条发布最多 %(n)d 张图片。") % {"n": POST_MAX_IMAGES})
    checked_images = [_checked_image(image, f"images.{i}") for i, image in enumerate(images)]
    uploaded = _uploaded_media(account, media_ids)
    post = Post.objects.create(
        account=account,
        author=actor,
        text=text,
        text_en=text_en,
        category=category,
        published_at=publish_at if publish_at is not None and publish_at > now else now,
        created_at=now,
        **fields,
    )
    if areas:
        post.target_areas.set(areas)
    _attach_images(post, actor, uploaded, checked_images)
    if shapes:
        _drawn_store(post, shapes)
    BroadcastAccount.objects.filter(pk=account.pk).update(posts_count=F("posts_count") + 1)
    audit_record(
        actor=actor,
        action="broadcast.alert.publish" if alert else "broadcast.post.publish",
        obj=post,
        organisation=account.organisation,
        changes={
            "category": category,
            "published_at": post.published_at.isoformat(),
            "target_areas": [a.pk for a in areas],
            "images": len(uploaded) + len(checked_images),
            "drawn_areas": [area.kind for area, _shape in shapes],
        },
    )
    streaming.post_published(post)
    if alert is not None:
        from civichub.broadcast.tasks import push_alert

        post_id = post.pk
        transaction.on_commit(lambda: push_alert.enqueue(post_id))
    return post


def _uploaded_media(account: BroadcastAccount, media_ids: Sequence[int]) -> list[PostImage]:
    ids = list(dict.fromkeys(int(pk) for pk in media_ids))
    if not ids:
        return []
    found = PostImage.objects.select_for_update().in_bulk(ids)
    usable = [found[pk] for pk in ids if pk in found]
    bad = [pk for pk in ids if pk not in found]
    bad += [m.pk for m in usable if m.account_id != account.pk or m.post_id is not None]
    if bad:
        raise _invalid(
            "media_ids",
            _("这些图片不存在或已用于别的发布：%(ids)s。")
            % {"ids": ", ".join(map(str, sorted(bad)))},
        )
    return usable


def _attach_images(
    post: Post,
    actor: User | None,
    uploaded: list[PostImage],
    checked_images: list[tuple[CheckedImage, str]],
) -> None:
    for position, media in enumerate(uploaded):
        media.post, media.position = post, position
        media.save(update_fields=["post", "position"])
    for offset, (checked, alt) in enumerate(checked_images, start=len(uploaded)):
        _image_store(
            account=post.account,
            checked=checked,
            alt_text=alt,
            uploader=actor,
            post=post,
            position=offset,
        )


def _post_for_update(post_id: int) -> Post:
    try:
        return Post.objects.select_related("account__organisation").get(pk=post_id)
    except Post.DoesNotExist:
        raise NotFound(_("没有这条发布。")) from None


@transaction.atomic
def post_edit(*, actor: User | None, post_id: int, text: str, text_en: str | None = None) -> Post:
    """Changes the text; the previous text stays visible in the post's history."""
    post = _post_for_update(post_id)
    if actor is not None:
        require(actor, "broadcast.post.publish", post.account)
    if post.state == PostState.RETRACTED:
        raise Conflict(_("已撤回的发布不能修改。"))
    new_text = _check_text("text", text, POST_MAX_CHARS)
    new_en = (
        post.text_en
        if text_en is None
        else _check_text("text_en", text_en, POST_MAX_CHARS, required=False)
    )
    if new_text == post.text and new_en == post.text_en:
        return post
    now = timezone.now()
    PostRevision.objects.create(
        post=post, text=post.text, text_en=post.text_en, editor=actor, replaced_at=now
    )
    changes = {"text": [post.text, new_text], "text_en": [post.text_en, new_en]}
    post.text, post.text_en, post.edited_at = new_text, new_en, now
    post.save(update_fields=["text", "text_en", "edited_at"])
    audit_record(actor=actor, action="broadcast.post.edit", obj=post, changes=changes)
    streaming.post_edited(post)
    return post


@transaction.atomic
def post_retract(*, actor: User | None, post_id: int, reason: str = "") -> Post:
    post = _post_for_update(post_id)
    if actor is not None:
        require(actor, "broadcast.post.publish", post.account)
    if post.state == PostState.RETRACTED:
        return post
    post.state, post.retracted_at = PostState.RETRACTED, timezone.now()
    post.save(update_fields=["state", "retracted_at"])
    BroadcastAccount.objects.filter(pk=post.account_id).update(posts_count=F("posts_count") - 1)
    audit_record(actor=actor, action="broadcast.post.retract", obj=post, purpose=reason, changes={})
    streaming.post_retracted(post)
    return post


# Residents' interactions -----------------------------------------------------------------


def _visible_post(post_id: int) -> Post:
    post = (
        Post.objects.select_related("account__organisation")
        .filter(pk=post_id, state=PostState.PUBLISHED, published_at__lte=timezone.now())
        .first()
    )
    if post is None:
        raise NotFound(_("没有这条发布。"))
    return post


def follow_create(*, actor: User | None, account_id: int) -> Follow:
    user = _signed_in(actor)
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
            _bump_hour(FollowerHour, {"account_id": account.pk}, "gained")
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
    user = _signed_in(actor)
    deleted, _rows = Follow.objects.filter(user=user, account_id=account_id).delete()
    if not deleted:
        return False
    BroadcastAccount.objects.filter(pk=account_id).update(followers_count=F("followers_count") - 1)
    _bump_hour(FollowerHour, {"account_id": account_id}, "lost")
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
            "SELECT p.reposts_count, p.favourites_count, s.id, s.reposts, s.favourites FROM ("  # noqa: S608
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
                        f"WITH folded AS (DELETE FROM {shard_table} WHERE id = ANY(%s))"  # noqa: S608
                        f" UPDATE {post_table} SET reposts_count = reposts_count + %s,"
                        " favourites_count = favourites_count + %s WHERE id = %s",
                        [folded, add_reposts, add_favourites, post_id],
                    )
                    return
        cursor.execute(
            f"INSERT INTO {shard_table} AS s (post_id, slot, reposts, favourites)"  # noqa: S608
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
            f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608  (names are ours)
            f"VALUES ({', '.join(['%s'] * len(columns))}) "
            "ON CONFLICT (post_id, user_id) DO NOTHING RETURNING id",
            [post_id, user_id, *values.values()],
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


_DEADLOCK_RETRIES = 3


@functools.cache
def _audit_fields() -> list[Any]:
    """The audit table's columns, but its id (the same list `audit_record` fills)."""
    return [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]


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
    block_t, table, audit_t = (
        q(Block._meta.db_table),
        q(model._meta.db_table),
        q(AuditEvent._meta.db_table),
    )
    extra = ", comment" if model is Repost else ""
    audit_columns, audit_values = [], []
    for field in _audit_fields():
        audit_columns.append(q(field.column))
        if field.attname == "object_id":
            audit_values.append("i.id::text")
        elif field.attname == "organisation_path":
            audit_values.append("t.path")
        else:  # typed, so that the prepared statement needs no guess (see `_interact_once`)
            audit_values.append(f"CAST(%({field.attname})s AS {field.db_type(connection)})")
    allowed_only = " WHERE NOT t.blocked" if refuse_blocked else ""
    return (
        "WITH t AS (SELECT p.id, p.account_id, o.path, EXISTS (SELECT 1"  # noqa: S608 (names are ours)
        f" FROM {block_t} b WHERE b.account_id = p.account_id AND b.user_id = %(user)s) AS blocked"
        f" FROM {post_t} p JOIN {account_t} a ON a.id = p.account_id"
        f" JOIN {org_t} o ON o.id = a.organisation_id"
        " WHERE p.id = %(post)s AND p.state = %(state)s AND p.published_at <= %(now)s),"
        f" i AS (INSERT INTO {table} (post_id, user_id, created_at{extra})"
        f" SELECT t.id, %(user)s, %(now)s{extra and ', CAST(%(comment)s AS text)'}"
        f" FROM t{allowed_only}"
        " ON CONFLICT (post_id, user_id) DO NOTHING RETURNING id),"
        f" audit AS (INSERT INTO {audit_t} ({', '.join(audit_columns)})"
        f" SELECT {', '.join(audit_values)} FROM i CROSS JOIN t),"
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
    context = current()
    audit = AuditEvent(
        at=now,
        actor=user,
        actor_label=str(user.get_username()),
        action=action,
        object_type=model._meta.label_lower,
        object_label=str(model(post_id=post_id, user_id=user.pk))[:200],
        ip_address=context.ip_address,
        request_id=context.request_id,
    )
    params: dict[str, Any] = {
        f.attname: f.get_db_prep_save(getattr(audit, f.attname), connection)
        for f in _audit_fields()
        if f.attname not in ("object_id", "organisation_path")
    }
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


def _blocked_error() -> PermissionDenied:
    message = _("此账号已禁止您评论和转发它的发布。")
    return PermissionDenied(message, errors={"post": [message]})


def repost_create(*, actor: User | None, post_id: int, comment: str = "") -> Repost:
    """One repost per resident per post: a second attempt is a Conflict and counts nothing.

    Built for a post reposted hundreds of thousands of times by many clients at once. On
    PostgreSQL it is ONE statement (`_interaction_sql`): the visibility and block check, the
    INSERT … ON CONFLICT DO NOTHING that keeps one repost per resident, the audit row and the
    counter. Elsewhere one query reads the post, then one transaction inserts, audits and
    counts. The stream event goes out once the repost has committed."""
    user = _signed_in(actor)
    comment = _check_text("comment", comment, COMMENT_MAX_CHARS, required=False)
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
            raise _blocked_error()
        if repost_pk is None:
            message = _("您已转发过这条发布。")
            raise Conflict(message, errors={"post": [message]})
        streaming.post_reposted(Post(pk=post_id, account_id=account_id))
        return Repost(pk=repost_pk, post_id=post_id, user=user, comment=comment, created_at=now)
    post = _interaction_target(user, post_id)
    if post.actor_blocked:  # type: ignore[attr-defined]
        _refuse_blocked(user, post.account_id)
    with transaction.atomic():
        repost_pk = _insert_once(
            Repost, post_id=post.pk, user_id=user.pk, comment=comment, created_at=now
        )
        if repost_pk is None:
            message = _("您已转发过这条发布。")
            raise Conflict(message, errors={"post": [message]})
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
    return _interaction_delete(Repost, _signed_in(actor), post_id)


def favourite_create(*, actor: User | None, post_id: int) -> Favourite:
    """Favouriting twice is harmless: the second call returns the first favourite. The same
    lean path as `repost_create`."""
    user = _signed_in(actor)
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
    return _interaction_delete(Favourite, _signed_in(actor), post_id)


def _refuse_blocked(user: User, account_id: int) -> None:
    if Block.objects.filter(account_id=account_id, user=user).exists():
        raise _blocked_error()


def _held_by_filters(account_id: int, text: str) -> bool:
    """A comment containing one of the account's filtered words waits for review."""
    folded = text.casefold()
    words = KeywordFilter.objects.filter(account_id=account_id).values_list("word", flat=True)
    return any(word.casefold() in folded for word in words)


@transaction.atomic
def comment_create(
    *, actor: User | None, post_id: int, text: str, parent_id: int | None = None
) -> Comment:
    """A comment shows at once, unless it contains a filtered word: then it is held, hidden
    and uncounted, until the account's staff release it."""
    user = _signed_in(actor)
    text = _check_text("text", text, COMMENT_MAX_CHARS)
    post = _visible_post(post_id)
    _refuse_blocked(user, post.account_id)
    parent = None
    if parent_id is not None:
        parent = Comment.objects.filter(pk=parent_id, post=post, hidden=False).first()
        if parent is None:
            raise _invalid("parent", _("要回复的评论不存在。"))
    held = _held_by_filters(post.account_id, text)
    comment = Comment.objects.create(
        post=post, parent=parent, author=user, text=text, hidden=held, held=held
    )
    if not held:
        Post.objects.filter(pk=post.pk).update(comments_count=F("comments_count") + 1)
    audit_record(
        actor=user,
        action="broadcast.comment.create",
        obj=comment,
        organisation=post.account.organisation,
        changes={"held": held},
    )
    return comment


def _comment_for_moderation(actor: User | None, comment_id: int) -> Comment:
    comment = (
        Comment.objects.select_related("post__account__organisation")
        .select_for_update(of=("self",))
        .filter(pk=comment_id)
        .first()
    )
    if comment is None:
        raise NotFound(_("没有这条评论。"))
    if actor is not None:
        require(actor, "broadcast.comment.moderate", comment.post.account)
    return comment


@transaction.atomic
def comment_hide(*, actor: User | None, comment_id: int, reason: str = "") -> Comment:
    """Hides a visible comment, or keeps a held one hidden for good (it leaves the queue)."""
    comment = _comment_for_moderation(actor, comment_id)
    if comment.hidden and not comment.held:
        return comment
    was_held = comment.held
    comment.hidden, comment.held = True, False
    comment.save(update_fields=["hidden", "held"])
    if not was_held:
        Post.objects.filter(pk=comment.post_id).update(comments_count=F("comments_count") - 1)
    audit_record(
        actor=actor,
        action="broadcast.comment.hide",
        obj=comment,
        purpose=reason,
        organisation=comment.post.account.organisation,
        changes={"was_held": was_held},
    )
    return comment


@transaction.atomic
def comment_unhide(*, actor: User | None, comment_id: int, reason: str = "") -> Comment:
    """Shows a hidden comment again; for a comment held by a keyword filter this is its
    release after review."""
    comment = _comment_for_moderation(actor, comment_id)
    if not comment.hidden:
        return comment
    was_held = comment.held
    comment.hidden, comment.held = False, False
    comment.save(update_fields=["hidden", "held"])
    Post.objects.filter(pk=comment.post_id).update(comments_count=F("comments_count") + 1)
    audit_record(
        actor=actor,
        action="broadcast.comment.release" if was_held else "broadcast.comment.unhide",
        obj=comment,
        purpose=reason,
        organisation=comment.post.account.organisation,
    )
    return comment


def _moderates(actor: User | None, account: BroadcastAccount) -> None:
    if actor is not None:
        require(actor, "broadcast.comment.moderate", account)


@transaction.atomic
def block_create(
    *, actor: User | None, account: BroadcastAccount, user_id: int, reason: str = ""
) -> Block:
    """Bars a user from commenting on and reposting the account's posts. Blocking twice
    keeps the first block."""
    _moderates(actor, account)
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise _invalid("user_id", _("没有这个用户。"))
    reason = _check_text("reason", reason, 200, required=False)
    block, created = Block.objects.get_or_create(
        account=account, user=user, defaults={"reason": reason, "created_by": actor}
    )
    if created:
        audit_record(
            actor=actor,
            action="broadcast.block.create",
            obj=block,
            organisation=account.organisation,
            purpose=reason,
            changes={"user": user.pk},
        )
    return block


@transaction.atomic
def block_delete(*, actor: User | None, account: BroadcastAccount, user_id: int) -> bool:
    _moderates(actor, account)
    deleted, _rows = Block.objects.filter(account=account, user_id=user_id).delete()
    if deleted:
        audit_record(
            actor=actor,
            action="broadcast.block.delete",
            object_type="broadcast.block",
            object_id=f"{account.pk}:{user_id}",
            organisation=account.organisation,
            changes={"user": user_id},
        )
    return bool(deleted)


@transaction.atomic
def keyword_filter_add(
    *, actor: User | None, account: BroadcastAccount, word: str
) -> KeywordFilter:
    """Comments containing the word (ignoring case) are held for review from now on."""
    _moderates(actor, account)
    word = _check_text("word", word, KEYWORD_MAX_CHARS)
    existing = KeywordFilter.objects.filter(account=account, word=word).first()
    if existing is not None:
        return existing
    keyword = KeywordFilter.objects.create(account=account, word=word)
    audit_record(
        actor=actor,
        action="broadcast.keyword_filter.add",
        obj=keyword,
        organisation=account.organisation,
        changes={"word": word},
    )
    return keyword


@transaction.atomic
def keyword_filter_remove(*, actor: User | None, account: BroadcastAccount, filter_id: int) -> bool:
    _moderates(actor, account)
    keyword = KeywordFilter.objects.filter(account=account, pk=filter_id).first()
    if keyword is None:
        return False
    word = keyword.word
    keyword.delete()
    audit_record(
        actor=actor,
        action="broadcast.keyword_filter.remove",
        object_type="broadcast.keywordfilter",
        object_id=str(filter_id),
        organisation=account.organisation,
        changes={"word": word},
    )
    return True


# Reach -----------------------------------------------------------------------------------


def _bump_hour(model: type[PostViewHour | FollowerHour], key: dict[str, int], field: str) -> None:
    """Adds one to this hour's bucket: an atomic `F()` update, or the bucket's first row. Two
    writers racing for the first row both end up counted (the loser updates)."""
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    bucket = model.objects.filter(hour=hour, **key)
    if bucket.update(**{field: F(field) + 1}):
        return
    try:
        with transaction.atomic():
            model.objects.create(hour=hour, **key, **{field: 1})
    except IntegrityError:
        bucket.update(**{field: F(field) + 1})


def post_view_record(*, viewer: User | None, post: Post) -> None:
    """Counts a signed-in reader's view of a post in its hourly bucket. Only the number is
    kept, never who read what, so there is nothing personal to audit."""
    if viewer is None or not viewer.is_authenticated or post.state != PostState.PUBLISHED:
        return
    _bump_hour(PostViewHour, {"post_id": post.pk}, "views")


# Alerts ----------------------------------------------------------------------------------


def _overlapping_areas(areas: Iterable[Organisation]) -> Any:
    """Areas that overlap the given ones: everything inside them, and the areas they lie in
    (a subscriber to a district hears of an alert for one of its communities, and the other
    way round)."""
    inside = Q(pk__in=[])
    around: set[int] = set()
    for area in areas:
        inside |= Q(path__startswith=area.path)
        around.update(int(pk) for pk in area.path.strip("/").split("/") if pk)
    return Organisation.objects.filter(inside | Q(pk__in=sorted(around)))


def alert_recipients(post: Post) -> Any:
    """The users an alert reaches, as a queryset of users the outbox can stream from: active
    residents whose community lies within one of the alert's target areas or whose home lies
    inside one of its drawn areas, and users who subscribed to an area overlapping its target
    areas or holding a home inside a drawn area. Someone who qualifies several ways is one row."""
    areas = list(post.target_areas.all())
    in_areas = Q(pk__in=[])
    for area in areas:
        in_areas |= Q(path__startswith=area.path)
    residents = Q(resident__community__in=Organisation.objects.filter(in_areas).values("pk"))
    subscribed = Q(area__in=_overlapping_areas(areas).values("pk")) if areas else Q(pk__in=[])
    for drawn in post.drawn_areas.all():
        inside, aliases = geometry.residents_inside(drawn_shape(drawn))
        homes = Resident.objects.alias(**aliases).filter(inside)
        residents |= Q(resident__in=homes.values("pk"))
        # A subscriber to a community with a home inside the shape, or to an area around it.
        touched = Organisation.objects.filter(pk__in=homes.values("community_id"))
        subscribed |= Q(Exists(touched.filter(path__startswith=OuterRef("area__path"))))
    subscribers = AreaSubscription.objects.filter(subscribed).values("user_id")
    if not subscribers.exists():
        # Without subscribers the plain join keeps the million-resident plan the outbox's
        # set-based send is tuned for.
        return User.objects.filter(residents, is_active=True)
    return User.objects.filter(residents | Q(pk__in=subscribers), is_active=True)


# Area subscriptions -----------------------------------------------------------------------

AREA_SUBSCRIPTIONS_MAX = 20


@transaction.atomic
def area_subscribe(*, actor: User | None, area_id: int) -> AreaSubscription:
    """A resident asks for the alerts of an area (where their parents live, where they work).
    Subscribing twice keeps the first subscription."""
    user = _signed_in(actor)
    area = Organisation.objects.filter(pk=area_id).first()
    if area is None or not area.is_area:
        raise _invalid("area_id", _("未知的区域：%(id)s。") % {"id": area_id})
    existing = AreaSubscription.objects.filter(user=user, area=area).first()
    if existing is not None:
        return existing
    if AreaSubscription.objects.filter(user=user).count() >= AREA_SUBSCRIPTIONS_MAX:
        raise _invalid(
            "area_id",
            _("最多订阅 %(n)d 个区域，请先取消一些。") % {"n": AREA_SUBSCRIPTIONS_MAX},
        )
    subscription = AreaSubscription.objects.create(user=user, area=area)
    audit_record(
        actor=user,
        action="broadcast.area.subscribe",
        obj=subscription,
        organisation=area,
        changes={"area": area.pk},
    )
    return subscription


@transaction.atomic
def area_unsubscribe(*, actor: User | None, area_id: int) -> bool:
    user = _signed_in(actor)
    deleted, _rows = AreaSubscription.objects.filter(user=user, area_id=area_id).delete()
    if deleted:
        audit_record(
            actor=user,
            action="broadcast.area.unsubscribe",
            object_type="broadcast.areasubscription",
            object_id=f"{user.pk}:{area_id}",
            changes={"area": area_id},
        )
    return bool(deleted)


def alert_push(*, post_id: int) -> AlertPush:
    """Sends the alert through the outbox at emergency priority (quiet hours do not hold it).
    Idempotent: a second run finds the push already recorded, and the outbox's dedupe key
    refuses a second dispatch even if two runs race."""
    post = Post.objects.select_related("account__organisation").get(pk=post_id, is_alert=True)
    existing = AlertPush.objects.filter(post=post, dispatch__isnull=False).first()
    if existing is not None:
        return existing
    from civichub.notify.services import notification_broadcast

    with transaction.atomic():
        # Set-based: a million residents' inbox rows and deliveries are written by the
        # database from the recipient query, not one Python object per resident.
        dispatch = notification_broadcast(
            recipients=alert_recipients(post),
            kind=ALERT,
            priority="emergency",
            context={
                "event": post.cap_event,
                "event_en": post.cap_event,
                "account": post.account.name,
                "account_en": post.account.name_en or post.account.name,
                "text": post.text,
                "text_en": post.text_en or post.text,
                "instruction": post.cap_instruction,
                "post_id": post.pk,
            },
            dedupe_key=f"broadcast.alert:{post.pk}",
        )
        push, _created = AlertPush.objects.update_or_create(
            post=post, defaults={"dispatch": dispatch}
        )
        audit_record(
            actor=None,
            action="broadcast.alert.push",
            obj=post,
            changes={"dispatch": dispatch.pk, "recipients": dispatch.recipient_count},
        )
        streaming.alert_sent(post, dispatch.pk)
    return push

"""Posts: publishing (once per submission), editing and retracting.

Publishing writes the post, one counter update and one audit row, whatever the account's
follower count; nothing is written per follower (the home feed merges at read time)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.broadcast import streaming
from civichub.broadcast.models import (
    POST_MAX_CHARS,
    POST_MAX_IMAGES,
    BroadcastAccount,
    CapMessageType,
    Category,
    ImageState,
    Post,
    PostImage,
    PostRevision,
    PostState,
    PostVideo,
    VideoState,
)
from civichub.broadcast.services.alerts import push_alert
from civichub.broadcast.services.areas import DrawnAreaIn, drawn_checked, drawn_store
from civichub.broadcast.services.capmessages import cap_message_issue
from civichub.broadcast.services.checks import (
    AlertFields,
    alert_checked,
    alert_english_checked,
    check_text,
    target_areas,
)
from civichub.broadcast.services.delivery import post_federation_schedule
from civichub.broadcast.services.media import ImageIn, image_accepted, image_keep
from civichub.core.audit import audit_record
from civichub.core.errors import (
    Conflict,
    NotFound,
    ValidationFailed,
)
from civichub.core.images import CheckedImage, DeferredImage
from civichub.core.models import User
from civichub.core.permissions import require

SUBMISSION_SECONDS = 24 * 3600


class SubmissionPending(Conflict):
    """The same submission is being published by another request right now."""


T = TypeVar("T")


def submit_once(
    *,
    actor: User | None,
    key: str,
    submit: Callable[[], T],
    ref: Callable[[T], str | int],
    load: Callable[[Any], T | None],
) -> tuple[T, bool]:
    """Runs `submit` once per (actor, key) for SUBMISSION_SECONDS: a form sent twice (a double
    click, a request resent with the same Idempotency-Key) gives back what the first one made
    instead of a second one. `ref` names the result for the cache, `load` finds it again. A
    refused attempt leaves the key free, so the corrected form can be sent. Returns the result
    and whether it came from an earlier submission."""
    if not key:
        return submit(), False
    digest = hashlib.sha256(key.encode()).hexdigest()
    slot = f"broadcast:submission:{actor.pk if actor else 0}:{digest}"
    if not cache.add(slot, "", SUBMISSION_SECONDS):
        made = cache.get(slot)
        found = load(made) if made else None
        if found is None:
            raise SubmissionPending(_("这份内容正在发布，请稍候刷新。"))
        return found, True
    try:
        result = submit()
    except BaseException:
        cache.delete(slot)
        raise
    cache.set(slot, ref(result), SUBMISSION_SECONDS)
    return result, False


def publish_once(*, actor: User | None, key: str, publish: Callable[[], Post]) -> tuple[Post, bool]:
    """`submit_once` for a post (the pages' forms, the API): the post and whether it came from
    an earlier submission."""
    return submit_once(
        actor=actor,
        key=key,
        submit=publish,
        ref=lambda post: post.pk,
        load=lambda pk: Post.objects.select_related("account").filter(pk=pk).first(),
    )


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
    video_id: int | None = None,
    vouched_by: str = "",
) -> Post:
    """Publishes now, or at `publish_at` (the post stays out of feeds until then). An alert is
    published at once and pushed, after commit, to every resident of its target areas.
    Up to four images: new ones in `images`, uploaded ones by `media_ids`; every image is
    checked before anything is stored. Or one uploaded video (`video_id`), once transcoded.
    `vouched_by` names the permission another module's capability checked for the actor
    instead of broadcast's own (an announcement the actor's duty publishes); audit names it."""
    if actor is not None and not vouched_by:
        require(actor, "broadcast.alert.publish" if alert else "broadcast.post.publish", account)
    now = timezone.now()
    text = check_text("text", text, POST_MAX_CHARS)
    text_en = check_text("text_en", text_en, POST_MAX_CHARS, required=False)
    if category not in Category.values:
        raise ValidationFailed.on(
            "category", _("未知的类别：%(category)s。") % {"category": category}
        )
    areas = target_areas(target_area_ids)
    shapes = drawn_checked(drawn_areas)
    if publish_at is not None and publish_at < now - dt.timedelta(minutes=1):
        raise ValidationFailed.on("publish_at", _("定时发布的时间不能早于现在。"))
    fields: dict[str, Any] = {}
    if alert is not None:
        if publish_at is not None and publish_at > now:
            raise ValidationFailed.on("publish_at", _("预警须立即发布，不能定时。"))
        if not areas and not shapes:
            raise ValidationFailed.on("target_areas", _("预警须选择发布区域。"))
        alert = alert_checked(alert, now)
        alert_english_checked(
            text_en=text_en,
            event_en=alert.event_en,
            instruction=alert.instruction,
            instruction_en=alert.instruction_en,
        )
        fields = {
            "is_alert": True,
            "cap_category": alert.category,
            "cap_event": alert.event.strip(),
            "cap_urgency": alert.urgency,
            "cap_severity": alert.severity,
            "cap_certainty": alert.certainty,
            "cap_expires": alert.expires,
            "cap_instruction": alert.instruction.strip(),
            "cap_headline": alert.headline.strip(),
            "cap_event_en": alert.event_en.strip(),
            "cap_headline_en": alert.headline_en.strip(),
            "cap_instruction_en": alert.instruction_en.strip(),
        }
    if len(images) + len(set(media_ids)) > POST_MAX_IMAGES:
        raise ValidationFailed.on(
            "images", _("一条发布最多 %(n)d 张图片。") % {"n": POST_MAX_IMAGES}
        )
    checked_images = [image_accepted(image, f"images.{i}") for i, image in enumerate(images)]
    uploaded = _uploaded_media(account, media_ids)
    video = _uploaded_video(account, video_id, has_images=bool(images or media_ids))
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
    if video is not None:
        video.post = post
        video.save(update_fields=["post"])
    if shapes:
        drawn_store(post, shapes)
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
            "video": video.pk if video is not None else None,
            "drawn_areas": [area.kind for area, _shape in shapes],
            **({"vouched_by": vouched_by} if vouched_by else {}),
        },
    )
    if alert is not None:
        cap_message_issue(actor=actor, post=post, msg_type=CapMessageType.ALERT, sent=now)
    streaming.post_published(post)
    post_federation_schedule(post, "Create")
    if alert is not None:
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
    if not bad:
        waiting = [m.pk for m in usable if m.state != ImageState.READY]
        if waiting:
            raise ValidationFailed.on(
                "media_ids",
                _("这些图片还在处理中或处理失败，暂不能发布：%(ids)s。")
                % {"ids": ", ".join(map(str, sorted(waiting)))},
            )
    if bad:
        raise ValidationFailed.on(
            "media_ids",
            _("这些图片不存在或已用于别的发布：%(ids)s。")
            % {"ids": ", ".join(map(str, sorted(bad)))},
        )
    return usable


def _uploaded_video(
    account: BroadcastAccount, video_id: int | None, *, has_images: bool
) -> PostVideo | None:
    if video_id is None:
        return None
    if has_images:
        raise ValidationFailed.on("video_id", _("一条发布不能同时带图片和视频。"))
    video = PostVideo.objects.select_for_update().filter(pk=int(video_id)).first()
    if video is None or video.account_id != account.pk or video.post_id is not None:
        raise ValidationFailed.on("video_id", _("这段视频不存在或已用于别的发布。"))
    if video.state != VideoState.READY:
        raise ValidationFailed.on(
            "video_id",
            _("视频处理失败，请重新上传。")
            if video.state == VideoState.FAILED
            else _("视频还在处理中（%(progress)d%%），完成后才能发布。")
            % {"progress": video.progress},
        )
    return video


def _attach_images(
    post: Post,
    actor: User | None,
    uploaded: list[PostImage],
    checked_images: list[tuple[CheckedImage | DeferredImage, str]],
) -> None:
    for position, media in enumerate(uploaded):
        media.post, media.position = post, position
        media.save(update_fields=["post", "position"])
    for offset, (checked, alt) in enumerate(checked_images, start=len(uploaded)):
        image_keep(
            account=post.account,
            accepted=checked,
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


@dataclass(frozen=True)
class AlertEnglish:
    """An alert's English texts as an edit sets them (None: unchanged)."""

    event_en: str | None = None
    headline_en: str | None = None
    instruction_en: str | None = None


@transaction.atomic
def post_edit(
    *,
    actor: User | None,
    post_id: int,
    text: str,
    text_en: str | None = None,
    english: AlertEnglish | None = None,
) -> Post:
    """Changes the text (and an alert's English texts); the previous text stays visible in the
    post's history. An edited alert issues a CAP Update referencing its earlier messages."""
    post = _post_for_update(post_id)
    if actor is not None:
        require(actor, "broadcast.post.publish", post.account)
    if post.state == PostState.RETRACTED:
        raise Conflict(_("已撤回的发布不能修改。"))
    new_text = check_text("text", text, POST_MAX_CHARS)
    new_en = (
        post.text_en
        if text_en is None
        else check_text("text_en", text_en, POST_MAX_CHARS, required=False)
    )
    alert_changes = _alert_english_changes(post, new_en, english) if post.is_alert else {}
    if new_text == post.text and new_en == post.text_en and not alert_changes:
        return post
    now = timezone.now()
    PostRevision.objects.create(
        post=post, text=post.text, text_en=post.text_en, editor=actor, replaced_at=now
    )
    changes: dict[str, Any] = {"text": [post.text, new_text], "text_en": [post.text_en, new_en]}
    for name, value in alert_changes.items():
        changes[name] = [getattr(post, name), value]
        setattr(post, name, value)
    post.text, post.text_en, post.edited_at = new_text, new_en, now
    post.save(update_fields=["text", "text_en", "edited_at", *alert_changes])
    audit_record(actor=actor, action="broadcast.post.edit", obj=post, changes=changes)
    if post.is_alert:
        cap_message_issue(actor=actor, post=post, msg_type=CapMessageType.UPDATE, sent=now)
    streaming.post_edited(post)
    post_federation_schedule(post, "Update")
    return post


def _alert_english_changes(
    post: Post, text_en: str, english: AlertEnglish | None
) -> dict[str, str]:
    """The English alert fields the edit changes, checked as publishing checks them."""
    english = english or AlertEnglish()
    wanted = {
        "cap_event_en": english.event_en,
        "cap_headline_en": english.headline_en,
        "cap_instruction_en": english.instruction_en,
    }
    new = {name: getattr(post, name) if v is None else v.strip() for name, v in wanted.items()}
    if len(new["cap_event_en"]) > 100:
        raise ValidationFailed.on("event_en", _("英文事件名称最多 100 个字。"))
    check_text("headline_en", new["cap_headline_en"], 80, required=False)
    check_text("instruction_en", new["cap_instruction_en"], 500, required=False)
    alert_english_checked(
        text_en=text_en,
        event_en=new["cap_event_en"],
        instruction=post.cap_instruction,
        instruction_en=new["cap_instruction_en"],
    )
    return {name: value for name, value in new.items() if value != getattr(post, name)}


@transaction.atomic
def post_retract(*, actor: User | None, post_id: int, reason: str = "") -> Post:
    post = _post_for_update(post_id)
    if actor is not None:
        require(actor, "broadcast.post.publish", post.account)
    if post.state == PostState.RETRACTED:
        return post
    now = timezone.now()
    post.state, post.retracted_at = PostState.RETRACTED, now
    post.save(update_fields=["state", "retracted_at"])
    BroadcastAccount.objects.filter(pk=post.account_id).update(posts_count=F("posts_count") - 1)
    audit_record(actor=actor, action="broadcast.post.retract", obj=post, purpose=reason, changes={})
    if post.is_alert:
        # The alert's Cancel: the feeds and the CAP index carry it in the alert's place.
        cap_message_issue(actor=actor, post=post, msg_type=CapMessageType.CANCEL, sent=now)
    streaming.post_retracted(post)
    post_federation_schedule(post, "Delete")
    return post

"""Images: uploaded ahead of a post, attached to it, expired when never used.

An upload's header is checked in the request (format, pixels, pixels per byte), so a
decompression bomb is refused at once; a small image is re-encoded there too, a large one
(over `image_free_pixels`) is stored as received, `processing`, and re-encoded by a task in a
child process with a time and memory limit (`core.images.reencode_isolated`). It is served to
no one and cannot be attached until `ready`; a failed decode is kept `failed` with its reason."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from civichub.broadcast.models import (
    ALT_TEXT_MAX_CHARS,
    BroadcastAccount,
    ImageState,
    Post,
    PostImage,
)
from civichub.broadcast.notifications import IMAGE_FAILED
from civichub.broadcast.queue import priority
from civichub.broadcast.services.checks import check_text
from civichub.core.audit import audit_record
from civichub.core.conf import core_settings
from civichub.core.context import acting
from civichub.core.errors import NotFound, ValidationFailed
from civichub.core.images import (
    CheckedImage,
    DeferredImage,
    ImageUpload,
    PendingAudit,
    PendingStates,
    ProbedImage,
    accept_image,
    check_image,
    pending_image_reencode,
    probe_image,
    reencode_isolated,
)
from civichub.core.models import User
from civichub.core.permissions import require
from civichub.notify.services import notification_send

IMAGE_MAX_BYTES = 10 * 1024 * 1024
IMAGE_MAX_PIXELS = 40_000_000
IMAGE_FORMATS = ["JPEG", "PNG", "WEBP"]

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class ImageIn:
    """An image for a post as received, with the text a screen reader says in its place."""

    name: str
    data: bytes
    alt_text: str


def _alt_checked(image: ImageIn, field: str) -> str:
    alt = image.alt_text.strip()
    if not alt:
        raise ValidationFailed.on(
            f"{field}.alt_text", _("请为每张图片填写替代文字，供看不见图片的读者使用。")
        )
    return check_text(f"{field}.alt_text", alt, ALT_TEXT_MAX_CHARS)


def image_checked(image: ImageIn, field: str) -> tuple[CheckedImage, str]:
    alt = _alt_checked(image, field)
    checked = check_image(
        ImageUpload(name=image.name, data=image.data),
        field=field,
        max_bytes=IMAGE_MAX_BYTES,
        max_pixels=IMAGE_MAX_PIXELS,
        allowed_formats=IMAGE_FORMATS,
    )
    return checked, alt


def image_accepted(image: ImageIn, field: str) -> tuple[CheckedImage | DeferredImage, str]:
    """For an image published with its post: one over `image_background_pixels` is taken
    after its header checks alone and re-encoded by `process_image` (the post shows without
    it until then); a smaller one is re-encoded now."""
    alt = _alt_checked(image, field)
    accepted = accept_image(
        ImageUpload(name=image.name, data=image.data),
        field=field,
        max_bytes=IMAGE_MAX_BYTES,
        max_pixels=IMAGE_MAX_PIXELS,
        allowed_formats=IMAGE_FORMATS,
    )
    return accepted, alt


def image_keep(
    *,
    account: BroadcastAccount,
    accepted: CheckedImage | DeferredImage,
    alt_text: str,
    uploader: User | None,
    post: Post,
    position: int,
) -> PostImage:
    """Stores an image published with its post: re-encoded already, or `processing` with its
    task enqueued once the post has committed."""
    if isinstance(accepted, CheckedImage):
        return image_store(
            account=account,
            checked=accepted,
            alt_text=alt_text,
            uploader=uploader,
            post=post,
            position=position,
        )
    stored = _pending_store(
        account=account,
        probed=accepted.probed,
        data=accepted.data,
        alt_text=alt_text,
        uploader=uploader,
        post=post,
        position=position,
    )
    image_id = stored.pk
    transaction.on_commit(lambda: process_image.enqueue(image_id))
    return stored


def stored_name(prefix: str, checked: CheckedImage) -> str:
    return f"{prefix}-{secrets.token_hex(8)}.{checked.extension}"


def image_store(
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
    image.image.save(stored_name(account.handle, checked), ContentFile(checked.data), save=False)
    name = image.image.name
    try:
        image.save()
    except BaseException:
        default_storage.delete(name)
        raise
    return image


@transaction.atomic
def media_upload(*, actor: User | None, account: BroadcastAccount, image: ImageIn) -> PostImage:
    """An image uploaded ahead of its post (the API's two steps, as Mastodon clients do),
    attached by `post_publish(media_ids=...)`. Its header is checked now; a small image is
    re-encoded now, a large one is stored `processing` and re-encoded by `process_image`."""
    if actor is not None:
        require(actor, "broadcast.post.publish", account)
    alt = _alt_checked(image, "file")
    probed = probe_image(
        ImageUpload(name=image.name, data=image.data),
        field="file",
        max_bytes=IMAGE_MAX_BYTES,
        max_pixels=IMAGE_MAX_PIXELS,
        allowed_formats=IMAGE_FORMATS,
    )
    if probed.pixels > int(core_settings().image_free_pixels):
        stored = _pending_store(
            account=account, probed=probed, data=image.data, alt_text=alt, uploader=actor
        )
        image_id = stored.pk
        transaction.on_commit(lambda: process_image.enqueue(image_id))
    else:
        checked, alt = image_checked(image, "file")
        stored = image_store(account=account, checked=checked, alt_text=alt, uploader=actor)
    audit_record(
        actor=actor,
        action="broadcast.media.upload",
        obj=stored,
        organisation=account.organisation,
        changes={"content_type": stored.content_type, "size": stored.size, "state": stored.state},
    )
    return stored


def _pending_store(
    *,
    account: BroadcastAccount,
    probed: ProbedImage,
    data: bytes,
    alt_text: str,
    uploader: User | None,
    post: Post | None = None,
    position: int = 0,
) -> PostImage:
    """The upload as received (metadata and all, so never served), awaiting its task."""
    image = PostImage(
        account=account,
        post=post,
        position=position,
        alt_text=alt_text,
        content_type=probed.content_type,
        width=probed.width,
        height=probed.height,
        size=len(data),
        state=ImageState.PROCESSING,
        uploaded_by=uploader,
    )
    image.image.save(
        f"{account.handle}-pending-{secrets.token_hex(8)}", ContentFile(data), save=False
    )
    name = image.image.name
    try:
        image.save()
    except BaseException:
        default_storage.delete(name)
        raise
    return image


def image_process(*, image_id: int) -> PostImage:
    """Re-encodes a pending upload in a child process with a time and memory limit; the
    re-encoded file replaces the original, which is deleted. A failure keeps the reason."""
    found = PostImage.objects.select_related("account__organisation").filter(pk=image_id).first()
    if found is None:
        raise _image_gone()
    processed = pending_image_reencode(
        found,
        states=_STATES,
        reencode=lambda data: reencode_isolated(data, max_pixels=IMAGE_MAX_PIXELS),
        stem=f"{found.account.handle}-{secrets.token_hex(8)}",
        audit=PendingAudit(
            ready="broadcast.media.ready",
            failed="broadcast.media.fail",
            organisation=found.account.organisation,
        ),
        on_failed=_author_told,
        lost=_image_gone,
    )
    if processed is None:  # `lost` raises first; this is for the type checker
        raise _image_gone()
    return processed


_STATES = PendingStates(
    processing=ImageState.PROCESSING, ready=ImageState.READY, failed=ImageState.FAILED
)


def _author_told(image: PostImage) -> None:
    """A post published with a large image shows without it until the task is done; when the
    image fails, the post's author is told (an image uploaded ahead of its post has no post
    yet: its uploader reads the failure in the API's answer)."""
    if image.post_id is None:
        return
    post = Post.objects.select_related("account").get(pk=image.post_id)
    if post.author_id is None:
        return
    notification_send(
        recipients=[post.author_id],
        kind=IMAGE_FAILED,
        context={
            "post_id": post.pk,
            "account": post.account.name,
            "account_en": post.account.name_en or post.account.name,
            "alt_text": image.alt_text,
            "error": image.error,
        },
        dedupe_key=f"{IMAGE_FAILED}:{image.pk}",
    )


def _image_gone() -> NotFound:
    return NotFound(_("没有这张图片。"))


@task(priority=priority(30))
def process_image(image_id: int) -> str:
    """Re-encodes a large uploaded image; enqueued by `media_upload` once the upload has
    committed."""
    with acting(channel="task"):
        try:
            return str(image_process(image_id=int(image_id)).state)
        except NotFound:
            return "gone"


UNATTACHED_MEDIA_HOURS = 24


def media_unattached_delete(*, older_than: dt.timedelta | None = None) -> int:
    """Removes images uploaded for a post that was never published (rows, then their files
    once the deletion is committed). The system's own housekeeping, audited as one change."""
    return unattached_delete(
        PostImage,
        older_than=older_than or dt.timedelta(hours=UNATTACHED_MEDIA_HOURS),
        limit=1000,
        action="broadcast.media.expire",
        counted="images",
        remove=_image_file_delete,
    )


def _image_file_delete(image: PostImage) -> None:
    default_storage.delete(image.image.name)


@transaction.atomic
def unattached_delete(
    model: type[M],
    *,
    older_than: dt.timedelta,
    limit: int,
    action: str,
    counted: str,
    remove: Callable[[M], None],
) -> int:
    """Deletes up to `limit` uploads (images, videos) older than `older_than` that no post took,
    audited as one change, and `remove`s their files once the deletion is committed."""
    cutoff = timezone.now() - older_than
    stale = list(model._default_manager.filter(post__isnull=True, created_at__lt=cutoff)[:limit])
    if not stale:
        return 0
    model._default_manager.filter(pk__in=[item.pk for item in stale]).delete()
    audit_record(
        actor=None,
        action=action,
        object_type=model._meta.label_lower,
        object_id=",".join(str(item.pk) for item in stale[:50]),
        changes={counted: len(stale)},
    )

    def remove_files() -> None:
        for item in stale:
            remove(item)

    transaction.on_commit(remove_files)
    return len(stale)

"""Images: uploaded ahead of a post, attached to it, expired when never used."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.broadcast.models import (
    ALT_TEXT_MAX_CHARS,
    BroadcastAccount,
    Post,
    PostImage,
)
from civichub.broadcast.services.checks import check_text
from civichub.core.audit import audit_record
from civichub.core.errors import ValidationFailed
from civichub.core.images import CheckedImage, ImageUpload, check_image
from civichub.core.models import User
from civichub.core.permissions import require

IMAGE_MAX_BYTES = 10 * 1024 * 1024
IMAGE_MAX_PIXELS = 40_000_000
IMAGE_FORMATS = ["JPEG", "PNG", "WEBP"]


@dataclass(frozen=True)
class ImageIn:
    """An image for a post as received, with the text a screen reader says in its place."""

    name: str
    data: bytes
    alt_text: str


def image_checked(image: ImageIn, field: str) -> tuple[CheckedImage, str]:
    alt = image.alt_text.strip()
    if not alt:
        raise ValidationFailed.on(
            f"{field}.alt_text", _("请为每张图片填写替代文字，供看不见图片的读者使用。")
        )
    alt = check_text(f"{field}.alt_text", alt, ALT_TEXT_MAX_CHARS)
    checked = check_image(
        ImageUpload(name=image.name, data=image.data),
        field=field,
        max_bytes=IMAGE_MAX_BYTES,
        max_pixels=IMAGE_MAX_PIXELS,
        allowed_formats=IMAGE_FORMATS,
    )
    return checked, alt


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
    """An image uploaded ahead of its post (the API's two steps, as Mastodon clients do):
    checked and re-encoded now, attached by `post_publish(media_ids=...)`."""
    if actor is not None:
        require(actor, "broadcast.post.publish", account)
    checked, alt = image_checked(image, "file")
    stored = image_store(account=account, checked=checked, alt_text=alt, uploader=actor)
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

"""Broadcast accounts: creating one and setting its picture."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext as _

from civichub.broadcast.models import (
    BroadcastAccount,
)
from civichub.broadcast.services.checks import check_text
from civichub.broadcast.services.media import (
    IMAGE_FORMATS,
    IMAGE_MAX_BYTES,
    IMAGE_MAX_PIXELS,
    stored_name,
)
from civichub.core.audit import audit_record
from civichub.core.conf import core_settings
from civichub.core.errors import (
    Conflict,
)
from civichub.core.images import ImageUpload, check_image
from civichub.core.models import Organisation, User
from civichub.core.permissions import require


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
        name=check_text("name", name, 100),
        name_en=name_en.strip(),
        description=check_text("description", description, 500, required=False),
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


@transaction.atomic
def account_avatar_set(
    *, actor: User | None, account: BroadcastAccount, upload: ImageUpload
) -> BroadcastAccount:
    """The account's picture, re-encoded like post images. The previous file is removed once
    the change is committed. A picture shown this small has no need of more pixels than
    `image_background_pixels`: a larger one is refused from its header, so that setting an
    avatar never waits on a large decode."""
    if actor is not None:
        require(actor, "broadcast.post.publish", account)
    checked = check_image(
        upload,
        field="avatar",
        max_bytes=IMAGE_MAX_BYTES,
        max_pixels=min(IMAGE_MAX_PIXELS, int(core_settings().image_background_pixels)),
        allowed_formats=IMAGE_FORMATS,
    )
    account = BroadcastAccount.objects.select_for_update().get(pk=account.pk)
    old = account.avatar.name if account.avatar else ""
    account.avatar.save(stored_name(account.handle, checked), ContentFile(checked.data), save=False)
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

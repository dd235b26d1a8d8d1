"""CAP messages: the Alert a publication issues, the Update each edit issues and the Cancel a
retraction issues, each its own record with its own identifier and `sent`, the later ones
referencing every earlier message of the alert (CAP 1.2 §3.2.1, `references`). Called by the
publishing services inside their transactions; nothing else writes them."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse

from civichub.broadcast.cap import CapIdentity, cap_document
from civichub.broadcast.conf import absolute, cap_sender
from civichub.broadcast.models import CapMessage, CapMessageType, Post
from civichub.core.audit import audit_record
from civichub.core.models import User


def cap_identifier(sender: str, post_id: int, sequence: int) -> str:
    return f"{sender}.broadcast.{post_id}.{sequence}"


def cap_identity(message: CapMessage, earlier: list[CapMessage]) -> CapIdentity:
    return CapIdentity(
        sender=message.sender,
        identifier=message.identifier,
        sent=message.sent,
        msg_type=message.msg_type,
        references=[m.reference for m in earlier] if message.msg_type != "Alert" else [],
    )


def cap_message_document(post: Post, message: CapMessage, earlier: list[CapMessage]) -> bytes:
    """The message's document from the post as it is now (for a message issued now, or one
    recorded before documents were kept)."""
    web = absolute(reverse("broadcast:post", args=[post.pk]))
    return cap_document(post, identity=cap_identity(message, earlier), web=web)


def cap_message_issue(
    *, actor: User | None, post: Post, msg_type: CapMessageType, sent: dt.datetime
) -> CapMessage:
    """Records and renders the alert's next CAP message. The earlier messages' rows are locked
    first, so two edits at once number theirs one after the other."""
    earlier = list(CapMessage.objects.select_for_update().filter(post=post).order_by("sequence"))
    sender = cap_sender()
    sequence = earlier[-1].sequence + 1 if earlier else 1
    message = CapMessage(
        post=post,
        sequence=sequence,
        msg_type=msg_type,
        sender=sender,
        identifier=cap_identifier(sender, post.pk, sequence),
        sent=sent.replace(microsecond=0),
    )
    message.document = cap_message_document(post, message, earlier).decode()
    message.save()
    audit_record(
        actor=actor,
        action="broadcast.cap.issue",
        obj=message,
        organisation=post.account.organisation,
        changes={
            "post": post.pk,
            "msg_type": str(msg_type),
            "identifier": message.identifier,
            "sent": message.sent.isoformat(),
            "references": [m.identifier for m in earlier] if msg_type != "Alert" else [],
        },
    )
    return message

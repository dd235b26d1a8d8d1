"""The recipient's own actions on their inbox."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _

from civichub.core.audit import audit_record
from civichub.core.errors import NotFound
from civichub.core.hooks import DemoSeeded
from civichub.core.models import User
from civichub.notify.models import Notification


def _own_notification(actor: User, notification_id: int) -> Notification:
    notification = Notification.objects.filter(pk=notification_id, recipient=actor).first()
    if notification is None:
        raise NotFound(_("没有编号为 %(pk)s 的通知。") % {"pk": notification_id})
    return notification


@transaction.atomic
def notification_mark_read(*, actor: User, notification_id: int) -> Notification:
    notification = _own_notification(actor, notification_id)
    if notification.read_at is None:
        notification.read_at = timezone.now()
        notification.save(update_fields=["read_at"])
        audit_record(actor=actor, action="notification.read", obj=notification)
    return notification


@transaction.atomic
def notification_mark_all_read(*, actor: User) -> int:
    count = Notification.objects.filter(recipient=actor, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    if count:
        audit_record(
            actor=actor,
            action="notification.read_all",
            object_type="notify.notification",
            changes={"count": count},
        )
    return count


# How many notifications each demo account still has unread once the demo city is seeded: the
# newest few, as someone who reads their notifications would have; the rest are read.
DEMO_UNREAD_KEEP = 3


def demo_inbox_settle(event: DemoSeeded) -> int:
    """Marks all but each recipient's newest `DEMO_UNREAD_KEEP` unread demo notifications read
    (at the time they were sent). Returns how many it marked."""
    ranked = Notification.objects.filter(recipient__isnull=False, read_at__isnull=True).annotate(
        rank=Window(
            RowNumber(),
            partition_by=[F("recipient_id")],
            order_by=[F("created_at").desc(), F("id").desc()],
        )
    )
    ids = list(ranked.filter(rank__gt=DEMO_UNREAD_KEEP).values_list("pk", flat=True))
    marked = 0
    for start in range(0, len(ids), 5000):
        marked += Notification.objects.filter(pk__in=ids[start : start + 5000]).update(
            read_at=F("created_at")
        )
    return marked

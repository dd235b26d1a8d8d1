"""Reads shared by the inbox page, the API and the dashboard. A person reads only their own
notifications; dispatches and their deliveries are for operators."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count
from django.utils.translation import gettext as _

from civichub.core.errors import NotFound
from civichub.core.models import User
from civichub.core.paging import Page
from civichub.core.permissions import require
from civichub.notify.models import Delivery, Dispatch, Notification, NotificationPreference

MAX_PAGE = 100


@dataclass
class NotificationPage(Page[Notification]):
    unread: int = 0  # of all the actor's notifications, whatever the page shows


def notification_list(
    *, actor: User, offset: int = 0, limit: int = 20, unread_only: bool = False
) -> NotificationPage:
    """The actor's notifications, newest first, with their deliveries."""
    queryset = Notification.objects.filter(recipient=actor)
    unread = queryset.filter(read_at__isnull=True).count()
    if unread_only:
        queryset = queryset.filter(read_at__isnull=True)
        total = unread
    else:
        total = queryset.count()
    limit = min(limit, MAX_PAGE)
    items = list(
        queryset.select_related("dispatch")
        .prefetch_related("deliveries")
        .order_by("-created_at", "-id")[offset : offset + limit]
    )
    return NotificationPage(items=items, total=total, offset=offset, limit=limit, unread=unread)


def notification_get(*, actor: User, pk: int) -> Notification:
    notification = (
        Notification.objects.select_related("dispatch")
        .prefetch_related("deliveries")
        .filter(pk=pk, recipient=actor)
        .first()
    )
    if notification is None:
        raise NotFound(_("没有编号为 %(pk)s 的通知。") % {"pk": pk})
    return notification


def unread_count(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def unread_figure(user: User) -> int:
    """The unread count, for the dashboard tile."""
    return unread_count(user=user)


def preference_for(*, user: User) -> NotificationPreference:
    """The user's saved preferences, or the defaults (unsaved) if they never chose."""
    return NotificationPreference.objects.filter(user=user).first() or NotificationPreference(
        user=user
    )


@dataclass
class DispatchReport:
    dispatch: Dispatch
    delivery_counts: dict[str, int]
    deliveries: list[Delivery]


def dispatch_report(*, actor: User, pk: int, limit: int = 200) -> DispatchReport:
    """A send as operators see it: its deliveries' states, counted and (the first ones) listed."""
    require(actor, "notify.dispatch.view")
    dispatch = Dispatch.objects.filter(pk=pk).first()
    if dispatch is None:
        raise NotFound(_("没有编号为 %(pk)s 的通知发送。") % {"pk": pk})
    deliveries = Delivery.objects.filter(notification__dispatch=dispatch)
    counts = {
        row["state"]: row["n"]
        for row in deliveries.values("state").annotate(n=Count("pk")).order_by("state")
    }
    listed = list(deliveries.select_related("notification").order_by("pk")[: min(limit, 1000)])
    return DispatchReport(dispatch=dispatch, delivery_counts=counts, deliveries=listed)

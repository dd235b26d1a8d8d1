"""Reads shared by the inbox page, the API and the dashboard. A person reads only their own
notifications; dispatches and their deliveries are for operators."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils.translation import gettext as _

from civichub.core.errors import NotFound
from civichub.core.models import User
from civichub.core.paging import Page
from civichub.core.permissions import require
from civichub.notify.choices import Channel, DeliveryState
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


# Reads for other modules' own feeds (broadcast's Mastodon notifications and streams) --------


@dataclass(frozen=True)
class NotificationRef:
    """A person's notification as another module lists it: its id, the send it came from and
    when it was made (its place in the person's list, ordered by (created_at, id))."""

    pk: int
    dispatch_id: int
    created_at: dt.datetime


# A place in a list ordered by (created_at, id): rows strictly before or after it.
Keyset = tuple[dt.datetime, int]


def notification_ref(
    *, recipient: User, pk: int | None = None, dispatch_id: int | None = None
) -> NotificationRef | None:
    """One of the person's own notifications, by its id or by the send that made it; None
    when the person has none such."""
    rows = Notification.objects.filter(recipient=recipient)
    if pk is not None:
        rows = rows.filter(pk=pk)
    if dispatch_id is not None:
        rows = rows.filter(dispatch_id=dispatch_id)
    found = rows.values_list("pk", "dispatch_id", "created_at").first()
    return NotificationRef(*found) if found else None


def dispatch_notification_refs(
    *, dispatch_id: int, recipient_ids: Iterable[int]
) -> dict[int, NotificationRef]:
    """The notification one send made for each of these people, by person (those it did not
    reach left out): `notification_ref` for many people at once, as a stream telling them all
    needs it."""
    ids = list(recipient_ids)
    found: dict[int, NotificationRef] = {}
    for start in range(0, len(ids), _IDS_PER_QUERY):
        rows = Notification.objects.filter(
            dispatch_id=dispatch_id, recipient_id__in=ids[start : start + _IDS_PER_QUERY]
        ).values_list("recipient_id", "pk", "dispatch_id", "created_at")
        for recipient_id, pk, dispatch, created_at in rows:
            found[recipient_id] = NotificationRef(pk, dispatch, created_at)
    return found


# Ids in one `IN (...)`: well under SQLite's limit on a statement's parameters.
_IDS_PER_QUERY = 1000


def notification_refs(
    *,
    recipient: User,
    kind: str,
    limit: int,
    dispatch_ids: Iterable[int] | None = None,
    pk: int | None = None,
    older_than: Keyset | None = None,
    newer_than: Sequence[Keyset] = (),
    oldest_first: bool = False,
) -> list[NotificationRef]:
    """The person's notifications of one kind, newest first (or oldest first), at most `limit`:
    only those of the sends `dispatch_ids` (a list or a subquery of ids) or the one `pk` when
    given; only those before `older_than` and after each of `newer_than` in (created_at, id)
    order, so another module can page them with rows of its own."""
    rows = Notification.objects.filter(recipient=recipient, dispatch__kind=kind)
    if dispatch_ids is not None:
        rows = rows.filter(dispatch_id__in=dispatch_ids)
    if pk is not None:
        rows = rows.filter(pk=pk)
    if older_than is not None:
        at, bound = older_than
        rows = rows.filter(Q(created_at__lt=at) | Q(created_at=at, pk__lt=bound))
    for at, bound in newer_than:
        rows = rows.filter(Q(created_at__gt=at) | Q(created_at=at, pk__gt=bound))
    order = ("created_at", "pk") if oldest_first else ("-created_at", "-pk")
    found = rows.order_by(*order).values_list("pk", "dispatch_id", "created_at")[:limit]
    return [NotificationRef(*row) for row in found]


@dataclass(frozen=True)
class DispatchCounts:
    recipients: int
    deliveries: dict[str, int]  # by state


def dispatch_counts(*, dispatch_id: int) -> DispatchCounts:
    """How far a send has gone: its recipients and its deliveries by state. Figures only, no
    personal data; the module that made the send decides who may see them."""
    recipients = Notification.objects.filter(dispatch_id=dispatch_id).count()
    states = (
        Delivery.objects.filter(notification__dispatch_id=dispatch_id)
        .values("state")
        .annotate(n=Count("id"))
    )
    return DispatchCounts(recipients, {row["state"]: row["n"] for row in states})


def sent_by_channel(*, dispatch_ids: Iterable[int]) -> dict[str, int]:
    """What the sends `dispatch_ids` delivered, by channel: the in-app notifications (the inbox
    row is the delivery) and the outside deliveries sent. Figures only, no personal data."""
    ids = list(dispatch_ids)
    if not ids:
        return {}
    sent = {Channel.INAPP.value: Notification.objects.filter(dispatch_id__in=ids).count()}
    rows = (
        Delivery.objects.filter(notification__dispatch_id__in=ids, state=DeliveryState.SENT)
        .values("channel")
        .annotate(n=Count("id"))
    )
    sent.update({row["channel"]: row["n"] for row in rows})
    return sent

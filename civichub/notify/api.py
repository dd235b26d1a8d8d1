"""The notifications API at /api/notifications/: one's own inbox and preferences, push
subscriptions, and for operators a test send and the state of any send's deliveries."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from civichub.core import selectors as core_selectors
from civichub.core.errors import NotFound
from civichub.core.http import request_user
from civichub.notify import kinds, selectors, services
from civichub.notify.channels import vapid_public_key
from civichub.notify.models import Delivery, Notification, NotificationPreference

# Schema names are global in the OpenAPI document, so they carry the module's words.
router = Router(tags=["notify"])

ChannelName = Literal["inapp", "email", "sms", "push"]
OutsideChannelName = Literal["email", "sms", "push"]


class NotificationDeliveryOut(Schema):
    id: int
    channel: str
    state: str
    failure: str
    attempts: int
    next_attempt_at: dt.datetime | None
    sent_at: dt.datetime | None
    last_error: str


class NotificationOut(Schema):
    id: int
    kind: str
    category: str
    priority: str
    subject: str
    body: str
    # What the notification is about: a path on this site or an address ("" when none).
    link: str
    created_at: dt.datetime
    read_at: dt.datetime | None
    deliveries: list[NotificationDeliveryOut]


def _notification_out(notification: Notification) -> NotificationOut:
    dispatch = notification.dispatch
    return NotificationOut(
        id=notification.pk,
        kind=dispatch.kind,
        category=dispatch.category,
        priority=dispatch.priority,
        subject=notification.subject,
        body=notification.body,
        link=notification.link,
        created_at=notification.created_at,
        read_at=notification.read_at,
        deliveries=[NotificationDeliveryOut.from_orm(d) for d in notification.deliveries.all()],
    )


class NotificationPageOut(Schema):
    total: int
    unread: int
    items: list[NotificationOut]


@router.get("/", response=NotificationPageOut, summary="My notifications, newest first")
def notification_list(
    request: HttpRequest,
    unread: bool = False,
    offset: int = Query(0, ge=0),
    limit: int = Query(20, ge=1, le=100),
) -> NotificationPageOut:
    page = selectors.notification_list(
        actor=request_user(request), offset=offset, limit=limit, unread_only=unread
    )
    return NotificationPageOut(
        total=page.total, unread=page.unread, items=[_notification_out(n) for n in page.items]
    )


class NotificationsReadOut(Schema):
    count: int


@router.post("/read-all", response=NotificationsReadOut, summary="Mark all my notifications read")
def notification_read_all(request: HttpRequest) -> NotificationsReadOut:
    return NotificationsReadOut(
        count=services.notification_mark_all_read(actor=request_user(request))
    )


class NotificationPreferencesIn(Schema):
    channels: dict[str, dict[OutsideChannelName, bool]] = Field(
        default_factory=dict,
        description="Per category, per channel: false switches it off (emergencies override).",
    )
    blocked_channels: list[OutsideChannelName] = Field(
        default_factory=list, description="Channels never used, not even for emergencies."
    )
    quiet_hours_enabled: bool = True
    quiet_start: dt.time | None = Field(None, description="Unset: the deployment's default.")
    quiet_end: dt.time | None = None
    time_zone: str = Field("", max_length=64, description="IANA name; empty: the server's.")


class NotificationCategoryOut(Schema):
    key: str
    label: str


class NotificationPreferencesOut(NotificationPreferencesIn):
    effective_quiet_hours: str | None
    categories: list[NotificationCategoryOut]


def _preferences_out(preference: NotificationPreference) -> NotificationPreferencesOut:
    hours = preference.quiet_hours()
    return NotificationPreferencesOut(
        channels=preference.channels,
        blocked_channels=preference.blocked_channels,
        quiet_hours_enabled=preference.quiet_hours_enabled,
        quiet_start=preference.quiet_start,
        quiet_end=preference.quiet_end,
        time_zone=preference.time_zone,
        effective_quiet_hours=(f"{hours[0]:%H:%M}-{hours[1]:%H:%M}" if hours else None),
        categories=[
            NotificationCategoryOut(key=c.key, label=str(c.label)) for c in kinds.categories()
        ],
    )


@router.get(
    "/preferences", response=NotificationPreferencesOut, summary="My notification preferences"
)
def preferences_get(request: HttpRequest) -> NotificationPreferencesOut:
    return _preferences_out(selectors.preference_for(user=request_user(request)))


@router.put("/preferences", response=NotificationPreferencesOut, summary="Replace my preferences")
def preferences_put(
    request: HttpRequest, payload: NotificationPreferencesIn
) -> NotificationPreferencesOut:
    preference = services.preference_update(
        actor=request_user(request),
        channels={c: {str(ch): on for ch, on in s.items()} for c, s in payload.channels.items()},
        blocked_channels=list(payload.blocked_channels),
        quiet_hours_enabled=payload.quiet_hours_enabled,
        quiet_start=payload.quiet_start,
        quiet_end=payload.quiet_end,
        time_zone=payload.time_zone,
    )
    return _preferences_out(preference)


class PushKeyOut(Schema):
    public_key: str = Field(..., description="VAPID application server key (base64url).")


@router.get(
    "/push-key",
    response=PushKeyOut,
    auth=None,
    summary="The key a browser needs to subscribe to Web Push",
)
def push_key(request: HttpRequest) -> PushKeyOut:
    return PushKeyOut(public_key=vapid_public_key())


class PushSubscriptionKeysIn(Schema):
    p256dh: str = Field(..., max_length=200)
    auth: str = Field(..., max_length=100)


class PushSubscriptionIn(Schema):
    """The shape of the browser's PushSubscription.toJSON()."""

    endpoint: str = Field(..., max_length=2000)
    keys: PushSubscriptionKeysIn
    expirationTime: int | None = None  # noqa: N815  (the browser's name)


class PushSubscriptionOut(Schema):
    id: int
    endpoint: str
    created_at: dt.datetime


@router.post(
    "/push-subscriptions",
    response={201: PushSubscriptionOut},
    summary="Register this browser for Web Push",
)
def push_subscription_create(
    request: HttpRequest, payload: PushSubscriptionIn
) -> Status[PushSubscriptionOut]:
    subscription = services.push_subscription_save(
        actor=request_user(request),
        endpoint=payload.endpoint,
        p256dh=payload.keys.p256dh,
        auth=payload.keys.auth,
        user_agent=request.headers.get("User-Agent", ""),
    )
    return Status(201, PushSubscriptionOut.from_orm(subscription))


@router.delete(
    "/push-subscriptions", response={204: None}, summary="Unregister a browser from Web Push"
)
def push_subscription_delete(
    request: HttpRequest, endpoint: str = Query(..., max_length=2000)
) -> Status[None]:
    if not services.push_subscription_delete(actor=request_user(request), endpoint=endpoint):
        raise NotFound(_("没有这个推送订阅。"))
    return Status(204, None)


def _inbox_only() -> list[ChannelName]:
    return ["inapp"]


class NotificationTestIn(Schema):
    user_id: int
    channels: list[ChannelName] = Field(default_factory=_inbox_only)
    priority: Literal["normal", "emergency"] = "normal"
    message: str = Field("", max_length=500)


class NotificationDispatchDeliveryOut(NotificationDeliveryOut):
    notification_id: int
    recipient_id: int | None


class NotificationDispatchOut(Schema):
    id: int
    kind: str
    priority: str
    created_at: dt.datetime
    recipient_count: int
    delivery_count: int
    delivery_counts: dict[str, int]
    deliveries: list[NotificationDispatchDeliveryOut]


def _delivery_row(delivery: Delivery) -> NotificationDispatchDeliveryOut:
    return NotificationDispatchDeliveryOut(
        **NotificationDeliveryOut.from_orm(delivery).dict(),
        notification_id=delivery.notification_id,
        recipient_id=delivery.notification.recipient_id,
    )


def _dispatch_out(request: HttpRequest, pk: int) -> NotificationDispatchOut:
    report = selectors.dispatch_report(actor=request_user(request), pk=pk)
    dispatch = report.dispatch
    return NotificationDispatchOut(
        id=dispatch.pk,
        kind=dispatch.kind,
        priority=dispatch.priority,
        created_at=dispatch.created_at,
        recipient_count=dispatch.recipient_count,
        delivery_count=dispatch.delivery_count,
        delivery_counts=report.delivery_counts,
        deliveries=[_delivery_row(d) for d in report.deliveries],
    )


@router.post(
    "/test",
    response={202: NotificationDispatchOut},
    summary="Send a test notification to an account (operators)",
)
def test_send(request: HttpRequest, payload: NotificationTestIn) -> Status[NotificationDispatchOut]:
    actor = request_user(request)
    recipient = core_selectors.active_user_get(pk=payload.user_id)
    dispatch = services.notification_test_send(
        actor=actor,
        recipient=recipient,
        channels=list(payload.channels),
        priority=payload.priority,
        message=payload.message,
    )
    return Status(202, _dispatch_out(request, dispatch.pk))


@router.get(
    "/dispatches/{int:dispatch_id}",
    response=NotificationDispatchOut,
    summary="A send and its deliveries' states (operators)",
)
def dispatch_get(request: HttpRequest, dispatch_id: int) -> NotificationDispatchOut:
    return _dispatch_out(request, dispatch_id)


@router.get("/{int:notification_id}", response=NotificationOut, summary="One of my notifications")
def notification_get(request: HttpRequest, notification_id: int) -> NotificationOut:
    return _notification_out(
        selectors.notification_get(actor=request_user(request), pk=notification_id)
    )


@router.post(
    "/{int:notification_id}/read",
    response=NotificationOut,
    summary="Mark one of my notifications read",
)
def notification_read(request: HttpRequest, notification_id: int) -> NotificationOut:
    user = request_user(request)
    services.notification_mark_read(actor=user, notification_id=notification_id)
    return _notification_out(selectors.notification_get(actor=user, pk=notification_id))

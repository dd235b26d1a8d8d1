"""Alerts: who an alert reaches and its push through the outbox."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django_tasks import task

from civichub.broadcast import geometry, streaming
from civichub.broadcast.models import (
    AlertPush,
    AreaSubscription,
    Post,
)
from civichub.broadcast.notifications import ALERT
from civichub.broadcast.queue import priority
from civichub.broadcast.selectors import drawn_shape
from civichub.core.audit import audit_record
from civichub.core.context import acting
from civichub.core.models import Organisation, Resident, User
from civichub.notify.services import Priority, notification_broadcast


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


def alert_push(*, post_id: int) -> AlertPush:
    """Sends the alert through the outbox at emergency priority (quiet hours do not hold it).
    Idempotent: a second run finds the push already recorded, and the outbox's dedupe key
    refuses a second dispatch even if two runs race."""
    post = Post.objects.select_related("account__organisation").get(pk=post_id, is_alert=True)
    existing = AlertPush.objects.filter(post=post, dispatch__isnull=False).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        # Set-based: a million residents' inbox rows and deliveries are written by the
        # database from the recipient query, not one Python object per resident.
        dispatch = notification_broadcast(
            recipients=alert_recipients(post),
            kind=ALERT,
            priority=Priority.EMERGENCY,
            context={
                "event": post.cap_event,
                "event_en": post.cap_event_en or post.cap_event,
                "account": post.account.name,
                "account_en": post.account.name_en or post.account.name,
                "text": post.text,
                "text_en": post.text_en or post.text,
                "instruction": post.cap_instruction,
                "instruction_en": post.cap_instruction_en or post.cap_instruction,
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


@task(priority=priority(50))
def push_alert(post_id: int) -> int:
    """Pushes an alert to the residents of its areas; returns the dispatch id. Enqueued by
    `post_publish` once the alert has committed."""
    with acting(channel="task"):
        push = alert_push(post_id=int(post_id))
        return int(push.dispatch_id or 0)

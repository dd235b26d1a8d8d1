from __future__ import annotations

from typing import Any

import pytest

from civichub.core.errors import NotFound, PermissionDenied
from civichub.core.models import User
from civichub.notify import selectors, services
from civichub.notify.models import Delivery, DeliveryState, Notification
from civichub.notify.tests.conftest import no_quiet_hours


def notify(users: list[User], **kwargs: Any) -> Any:
    kwargs.setdefault("channels", ["inapp"])
    return services.notification_send(
        recipients=users, kind="notify.test", context={"sender": "运维"}, **kwargs
    )


def test_a_person_lists_only_their_own_notifications_newest_first(
    resident: User, english_resident: User
) -> None:
    first = notify([resident])
    notify([english_resident])
    second = notify([resident, english_resident])
    page = selectors.notification_list(actor=resident)
    assert [n.dispatch_id for n in page.items] == [second.pk, first.pk]
    assert (page.total, page.unread) == (2, 2)


def test_unread_only_and_page_size_is_capped(resident: User) -> None:
    for _ in range(3):
        notify([resident])
    read = Notification.objects.filter(recipient=resident).earliest("pk")
    services.notification_mark_read(actor=resident, notification_id=read.pk)
    unread = selectors.notification_list(actor=resident, unread_only=True)
    assert (unread.total, unread.unread, len(unread.items)) == (2, 2, 2)
    assert read.pk not in {n.pk for n in unread.items}
    assert len(selectors.notification_list(actor=resident, limit=10_000).items) == 3
    assert selectors.MAX_PAGE == 100


def test_listing_reads_deliveries_without_a_query_per_notification(
    resident: User, django_assert_max_num_queries: Any
) -> None:
    no_quiet_hours(resident)
    for _ in range(10):
        notify([resident], channels=["inapp", "email", "sms"])
    with django_assert_max_num_queries(4):
        page = selectors.notification_list(actor=resident)
        states = [d.state for n in page.items for d in n.deliveries.all()]
        subjects = [n.subject for n in page.items]
    assert len(states) == 20 and set(subjects) == {"测试通知"}


def test_someone_elses_notification_is_not_found(resident: User, english_resident: User) -> None:
    notify([english_resident])
    theirs = Notification.objects.get(recipient=english_resident)
    with pytest.raises(NotFound):
        selectors.notification_get(actor=resident, pk=theirs.pk)
    assert selectors.notification_get(actor=english_resident, pk=theirs.pk) == theirs


def test_unread_count(resident: User) -> None:
    assert selectors.unread_count(user=resident) == 0
    notify([resident])
    notify([resident])
    assert selectors.unread_count(user=resident) == 2
    services.notification_mark_all_read(actor=resident)
    assert selectors.unread_count(user=resident) == 0


def test_preferences_default_without_saving(resident: User) -> None:
    preference = selectors.preference_for(user=resident)
    assert preference.pk is None
    assert preference.quiet_hours_enabled


def test_dispatch_report_counts_delivery_states_for_operators_only(
    resident: User, english_resident: User, operator: User
) -> None:
    no_quiet_hours(resident)
    no_quiet_hours(english_resident)
    dispatch = notify([resident, english_resident], channels=["sms"])
    Delivery.objects.filter(notification__recipient=resident).update(state=DeliveryState.SENT)
    with pytest.raises(PermissionDenied):
        selectors.dispatch_report(actor=resident, pk=dispatch.pk)
    report = selectors.dispatch_report(actor=operator, pk=dispatch.pk)
    assert report.delivery_counts == {"queued": 1, "sent": 1}
    assert len(report.deliveries) == 2
    with pytest.raises(NotFound):
        selectors.dispatch_report(actor=operator, pk=dispatch.pk + 1000)

"""Read-only views of the outbox for operators and auditors; changes go through the services."""

from __future__ import annotations

from django.contrib import admin

from civichub.core.admin import CivicModelAdmin
from civichub.notify.models import (
    Delivery,
    Dispatch,
    Notification,
    NotificationPreference,
    PushSubscription,
    SmsLog,
)


@admin.register(Dispatch)
class DispatchAdmin(CivicModelAdmin):
    list_display = ("created_at", "kind", "priority", "recipient_count", "delivery_count", "actor")
    list_filter = ("priority", "kind")
    raw_id_fields = ("actor",)
    show_full_result_count = False


@admin.register(Notification)
class NotificationAdmin(CivicModelAdmin):
    list_display = ("created_at", "recipient", "dispatch", "language", "read_at")
    list_select_related = ("recipient", "dispatch")
    raw_id_fields = ("recipient", "dispatch")
    show_full_result_count = False


@admin.register(Delivery)
class DeliveryAdmin(CivicModelAdmin):
    list_display = (
        "pk",
        "channel",
        "state",
        "failure",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    )
    list_filter = ("state", "channel", "failure")
    raw_id_fields = ("notification",)
    show_full_result_count = False


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(CivicModelAdmin):
    list_display = ("user", "quiet_hours_enabled", "quiet_start", "quiet_end", "time_zone")
    raw_id_fields = ("user",)


@admin.register(PushSubscription)
class PushSubscriptionAdmin(CivicModelAdmin):
    list_display = ("user", "created_at", "last_success_at", "user_agent")
    raw_id_fields = ("user",)
    exclude = ("endpoint", "p256dh", "auth")  # what it takes to push to the browser


@admin.register(SmsLog)
class SmsLogAdmin(CivicModelAdmin):
    list_display = ("created_at", "phone", "text")
    raw_id_fields = ("delivery",)
    search_fields = ("phone",)

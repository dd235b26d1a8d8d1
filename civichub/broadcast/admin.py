"""Broadcast's tables in the admin: the servers operators block (added and removed through the
federation services, so that the check and the audit happen there), and read-only views of
the other servers' actors and of deliveries to them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from civichub.broadcast import services
from civichub.broadcast.models import BlockedServer, Delivery, RemoteActor
from civichub.core.admin import CivicModelAdmin
from civichub.core.errors import NotAuthenticated
from civichub.core.models import User
from civichub.core.permissions import allowed

MANAGE = "broadcast.federation.manage"


def _staff(request: HttpRequest) -> User:
    """The signed-in user acting (the admin lets no one else this far)."""
    if not isinstance(request.user, User):
        raise NotAuthenticated("sign in")
    return request.user


@admin.register(BlockedServer)
class BlockedServerAdmin(CivicModelAdmin):
    list_display = ("host", "reason", "created_at", "created_by")
    search_fields = ("host",)
    fields = ("host", "reason")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return allowed(request.user, MANAGE)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return allowed(request.user, MANAGE)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        blocked = services.blocked_server_add(
            actor=_staff(request), host=obj.host, reason=obj.reason
        )
        obj.pk = blocked.pk

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.blocked_server_remove(actor=_staff(request), host=obj.host)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for host in queryset.values_list("host", flat=True):
            services.blocked_server_remove(actor=_staff(request), host=host)


@admin.register(RemoteActor)
class RemoteActorAdmin(CivicModelAdmin):
    list_display = ("uri", "host", "shared_inbox", "fetched_at")
    search_fields = ("uri", "host")
    exclude = ("public_key_pem",)


@admin.register(Delivery)
class FederationDeliveryAdmin(CivicModelAdmin):
    list_display = ("pk", "inbox", "state", "attempts", "next_attempt_at", "last_error")
    list_filter = ("state",)
    raw_id_fields = ("post", "account")
    show_full_result_count = False

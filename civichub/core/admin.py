"""The admin goes through the same permission check as pages and the API: a refused object is
audited like a refusal anywhere else. Operators, who manage accounts and roles but read no
personal data, see accounts without names, phone numbers, email addresses or the resident
record an account belongs to."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from civichub.core.audit import audit_refusal
from civichub.core.models import AuditEvent, Organisation, RoleAssignment, User
from civichub.core.permissions import allowed
from civichub.core.selectors import audit_scope


def _admin_has_permission(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and allowed(user, "core.admin.access"))


admin.site.has_permission = _admin_has_permission  # type: ignore[method-assign]
admin.site.site_header = "civichub"


class CivicModelAdmin(admin.ModelAdmin[Any]):
    """Read-only by default; writes go through services, exposed as admin actions or pages."""

    view_action = "core.admin.access"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if allowed(request.user, self.view_action, obj):
            return True
        if obj is not None:
            audit_refusal(actor=request.user, action=self.view_action, obj=obj)
        return False

    def has_module_permission(self, request: HttpRequest) -> bool:
        return allowed(request.user, self.view_action)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Organisation)
class OrganisationAdmin(CivicModelAdmin):
    list_display = ("name", "name_en", "kind", "function", "code", "path")
    list_filter = ("kind", "function")
    search_fields = ("name", "name_en", "code")


@admin.register(User)
class UserAdmin(CivicModelAdmin):
    """What an operator needs to manage an account, and nothing of the person: no name, phone,
    email or linked resident record (shown, searched or filtered)."""

    view_action = "core.user.manage"
    list_display = ("username", "is_active", "is_staff", "last_login")
    list_filter = ("is_active", "is_staff")
    search_fields = ("username",)
    fields = (
        "username",
        "is_active",
        "is_staff",
        "is_superuser",
        "language",
        "last_login",
        "date_joined",
    )


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(CivicModelAdmin):
    view_action = "core.role.manage"
    list_display = ("user", "role", "organisation", "granted_at")
    list_filter = ("role",)


@admin.register(AuditEvent)
class AuditEventAdmin(CivicModelAdmin):
    view_action = "core.audit.view"
    list_display = ("at", "actor_label", "action", "object_type", "object_id", "purpose")
    list_filter = ("action", "object_type")
    search_fields = ("actor_label", "object_id", "action")
    date_hierarchy = "at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        # The same scope as the audit page: the auditor's subtree only.
        return audit_scope(request.user, super().get_queryset(request))

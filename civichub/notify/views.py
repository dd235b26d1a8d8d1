"""The inbox and preferences pages: thin, the same selectors and services as the API, plain
forms that work without JavaScript."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from civichub.core.conf import core_settings
from civichub.core.errors import DomainError
from civichub.core.http import request_user
from civichub.core.paging import page_links
from civichub.core.views import domain_errors_as_http, page_number_from
from civichub.notify import kinds, selectors, services
from civichub.notify.conf import notify_settings
from civichub.notify.models import OUTSIDE_CHANNELS, Channel, NotificationPreference

PER_PAGE = 20


def _back(request: HttpRequest) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("notify:inbox")
    return HttpResponseRedirect(target)


@login_required
@domain_errors_as_http
def inbox(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    page_number = page_number_from(request)
    page = selectors.notification_list(
        actor=user, offset=(page_number - 1) * PER_PAGE, limit=PER_PAGE
    )
    return render(
        request,
        "notify/inbox.html",
        {
            "notifications": page.items,
            "total": page.total,
            "unread": page.unread,
            "page_obj": page_links(total=page.total, per_page=PER_PAGE, number=page_number),
        },
    )


@login_required
@require_POST
@domain_errors_as_http
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    services.notification_mark_read(actor=request_user(request), notification_id=pk)
    return _back(request)


@login_required
@require_http_methods(["GET"])
@domain_errors_as_http
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Following a notification: it is read, and the reader goes on to what it is about (the
    inbox when it has no link or its link leads off this site)."""
    notification = services.notification_mark_read(actor=request_user(request), notification_id=pk)
    target = notification.link
    site = urlsplit(core_settings().site_url)
    hosts = {request.get_host(), site.netloc}
    if not target or not url_has_allowed_host_and_scheme(target, allowed_hosts=hosts):
        target = reverse("notify:inbox")
    return HttpResponseRedirect(target)


@login_required
@require_POST
@domain_errors_as_http
def notification_read_all(request: HttpRequest) -> HttpResponse:
    count = services.notification_mark_all_read(actor=request_user(request))
    messages.success(
        request,
        ngettext("已将 %(count)d 条通知标为已读。", "已将 %(count)d 条通知标为已读。", count)
        % {"count": count},
    )
    return _back(request)


# The zones people here use, first and in words; every other zone follows, by name.
COMMON_TIME_ZONES = (
    ("Asia/Shanghai", gettext_lazy("北京时间")),
    ("Asia/Urumqi", gettext_lazy("乌鲁木齐时间")),
    ("Asia/Hong_Kong", gettext_lazy("香港时间")),
    ("Asia/Macau", gettext_lazy("澳门时间")),
    ("Asia/Taipei", gettext_lazy("台北时间")),
    ("UTC", gettext_lazy("协调世界时")),
)


@lru_cache(maxsize=1)
def _all_zones() -> list[tuple[str, str]]:
    common = {name for name, _label in COMMON_TIME_ZONES}
    return [(n, n) for n in sorted(zoneinfo.available_timezones()) if n not in common]


def _timezone_choices() -> list[tuple[str, Any]]:
    common = [(name, f"{label}（{name}）") for name, label in COMMON_TIME_ZONES]
    return [(_("常用时区"), common), (_("其他时区"), _all_zones())]


def _switch_name(category: str, channel: str) -> str:
    return f"on_{category}_{channel}"


class PreferencesForm(forms.Form):
    quiet_hours_enabled = forms.BooleanField(label=gettext_lazy("启用免打扰时段"), required=False)
    quiet_start = forms.TimeField(
        label=gettext_lazy("免打扰开始时间"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    quiet_end = forms.TimeField(
        label=gettext_lazy("免打扰结束时间"),
        required=False,
        widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
    )
    time_zone = forms.ChoiceField(label=gettext_lazy("时区"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        default = _("服务器默认（%(zone)s）") % {"zone": settings.TIME_ZONE}
        self.fields["time_zone"].choices = [("", default), *_timezone_choices()]  # type: ignore[attr-defined]
        for category in kinds.categories():
            for channel in OUTSIDE_CHANNELS:
                self.fields[_switch_name(category.key, channel)] = forms.BooleanField(
                    required=False, label=f"{category.label} · {Channel(channel).label}"
                )
        for channel in OUTSIDE_CHANNELS:
            self.fields[f"block_{channel}"] = forms.BooleanField(
                required=False, label=Channel(channel).label
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if (data.get("quiet_start") is None) != (data.get("quiet_end") is None):
            raise forms.ValidationError(_("请同时填写免打扰的开始和结束时间，或都不填写。"))
        return data

    @classmethod
    def initial_from(cls, preference: NotificationPreference) -> dict[str, Any]:
        initial: dict[str, Any] = {
            "quiet_hours_enabled": preference.quiet_hours_enabled,
            "quiet_start": preference.quiet_start,
            "quiet_end": preference.quiet_end,
            "time_zone": preference.time_zone,
        }
        for category in kinds.categories():
            for channel in OUTSIDE_CHANNELS:
                initial[_switch_name(category.key, channel)] = preference.channel_enabled(
                    category.key, channel
                )
        for channel in OUTSIDE_CHANNELS:
            initial[f"block_{channel}"] = preference.is_blocked(channel)
        return initial


@login_required
@require_http_methods(["GET", "POST"])
@domain_errors_as_http
def preferences(request: HttpRequest) -> HttpResponse:
    user = request_user(request)
    preference = selectors.preference_for(user=user)
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.preference_update(
                    actor=user,
                    channels={
                        c.key: {ch: bool(data[_switch_name(c.key, ch)]) for ch in OUTSIDE_CHANNELS}
                        for c in kinds.categories()
                    },
                    blocked_channels=[ch for ch in OUTSIDE_CHANNELS if data[f"block_{ch}"]],
                    quiet_hours_enabled=bool(data["quiet_hours_enabled"]),
                    quiet_start=data["quiet_start"],
                    quiet_end=data["quiet_end"],
                    time_zone=data["time_zone"] or "",
                )
            except DomainError as exc:
                for messages_ in exc.errors.values():
                    for message in messages_:
                        form.add_error(None, message)
                if not exc.errors:
                    form.add_error(None, exc.message)
            else:
                messages.success(request, _("通知偏好已保存。"))
                return HttpResponseRedirect(reverse("notify:preferences"))
    else:
        form = PreferencesForm(initial=PreferencesForm.initial_from(preference))
    grid = [
        {
            "category": category,
            "cells": [
                {"channel": Channel(ch).label, "field": form[_switch_name(category.key, ch)]}
                for ch in OUTSIDE_CHANNELS
            ],
        }
        for category in kinds.categories()
    ]
    return render(
        request,
        "notify/preferences.html",
        {
            "form": form,
            "grid": grid,
            "channel_labels": [Channel(ch).label for ch in OUTSIDE_CHANNELS],
            "blocks": [form[f"block_{ch}"] for ch in OUTSIDE_CHANNELS],
            "quiet_fields": [form["quiet_start"], form["quiet_end"], form["time_zone"]],
            "default_quiet_hours": notify_settings().quiet_hours_default,
        },
    )

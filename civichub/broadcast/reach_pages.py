"""The reach report pages: an account's or a post's deliveries, reads and interactions as
charts, a table and CSV."""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import (
    HttpRequest,
    HttpResponse,
)
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy

from civichub.broadcast import selectors
from civichub.broadcast.models import (
    BroadcastAccount,
    Post,
)
from civichub.core.http import request_user_or_none
from civichub.core.views import domain_errors_as_http

# Reach -----------------------------------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM = 720, 160, 44, 22
SERIES = (
    ("views", gettext_lazy("阅读")),
    ("reposts", gettext_lazy("转发")),
    ("favourites", gettext_lazy("收藏")),
    ("followers", gettext_lazy("粉丝")),
)


CHANNEL_LABELS = {
    "local_views": gettext_lazy("阅读（登录用户）"),
    "video_views": gettext_lazy("视频观看"),
    "video_completions": gettext_lazy("视频看完（90%）"),
    "reposts": gettext_lazy("转发"),
    "favourites": gettext_lazy("收藏"),
    "remote_servers": gettext_lazy("送达的其他服务器"),
    "remote_deliveries": gettext_lazy("投递到其他服务器"),
    "remote_likes": gettext_lazy("其他服务器的点赞"),
    "remote_announces": gettext_lazy("其他服务器的转发"),
    "remote_replies": gettext_lazy("其他服务器的回复"),
    "alert_inapp": gettext_lazy("预警：站内信"),
    "alert_sms": gettext_lazy("预警：短信"),
    "alert_email": gettext_lazy("预警：电子邮件"),
    "alert_push": gettext_lazy("预警：浏览器推送"),
}
CHANNEL_ROW, CHANNEL_LABEL_WIDTH = 22, 200


def _channels_chart(report: selectors.ReachReport) -> dict[str, Any]:
    """One chart of every channel's total, on one scale, each bar labelled with its figure."""
    figures = report.channels.figures()
    top = max((n for _key, n in figures), default=0) or 1
    plot_w = CHART_WIDTH - CHANNEL_LABEL_WIDTH - 60
    bars = [
        {
            "key": key,
            "label": CHANNEL_LABELS.get(key, key),
            "value": value,
            "y": 4 + n * CHANNEL_ROW,
            "width": round(plot_w * value / top, 2),
        }
        for n, (key, value) in enumerate(figures)
    ]
    return {
        "bars": bars,
        "height": 8 + len(bars) * CHANNEL_ROW,
        "left": CHANNEL_LABEL_WIDTH,
        "total": sum(value for _key, value in figures),
    }


def _chart(report: selectors.ReachReport, key: str) -> dict[str, Any]:
    """Bar geometry for one series, each series on its own scale (views dwarf reposts)."""
    values = [getattr(h, key) for h in report.hours]
    top = max(values) or 1
    plot_w = CHART_WIDTH - CHART_LEFT - 4
    plot_h = CHART_HEIGHT - CHART_BOTTOM - 8
    step = plot_w / len(values)
    bars = []
    for n, value in enumerate(values):
        height = plot_h * value / top
        bars.append(
            {
                "x": round(CHART_LEFT + n * step, 2),
                "y": round(8 + plot_h - height, 2),
                "width": round(max(step - 1, 0.5), 2),
                "height": round(height, 2),
            }
        )
    every = max(len(values) // 6, 1)
    ticks = [
        {
            "x": round(CHART_LEFT + n * step, 2),
            "label": timezone.localtime(report.hours[n].hour).strftime(
                "%H:%M" if report.days == 1 else "%m-%d"
            ),
        }
        for n in range(0, len(values), every)
    ]
    return {
        "key": key,
        "bars": bars,
        "ticks": ticks,
        "top": max(values),
        "total": sum(values),
        "baseline": 8 + plot_h,
    }


def _reach_csv(report: selectors.ReachReport) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"reach-{report.account.handle}" + (f"-post-{report.post.pk}" if report.post else "")
    response["Content-Disposition"] = f'attachment; filename="{name}-{report.days}d.csv"'
    writer = csv.writer(response)
    writer.writerow(["hour_utc", "views", "reposts", "favourites", "followers"])
    for h in report.hours:
        writer.writerow(
            [h.hour.strftime("%Y-%m-%dT%H:%MZ"), h.views, h.reposts, h.favourites, h.followers]
        )
    return response


def _default_days(post: Post | None) -> int:
    """The shortest range that covers the post's whole life: a report opened a minute after an
    alert shows its first day by the hour, not one spike at the right edge of a week."""
    if post is None:
        return 7
    age = timezone.now() - post.published_at
    for days in sorted(selectors.REACH_DAYS):
        if age <= dt.timedelta(days=days):
            return days
    return max(selectors.REACH_DAYS)


def _reach(
    request: HttpRequest, account: BroadcastAccount, post: Post | None = None
) -> HttpResponse:
    days_text = request.GET.get("days") or str(_default_days(post))
    report = selectors.reach_report(
        request_user_or_none(request),
        account,
        post=post,
        days=int(days_text) if days_text.isdigit() else 0,
    )
    if request.GET.get("format") == "csv":
        return _reach_csv(report)
    charts = [(label, _chart(report, key)) for key, label in SERIES]
    rows = [
        (timezone.localtime(h.hour), h.views, h.reposts, h.favourites, h.followers)
        for h in reversed(report.hours)
        if h.views or h.reposts or h.favourites
    ]
    delivery = selectors.delivery_report(post) if post is not None and post.is_alert else None
    return render(
        request,
        "broadcast/reach.html",
        {
            "report": report,
            "delivery": delivery,
            "charts": charts,
            "channels": _channels_chart(report),
            "rows": rows,
            "day_choices": selectors.REACH_DAYS,
            "width": CHART_WIDTH,
            "height": CHART_HEIGHT,
            "left": CHART_LEFT,
        },
    )


@login_required
@domain_errors_as_http
def account_reach(request: HttpRequest, handle: str) -> HttpResponse:
    return _reach(request, selectors.account_get(handle))


@login_required
@domain_errors_as_http
def post_reach(request: HttpRequest, post_id: int) -> HttpResponse:
    post = selectors.post_get(post_id)
    return _reach(request, post.account, post)

"""Pages: thin, calling the same services and selectors as the API. No JavaScript needed:
every action is a form that posts and redirects back."""

from __future__ import annotations

import csv
import datetime as dt
import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from civichub.broadcast import selectors, services
from civichub.broadcast.cap import CONTENT_TYPE, cap_document
from civichub.broadcast.feeds import atom_feed
from civichub.broadcast.models import (
    BroadcastAccount,
    CapCategory,
    Category,
    Certainty,
    Follow,
    Post,
    Severity,
    Urgency,
)
from civichub.core.errors import DomainError, NotFound, ValidationFailed
from civichub.core.images import ImageUpload
from civichub.core.models import Organisation, User
from civichub.core.permissions import allowed
from civichub.core.views import domain_errors_as_http


def _user(request: HttpRequest) -> User | None:
    user = request.user
    return user if isinstance(user, User) and user.is_authenticated else None


def post_url(request: HttpRequest, post: Post) -> str:
    return request.build_absolute_uri(reverse("broadcast:post", args=[post.pk]))


def cap_url(request: HttpRequest, post: Post) -> str:
    return request.build_absolute_uri(reverse("broadcast:cap", args=[post.pk]))


@login_required
@domain_errors_as_http
def home(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    assert user is not None
    page = selectors.home_feed(user, cursor=request.GET.get("cursor") or None)
    followed = BroadcastAccount.objects.filter(
        pk__in=Follow.objects.filter(user=user).values("account_id")
    ).order_by("name")
    return render(
        request,
        "broadcast/home.html",
        {"page": page, "followed": followed, "categories": Category.choices},
    )


@domain_errors_as_http
def account(request: HttpRequest, handle: str) -> HttpResponse:
    account = selectors.account_get(handle)
    user = _user(request)
    page = selectors.account_timeline(account, cursor=request.GET.get("cursor") or None)
    following = bool(user and Follow.objects.filter(user=user, account=account).exists())
    return render(
        request,
        "broadcast/account.html",
        {
            "account": account,
            "page": page,
            "following": following,
            "may_publish": allowed(user, "broadcast.post.publish", account),
            "may_moderate": allowed(user, "broadcast.comment.moderate", account),
        },
    )


@domain_errors_as_http
def post(request: HttpRequest, post_id: int) -> HttpResponse:
    post = selectors.post_get(post_id)
    user = _user(request)
    services.post_view_record(viewer=user, post=post)
    context: dict[str, Any] = {
        "post": post,
        "comments": selectors.thread(post),
        "revisions": post.revisions.order_by("-replaced_at"),
        "may_publish": allowed(user, "broadcast.post.publish", post.account),
    }
    if post.is_alert and context["may_publish"]:
        context["report"] = selectors.delivery_report(post)
    return render(request, "broadcast/post.html", context)


def _back(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(fallback)


@login_required
@require_POST
@domain_errors_as_http
def interact(request: HttpRequest, post_id: int, action: str) -> HttpResponse:
    user = _user(request)
    target = reverse("broadcast:post", args=[post_id])
    try:
        if action == "repost":
            services.repost_create(
                actor=user, post_id=post_id, comment=request.POST.get("comment", "")
            )
            messages.success(request, _("已转发。"))
        elif action == "favourite":
            services.favourite_create(actor=user, post_id=post_id)
            messages.success(request, _("已收藏。"))
        elif action == "comment":
            parent = request.POST.get("parent") or None
            created = services.comment_create(
                actor=user,
                post_id=post_id,
                text=request.POST.get("text", ""),
                parent_id=int(parent) if parent and parent.isdigit() else None,
            )
            if created.held:
                messages.info(request, _("评论已提交，经账号管理员审核后显示。"))
            else:
                messages.success(request, _("评论已发表。"))
        elif action == "hide":
            services.comment_hide(actor=user, comment_id=int(request.POST.get("comment_id", 0)))
            messages.success(request, _("评论已隐藏。"))
        elif action == "retract":
            services.post_retract(actor=user, post_id=post_id)
            messages.success(request, _("已撤回。"))
        elif action == "edit":
            services.post_edit(
                actor=user,
                post_id=post_id,
                text=request.POST.get("text", ""),
                text_en=request.POST.get("text_en", ""),
            )
            messages.success(request, _("已修改，原文保留在修改记录中。"))
        else:
            raise NotFound(_("没有这个操作。"))
    except (ValidationFailed, DomainError) as exc:
        if isinstance(exc, NotFound):
            raise
        messages.error(request, exc.message)
    return _back(request, target)


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


_MODERATION_DONE = {
    "release": gettext_lazy("评论已放行。"),
    "hide": gettext_lazy("评论已隐藏。"),
    "unhide": gettext_lazy("评论已恢复显示。"),
    "block": gettext_lazy("已禁止该用户评论和转发。"),
    "unblock": gettext_lazy("已解除禁止。"),
    "filter_add": gettext_lazy("已添加过滤词。"),
    "filter_remove": gettext_lazy("已删除过滤词。"),
}


@login_required
@domain_errors_as_http
def moderation(request: HttpRequest, handle: str) -> HttpResponse:
    """The account's staff review held comments, hidden comments, blocks and filter words."""
    account = selectors.account_get(handle)
    user = _user(request)
    queue = selectors.moderation(user, account)  # checks the moderation permission
    if request.method == "POST":
        data = request.POST
        action = data.get("action", "")
        try:
            if action in {"release", "unhide"}:
                services.comment_unhide(actor=user, comment_id=_int(data.get("comment_id")))
            elif action == "hide":
                services.comment_hide(actor=user, comment_id=_int(data.get("comment_id")))
            elif action == "block":
                services.block_create(
                    actor=user,
                    account=account,
                    user_id=_int(data.get("user_id")),
                    reason=data.get("reason", ""),
                )
            elif action == "unblock":
                services.block_delete(
                    actor=user, account=account, user_id=_int(data.get("user_id"))
                )
            elif action == "filter_add":
                services.keyword_filter_add(actor=user, account=account, word=data.get("word", ""))
            elif action == "filter_remove":
                services.keyword_filter_remove(
                    actor=user, account=account, filter_id=_int(data.get("filter_id"))
                )
            else:
                raise NotFound(_("没有这个操作。"))
        except ValidationFailed as exc:
            messages.error(request, exc.message)
            return render(
                request,
                "broadcast/moderation.html",
                {"account": account, "queue": queue, "data": data},
                status=422,
            )
        messages.success(request, str(_MODERATION_DONE[action]))
        return HttpResponseRedirect(reverse("broadcast:moderation", args=[handle]))
    return render(request, "broadcast/moderation.html", {"account": account, "queue": queue})


@login_required
@require_POST
@domain_errors_as_http
def follow(request: HttpRequest, handle: str) -> HttpResponse:
    account = selectors.account_get(handle)
    if request.POST.get("unfollow"):
        services.follow_delete(actor=_user(request), account_id=account.pk)
        messages.success(request, _("已取消关注。"))
    else:
        services.follow_create(actor=_user(request), account_id=account.pk)
        messages.success(request, _("已关注。"))
    return HttpResponseRedirect(reverse("broadcast:account", args=[handle]))


def _parse_time(value: str, field: str = "publish_at") -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        message = _("时间格式无效。")
        raise ValidationFailed(message, errors={field: [message]})
    return timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed


IMAGE_SLOTS = range(1, 5)


def _images_in(request: HttpRequest) -> list[services.ImageIn]:
    """The compose form's image fields (`image_1`…`image_4`, each with `alt_1`…`alt_4`)."""
    images = []
    for n in IMAGE_SLOTS:
        upload = request.FILES.get(f"image_{n}")
        if upload is not None:
            images.append(
                services.ImageIn(
                    name=upload.name or f"image {n}",
                    data=upload.read(),
                    alt_text=request.POST.get(f"alt_{n}", ""),
                )
            )
    return images


class _Preview(Exception):
    """The compose form asked for a preview: nothing is saved."""


def _cap_preview(
    request: HttpRequest,
    account: BroadcastAccount,
    data: Any,
    fields: services.AlertFields,
    area_ids: list[int],
    drawn: list[services.DrawnAreaIn],
) -> str:
    """The CAP document the alert would have, checked like a real one but not saved."""
    areas, shapes = services.alert_preview_checked(
        alert=fields, target_area_ids=area_ids, drawn_areas=drawn
    )
    draft = Post(
        pk=0,
        account=account,
        text=data.get("text", ""),
        text_en=data.get("text_en", ""),
        published_at=timezone.now(),
        is_alert=True,
        cap_category=fields.category,
        cap_event=fields.event,
        cap_urgency=fields.urgency,
        cap_severity=fields.severity,
        cap_certainty=fields.certainty,
        cap_expires=fields.expires,
        cap_instruction=fields.instruction,
    )
    document = cap_document(draft, sender=request.get_host(), web="", areas=areas, drawn=shapes)
    return document.decode()


def _float_or_none(value: str) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return float("nan")  # refused by the checks with the field named


def _drawn_in(data: Any) -> list[services.DrawnAreaIn]:
    """The compose form's circle (centre and radius) and polygon (one "lat, lon" per line; the
    page closes the ring) as drawn areas."""
    crs = data.get("shape_crs", "")
    drawn = []
    circle = [data.get(f"circle_{k}", "") for k in ("lat", "lon", "radius")]
    if any(v.strip() for v in circle):
        lat, lon, radius = (_float_or_none(v) for v in circle)
        drawn.append(
            services.DrawnAreaIn(kind="circle", lat=lat, lon=lon, radius_m=radius, crs=crs)
        )
    lines = [line.strip() for line in data.get("polygon", "").splitlines() if line.strip()]
    if lines:
        points: list[list[Any]] = [
            line.replace("，", ",").replace(",", " ").split() for line in lines
        ]
        if points and points[0] != points[-1]:
            points.append(points[0])
        drawn.append(services.DrawnAreaIn(kind="polygon", points=points, crs=crs))
    return drawn


# Error keys from the services, mapped to the compose form's fields (for links and marks).
_FIELD_IDS = {
    "text": "text",
    "text_en": "text_en",
    "category": "category",
    "target_areas": "areas-legend",
    "publish_at": "publish_at",
    "time": "publish_at",
    "event": "cap_event",
    "urgency": "cap_urgency",
    "severity": "cap_severity",
    "certainty": "cap_certainty",
    "expires": "cap_expires",
    "instruction": "cap_instruction",
    "images": "image_1",
    "media_ids": "image_1",
}


def _field_id(key: str, drawn: list[services.DrawnAreaIn]) -> str:
    if key in _FIELD_IDS:
        return _FIELD_IDS[key]
    parts = key.split(".")
    if parts[0] == "images" and len(parts) > 1 and parts[1].isdigit():
        return f"{'alt' if parts[-1] == 'alt_text' else 'image'}_{int(parts[1]) + 1}"
    if parts[0] == "drawn_areas" and len(parts) > 1 and parts[1].isdigit():
        index = int(parts[1])
        kind = drawn[index].kind if index < len(drawn) else "circle"
        if kind == "circle":
            return "circle_radius" if parts[-1] == "radius_m" else "circle_lat"
        return "polygon"
    return "text"


def _map(account: BroadcastAccount, drawn: list[services.DrawnAreaIn]) -> dict[str, Any] | None:
    """A server-drawn SVG map: communities at their residents' mean home, districts as the
    outline around their communities, and the circle being drawn (WGS-84 throughout)."""
    from shapely import MultiPoint

    from civichub.broadcast import geometry

    root = account.organisation
    while root.parent_id is not None and root.kind == "department":
        root = root.parent  # type: ignore[assignment]
    places = selectors.area_map(root)
    if not places:
        return None
    width, pad = 640.0, 28.0
    lats = [p.lat for p in places]
    lons = [p.lon for p in places]
    min_lat, max_lat, min_lon, max_lon = min(lats), max(lats), min(lons), max(lons)
    import math

    squash = math.cos(math.radians((min_lat + max_lat) / 2))
    # At least 0.01° (about a kilometre) each way, and never flatter than 5:3, so that a
    # city strung along a river still leaves room to draw a circle.
    span_lon = max(max_lon - min_lon, 0.01)
    span_lat = max(max_lat - min_lat, 0.01, span_lon * squash * 0.6)
    middle_lat = (min_lat + max_lat) / 2
    min_lat, max_lat = middle_lat - span_lat / 2, middle_lat + span_lat / 2
    scale = (width - 2 * pad) / (span_lon * squash)
    height = round(span_lat * scale + 2 * pad, 1)

    def xy(lat: float, lon: float) -> tuple[float, float]:
        return (
            round(pad + (lon - min_lon) * squash * scale, 1),
            round(pad + (max_lat - lat) * scale, 1),
        )

    by_district: dict[int, list[Any]] = {}
    for place in places:
        if place.district is not None:
            by_district.setdefault(place.district.pk, []).append(place)
    districts = []
    for n, group in enumerate(by_district.values()):
        hull = MultiPoint([xy(p.lat, p.lon) for p in group]).convex_hull.buffer(14)
        outline = " ".join(f"{x:.1f},{y:.1f}" for x, y in hull.exterior.coords)
        label_x, label_y = xy(max(p.lat for p in group), min(p.lon for p in group))
        districts.append(
            {
                "name": group[0].district.name,
                "outline": outline,
                "shade": n % 4,
                "x": label_x,
                "y": max(label_y - 16, 10),
            }
        )
    dots = [
        {"name": p.community.name, "xy": xy(p.lat, p.lon), "residents": p.residents} for p in places
    ]
    circle = None
    for area in drawn:
        if area.kind != "circle":
            continue
        try:
            shape = geometry.circle_checked(
                lat=area.lat, lon=area.lon, radius_m=area.radius_m, crs=area.crs
            )
        except ValidationFailed:
            break
        cx, cy = xy(shape.lat, shape.lon)
        circle = {
            "x": cx,
            "y": cy,
            "r": round(shape.radius_m / geometry.METRES_PER_DEGREE_LAT * scale, 1),
        }
    return {
        "width": width,
        "height": height,
        "districts": districts,
        "dots": dots,
        "circle": circle,
        "labels": len(dots) <= 30,  # names beside the dots while they fit
        # For the click-to-fill script: the inverse of xy().
        "min_lon": min_lon,
        "max_lat": max_lat,
        "scale": scale,
        "squash": squash,
        "pad": pad,
    }


@login_required
@domain_errors_as_http
def compose(request: HttpRequest, handle: str, alert: bool = False) -> HttpResponse:
    account = selectors.account_get(handle)
    user = _user(request)
    action = "broadcast.alert.publish" if alert else "broadcast.post.publish"
    if not allowed(user, action, account):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied
    areas = (
        Organisation.objects.filter(
            path__startswith=account.organisation.path.rsplit("/", 2)[0] + "/"
        )
        .exclude(kind="department")
        .order_by("path")
    )
    data = request.POST if request.method == "POST" else None
    errors: list[dict[str, str]] = []
    preview = ""
    drawn: list[services.DrawnAreaIn] = []
    if data is not None:
        drawn = _drawn_in(data)
        try:
            fields = (
                services.AlertFields(
                    category=data.get("cap_category", ""),
                    event=data.get("cap_event", ""),
                    urgency=data.get("cap_urgency", ""),
                    severity=data.get("cap_severity", ""),
                    certainty=data.get("cap_certainty", ""),
                    expires=_parse_time(data.get("cap_expires", ""), "expires") or timezone.now(),
                    instruction=data.get("cap_instruction", ""),
                )
                if alert
                else None
            )
            area_ids = [int(a) for a in data.getlist("target_areas") if a.isdigit()]
            if fields is not None and data.get("preview"):
                preview = _cap_preview(request, account, data, fields, area_ids, drawn)
                raise _Preview
            publish_at = None if alert else _parse_time(data.get("publish_at", ""))
            created, repeated = services.publish_once(
                actor=user,
                key=data.get("submission", ""),
                publish=lambda: services.post_publish(
                    actor=user,
                    account=account,
                    text=data.get("text", ""),
                    text_en=data.get("text_en", ""),
                    category=data.get("category", ""),
                    target_area_ids=area_ids,
                    publish_at=publish_at,
                    alert=fields,
                    images=_images_in(request),
                    drawn_areas=drawn,
                ),
            )
            if repeated:
                messages.info(request, _("这份内容已经发布过，没有再发一次。"))
            else:
                messages.success(request, _("已发布。"))
            return HttpResponseRedirect(reverse("broadcast:post", args=[created.pk]))
        except ValidationFailed as exc:
            for key, texts in (exc.errors or {"text": [exc.message]}).items():
                for text in texts:
                    errors.append({"field": _field_id(key, drawn), "message": text})
            if any(request.FILES.get(f"image_{n}") for n in IMAGE_SLOTS):
                errors.append({"field": "image_1", "message": _("图片未保存，请重新选择。")})
        except services.SubmissionPending as exc:
            errors.append({"field": "text", "message": exc.message})
        except _Preview:
            pass
    return render(
        request,
        "broadcast/compose.html",
        {
            "account": account,
            "alert": alert,
            "areas": areas,
            "categories": Category.choices,
            "cap_categories": CapCategory.values,
            "urgencies": Urgency.values,
            "severities": Severity.values,
            "certainties": Certainty.values,
            "data": data or {},
            "selected_areas": [int(a) for a in data.getlist("target_areas") if a.isdigit()]
            if data is not None
            else [],
            "errors": errors,
            "invalid": {e["field"] for e in errors},
            "preview": preview,
            "image_slots": IMAGE_SLOTS,
            "map": _map(account, drawn),
            "default_crs": selectors.default_crs(),
            # One token per form: sending the same form twice publishes once.
            "submission": (data.get("submission") if data is not None else None)
            or uuid.uuid4().hex,
        },
        status=422 if errors else 200,
    )


@domain_errors_as_http
def cap(request: HttpRequest, post_id: int) -> HttpResponse:
    post = selectors.post_get(post_id)
    if not post.is_alert:
        raise NotFound(_("这条发布不是预警。"))
    document = cap_document(post, sender=request.get_host(), web=post_url(request, post))
    return HttpResponse(document, content_type=CONTENT_TYPE)


def _atom(request: HttpRequest, *, title: str, page_url: str, posts: list[Post]) -> HttpResponse:
    document = atom_feed(
        feed_id=request.build_absolute_uri(),
        title=title,
        self_url=request.build_absolute_uri(),
        page_url=request.build_absolute_uri(page_url),
        posts=posts,
        post_url=lambda p: post_url(request, p),
        cap_url=lambda p: cap_url(request, p),
        image_url=request.build_absolute_uri,
    )
    return HttpResponse(document, content_type="application/atom+xml; charset=utf-8")


@domain_errors_as_http
def account_feed(request: HttpRequest, handle: str) -> HttpResponse:
    account = selectors.account_get(handle)
    page = selectors.account_timeline(account, limit=50)
    return _atom(
        request,
        title=account.name,
        page_url=reverse("broadcast:account", args=[handle]),
        posts=page.posts,
    )


@domain_errors_as_http
def category_feed(request: HttpRequest, category: str) -> HttpResponse:
    labels = dict(Category.choices)
    if category not in labels:
        raise NotFound(_("没有这个类别。"))
    page = selectors.category_timeline(category, limit=50)
    return _atom(
        request, title=str(labels[category]), page_url=reverse("broadcast:home"), posts=page.posts
    )


@domain_errors_as_http
def image(request: HttpRequest, image_id: int) -> FileResponse:
    found = selectors.image_get(_user(request), image_id)
    response = FileResponse(found.image.open("rb"), content_type=found.content_type)
    # Only an image anyone may see goes into shared caches (not one of a scheduled post).
    public = (
        found.post is not None
        and found.post.state == "published"
        and found.post.published_at <= timezone.now()
    )
    response["Cache-Control"] = "public, max-age=86400" if public else "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@domain_errors_as_http
def avatar(request: HttpRequest, handle: str) -> FileResponse:
    account = selectors.account_get(handle)
    if not account.avatar:
        raise NotFound(_("这个账号没有头像。"))
    response = FileResponse(account.avatar.open("rb"), content_type=account.avatar_content_type)
    response["Cache-Control"] = "public, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_POST
@domain_errors_as_http
def avatar_set(request: HttpRequest, handle: str) -> HttpResponse:
    account = selectors.account_get(handle)
    upload = request.FILES.get("avatar")
    try:
        if upload is None:
            message = _("请选择一张图片。")
            raise ValidationFailed(message, errors={"avatar": [message]})
        services.account_avatar_set(
            actor=_user(request),
            account=account,
            upload=ImageUpload(name=upload.name or "avatar", data=upload.read()),
        )
        messages.success(request, _("头像已更新。"))
    except ValidationFailed as exc:
        messages.error(request, exc.message)
    return HttpResponseRedirect(reverse("broadcast:account", args=[handle]))


@login_required
@domain_errors_as_http
def areas(request: HttpRequest) -> HttpResponse:
    """A resident's area subscriptions: alerts for these areas reach them as well as alerts
    for where they live."""
    user = _user(request)
    status = 200
    if request.method == "POST":
        area_id = _int(request.POST.get("area_id"))
        try:
            if request.POST.get("action") == "unsubscribe":
                services.area_unsubscribe(actor=user, area_id=area_id)
                messages.success(request, _("已取消订阅。"))
            else:
                services.area_subscribe(actor=user, area_id=area_id)
                messages.success(request, _("已订阅该区域的预警。"))
            return HttpResponseRedirect(reverse("broadcast:areas"))
        except ValidationFailed as exc:
            messages.error(request, exc.message)
            status = 422
    assert user is not None
    subscribed = selectors.area_subscriptions(user)
    taken = {s.area_id for s in subscribed}
    return render(
        request,
        "broadcast/areas.html",
        {
            "subscriptions": subscribed,
            "choices": [a for a in selectors.subscribable_areas() if a.pk not in taken],
        },
        status=status,
    )


# Reach -----------------------------------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT, CHART_LEFT, CHART_BOTTOM = 720, 160, 44, 22
SERIES = (
    ("views", gettext_lazy("阅读")),
    ("reposts", gettext_lazy("转发")),
    ("favourites", gettext_lazy("收藏")),
    ("followers", gettext_lazy("粉丝")),
)


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


def _reach(
    request: HttpRequest, account: BroadcastAccount, post: Post | None = None
) -> HttpResponse:
    days_text = request.GET.get("days", "7")
    report = selectors.reach_report(
        _user(request),
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
    return render(
        request,
        "broadcast/reach.html",
        {
            "report": report,
            "charts": charts,
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

"""Pages: thin, calling the same services and selectors as the API. No JavaScript needed:
every action is a form that posts and redirects back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from shapely import MultiPoint

from civichub.broadcast import capwords, selectors, services
from civichub.broadcast.cap import CapIdentity, cap_document
from civichub.broadcast.conf import cap_sender
from civichub.broadcast.forms import IMAGE_SLOTS, ComposeForm, IdsField
from civichub.broadcast.models import (
    BroadcastAccount,
    CapCategory,
    Category,
    Certainty,
    Follow,
    ImageState,
    Post,
    PostVideo,
    Severity,
    Urgency,
)
from civichub.broadcast.reach_channels import remote_responses
from civichub.core import maps
from civichub.core.errors import DomainError, NotFound, ValidationFailed
from civichub.core.http import request_user, request_user_or_none, share_publicly
from civichub.core.images import ImageUpload
from civichub.core.models import Organisation
from civichub.core.paging import page_links
from civichub.core.permissions import allowed, require
from civichub.core.views import domain_errors_as_http, page_number_from

DIRECTORY_PAGE = 20


@domain_errors_as_http
def home(request: HttpRequest) -> HttpResponse:
    """The followed accounts' posts; for a visitor, every government account's public posts
    (what a resident expects before signing in), the same for all visitors and so shared."""
    user = request_user_or_none(request)
    cursor = request.GET.get("cursor") or None
    if user is None:
        share_publicly(request)
        return render(
            request,
            "broadcast/public_home.html",
            {"page": selectors.public_timeline(cursor=cursor)},
        )
    page = selectors.home_feed(user, cursor=cursor)
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
    return _account_page(request, selectors.account_get(handle))


def _account_page(
    request: HttpRequest, account: BroadcastAccount, *, errors: dict[str, list[str]] | None = None
) -> HttpResponse:
    """The account's page; `errors` by the id of the control each is about (a refused avatar,
    answered 422)."""
    user = request_user_or_none(request)
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
            "errors": errors or {},
        },
        status=422 if errors else 200,
    )


@domain_errors_as_http
def post(request: HttpRequest, post_id: int) -> HttpResponse:
    post = selectors.post_get(post_id)
    user = request_user_or_none(request)
    services.post_view_record(viewer=user, post=post)
    return post_page(request, post)


def post_page(
    request: HttpRequest,
    post: Post,
    *,
    errors: dict[str, list[str]] | None = None,
    data: Any = None,
) -> HttpResponse:
    """The post's page; `errors` by the id of the control each is about, from a refused action
    on it (answered 422, with what was typed in `data`)."""
    user = request_user_or_none(request)
    context: dict[str, Any] = {
        "post": post,
        "comments": selectors.thread(post),
        "remote": remote_responses(post),
        "revisions": post.revisions.order_by("-replaced_at"),
        "may_publish": allowed(user, "broadcast.post.publish", post.account),
        "errors": errors or {},
        "data": data or {},
        **selectors.post_marks(post, user),
    }
    if post.is_alert and context["may_publish"]:
        context["report"] = selectors.delivery_report(post)
    return render(request, "broadcast/post.html", context, status=422 if errors else 200)


def _back(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    return HttpResponseRedirect(fallback)


# A refused action on a post is shown at the control it came from: each field a service names
# at its box, anything else at the action's first control (its button where it has no box). An
# action on a post no longer published is refused at the page's heading, above the post's state.
INTERACT_CONTROLS: dict[str, dict[str, str]] = {
    "repost": {"": "repost-comment"},
    "favourite": {"": "favourite"},
    "comment": {"": "comment-text", "parent": "comment-parent"},
    "hide": {"": "comments-h"},
    "retract": {"": "retract"},
    "edit": {"": "edit-text", "text_en": "edit-text-en"},
}


def _interact_errors(post: Post, action: str, exc: DomainError) -> dict[str, list[str]]:
    controls = INTERACT_CONTROLS.get(action, {})
    if post.state != "published" or not controls:
        return {"post-h": [exc.message]}
    errors: dict[str, list[str]] = {}
    for key, texts in (exc.errors or {"": [exc.message]}).items():
        errors.setdefault(controls.get(key, controls[""]), []).extend(map(str, texts))
    return errors


@login_required
@require_POST
@domain_errors_as_http
def interact(request: HttpRequest, post_id: int, action: str) -> HttpResponse:
    user = request_user_or_none(request)
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
        post = selectors.post_get(post_id)
        return post_page(
            request,
            post,
            errors=_interact_errors(post, action, exc),
            data={"action": action, **request.POST.dict()},
        )
    return _back(request, target)


def _int(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


_MODERATION_DONE = {
    "release": gettext_lazy("评论已放行。"),
    "remote_release": gettext_lazy("回复已放行，显示在发布页。"),
    "hide": gettext_lazy("评论已隐藏。"),
    "unhide": gettext_lazy("评论已恢复显示。"),
    "block": gettext_lazy("已禁止该用户评论和转发。"),
    "unblock": gettext_lazy("已解除禁止。"),
    "filter_add": gettext_lazy("已添加过滤词。"),
    "filter_remove": gettext_lazy("已删除过滤词。"),
}


# A refused moderation step is shown at the list it is about (its heading takes the focus); a new
# filter word's problem at its box.
MODERATION_LISTS = {
    "release": "held-h",
    "hide": "held-h",
    "remote_release": "remote-held-h",
    "unhide": "hidden-h",
    "block": "blocks-h",
    "unblock": "blocks-h",
    "filter_remove": "filters-h",
}


@login_required
@domain_errors_as_http
def moderation(request: HttpRequest, handle: str) -> HttpResponse:
    """The account's staff review held comments, hidden comments, blocks and filter words."""
    account = selectors.account_get(handle)
    user = request_user_or_none(request)
    queue = selectors.moderation(user, account)  # checks the moderation permission
    if request.method == "POST":
        data = request.POST
        action = data.get("action", "")
        try:
            if action in {"release", "unhide"}:
                services.comment_unhide(actor=user, comment_id=_int(data.get("comment_id")))
            elif action == "remote_release":
                services.remote_reply_release(
                    actor=user, interaction_id=_int(data.get("interaction_id"))
                )
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
            # A new filter word's problem at its box; any other refusal at the list it is about.
            at = MODERATION_LISTS.get(action, "word")
            return render(
                request,
                "broadcast/moderation.html",
                {"account": account, "queue": queue, "data": data, "errors": {at: [exc.message]}},
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
        services.follow_delete(actor=request_user_or_none(request), account_id=account.pk)
        messages.success(request, _("已取消关注。"))
    else:
        services.follow_create(actor=request_user_or_none(request), account_id=account.pk)
        messages.success(request, _("已关注。"))
    target = request.POST.get("next", "")
    if target.startswith(reverse("broadcast:directory")) and "//" not in target:
        return HttpResponseRedirect(target)  # back to the directory page it was followed from
    return HttpResponseRedirect(reverse("broadcast:account", args=[handle]))


@dataclass(frozen=True)
class AlertPreview:
    post: Post
    document: str
    areas: list[Organisation]


def _cap_preview(
    request: HttpRequest,
    account: BroadcastAccount,
    form: ComposeForm,
    fields: services.AlertFields,
    area_ids: list[int],
    drawn: list[services.DrawnAreaIn],
) -> AlertPreview:
    """The alert as residents would read it and the CAP document it would have, checked like a
    real one but not saved."""
    areas, shapes = services.alert_preview_checked(
        alert=fields, target_area_ids=area_ids, drawn_areas=drawn
    )
    draft = Post(
        pk=0,
        account=account,
        text=form.cleaned_data["text"],
        text_en=form.cleaned_data["text_en"],
        published_at=timezone.now(),
        is_alert=True,
        cap_category=fields.category,
        cap_event=fields.event,
        cap_urgency=fields.urgency,
        cap_severity=fields.severity,
        cap_certainty=fields.certainty,
        cap_expires=fields.expires,
        cap_instruction=fields.instruction,
        cap_headline=fields.headline,
        cap_event_en=fields.event_en,
        cap_headline_en=fields.headline_en,
        cap_instruction_en=fields.instruction_en,
    )
    sender = cap_sender()
    identity = CapIdentity(
        sender=sender,
        identifier=f"{sender}.broadcast.preview",
        sent=draft.published_at,
        msg_type="Alert",
    )
    document = cap_document(
        draft, identity=identity, web="", areas=areas, drawn=shapes, indent=True
    )
    return AlertPreview(post=draft, document=document.decode(), areas=areas)


# Error keys from the services, mapped to the compose form's fields (for links and marks).
_FIELD_IDS = {
    "text": "text",
    "text_en": "text_en",
    "category": "category",
    "alert.category": "cap_category",
    "target_areas": "areas-legend",
    "publish_at": "publish_at",
    "time": "publish_at",
    "event": "cap_event",
    "urgency": "cap_urgency",
    "severity": "cap_severity",
    "certainty": "cap_certainty",
    "expires": "cap_expires",
    "instruction": "cap_instruction",
    "headline": "cap_headline",
    "event_en": "cap_event_en",
    "headline_en": "cap_headline_en",
    "instruction_en": "cap_instruction_en",
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


def _map_areas(account: BroadcastAccount) -> dict[str, Any] | None:
    """The districts and communities the account serves, as GeoJSON in the base map's
    coordinate system, for the compose page's map: each community at its residents' mean home
    (a circle, named), each district as the outline around its communities (named). Where
    residents live is shown only as a community's mean, never a home."""
    root = account.organisation
    while root.parent_id is not None and root.kind == "department":
        root = root.parent  # type: ignore[assignment]
    places = selectors.area_map(root)
    if not places:
        return None
    features: list[dict[str, Any]] = []
    by_district: dict[int, list[Any]] = {}
    for place in places:
        if place.district is not None:
            by_district.setdefault(place.district.pk, []).append(place)
    for group in by_district.values():
        # About 600 m around the district's communities (in degrees of latitude; longitude
        # degrees are shorter, which only makes the outline a little wider east to west).
        hull = MultiPoint([(p.lon, p.lat) for p in group]).convex_hull.buffer(0.0055)
        ring = []
        for lon, lat in hull.exterior.coords:
            y, x = maps.to_map(lat, lon)
            ring.append([round(x, 6), round(y, 6)])
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"name": group[0].district.name, "kind": "district"},
            }
        )
    for place in places:
        y, x = maps.to_map(place.lat, place.lon)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(x, 6), round(y, 6)]},
                "properties": {"name": place.community.name, "kind": "community", "radius_m": 250},
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _compose_page(
    request: HttpRequest,
    account: BroadcastAccount,
    form: ComposeForm,
    *,
    errors: list[dict[str, str]] | None = None,
    preview: AlertPreview | None = None,
) -> HttpResponse:
    errors = errors or []
    data = request.POST if form.is_bound else None
    return render(
        request,
        "broadcast/compose.html",
        {
            "account": account,
            "alert": form.alert,
            "areas": selectors.compose_areas(account),
            "categories": Category.choices,
            "cap_categories": _choices(CapCategory.values, capwords.CATEGORY),
            "urgencies": _choices(Urgency.values, capwords.URGENCY),
            "severities": _choices(Severity.values, capwords.SEVERITY),
            "certainties": _choices(Certainty.values, capwords.CERTAINTY),
            "data": data or {},
            "selected_areas": IdsField().to_python(data.getlist("target_areas")) if data else [],
            "errors": errors,
            # Each control's own messages, shown beside it.
            "field_errors": _by_control(errors),
            "preview": preview,
            "image_slots": IMAGE_SLOTS,
            "video": _compose_video(request, account),
            "map_areas": _map_areas(account),
            "map_crs": maps.map_crs(),
            "default_crs": selectors.default_crs(),
            # One token per form: sending the same form twice publishes once.
            "submission": (data.get("submission") if data is not None else None)
            or uuid.uuid4().hex,
        },
        status=422 if errors else 200,
    )


def _by_control(errors: list[dict[str, str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in errors:
        found.setdefault(error["field"], []).append(error["message"])
    return found


def _choices(values: list[str], words: dict[str, Any]) -> list[tuple[str, str]]:
    return [(value, capwords.word(words, value)) for value in values]


def _compose_video(request: HttpRequest, account: BroadcastAccount) -> PostVideo | None:
    """The uploaded video chosen for the post (`?video=` from the videos page, then kept in
    the form), if it is this account's and not yet in a post."""
    wanted = request.POST.get("video_id") or request.GET.get("video") or ""
    if not wanted.isdigit():
        return None
    video = selectors.video_get(request_user_or_none(request), int(wanted))
    return video if video.account_id == account.pk and video.post_id is None else None


def _form_errors(
    form: ComposeForm, errors: dict[str, list[str]], drawn: list[services.DrawnAreaIn]
) -> list[dict[str, str]]:
    """Errors as the page lists them: each linked to its field. Images are not kept."""
    listed = [
        {"field": _field_id(key, drawn), "message": text}
        for key, texts in errors.items()
        for text in texts
    ]
    if form.has_images():
        listed.append({"field": "image_1", "message": _("图片未保存，请重新选择。")})
    return listed


@login_required
@domain_errors_as_http
def compose(request: HttpRequest, handle: str, alert: bool = False) -> HttpResponse:
    user = request_user(request)
    account = selectors.compose_account(user, handle, alert=alert)
    if request.method != "POST":
        return _compose_page(request, account, ComposeForm(alert=alert))
    form = ComposeForm(request.POST, request.FILES, alert=alert)
    drawn = form.drawn()
    if not form.is_valid():
        errors = _form_errors(form, form.errors_by_service_name(), drawn)
        return _compose_page(request, account, form, errors=errors)
    fields, area_ids = form.alert_fields(), form.cleaned_data["target_areas"]
    try:
        if fields is not None and form.wants_preview():
            preview = _cap_preview(request, account, form, fields, area_ids, drawn)
            return _compose_page(request, account, form, preview=preview)
        created, repeated = services.publish_once(
            actor=user,
            key=form.cleaned_data["submission"],
            publish=lambda: services.post_publish(
                actor=user,
                account=account,
                text=form.cleaned_data["text"],
                text_en=form.cleaned_data["text_en"],
                category=form.cleaned_data["category"],
                target_area_ids=area_ids,
                publish_at=form.cleaned_data.get("publish_at"),
                alert=fields,
                images=form.images(),
                drawn_areas=drawn,
                video_id=form.cleaned_data.get("video_id"),
            ),
        )
    except ValidationFailed as exc:
        errors = _form_errors(form, exc.errors or {"text": [exc.message]}, drawn)
        return _compose_page(request, account, form, errors=errors)
    except services.SubmissionPending as exc:
        errors = [{"field": "text", "message": exc.message}]
        return _compose_page(request, account, form, errors=errors)
    if repeated:
        messages.info(request, _("这份内容已经发布过，没有再发一次。"))
    else:
        messages.success(request, _("已发布。"))
    return HttpResponseRedirect(reverse("broadcast:post", args=[created.pk]))


@domain_errors_as_http
def image(request: HttpRequest, image_id: int) -> FileResponse:
    found = selectors.image_get(request_user_or_none(request), image_id)
    if found.state != ImageState.READY:
        # Still the upload as received (with its metadata), or a file that could not be read.
        raise NotFound(_("没有这张图片。"))
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
            raise ValidationFailed.on("avatar", _("请选择一张图片。"))
        services.account_avatar_set(
            actor=request_user_or_none(request),
            account=account,
            upload=ImageUpload(name=upload.name or "avatar", data=upload.read()),
        )
        messages.success(request, _("头像已更新。"))
    except ValidationFailed as exc:
        # Every problem of an avatar is the chosen file's: shown at its box.
        return _account_page(request, account, errors={"avatar": [exc.message]})
    return HttpResponseRedirect(reverse("broadcast:account", args=[handle]))


@login_required
@domain_errors_as_http
def areas(request: HttpRequest) -> HttpResponse:
    """A resident's area subscriptions: alerts for these areas reach them as well as alerts
    for where they live."""
    user = request_user_or_none(request)
    status = 200
    errors: dict[str, list[str]] = {}
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
            # At the list of areas to subscribe to, or at the subscriptions for a withdrawal.
            unsubscribing = request.POST.get("action") == "unsubscribe"
            errors, status = {"subscribed-h" if unsubscribing else "area_id": [exc.message]}, 422
    assert user is not None
    subscribed = selectors.area_subscriptions(user)
    taken = {s.area_id for s in subscribed}
    return render(
        request,
        "broadcast/areas.html",
        {
            "subscriptions": subscribed,
            "choices": [a for a in selectors.subscribable_areas() if a.pk not in taken],
            "errors": errors,
        },
        status=status,
    )


@login_required
@domain_errors_as_http
def publish(request: HttpRequest) -> HttpResponse:
    """The publisher's way in: the accounts they may publish for, each with its compose page."""
    user = request_user(request)
    require(user, "broadcast.post.publish")
    accounts = selectors.publishable_accounts(user)
    may_alert = {a.pk for a in accounts if allowed(user, "broadcast.alert.publish", a)}
    return render(request, "broadcast/publish.html", {"accounts": accounts, "may_alert": may_alert})


@login_required
@domain_errors_as_http
def directory(request: HttpRequest) -> HttpResponse:
    """Government accounts to follow: all of them, or those a search finds."""
    user = request_user(request)
    query = request.GET.get("q", "").strip()[:50]
    page_number = page_number_from(request)
    accounts = selectors.account_directory(query)
    total = accounts.count()
    start = (page_number - 1) * DIRECTORY_PAGE
    shown = list(accounts[start : start + DIRECTORY_PAGE])
    followed = set(
        Follow.objects.filter(user=user, account__in=shown).values_list("account_id", flat=True)
    )
    return render(
        request,
        "broadcast/directory.html",
        {
            "accounts": shown,
            "followed": followed,
            "query": query,
            "total": total,
            "page_obj": page_links(total=total, per_page=DIRECTORY_PAGE, number=page_number),
        },
    )

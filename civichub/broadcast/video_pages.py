"""Pages of short videos: the account's videos page, captions, and the files players fetch
(with byte ranges for seeking)."""

from __future__ import annotations

import re

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from civichub.broadcast import selectors, services
from civichub.broadcast.conf import broadcast_settings
from civichub.broadcast.models import (
    BroadcastAccount,
    PostVideo,
)
from civichub.broadcast.views import post_page
from civichub.core.errors import NotFound, ValidationFailed
from civichub.core.http import request_user, request_user_or_none
from civichub.core.permissions import require
from civichub.core.views import domain_errors_as_http

# Videos ------------------------------------------------------------------------------------

_VIDEO_TYPES = {
    "mp4": "video/mp4",
    "jpg": "image/jpeg",
    "m3u8": "application/vnd.apple.mpegurl",
    "ts": "video/mp2t",
}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _ranged(request: HttpRequest, name: str, content_type: str) -> HttpResponseBase:
    """A stored file, or the one byte range a player asks for (seeking in an MP4 needs it)."""
    size = default_storage.size(name)
    wanted = _RANGE.match(request.headers.get("Range", "").strip())
    if wanted is None or not any(wanted.groups()):
        whole = FileResponse(default_storage.open(name, "rb"), content_type=content_type)
        whole["Accept-Ranges"] = "bytes"
        return whole
    first, last = wanted.groups()
    if first:
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
    else:
        start, end = max(size - int(last), 0), size - 1
    if start > end or start >= size:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    with default_storage.open(name, "rb") as handle:
        handle.seek(start)
        body = handle.read(end - start + 1)
    response = HttpResponse(body, status=206, content_type=content_type)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response


def _video_headers(response: HttpResponseBase, video: PostVideo) -> HttpResponseBase:
    # Only a video anyone may see goes into shared caches (not one still being prepared).
    public = selectors.video_public(video)
    response["Cache-Control"] = "public, max-age=86400" if public else "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@domain_errors_as_http
def video_file(request: HttpRequest, video_id: int, name: str) -> HttpResponseBase:
    """A transcoded video's MP4, poster, playlists and segments."""
    found = selectors.video_get(request_user_or_none(request), video_id)
    if not found.folder or not services.VIDEO_OUTPUT.match(name):
        raise NotFound(_("没有这个文件。"))
    content_type = _VIDEO_TYPES[name.rpartition(".")[2]]
    return _video_headers(_ranged(request, f"{found.folder}/{name}", content_type), found)


@domain_errors_as_http
def video_captions(request: HttpRequest, video_id: int) -> HttpResponseBase:
    found = selectors.video_get(request_user_or_none(request), video_id)
    if not found.captions:
        raise NotFound(_("这段视频没有字幕。"))
    response = HttpResponse(found.captions, content_type="text/vtt; charset=utf-8")
    return _video_headers(response, found)


def _videos_page(
    request: HttpRequest, account: BroadcastAccount, *, errors: dict[str, list[str]] | None = None
) -> HttpResponse:
    """The page; `errors` by the id of the control each is about (the upload form's, or a waiting
    video's captions form's, kept from its refused change)."""
    errors = errors or request.session.pop(CAPTIONS_ERRORS, None) or {}
    videos = selectors.account_videos_pending(account)
    return render(
        request,
        "broadcast/videos.html",
        {
            "account": account,
            "videos": [(v, services.video_warnings(v)) for v in videos],
            "processing": any(v.state == "processing" for v in videos),
            "errors": errors,
            "data": request.POST if request.method == "POST" else {},
            "limits": broadcast_settings(),
        },
        status=422 if errors and request.method == "POST" else 200,
    )


# The upload form's controls by the field a service names; a problem that names none is the
# video's. A waiting video's captions form has the same controls, its number after them.
VIDEO_CONTROLS = {
    "video": "video",
    "file": "video",
    "description": "description",
    "captions": "captions",
    "captions_file": "captions_file",
    "captions_lang": "captions_lang",
}
CAPTIONS_ERRORS = "broadcast_captions_errors"


def _video_errors(exc: ValidationFailed) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for key, texts in (exc.errors or {"video": [exc.message]}).items():
        errors.setdefault(VIDEO_CONTROLS.get(key, "captions"), []).extend(map(str, texts))
    return errors


def _captions_text(request: HttpRequest) -> str:
    upload = request.FILES.get("captions_file")
    if upload is not None:
        if upload.size is not None and upload.size > services.CAPTIONS_MAX_CHARS * 4:
            raise ValidationFailed.on("captions_file", _("字幕文件太大。"))
        try:
            return upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ValidationFailed.on("captions_file", _("字幕文件须为 UTF-8 编码。")) from None
    return request.POST.get("captions", "")


@login_required
@domain_errors_as_http
def videos(request: HttpRequest, handle: str) -> HttpResponse:
    """The publisher's videos waiting for a post: upload one, follow its transcoding, caption
    it, then publish a post with it."""
    user = request_user(request)
    account = selectors.account_get(handle)
    require(user, "broadcast.post.publish", account)
    if request.method != "POST":
        return _videos_page(request, account)
    upload = request.FILES.get("video")
    try:
        if upload is None:
            raise ValidationFailed.on("video", _("请选择一段视频。"))
        services.video_upload(
            actor=user,
            account=account,
            video=services.VideoIn(
                name=upload.name or "video",
                file=upload,
                description=request.POST.get("description", ""),
                captions=_captions_text(request),
                captions_lang=request.POST.get("captions_lang", "zh-Hans"),
            ),
        )
    except ValidationFailed as exc:
        return _videos_page(request, account, errors=_video_errors(exc))
    messages.success(request, _("视频已上传，正在处理。"))
    return HttpResponseRedirect(reverse("broadcast:videos", args=[handle]))


@login_required
@require_POST
@domain_errors_as_http
def video_captions_set(request: HttpRequest, video_id: int) -> HttpResponse:
    user = request_user(request)
    video = selectors.video_get(user, video_id)
    try:
        services.video_captions_set(
            actor=user,
            video_id=video.pk,
            captions=_captions_text(request),
            captions_lang=request.POST.get("captions_lang", "zh-Hans"),
        )
        messages.success(request, _("字幕已保存。"))
    except ValidationFailed as exc:
        if video.post_id is not None:
            # Shown on the post's page at its captions form, with what was typed.
            return post_page(
                request,
                selectors.post_get(video.post_id),
                errors=_video_errors(exc),
                data={"action": "captions", **request.POST.dict()},
            )
        # Shown on the videos page at the waiting video's own controls.
        request.session[CAPTIONS_ERRORS] = {
            f"{control}-{video.pk}": found for control, found in _video_errors(exc).items()
        }
    if video.post_id is not None:
        return HttpResponseRedirect(reverse("broadcast:post", args=[video.post_id]))
    return HttpResponseRedirect(reverse("broadcast:videos", args=[video.account.handle]))


@require_POST
@domain_errors_as_http
def video_watched(request: HttpRequest, video_id: int) -> HttpResponse:
    """What the page's player reports (`fraction`: 0 when playback starts, the share watched
    later): a view and a completion for the reach report. Signed-in viewers of a visible post
    only; anything else is answered 204 and counts nothing."""
    viewer = request_user_or_none(request)
    video = selectors.video_get(viewer, video_id)
    try:
        fraction = float(request.POST.get("fraction", ""))
    except ValueError:
        fraction = -1.0
    if not 0.0 <= fraction <= 1.0:
        return HttpResponseBadRequest(_("播放进度应是 0 到 1 之间的数。"))
    if video.post_id is not None and selectors.video_public(video):
        services.video_watch_record(viewer=viewer, video=video, fraction=fraction)
    return HttpResponse(status=204)

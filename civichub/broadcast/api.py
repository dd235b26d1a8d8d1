"""Broadcast's API at /api/broadcast/: accounts, posts, the home feed, reposts, favourites,
comments and alerts. Thin: parse, call a selector or service, shape the answer."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from django.urls import reverse
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from civichub.broadcast import selectors, services
from civichub.broadcast.conf import absolute
from civichub.broadcast.models import (
    AreaSubscription,
    Block,
    BroadcastAccount,
    Comment,
    DrawnArea,
    ImageState,
    Post,
    PostImage,
    PostVideo,
)
from civichub.core.http import bearer_token, request_user, request_user_or_none
from civichub.core.images import ImageUpload
from civichub.core.models import User
from civichub.core.permissions import require
from civichub.core.services import api_token_authenticate

router = Router(tags=["broadcast"])

CategoryKey = Literal[
    "traffic", "road_closure", "safety", "weather", "public_health", "news", "notice"
]


def _reader(request: HttpRequest) -> User | None:
    """The signed-in reader of a public endpoint (session or bearer token), if any."""
    token = bearer_token(request)
    return request_user_or_none(request) or (api_token_authenticate(token) if token else None)


class AccountOut(Schema):
    id: int
    handle: str
    name: str
    name_en: str
    description: str
    verified: bool
    organisation_id: int
    followers_count: int
    posts_count: int
    avatar_url: str | None


class ImageOut(Schema):
    id: int
    url: str | None = Field(description="Null until `state` is `ready`")
    alt_text: str
    content_type: str
    width: int
    height: int
    state: str = Field(
        description="`processing` (a large image being re-encoded), `ready` or `failed`"
    )
    error: str = Field(description="Why a `failed` image could not be read")


class RenditionOut(Schema):
    name: str
    width: int
    height: int
    bitrate: int


class VideoOut(Schema):
    id: int
    state: str = Field(description="`processing`, `ready` or `failed`")
    progress: int = Field(description="Transcoding progress, 0 to 100")
    error: str = Field(description="Why transcoding failed (state `failed`)")
    container: str = Field(description="The upload's probed container: `mp4`, `mov` or `webm`")
    duration: float = Field(description="Seconds")
    width: int
    height: int
    description: str
    captions_lang: str
    warnings: list[str] = Field(
        description="What the publisher should fix: `no_captions` (the video has no captions)"
    )
    post_id: int | None
    mp4_url: str | None = Field(description="H.264/AAC MP4, once ready")
    hls_url: str | None = Field(description="HLS master playlist, once ready")
    poster_url: str | None
    captions_url: str | None = Field(description="WebVTT")
    renditions: list[RenditionOut]


class DrawnAreaOut(Schema):
    kind: Literal["circle", "polygon"]
    crs: str = Field(description="The system the publisher drew in; the shape below is WGS-84")
    lat: float | None = Field(None, description="Circle centre, WGS-84")
    lon: float | None = Field(None, description="Circle centre, WGS-84")
    radius_m: float | None = None
    points: list[list[float]] = Field(
        [], description="Polygon ring of [lat, lon], WGS-84, the first point repeated last"
    )


class CapAlertOut(Schema):
    category: str
    event: str
    urgency: str
    severity: str
    certainty: str
    expires: dt.datetime | None
    instruction: str
    headline: str = Field(description="Empty: the CAP headline is the start of the text")
    event_en: str
    headline_en: str
    instruction_en: str
    cap_url: str = Field(description="The alert's newest CAP message, on the configured site")


class PostOut(Schema):
    id: int
    account: str
    text: str
    text_en: str
    category: str
    state: str
    published_at: dt.datetime
    edited_at: dt.datetime | None
    target_area_ids: list[int]
    reposts_count: int
    favourites_count: int
    comments_count: int
    alert: CapAlertOut | None
    images: list[ImageOut]
    video: VideoOut | None
    drawn_areas: list[DrawnAreaOut]


class FeedOut(Schema):
    posts: list[PostOut]
    next_cursor: str | None


class CursorQuery(Schema):
    cursor: str | None = None
    limit: int = Field(20, ge=1, le=100)


def _video_out(request: HttpRequest, video: PostVideo) -> VideoOut:
    ready = video.state == "ready"

    def url(name: str) -> str | None:
        return request.build_absolute_uri(selectors.video_file_url(video, name)) if ready else None

    captions = selectors.video_captions_url(video)
    return VideoOut(
        id=video.pk,
        state=video.state,
        progress=video.progress,
        error=video.error,
        container=video.container,
        duration=video.duration,
        width=video.width,
        height=video.height,
        description=video.description,
        captions_lang=video.captions_lang,
        warnings=services.video_warnings(video),
        post_id=video.post_id,
        mp4_url=url("video.mp4"),
        hls_url=url("master.m3u8"),
        poster_url=url("poster.jpg"),
        captions_url=request.build_absolute_uri(captions) if captions else None,
        renditions=[RenditionOut(**r) for r in video.renditions],
    )


def _image_out(request: HttpRequest, image: PostImage) -> ImageOut:
    return ImageOut(
        id=image.pk,
        url=(
            request.build_absolute_uri(selectors.image_url(image))
            if image.state == ImageState.READY
            else None
        ),
        alt_text=image.alt_text,
        content_type=image.content_type,
        width=image.width,
        height=image.height,
        state=image.state,
        error=image.error,
    )


def _drawn_out(area: DrawnArea) -> DrawnAreaOut:
    circle = area.kind == "circle"
    return DrawnAreaOut(
        kind="circle" if circle else "polygon",
        crs=area.crs,
        lat=area.shape["lat"] if circle else None,
        lon=area.shape["lon"] if circle else None,
        radius_m=area.radius_m,
        points=[] if circle else area.shape["points"],
    )


def _account_out(account: BroadcastAccount, request: HttpRequest | None = None) -> AccountOut:
    avatar = selectors.avatar_url(account)
    return AccountOut(
        id=account.pk,
        handle=account.handle,
        name=account.name,
        name_en=account.name_en,
        description=account.description,
        verified=account.verified,
        organisation_id=account.organisation_id,
        followers_count=account.followers_count,
        posts_count=account.posts_count,
        avatar_url=request.build_absolute_uri(avatar) if avatar and request else avatar,
    )


def _post_out(request: HttpRequest, post: Post, areas: list[int] | None = None) -> PostOut:
    alert = None
    if post.is_alert:
        alert = CapAlertOut(
            category=post.cap_category,
            event=post.cap_event,
            urgency=post.cap_urgency,
            severity=post.cap_severity,
            certainty=post.cap_certainty,
            expires=post.cap_expires,
            instruction=post.cap_instruction,
            headline=post.cap_headline,
            event_en=post.cap_event_en,
            headline_en=post.cap_headline_en,
            instruction_en=post.cap_instruction_en,
            cap_url=absolute(reverse("broadcast:cap", args=[post.pk])),
        )
    return PostOut(
        id=post.pk,
        account=post.account.handle,
        text=post.text,
        text_en=post.text_en,
        category=post.category,
        state=post.state,
        published_at=post.published_at,
        edited_at=post.edited_at,
        target_area_ids=areas if areas is not None else [a.pk for a in post.target_areas.all()],
        reposts_count=post.reposts_count,
        favourites_count=post.favourites_count,
        comments_count=post.comments_count,
        alert=alert,
        images=[_image_out(request, image) for image in post.images.all()],
        video=_video_out(request, video) if (video := selectors.post_video(post)) else None,
        drawn_areas=[_drawn_out(area) for area in post.drawn_areas.all()],
    )


def _feed_out(request: HttpRequest, page: selectors.FeedPage) -> FeedOut:
    return FeedOut(posts=[_post_out(request, p) for p in page.posts], next_cursor=page.next_cursor)


@router.get("/accounts/{handle}", response=AccountOut, auth=None, summary="A broadcast account")
def account_get(request: HttpRequest, handle: str) -> AccountOut:
    return _account_out(selectors.account_get(handle), request)


@router.get("/accounts/{handle}/posts", response=FeedOut, auth=None, summary="An account's posts")
def account_posts(request: HttpRequest, handle: str, query: Query[CursorQuery]) -> FeedOut:
    account = selectors.account_get(handle)
    page = selectors.account_timeline(account, cursor=query.cursor, limit=query.limit)
    return _feed_out(request, page)


class CapAlertIn(Schema):
    category: str
    event: str
    urgency: str
    severity: str
    certainty: str
    expires: dt.datetime
    instruction: str = ""
    headline: str = Field("", description="At most 80 characters; empty: the start of the text")
    event_en: str = Field(
        "", description="English event; with text_en it gives the CAP en-US block"
    )
    headline_en: str = ""
    instruction_en: str = Field("", description="Required with English texts and instruction")


class DrawnAreaIn(Schema):
    kind: Literal["circle", "polygon"]
    lat: float | None = Field(None, description="Circle centre")
    lon: float | None = Field(None, description="Circle centre")
    radius_m: float | None = Field(None, description="Circle radius, 50 to 50,000 m")
    points: list[list[float]] = Field(
        [], description="Polygon: a closed ring of [lat, lon], at most 200 points"
    )
    crs: Literal["wgs84", "gcj02", ""] = Field(
        "", description="Coordinate system; empty means the deployment's default"
    )


class PostIn(Schema):
    text: str
    text_en: str = ""
    category: CategoryKey
    target_area_ids: list[int] = []
    publish_at: dt.datetime | None = None
    alert: CapAlertIn | None = None
    drawn_areas: list[DrawnAreaIn] = Field(
        [], description="Circles and polygons targeted besides target_area_ids (at most 5)"
    )
    media_ids: list[int] = Field(
        [], description="Images uploaded through POST /accounts/{handle}/media (at most 4)"
    )
    video_id: int | None = Field(
        None,
        description="A video uploaded through POST /accounts/{handle}/videos, once ready "
        "(not with images)",
    )


@router.post(
    "/accounts/{handle}/posts",
    response={201: PostOut},
    summary="Publish a post or an alert (publishers of the account's organisation)",
    description="Send an `Idempotency-Key` header to make a retry safe: the same key from the "
    "same caller gives back the post the first request made, never a second post.",
)
def post_publish(request: HttpRequest, handle: str, payload: PostIn) -> Status[PostOut]:
    account = selectors.account_get(handle)
    alert = services.AlertFields(**payload.alert.dict()) if payload.alert else None
    actor = request_user(request)
    post, _repeated = services.publish_once(
        actor=actor,
        key=request.headers.get("Idempotency-Key", ""),
        publish=lambda: services.post_publish(
            actor=actor,
            account=account,
            text=payload.text,
            text_en=payload.text_en,
            category=payload.category,
            target_area_ids=payload.target_area_ids,
            publish_at=payload.publish_at,
            alert=alert,
            media_ids=payload.media_ids,
            video_id=payload.video_id,
            drawn_areas=[services.DrawnAreaIn(**area.dict()) for area in payload.drawn_areas],
        ),
    )
    return Status(201, _post_out(request, post))


@router.post(
    "/accounts/{handle}/media",
    response={201: ImageOut, 202: ImageOut},
    summary="Upload an image for a coming post, with its alt text (publishers); JPEG, PNG or "
    "WebP, re-encoded without metadata",
    description="The header is checked at once (format, pixel budget, pixels per byte of file: "
    "a decompression bomb is refused with 422). A small image is re-encoded at once (201); a "
    "large one is re-encoded in the background (202, `state` `processing`, `url` null): poll "
    "GET /media/{id} until `state` is `ready` before publishing with `media_ids`.",
)
def media_upload(
    request: HttpRequest,
    handle: str,
    file: File[UploadedFile],
    alt_text: Form[str],
) -> Status[ImageOut]:
    image = services.media_upload(
        actor=request_user(request),
        account=selectors.account_get(handle),
        image=services.ImageIn(name=file.name or "image", data=file.read(), alt_text=alt_text),
    )
    return Status(202 if image.state == ImageState.PROCESSING else 201, _image_out(request, image))


@router.get(
    "/media/{image_id}",
    response=ImageOut,
    auth=None,
    summary="An image: its processing state, then its address (an unattached one: publishers)",
)
def media_get(request: HttpRequest, image_id: int) -> ImageOut:
    return _image_out(request, selectors.image_get(_reader(request), image_id))


@router.post(
    "/accounts/{handle}/videos",
    response={202: VideoOut},
    summary="Upload a short video for a coming post (publishers); MP4, MOV or WebM within the "
    "deployment's size and running time, transcoded in the background",
    description="The container is probed, whatever the file's name; a file that is not a video, "
    "too large or too long is refused (422). Poll GET /videos/{id} until `state` is `ready`, "
    "then publish with `video_id`. Captions are WebVTT, given here or later.",
)
def video_upload(
    request: HttpRequest,
    handle: str,
    file: File[UploadedFile],
    description: Form[str] = "",
    captions: Form[str] = "",
    captions_lang: Form[str] = "zh-Hans",
) -> Status[VideoOut]:
    video = services.video_upload(
        actor=request_user(request),
        account=selectors.account_get(handle),
        video=services.VideoIn(
            name=file.name or "video",
            file=file,
            description=description,
            captions=captions,
            captions_lang=captions_lang,
        ),
    )
    return Status(202, _video_out(request, video))


@router.get(
    "/videos/{video_id}",
    response=VideoOut,
    auth=None,
    summary="A video: its transcoding state and progress, then its addresses",
)
def video_get(request: HttpRequest, video_id: int) -> VideoOut:
    return _video_out(request, selectors.video_get(_reader(request), video_id))


class CaptionsIn(Schema):
    captions: str = Field(description="WebVTT; empty removes the captions")
    captions_lang: str = "zh-Hans"


@router.put(
    "/videos/{video_id}/captions",
    response=VideoOut,
    summary="Set a video's WebVTT captions (publishers), before or after its post",
)
def video_captions_set(request: HttpRequest, video_id: int, payload: CaptionsIn) -> VideoOut:
    video = services.video_captions_set(
        actor=request_user(request),
        video_id=video_id,
        captions=payload.captions,
        captions_lang=payload.captions_lang,
    )
    return _video_out(request, video)


@router.post(
    "/accounts/{handle}/avatar",
    response=AccountOut,
    summary="Set the account's avatar (publishers); JPEG, PNG or WebP",
)
def avatar_set(request: HttpRequest, handle: str, file: File[UploadedFile]) -> AccountOut:
    account = services.account_avatar_set(
        actor=request_user(request),
        account=selectors.account_get(handle),
        upload=ImageUpload(name=file.name or "avatar", data=file.read()),
    )
    return _account_out(account, request)


class FollowOut(Schema):
    account: str
    following: bool


@router.post("/accounts/{handle}/follow", response=FollowOut, summary="Follow an account")
def follow(request: HttpRequest, handle: str) -> FollowOut:
    account = selectors.account_get(handle)
    services.follow_create(actor=request_user(request), account_id=account.pk)
    return FollowOut(account=handle, following=True)


@router.delete("/accounts/{handle}/follow", response=FollowOut, summary="Unfollow an account")
def unfollow(request: HttpRequest, handle: str) -> FollowOut:
    account = selectors.account_get(handle)
    services.follow_delete(actor=request_user(request), account_id=account.pk)
    return FollowOut(account=handle, following=False)


@router.get("/home", response=FeedOut, summary="The followed accounts' posts, newest first")
def home(request: HttpRequest, query: Query[CursorQuery]) -> FeedOut:
    page = selectors.home_feed(request_user(request), cursor=query.cursor, limit=query.limit)
    return _feed_out(request, page)


@router.get("/posts/{post_id}", response=PostOut, auth=None, summary="A post")
def post_get(request: HttpRequest, post_id: int) -> PostOut:
    post = selectors.post_get(post_id)
    services.post_view_record(viewer=_reader(request), post=post)
    return _post_out(request, post)


class EditIn(Schema):
    text: str
    text_en: str | None = None
    event_en: str | None = Field(None, description="An alert's English event (None: unchanged)")
    headline_en: str | None = None
    instruction_en: str | None = None


@router.patch("/posts/{post_id}", response=PostOut, summary="Edit a post (history kept)")
def post_edit(request: HttpRequest, post_id: int, payload: EditIn) -> PostOut:
    post = services.post_edit(
        actor=request_user(request),
        post_id=post_id,
        text=payload.text,
        text_en=payload.text_en,
        english=services.AlertEnglish(
            event_en=payload.event_en,
            headline_en=payload.headline_en,
            instruction_en=payload.instruction_en,
        ),
    )
    return _post_out(request, post)


class RetractIn(Schema):
    reason: str = ""


@router.post("/posts/{post_id}/retract", response=PostOut, summary="Retract a post")
def post_retract(request: HttpRequest, post_id: int, payload: RetractIn) -> PostOut:
    post = services.post_retract(
        actor=request_user(request), post_id=post_id, reason=payload.reason
    )
    return _post_out(request, post)


class RepostIn(Schema):
    comment: str = ""


class CountsOut(Schema):
    post_id: int
    reposts_count: int
    favourites_count: int
    comments_count: int


def _counts(post_id: int) -> CountsOut:
    reposts, favourites, comments = selectors.post_counts(post_id)
    return CountsOut(
        post_id=post_id,
        reposts_count=reposts,
        favourites_count=favourites,
        comments_count=comments,
    )


@router.post(
    "/posts/{post_id}/reposts",
    response={201: CountsOut},
    summary="Repost (once per resident; a repeat is 409)",
)
def repost(request: HttpRequest, post_id: int, payload: RepostIn) -> Status[CountsOut]:
    services.repost_create(actor=request_user(request), post_id=post_id, comment=payload.comment)
    return Status(201, _counts(post_id))


@router.delete("/posts/{post_id}/reposts", response=CountsOut, summary="Undo a repost")
def unrepost(request: HttpRequest, post_id: int) -> CountsOut:
    services.repost_delete(actor=request_user(request), post_id=post_id)
    return _counts(post_id)


@router.post("/posts/{post_id}/favourites", response=CountsOut, summary="Favourite a post")
def favourite(request: HttpRequest, post_id: int) -> CountsOut:
    services.favourite_create(actor=request_user(request), post_id=post_id)
    return _counts(post_id)


@router.delete("/posts/{post_id}/favourites", response=CountsOut, summary="Undo a favourite")
def unfavourite(request: HttpRequest, post_id: int) -> CountsOut:
    services.favourite_delete(actor=request_user(request), post_id=post_id)
    return _counts(post_id)


class CommentOut(Schema):
    id: int
    parent_id: int | None
    text: str
    created_at: dt.datetime
    depth: int
    held: bool = Field(description="Held by a keyword filter until the account's staff review it")


class CommentIn(Schema):
    text: str
    parent_id: int | None = None


def _depth(comment: Comment) -> int:
    depth, parent = 0, comment.parent
    while parent is not None:
        depth, parent = depth + 1, parent.parent
    return depth


def _comment_out(comment: Comment) -> CommentOut:
    return CommentOut(
        id=comment.pk,
        parent_id=comment.parent_id,
        text=comment.text,
        created_at=comment.created_at,
        depth=getattr(comment, "depth", None) or _depth(comment),
        held=comment.held,
    )


@router.get(
    "/posts/{post_id}/comments",
    response=list[CommentOut],
    auth=None,
    summary="A post's thread; replies follow their parent",
)
def comments(request: HttpRequest, post_id: int) -> list[CommentOut]:
    return [_comment_out(c) for c in selectors.thread(selectors.post_get(post_id))]


@router.post("/posts/{post_id}/comments", response={201: CommentOut}, summary="Comment or reply")
def comment(request: HttpRequest, post_id: int, payload: CommentIn) -> Status[CommentOut]:
    created = services.comment_create(
        actor=request_user(request), post_id=post_id, text=payload.text, parent_id=payload.parent_id
    )
    return Status(201, _comment_out(created))


class ModerationIn(Schema):
    reason: str = ""


@router.post(
    "/comments/{comment_id}/hide",
    response=CommentOut,
    summary="Hide a comment, or keep a held one hidden (the account's staff)",
)
def comment_hide(
    request: HttpRequest, comment_id: int, payload: ModerationIn | None = None
) -> CommentOut:
    reason = payload.reason if payload else ""
    return _comment_out(
        services.comment_hide(actor=request_user(request), comment_id=comment_id, reason=reason)
    )


@router.post(
    "/comments/{comment_id}/unhide",
    response=CommentOut,
    summary="Show a hidden comment again, or release a held one (the account's staff)",
)
def comment_unhide(
    request: HttpRequest, comment_id: int, payload: ModerationIn | None = None
) -> CommentOut:
    reason = payload.reason if payload else ""
    return _comment_out(
        services.comment_unhide(actor=request_user(request), comment_id=comment_id, reason=reason)
    )


class ModeratedCommentOut(Schema):
    id: int
    post_id: int
    parent_id: int | None
    author_id: int
    author: str
    text: str
    created_at: dt.datetime
    hidden: bool
    held: bool


class BlockOut(Schema):
    user_id: int
    user: str
    reason: str
    created_at: dt.datetime


class KeywordFilterOut(Schema):
    id: int
    word: str


class ModerationOut(Schema):
    held: list[ModeratedCommentOut]
    hidden: list[ModeratedCommentOut]
    blocks: list[BlockOut]
    keyword_filters: list[KeywordFilterOut]


def _moderated(comment: Comment) -> ModeratedCommentOut:
    return ModeratedCommentOut(
        id=comment.pk,
        post_id=comment.post_id,
        parent_id=comment.parent_id,
        author_id=comment.author_id,
        author=comment.author.get_username(),
        text=comment.text,
        created_at=comment.created_at,
        hidden=comment.hidden,
        held=comment.held,
    )


def _block_out(block: Block) -> BlockOut:
    return BlockOut(
        user_id=block.user_id,
        user=block.user.get_username(),
        reason=block.reason,
        created_at=block.created_at,
    )


@router.get(
    "/accounts/{handle}/moderation",
    response=ModerationOut,
    summary="Held and hidden comments, blocked users and keyword filters (the account's staff)",
)
def moderation(request: HttpRequest, handle: str) -> ModerationOut:
    queue = selectors.moderation(request_user(request), selectors.account_get(handle))
    return ModerationOut(
        held=[_moderated(c) for c in queue.held],
        hidden=[_moderated(c) for c in queue.hidden],
        blocks=[_block_out(b) for b in queue.blocks],
        keyword_filters=[KeywordFilterOut(id=k.pk, word=k.word) for k in queue.keyword_filters],
    )


class BlockIn(Schema):
    user_id: int
    reason: str = ""


@router.post(
    "/accounts/{handle}/blocks",
    response={201: BlockOut},
    summary="Bar a user from commenting on and reposting the account's posts (its staff)",
)
def block_create(request: HttpRequest, handle: str, payload: BlockIn) -> Status[BlockOut]:
    block = services.block_create(
        actor=request_user(request),
        account=selectors.account_get(handle),
        user_id=payload.user_id,
        reason=payload.reason,
    )
    return Status(201, _block_out(block))


@router.delete(
    "/accounts/{handle}/blocks/{user_id}",
    response={204: None},
    summary="Lift a block (the account's staff)",
)
def block_delete(request: HttpRequest, handle: str, user_id: int) -> Status[None]:
    services.block_delete(
        actor=request_user(request), account=selectors.account_get(handle), user_id=user_id
    )
    return Status(204, None)


class KeywordFilterIn(Schema):
    word: str


@router.post(
    "/accounts/{handle}/keyword-filters",
    response={201: KeywordFilterOut},
    summary="Hold comments containing a word for review (the account's staff)",
)
def keyword_filter_add(
    request: HttpRequest, handle: str, payload: KeywordFilterIn
) -> Status[KeywordFilterOut]:
    keyword = services.keyword_filter_add(
        actor=request_user(request), account=selectors.account_get(handle), word=payload.word
    )
    return Status(201, KeywordFilterOut(id=keyword.pk, word=keyword.word))


@router.delete(
    "/accounts/{handle}/keyword-filters/{filter_id}",
    response={204: None},
    summary="Remove a keyword filter (the account's staff)",
)
def keyword_filter_remove(request: HttpRequest, handle: str, filter_id: int) -> Status[None]:
    services.keyword_filter_remove(
        actor=request_user(request), account=selectors.account_get(handle), filter_id=filter_id
    )
    return Status(204, None)


class DeliveryReportOut(Schema):
    recipients: int
    queued: int
    sending: int
    sent: int
    failed: int
    deferred: int


@router.get(
    "/posts/{post_id}/delivery-report",
    response=DeliveryReportOut,
    summary="An alert's push: recipients and deliveries by state (publishers)",
)
def delivery_report(request: HttpRequest, post_id: int) -> DeliveryReportOut:
    post = selectors.post_get(post_id)
    require(request_user(request), "broadcast.post.publish", post.account)
    return DeliveryReportOut(**selectors.delivery_report(post))


class AreaSubscriptionOut(Schema):
    area_id: int
    name: str
    name_en: str
    kind: str
    created_at: dt.datetime


class AreaSubscriptionIn(Schema):
    area_id: int


def _subscription_out(subscription: AreaSubscription) -> AreaSubscriptionOut:
    area = subscription.area
    return AreaSubscriptionOut(
        area_id=area.pk,
        name=area.name,
        name_en=area.name_en,
        kind=area.kind,
        created_at=subscription.created_at,
    )


@router.get(
    "/area-subscriptions",
    response=list[AreaSubscriptionOut],
    summary="The areas whose alerts reach me besides where I live",
)
def area_subscriptions(request: HttpRequest) -> list[AreaSubscriptionOut]:
    return [_subscription_out(s) for s in selectors.area_subscriptions(request_user(request))]


@router.post(
    "/area-subscriptions",
    response={201: AreaSubscriptionOut},
    summary="Receive the alerts of an area (a district, subdistrict or community)",
)
def area_subscribe(
    request: HttpRequest, payload: AreaSubscriptionIn
) -> Status[AreaSubscriptionOut]:
    subscription = services.area_subscribe(actor=request_user(request), area_id=payload.area_id)
    return Status(201, _subscription_out(subscription))


@router.delete(
    "/area-subscriptions/{area_id}", response={204: None}, summary="Stop an area subscription"
)
def area_unsubscribe(request: HttpRequest, area_id: int) -> Status[None]:
    services.area_unsubscribe(actor=request_user(request), area_id=area_id)
    return Status(204, None)


class ReachHourOut(Schema):
    hour: dt.datetime
    views: int
    reposts: int
    favourites: int
    followers: int


class ReachOut(Schema):
    account: str
    post_id: int | None
    days: int
    followers: int
    views: int
    reposts: int
    favourites: int
    hours: list[ReachHourOut]


class ReachQuery(Schema):
    days: int = Field(7, description="The last 1, 7 or 30 days")


def _reach_out(report: selectors.ReachReport) -> ReachOut:
    return ReachOut(
        account=report.account.handle,
        post_id=report.post.pk if report.post else None,
        days=report.days,
        followers=report.followers,
        views=report.views,
        reposts=report.reposts,
        favourites=report.favourites,
        hours=[ReachHourOut(**vars(h)) for h in report.hours],
    )


@router.get(
    "/accounts/{handle}/reach",
    response=ReachOut,
    summary="An account's reach per hour: followers, views, reposts, favourites (its staff)",
)
def account_reach(request: HttpRequest, handle: str, query: Query[ReachQuery]) -> ReachOut:
    account = selectors.account_get(handle)
    return _reach_out(selectors.reach_report(request_user(request), account, days=query.days))


@router.get(
    "/posts/{post_id}/reach",
    response=ReachOut,
    summary="A post's reach per hour: views, reposts, favourites (the account's staff)",
)
def post_reach(request: HttpRequest, post_id: int, query: Query[ReachQuery]) -> ReachOut:
    post = selectors.post_get(post_id)
    return _reach_out(
        selectors.reach_report(request_user(request), post.account, post=post, days=query.days)
    )

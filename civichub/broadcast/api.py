"""Broadcast's API at /api/broadcast/: accounts, posts, the home feed, reposts, favourites,
comments and alerts. Thin: parse, call a selector or service, shape the answer."""

from __future__ import annotations

from dataclasses import asdict

from django.http import HttpRequest
from django.urls import reverse
from ninja import File, Form, Query, Router, Status
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
from civichub.broadcast.schemas import (
    AccountOut,
    AreaSubscriptionIn,
    AreaSubscriptionOut,
    BlockIn,
    BlockOut,
    CapAlertOut,
    CaptionsIn,
    ChannelReachOut,
    CommentIn,
    CommentOut,
    CountsOut,
    CursorQuery,
    DeliveryReportOut,
    DrawnAreaOut,
    EditIn,
    FeedOut,
    FollowOut,
    ImageOut,
    KeywordFilterIn,
    KeywordFilterOut,
    ModeratedCommentOut,
    ModerationIn,
    ModerationOut,
    PostIn,
    PostOut,
    ReachHourOut,
    ReachOut,
    ReachQuery,
    RenditionOut,
    RepostIn,
    RetractIn,
    VideoOut,
)
from civichub.core.http import bearer_token, request_user, request_user_or_none
from civichub.core.images import ImageUpload
from civichub.core.models import User
from civichub.core.permissions import require
from civichub.core.services import api_token_authenticate

router = Router(tags=["broadcast"])


def _reader(request: HttpRequest) -> User | None:
    """The signed-in reader of a public endpoint (session or bearer token), if any."""
    token = bearer_token(request)
    return request_user_or_none(request) or (api_token_authenticate(token) if token else None)


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


@router.post("/posts/{post_id}/retract", response=PostOut, summary="Retract a post")
def post_retract(request: HttpRequest, post_id: int, payload: RetractIn) -> PostOut:
    post = services.post_retract(
        actor=request_user(request), post_id=post_id, reason=payload.reason
    )
    return _post_out(request, post)


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


@router.get(
    "/posts/{post_id}/delivery-report",
    response=DeliveryReportOut,
    summary="An alert's push: recipients and deliveries by state (publishers)",
)
def delivery_report(request: HttpRequest, post_id: int) -> DeliveryReportOut:
    post = selectors.post_get(post_id)
    require(request_user(request), "broadcast.post.publish", post.account)
    return DeliveryReportOut(**selectors.delivery_report(post))


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
        channels=ChannelReachOut(**asdict(report.channels)),
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

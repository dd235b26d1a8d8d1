"""The broadcast API's request and response bodies (Django Ninja schemas): what the OpenAPI
document describes, apart from the operations in `api.py`."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from ninja import Field, Schema

CategoryKey = Literal[
    "traffic", "road_closure", "safety", "weather", "public_health", "news", "notice"
]


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


class CaptionsIn(Schema):
    captions: str = Field(description="WebVTT; empty removes the captions")
    captions_lang: str = "zh-Hans"


class FollowOut(Schema):
    account: str
    following: bool


class EditIn(Schema):
    text: str
    text_en: str | None = None
    event_en: str | None = Field(None, description="An alert's English event (None: unchanged)")
    headline_en: str | None = None
    instruction_en: str | None = None


class RetractIn(Schema):
    reason: str = ""


class RepostIn(Schema):
    comment: str = ""


class CountsOut(Schema):
    post_id: int
    reposts_count: int
    favourites_count: int
    comments_count: int


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


class ModerationIn(Schema):
    reason: str = ""


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


class BlockIn(Schema):
    user_id: int
    reason: str = ""


class KeywordFilterIn(Schema):
    word: str


class DeliveryReportOut(Schema):
    recipients: int
    queued: int
    sending: int
    sent: int
    failed: int
    deferred: int


class AreaSubscriptionOut(Schema):
    area_id: int
    name: str
    name_en: str
    kind: str
    created_at: dt.datetime


class AreaSubscriptionIn(Schema):
    area_id: int


class ReachHourOut(Schema):
    hour: dt.datetime
    views: int
    reposts: int
    favourites: int
    followers: int


class ChannelReachOut(Schema):
    """Reach across channels over the whole life of the account or post (not only `days`)."""

    local_views: int
    video_views: int = Field(description="Viewers who started the video, each counted once")
    video_completions: int = Field(description="Viewers who watched at least 90 %")
    reposts: int
    favourites: int
    remote_servers: int = Field(description="Other servers (shared inboxes) delivered to")
    remote_deliveries: int = Field(description="Activities delivered to other servers")
    remote_likes: int
    remote_announces: int
    remote_replies: int
    alert_deliveries: dict[str, int] = Field(
        description="An alert's deliveries sent, by notification channel (inapp, sms, email, push)"
    )


class ReachOut(Schema):
    account: str
    post_id: int | None
    days: int
    followers: int
    views: int
    reposts: int
    favourites: int
    hours: list[ReachHourOut]
    channels: ChannelReachOut


class ReachQuery(Schema):
    days: int = Field(7, description="The last 1, 7 or 30 days")

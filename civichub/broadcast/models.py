"""Broadcast tables: accounts owned by organisations, their posts with edit history, and the
residents' follows, reposts, favourites and comments.

Publishing writes one row whatever the follower count: the home feed merges the followed
accounts' posts at read time through the (account, published_at, id) index. Hot counters on
a post are changed only by atomic updates in the services, never read-modify-write; reposts
and favourites sit in the post's counter slots until folded (`PostCounterShard`)."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civichub.broadcast import capwords
from civichub.core.models import CreatedModel, Organisation

POST_MAX_CHARS = 500
COMMENT_MAX_CHARS = 500
POST_MAX_IMAGES = 4
ALT_TEXT_MAX_CHARS = 500
KEYWORD_MAX_CHARS = 50


class Category(models.TextChoices):
    TRAFFIC = "traffic", _("交通")
    ROAD_CLOSURE = "road_closure", _("道路封闭")
    SAFETY = "safety", _("安全")
    WEATHER = "weather", _("天气")
    PUBLIC_HEALTH = "public_health", _("公共卫生")
    NEWS = "news", _("新闻")
    NOTICE = "notice", _("通知")


class CapCategory(models.TextChoices):
    GEO = "Geo"
    MET = "Met"
    SAFETY = "Safety"
    SECURITY = "Security"
    RESCUE = "Rescue"
    FIRE = "Fire"
    HEALTH = "Health"
    ENV = "Env"
    TRANSPORT = "Transport"
    INFRA = "Infra"
    CBRNE = "CBRNE"
    OTHER = "Other"


class Urgency(models.TextChoices):
    IMMEDIATE = "Immediate"
    EXPECTED = "Expected"
    FUTURE = "Future"
    PAST = "Past"
    UNKNOWN = "Unknown"


class Severity(models.TextChoices):
    EXTREME = "Extreme"
    SEVERE = "Severe"
    MODERATE = "Moderate"
    MINOR = "Minor"
    UNKNOWN = "Unknown"


class Certainty(models.TextChoices):
    OBSERVED = "Observed"
    LIKELY = "Likely"
    POSSIBLE = "Possible"
    UNLIKELY = "Unlikely"
    UNKNOWN = "Unknown"


class BroadcastAccount(CreatedModel):
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, related_name="broadcast_accounts"
    )
    handle = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=100)
    name_en = models.CharField(max_length=100, blank=True, default="")
    description = models.CharField(max_length=500, blank=True, default="")
    verified = models.BooleanField(default=False)
    followers_count = models.PositiveIntegerField(default=0)
    posts_count = models.PositiveIntegerField(default=0)
    # Re-encoded like post images (metadata removed); empty when the account has none.
    avatar = models.FileField(upload_to="broadcast/avatars/", max_length=200, blank=True)
    avatar_content_type = models.CharField(max_length=32, blank=True, default="")
    # Whether the ActivityPub followers collection lists the servers-elsewhere followers'
    # addresses (its count is always public; residents who follow are never listed).
    show_remote_followers = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"@{self.handle}"


class PostState(models.TextChoices):
    PUBLISHED = "published", _("已发布")
    RETRACTED = "retracted", _("已撤回")


class Post(CreatedModel):
    account = models.ForeignKey(BroadcastAccount, on_delete=models.PROTECT, related_name="posts")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    text = models.CharField(max_length=POST_MAX_CHARS)
    text_en = models.CharField(max_length=POST_MAX_CHARS, blank=True, default="")
    category = models.CharField(max_length=16, choices=Category.choices)
    target_areas = models.ManyToManyField(Organisation, blank=True, related_name="+")
    state = models.CharField(max_length=12, choices=PostState.choices, default=PostState.PUBLISHED)
    # A scheduled post carries its future time here and stays out of feeds until then.
    published_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    retracted_at = models.DateTimeField(null=True, blank=True)
    reposts_count = models.PositiveIntegerField(default=0)
    favourites_count = models.PositiveIntegerField(default=0)
    comments_count = models.PositiveIntegerField(default=0)
    # Emergency alert (CAP 1.2 info fields).
    is_alert = models.BooleanField(default=False)
    cap_category = models.CharField(max_length=12, choices=CapCategory.choices, blank=True)
    cap_event = models.CharField(max_length=100, blank=True, default="")
    cap_urgency = models.CharField(max_length=12, choices=Urgency.choices, blank=True)
    cap_severity = models.CharField(max_length=12, choices=Severity.choices, blank=True)
    cap_certainty = models.CharField(max_length=12, choices=Certainty.choices, blank=True)
    cap_expires = models.DateTimeField(null=True, blank=True)
    cap_instruction = models.CharField(max_length=500, blank=True, default="")
    # The headline (empty: the start of the text) and the English texts of the alert's en-US
    # `info` block, which is written only when the English event and text are both given.
    cap_headline = models.CharField(max_length=80, blank=True, default="")
    cap_event_en = models.CharField(max_length=100, blank=True, default="")
    cap_headline_en = models.CharField(max_length=80, blank=True, default="")
    cap_instruction_en = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["account", "published_at", "id"], name="broadcast_post_feed_idx"),
            models.Index(fields=["category", "published_at", "id"], name="broadcast_post_cat_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.account} #{self.pk}"

    @property
    def organisation(self) -> Organisation:
        return self.account.organisation

    @property
    def cap_words(self) -> str:
        """An alert's severity, urgency and certainty as residents read them, in their
        language ("严重 · 立即行动 · 已发生"); CAP's own words stay in the CAP document."""
        if not self.is_alert:
            return ""
        return " · ".join(
            (
                capwords.word(capwords.SEVERITY_SHORT, self.cap_severity),
                capwords.word(capwords.URGENCY_SHORT, self.cap_urgency),
                capwords.word(capwords.CERTAINTY_SHORT, self.cap_certainty),
            )
        )


class PostRevision(models.Model):
    """The text a post had before each edit, shown as its visible history."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="revisions")
    text = models.CharField(max_length=POST_MAX_CHARS)
    text_en = models.CharField(max_length=POST_MAX_CHARS, blank=True, default="")
    editor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    replaced_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.post} @ {self.replaced_at:%Y-%m-%d %H:%M}"


class Follow(CreatedModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="broadcast_follows"
    )
    account = models.ForeignKey(BroadcastAccount, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["user", "account"], name="broadcast_follow_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.account_id}"


class Repost(CreatedModel):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="reposts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    comment = models.CharField(max_length=COMMENT_MAX_CHARS, blank=True, default="")

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["post", "user"], name="broadcast_repost_once"),
        ]

    def __str__(self) -> str:
        return self.label(self.user_id, self.post_id)

    @staticmethod
    def label(user_id: int, post_id: int) -> str:
        """What `str()` gives, from the ids alone (the audit row's label, written by SQL)."""
        return f"{user_id} ↻ {post_id}"


class Favourite(CreatedModel):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="favourites")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["post", "user"], name="broadcast_favourite_once"),
        ]

    def __str__(self) -> str:
        return self.label(self.user_id, self.post_id)

    @staticmethod
    def label(user_id: int, post_id: int) -> str:
        """What `str()` gives, from the ids alone (the audit row's label, written by SQL)."""
        return f"{user_id} ★ {post_id}"


class Comment(CreatedModel):
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="comments")
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="replies"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.CharField(max_length=COMMENT_MAX_CHARS)
    hidden = models.BooleanField(default=False)
    # Held by one of the account's keyword filters: hidden until its staff release it.
    held = models.BooleanField(default=False)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["post", "created_at", "id"], name="broadcast_comment_thread_idx"),
        ]

    def __str__(self) -> str:
        return f"comment {self.pk} on {self.post_id}"


class Block(CreatedModel):
    """A user the account's staff barred from commenting on and reposting its posts."""

    account = models.ForeignKey(BroadcastAccount, on_delete=models.CASCADE, related_name="blocks")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=200, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["account", "user"], name="broadcast_block_once"),
        ]

    def __str__(self) -> str:
        return f"{self.account} ⊘ {self.user_id}"


class KeywordFilter(CreatedModel):
    """A word that holds a comment on the account's posts for review."""

    account = models.ForeignKey(
        BroadcastAccount, on_delete=models.CASCADE, related_name="keyword_filters"
    )
    word = models.CharField(max_length=KEYWORD_MAX_CHARS)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["account", "word"], name="broadcast_keyword_once"),
        ]

    def __str__(self) -> str:
        return f"{self.account}: {self.word}"


class ImageState(models.TextChoices):
    PROCESSING = "processing", _("处理中")
    READY = "ready", _("可用")
    FAILED = "failed", _("处理失败")


class PostImage(CreatedModel):
    """An image re-encoded on upload (real type and pixel count checked, metadata removed).
    Uploaded through the API first (post empty), then attached when the post is published.
    A large upload is stored as received with state `processing` (its header checked, nothing
    decoded) and re-encoded by a task; until `ready` it is served to no one and cannot be
    attached, and a failed decode keeps its reason in `error` for the uploader."""

    account = models.ForeignKey(BroadcastAccount, on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(
        Post, on_delete=models.CASCADE, null=True, blank=True, related_name="images"
    )
    image = models.FileField(upload_to="broadcast/images/", max_length=200)
    alt_text = models.CharField(max_length=ALT_TEXT_MAX_CHARS)
    content_type = models.CharField(max_length=32)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.PositiveIntegerField()
    position = models.PositiveSmallIntegerField(default=0)
    state = models.CharField(max_length=12, choices=ImageState.choices, default=ImageState.READY)
    error = models.CharField(max_length=200, blank=True, default="")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    class Meta:
        ordering: ClassVar[list[str]] = ["post", "position", "id"]

    def __str__(self) -> str:
        return f"image {self.pk} of {self.post_id}"


class VideoState(models.TextChoices):
    PROCESSING = "processing", _("处理中")
    READY = "ready", _("可播放")
    FAILED = "failed", _("处理失败")


class PostVideo(CreatedModel):
    """A short video: the original, probed on upload (real container, size and running time
    checked), is transcoded in the background into an H.264/AAC MP4 and HLS renditions with
    a poster frame, every output without the original's metadata. Uploaded first (post empty),
    attached when a post is published once it is ready; the original is removed then."""

    account = models.ForeignKey(BroadcastAccount, on_delete=models.CASCADE, related_name="+")
    post = models.OneToOneField(
        Post, on_delete=models.CASCADE, null=True, blank=True, related_name="video"
    )
    # The upload as received (kept only until transcoded: it carries location and device).
    original = models.FileField(upload_to="broadcast/videos/originals/", max_length=200)
    container = models.CharField(max_length=8)
    description = models.CharField(max_length=ALT_TEXT_MAX_CHARS, blank=True, default="")
    captions = models.TextField(blank=True, default="")
    captions_lang = models.CharField(max_length=16, blank=True, default="zh-Hans")
    state = models.CharField(
        max_length=12, choices=VideoState.choices, default=VideoState.PROCESSING
    )
    progress = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=200, blank=True, default="")
    duration = models.FloatField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.PositiveBigIntegerField()
    # Outputs, under one storage folder: `video.mp4`, `poster.jpg`, `master.m3u8` and one
    # playlist and its segments per rendition height.
    folder = models.CharField(max_length=200, blank=True, default="")
    renditions = models.JSONField(default=list, blank=True)
    mp4_size = models.PositiveBigIntegerField(default=0)
    out_width = models.PositiveIntegerField(default=0)
    out_height = models.PositiveIntegerField(default=0)
    bitrate = models.PositiveIntegerField(default=0)
    frame_rate = models.CharField(max_length=16, blank=True, default="")
    ready_at = models.DateTimeField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"video {self.pk} of {self.post_id}"


class VideoWatch(CreatedModel):
    """One signed-in viewer's watching of a video, so that a view is counted once per viewer and
    video and a completion once, when the player reported 90 % watched. The viewer is kept
    only as a keyed hash of the video and the person: the count is exact, and nothing says who
    watched what."""

    video = models.ForeignKey(PostVideo, on_delete=models.CASCADE, related_name="+")
    viewer_key = models.CharField(max_length=64)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["video", "viewer_key"], name="broadcast_watch_once"),
        ]

    def __str__(self) -> str:
        return f"watch of {self.video_id}"


class AreaSubscription(CreatedModel):
    """A resident's wish to receive the alerts of an area they do not (only) live in."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="broadcast_area_subscriptions",
    )
    area = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["user", "area"], name="broadcast_area_sub_once"),
        ]
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["area", "user"], name="broadcast_area_sub_area_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} ⌖ {self.area_id}"


class PostViewHour(models.Model):
    """Views of a post by signed-in readers, one row per post and hour, raised by `F()`."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    views = models.PositiveIntegerField(default=0)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["post", "hour"], name="broadcast_view_hour_once"),
        ]

    def __str__(self) -> str:
        return f"{self.post_id} @ {self.hour:%Y-%m-%d %H}: {self.views}"


class FollowerHour(models.Model):
    """Follows gained and lost by an account, one row per account and hour."""

    account = models.ForeignKey(BroadcastAccount, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    gained = models.PositiveIntegerField(default=0)
    lost = models.PositiveIntegerField(default=0)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["account", "hour"], name="broadcast_follower_hour_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} @ {self.hour:%Y-%m-%d %H}: +{self.gained} -{self.lost}"


class DrawnAreaKind(models.TextChoices):
    CIRCLE = "circle", _("圆形区域")
    POLYGON = "polygon", _("多边形区域")


class DrawnArea(models.Model):
    """A circle or polygon a post targets besides organisations. `given` keeps the shape as the
    publisher entered it (in `crs`); `shape` and the bounding box are WGS-84, the system of
    residents' computed home coordinates and of CAP."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="drawn_areas")
    kind = models.CharField(max_length=8, choices=DrawnAreaKind.choices)
    crs = models.CharField(max_length=8)
    given = models.JSONField()
    shape = models.JSONField()
    radius_m = models.FloatField(null=True, blank=True)
    min_lat = models.FloatField()
    max_lat = models.FloatField()
    min_lon = models.FloatField()
    max_lon = models.FloatField()

    def __str__(self) -> str:
        return f"{self.kind} of {self.post_id}"


class AlertPush(CreatedModel):
    """The outbox dispatch that carried an alert to the residents of its areas (one per alert)."""

    post = models.OneToOneField(Post, on_delete=models.CASCADE, related_name="push")
    dispatch = models.ForeignKey(
        "notify.Dispatch", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def __str__(self) -> str:
        return f"push of {self.post_id}"


class CapMessageType(models.TextChoices):
    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"


class CapMessage(models.Model):
    """One CAP 1.2 message of an alert: the Alert when it is published, an Update for each edit,
    the Cancel when it is retracted. Each has its own identifier and `sent`, and the document
    as it was issued (an Update or Cancel references every earlier message of the alert), so
    that aggregators which deduplicate by identifier see every change. Written only by the
    services that publish, edit and retract."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="cap_messages")
    # 1 for the Alert, then 2, 3, … in the order issued.
    sequence = models.PositiveSmallIntegerField()
    msg_type = models.CharField(max_length=8, choices=CapMessageType.choices)
    sender = models.CharField(max_length=200)
    identifier = models.CharField(max_length=250)
    # Whole seconds, as written in the document and in later messages' references.
    sent = models.DateTimeField()
    # The CAP document as issued; empty for a message recorded before documents were kept,
    # which is rendered from the post when asked for.
    document = models.TextField(blank=True, default="")

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["post", "sequence"], name="broadcast_cap_seq_once"),
            models.UniqueConstraint(
                fields=["identifier", "sender"], name="broadcast_cap_identifier_once"
            ),
        ]
        ordering: ClassVar[list[str]] = ["post", "sequence"]

    def __str__(self) -> str:
        return self.identifier

    @property
    def reference(self) -> str:
        """The message as another message's `references` name it: "sender,identifier,sent"."""
        return f"{self.sender},{self.identifier},{cap_time(self.sent)}"


def cap_time(value: dt.datetime) -> str:
    """CAP 1.2's dateTime: whole seconds in UTC, written with the offset "-00:00" (§3.3.2: UTC
    is "-00:00", never "Z" or "+00:00")."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S-00:00")


class ClientApp(CreatedModel):
    """A Mastodon client registered through POST /api/v1/apps."""

    name = models.CharField(max_length=100)
    website = models.CharField(max_length=300, blank=True, default="")
    redirect_uris = models.TextField(default="urn:ietf:wg:oauth:2.0:oob")
    scopes = models.CharField(max_length=200, default="read")
    client_id = models.CharField(max_length=64, unique=True)
    client_secret_hash = models.CharField(max_length=64)

    def __str__(self) -> str:
        return self.name


# Hot counters (reposts and favourites of a post) --------------------------------------------


COUNTER_SLOTS = 16


class PostCounterShard(models.Model):
    """Part of a post's repost and favourite counts, kept apart from the post's row while many
    residents repost it at once: a writer that finds the post's row locked by another adds to
    one of `COUNTER_SLOTS` slots instead of queueing behind it. The exact count is the post's
    column plus its slots. Reposts and favourites only ever add to a free slot; a withdrawal
    that takes the post's row folds the free slots into it, as `post_counters_fold` does."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="+")
    slot = models.PositiveSmallIntegerField()
    reposts = models.IntegerField(default=0)
    favourites = models.IntegerField(default=0)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(fields=["post", "slot"], name="broadcast_counter_slot_once"),
        ]

    def __str__(self) -> str:
        return f"{self.post_id}[{self.slot}]: {self.reposts} reposts, {self.favourites} favourites"


# OAuth tables of the Mastodon client API (broadcast/mastodon/): authorization codes and access
# tokens. Only a SHA-256 of a code or token is stored, as for civichub's own API tokens; the
# secret itself is shown once.


class OAuthAuthorization(CreatedModel):
    """An authorization code a resident granted an app on the consent page: single use and
    valid for ten minutes, redeemed at POST /oauth/token with the same redirect URI."""

    app = models.ForeignKey("broadcast.ClientApp", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    code_hash = models.CharField(max_length=64, unique=True)
    redirect_uri = models.TextField()
    scopes = models.CharField(max_length=1000)
    # PKCE (RFC 7636): the S256 challenge the client sent with the authorization request.
    code_challenge = models.CharField(max_length=128, blank=True, default="")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code for {self.app_id} by {self.user_id}"


class OAuthToken(CreatedModel):
    """An access token of a Mastodon client, with the scopes it was granted. A token without a
    user is the app's own (client credentials grant): it can read public data only."""

    app = models.ForeignKey("broadcast.ClientApp", on_delete=models.CASCADE, related_name="tokens")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="mastodon_tokens",
    )
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.CharField(max_length=1000)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token of {self.app_id} for {self.user_id or 'the app'}"


# ActivityPub: each government account is an actor that servers elsewhere follow
# (broadcast/activitypub/). Residents' accounts are not actors and never federate.


class AccountKey(CreatedModel):
    """The account's RSA key pair for HTTP Signatures; the private key is encrypted under the
    keys that protect identity numbers (core.crypto), so key rotation covers it."""

    account = models.OneToOneField(BroadcastAccount, on_delete=models.CASCADE, related_name="+")
    public_key_pem = models.TextField()
    private_key_encrypted = models.BinaryField()

    def __str__(self) -> str:
        return f"key of {self.account_id}"


class InstanceKey(CreatedModel):
    """The key pair of the site's own actor (an `Application` at /broadcast/ap/actor, as
    Mastodon's instance actor), which signs the site's fetches of other servers' actors and
    keys: servers in secure mode (Mastodon's AUTHORIZED_FETCH, Fedify's authorised actors)
    answer only signed fetches. One row (id 1), made the first time it is needed; the private
    key is encrypted like the accounts' keys."""

    public_key_pem = models.TextField()
    private_key_encrypted = models.BinaryField()

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.CheckConstraint(condition=models.Q(id=1), name="broadcast_instance_key_one"),
        ]

    def __str__(self) -> str:
        return "instance key"


class RemoteActor(models.Model):
    """An actor of another server, as last fetched (through the guarded HTTP client)."""

    uri = models.URLField(max_length=500, unique=True)
    host = models.CharField(max_length=255, db_index=True)
    inbox = models.URLField(max_length=500)
    shared_inbox = models.URLField(max_length=500, blank=True, default="")
    key_id = models.CharField(max_length=500, db_index=True)
    public_key_pem = models.TextField()
    fetched_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.uri

    @property
    def delivery_inbox(self) -> str:
        """One delivery per server: its shared inbox where it has one."""
        return self.shared_inbox or self.inbox


class RemoteFollow(CreatedModel):
    account = models.ForeignKey(BroadcastAccount, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(RemoteActor, on_delete=models.CASCADE, related_name="follows")
    # The id of the Follow activity, which an Undo names.
    activity_id = models.URLField(max_length=500)

    class Meta:
        constraints: ClassVar[list[models.BaseConstraint]] = [
            models.UniqueConstraint(
                fields=["account", "actor"], name="broadcast_remote_follow_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.actor_id} → {self.account_id}"


class BlockedServer(CreatedModel):
    """A server the operators refused: its requests are refused and nothing is delivered to it."""

    host = models.CharField(max_length=255, unique=True)
    reason = models.CharField(max_length=200, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    def __str__(self) -> str:
        return self.host


class SeenSignature(models.Model):
    """A signature already accepted, kept for the time window signatures are accepted in, so
    the same request sent again is refused."""

    digest = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.digest


class DeliveryState(models.TextChoices):
    PENDING = "pending", _("待投递")
    DELIVERED = "delivered", _("已投递")
    FAILED = "failed", _("投递失败")


class Delivery(CreatedModel):
    """One activity to one remote inbox (a server's shared inbox where it has one), retried
    with growing delays until delivered or given up."""

    post = models.ForeignKey(
        Post, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    account = models.ForeignKey(BroadcastAccount, on_delete=models.CASCADE, related_name="+")
    inbox = models.URLField(max_length=500)
    activity = models.JSONField()
    state = models.CharField(
        max_length=12, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.CharField(max_length=200, blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["state", "next_attempt_at"], name="broadcast_delivery_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.activity.get('type', '?')} → {self.inbox}"


class RemoteInteractionKind(models.TextChoices):
    LIKE = "like", _("点赞")
    ANNOUNCE = "announce", _("转发")
    REPLY = "reply", _("回复")


class RemoteInteraction(CreatedModel):
    """A Like, Announce or reply from another server on a post. Replies are held until the
    account's staff release them, like comments a keyword filter holds."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="remote_interactions")
    kind = models.CharField(max_length=12, choices=RemoteInteractionKind.choices)
    actor_uri = models.URLField(max_length=500)
    activity_id = models.URLField(max_length=500, unique=True)
    # A reply's object id and its text as received (HTML stripped).
    object_id = models.URLField(max_length=500, blank=True, default="")
    text = models.CharField(max_length=COMMENT_MAX_CHARS, blank=True, default="")
    held = models.BooleanField(default=False)

    class Meta:
        indexes: ClassVar[list[models.Index]] = [
            models.Index(fields=["post", "kind"], name="broadcast_remote_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.post_id} by {self.actor_uri}"

    @property
    def actor_handle(self) -> str:
        """`@name@server` as people on the fediverse write it (from the actor's address)."""
        parts = urlsplit(self.actor_uri)
        name = parts.path.rstrip("/").rsplit("/", 1)[-1].lstrip("@") or "?"
        return f"@{name}@{parts.hostname or '?'}"

"""Every write in broadcast: keyword-only, typed, atomic, permission-checked and audited, one
module per subject. This package names the public surface; pages, the API, the Mastodon
adapter, tasks and other modules import from here."""

from civichub.broadcast.selectors import drawn_shape
from civichub.broadcast.services.accounts import account_avatar_set, account_create
from civichub.broadcast.services.alerts import alert_push, alert_recipients
from civichub.broadcast.services.areas import (
    AREA_SUBSCRIPTIONS_MAX,
    DRAWN_AREAS_MAX,
    DrawnAreaIn,
    alert_preview_checked,
    area_subscribe,
    area_unsubscribe,
)
from civichub.broadcast.services.capmessages import cap_identifier, cap_message_issue
from civichub.broadcast.services.checks import AlertFields
from civichub.broadcast.services.interactions import (
    favourite_create,
    favourite_delete,
    follow_create,
    follow_delete,
    post_counters_fold,
    repost_create,
    repost_delete,
)
from civichub.broadcast.services.media import (
    IMAGE_FORMATS,
    IMAGE_MAX_BYTES,
    IMAGE_MAX_PIXELS,
    UNATTACHED_MEDIA_HOURS,
    ImageIn,
    image_process,
    media_unattached_delete,
    media_upload,
)
from civichub.broadcast.services.moderation import (
    block_create,
    block_delete,
    comment_create,
    comment_hide,
    comment_unhide,
    keyword_filter_add,
    keyword_filter_remove,
)
from civichub.broadcast.services.publishing import (
    SUBMISSION_SECONDS,
    AlertEnglish,
    SubmissionPending,
    post_edit,
    post_publish,
    post_retract,
    publish_once,
    submit_once,
)
from civichub.broadcast.services.reach import post_view_record
from civichub.broadcast.services.video import (
    CAPTIONS_MAX_CHARS,
    UNATTACHED_VIDEO_HOURS,
    VIDEO_OUTPUT,
    VideoIn,
    captions_checked,
    video_captions_set,
    video_files_delete,
    video_transcode,
    video_unattached_delete,
    video_upload,
    video_warnings,
)

__all__ = [
    "AREA_SUBSCRIPTIONS_MAX",
    "CAPTIONS_MAX_CHARS",
    "DRAWN_AREAS_MAX",
    "IMAGE_FORMATS",
    "IMAGE_MAX_BYTES",
    "IMAGE_MAX_PIXELS",
    "SUBMISSION_SECONDS",
    "UNATTACHED_MEDIA_HOURS",
    "UNATTACHED_VIDEO_HOURS",
    "VIDEO_OUTPUT",
    "AlertEnglish",
    "AlertFields",
    "DrawnAreaIn",
    "ImageIn",
    "SubmissionPending",
    "VideoIn",
    "account_avatar_set",
    "account_create",
    "alert_preview_checked",
    "alert_push",
    "alert_recipients",
    "area_subscribe",
    "area_unsubscribe",
    "block_create",
    "cap_identifier",
    "captions_checked",
    "cap_message_issue",
    "block_delete",
    "comment_create",
    "comment_hide",
    "comment_unhide",
    "drawn_shape",
    "favourite_create",
    "favourite_delete",
    "follow_create",
    "follow_delete",
    "keyword_filter_add",
    "keyword_filter_remove",
    "media_unattached_delete",
    "image_process",
    "media_upload",
    "post_counters_fold",
    "post_edit",
    "post_publish",
    "post_retract",
    "post_view_record",
    "publish_once",
    "repost_create",
    "repost_delete",
    "submit_once",
    "video_captions_set",
    "video_files_delete",
    "video_transcode",
    "video_unattached_delete",
    "video_upload",
    "video_warnings",
]

from django.urls import include, path

from civichub.broadcast import reach_pages, streaming, syndication, video_pages, views

app_name = "broadcast"
urlpatterns = [
    path("", views.home, name="home"),
    path("areas/", views.areas, name="areas"),
    path("publish/", views.publish, name="publish"),
    path("accounts/", views.directory, name="directory"),
    path("stream/", streaming.page_stream, name="stream"),
    path("mastodon/", include("civichub.broadcast.mastodon.urls")),
    path("ap/", include("civichub.broadcast.activitypub.urls")),
    path("category/<slug:category>/feed.atom", syndication.category_feed, name="category_feed"),
    path("cap/index.atom", syndication.cap_index, name="cap_index"),
    path("cap/messages/<str:identifier>.xml", syndication.cap_message, name="cap_message"),
    path("posts/<int:post_id>/", views.post, name="post"),
    path("posts/<int:post_id>/cap.xml", syndication.cap, name="cap"),
    path("posts/<int:post_id>/reach/", reach_pages.post_reach, name="post_reach"),
    path("posts/<int:post_id>/<slug:action>/", views.interact, name="interact"),
    path("@<slug:handle>/", views.account, name="account"),
    path("@<slug:handle>/feed.atom", syndication.account_feed, name="account_feed"),
    path("@<slug:handle>/follow/", views.follow, name="follow"),
    path("@<slug:handle>/moderation/", views.moderation, name="moderation"),
    path("@<slug:handle>/reach/", reach_pages.account_reach, name="account_reach"),
    path("@<slug:handle>/avatar", views.avatar, name="avatar"),
    path("@<slug:handle>/avatar/set/", views.avatar_set, name="avatar_set"),
    path("images/<int:image_id>", views.image, name="image"),
    path("@<slug:handle>/videos/", video_pages.videos, name="videos"),
    path("videos/<int:video_id>/captions.vtt", video_pages.video_captions, name="video_captions"),
    path(
        "videos/<int:video_id>/captions/", video_pages.video_captions_set, name="video_captions_set"
    ),
    path("videos/<int:video_id>/watched/", video_pages.video_watched, name="video_watched"),
    path("videos/<int:video_id>/<str:name>", video_pages.video_file, name="video_file"),
    path("@<slug:handle>/compose/", views.compose, name="compose"),
    path("@<slug:handle>/alert/", views.compose, {"alert": True}, name="compose_alert"),
]

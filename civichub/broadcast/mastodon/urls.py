"""The Mastodon client API subset, under /broadcast/mastodon/ (the client's API base URL)."""

from django.urls import path, re_path

from civichub.broadcast.mastodon import views

urlpatterns = [
    re_path(r"^api/v1/instance/?$", views.instance_v1),
    re_path(r"^api/v2/instance/?$", views.instance_v2),
    path("api/v1/apps", views.app_register),
    path("oauth/token", views.token),
    path("api/v1/accounts/verify_credentials", views.verify_credentials),
    path("api/v1/accounts/<str:account_id>", views.account),
    path("api/v1/accounts/<str:account_id>/statuses", views.account_statuses),
    path("api/v1/accounts/<str:account_id>/follow", views.account_follow),
    path("api/v1/accounts/<str:account_id>/unfollow", views.account_unfollow),
    path("api/v1/statuses", views.status_post),
    path("api/v1/statuses/<int:post_id>", views.status_get),
    path("api/v1/statuses/<int:post_id>/reblog", views.status_reblog),
    path("api/v1/statuses/<int:post_id>/favourite", views.status_favourite),
    path("api/v1/timelines/home", views.timeline_home),
    path("api/v1/notifications", views.notifications),
    path("api/v1/streaming/user", views.streaming_user),
]

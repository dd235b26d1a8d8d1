"""ActivityPub addresses of the accounts and posts, under /broadcast/ap/ (in broadcast's URL
namespace, so that documents name them by `broadcast:ap_*`)."""

from __future__ import annotations

from django.urls import path

from civichub.broadcast.activitypub import views

urlpatterns = [
    path("inbox", views.shared_inbox, name="ap_shared_inbox"),
    path("actor", views.instance_actor, name="ap_instance_actor"),
    path("actor/outbox", views.instance_outbox, name="ap_instance_outbox"),
    path("accounts/<slug:handle>", views.actor, name="ap_actor"),
    path("accounts/<slug:handle>/inbox", views.inbox, name="ap_inbox"),
    path("accounts/<slug:handle>/outbox", views.outbox, name="ap_outbox"),
    path("accounts/<slug:handle>/followers", views.followers, name="ap_followers"),
    path("posts/<int:post_id>", views.note, name="ap_note"),
]

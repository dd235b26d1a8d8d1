from django.urls import path

from civichub.donors import live, views

app_name = "donors"
urlpatterns = [
    path("", views.board, name="board"),
    path("requests/<int:request_id>/", views.request_detail, name="request"),
    path("stream/", live.stream, name="board_stream"),
    path("requests/<int:request_id>/stream/", live.stream, name="request_stream"),
    path("call-ups/<int:call_up_id>/mark/", views.call_up_mark, name="mark"),
    path("registry/", views.registry, name="list"),
    path("registry/import/", views.registry_import, name="import"),
    path("me/", views.mine, name="mine"),
    path("me/register/", views.register, name="register"),
    path("r/<str:token>/", views.respond, name="respond"),
]

from django.urls import path

from civichub.casework import views

app_name = "casework"
urlpatterns = [
    path("board/", views.board, name="board"),
    path("new/", views.submit, name="submit"),
    path("verify/", views.verify, name="verify"),
    path("sent/<str:tracking_number>/", views.sent, name="sent"),
    path("track/", views.track, name="track"),
    path("mine/", views.mine, name="mine"),
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/phone/", views.log_call, name="log_call"),
    path("statistics/", views.statistics, name="statistics"),
    path("map/areas/", views.map_areas, name="map_areas"),
    path("<str:tracking_number>/", views.case_detail, name="case"),
    path("<str:tracking_number>/photos/<int:pk>/", views.photo, name="photo"),
    path("<str:tracking_number>/<slug:action>/", views.case_action, name="action"),
]

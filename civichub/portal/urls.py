from django.urls import path

from civichub.portal import views

app_name = "portal"
urlpatterns = [
    path("", views.service_index, name="index"),
    path("catalogue.jsonld", views.catalogue_cpsv, name="catalogue"),
    path("mine/", views.mine, name="mine"),
    path("queue/", views.queue, name="queue"),
    path("measures/", views.measures, name="measures"),
    path("data/", views.data_index, name="data"),
    path("data/catalog.jsonld", views.data_catalogue, name="data_catalogue"),
    path("data/<slug:slug>/", views.data_detail, name="dataset"),
    path("data/<slug:slug>.<slug:fmt>", views.data_download, name="dataset_download"),
    path("my-data/", views.my_data, name="my_data"),
    path("verify/", views.verify, name="verify"),
    path("verify/key.pem", views.verify_key, name="verify_key"),
    path("manage/", views.guide_admin, name="guide_admin"),
    path("manage/versions/<int:pk>/<slug:action>/", views.version_action, name="version_action"),
    path("manage/<str:code>/", views.guide_edit, name="guide_edit"),
    path("applications/<str:reference>/", views.application_detail, name="application"),
    path(
        "applications/<str:reference>/certificate.pdf",
        views.certificate_download,
        name="certificate",
    ),
    path(
        "applications/<str:reference>/materials/<int:pk>/",
        views.material_file,
        name="material",
    ),
    path(
        "applications/<str:reference>/<slug:action>/",
        views.application_action,
        name="application_action",
    ),
    path("<str:code>/", views.service_detail, name="service"),
    path("<str:code>/apply/", views.apply, name="apply"),
]

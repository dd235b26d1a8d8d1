from django.urls import path

from civichub.core import design, views

app_name = "core"
urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("residents/", views.resident_list, name="resident_list"),
    path("residents/<int:pk>/", views.resident_detail, name="resident_detail"),
    path("audit/", views.audit_log, name="audit_log"),
    path("design/", design.design, name="design"),
]

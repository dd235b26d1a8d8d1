from __future__ import annotations

from django.urls import path

from civichub.statistics import views

app_name = "statistics"
urlpatterns = [
    path("statistics/", views.figures, name="figures"),
    path("evaluation/", views.evaluation, name="evaluation"),
]

"""Traceability pages under /trace/ (the `traceability` namespace)."""

from __future__ import annotations

from django.urls import URLPattern, path

from civichub.traceability import views

app_name = "traceability"

urlpatterns: list[URLPattern] = [
    path("", views.lots, name="lots"),
    path("lookup/", views.lookup, name="lookup"),
    path("record/", views.node_event, name="record"),
    path("lots/<int:lot_id>/", views.lot_detail, name="lot"),
    path("lots/<int:lot_id>/qr.<str:fmt>", views.lot_qr, name="qr"),
    path("lots/<int:lot_id>/labels/", views.labels, name="labels"),
    path("lots/<int:lot_id>/recall/", views.recall_start, name="recall_start"),
    path("recalls/", views.recalls, name="recalls"),
    path("recalls/scope/", views.recall_scope, name="recall_scope"),
    path("recalls/<int:recall_id>/", views.recall, name="recall"),
]

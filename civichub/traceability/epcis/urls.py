"""EPCIS 2.0 REST binding under /epcis/ (the `epcis` namespace)."""

from __future__ import annotations

from django.urls import URLPattern, path

from civichub.traceability.epcis import views

app_name = "epcis"

urlpatterns: list[URLPattern] = [
    path("", views.top_level, name="top"),
    path("capture", views.capture, name="capture"),
    path("capture/<str:capture_id>", views.capture_job, name="capture_job"),
    path("events", views.events, name="events"),
    path("events/<path:event_id>", views.event_detail, name="event"),
    path("epcs/<path:epc>/events", views.epc_events, name="epc_events"),
    path("eventTypes/<str:event_type>/events", views.event_type_events, name="type_events"),
    path("queries", views.queries, name="queries"),
    path("queries/<str:name>", views.query_detail, name="query"),
    path("queries/<str:name>/events", views.query_events, name="query_events"),
]

"""GeoReport v2 under /open311/v2/: `{resource}.{format}`, the format only from the suffix."""

from __future__ import annotations

from django.urls import URLPattern, re_path

from civichub.casework.open311 import views

app_name = "open311"

# The last dot starts the format: `[^/]+` gives back characters until `\.` matches.
FMT = r"\.(?P<fmt>[^/.]*)"

urlpatterns: list[URLPattern] = [
    re_path(rf"^discovery{FMT}$", views.discovery, name="discovery"),
    re_path(rf"^services{FMT}$", views.service_list, name="services"),
    # `service/` (singular) is what the open311 1.1 client asks for.
    re_path(
        rf"^services?/(?P<service_code>[^/]+){FMT}$",
        views.service_definition,
        name="service_definition",
    ),
    re_path(rf"^requests{FMT}$", views.requests, name="requests"),
    re_path(
        rf"^requests/(?P<service_request_id>[^/]+){FMT}$",
        views.request_detail,
        name="request",
    ),
    re_path(rf"^tokens/(?P<token>[^/]+){FMT}$", views.token, name="token"),
    re_path(
        rf"^servicerequestupdates{FMT}$",
        views.service_request_updates,
        name="service_request_updates",
    ),
    re_path(r"^(?P<rest>.*)$", views.unknown_resource),
]

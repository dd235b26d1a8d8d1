"""URLs a standard fixes at the site's root: Open311 GeoReport v2 under /open311/v2/ (the
`open311` namespace)."""

from __future__ import annotations

from django.urls import URLResolver, include, path

urlpatterns: list[URLResolver] = [
    path("open311/v2/", include("civichub.casework.open311.urls")),
]

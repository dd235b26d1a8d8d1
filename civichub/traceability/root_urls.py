"""URLs a standard fixes at the site's root: the EPCIS 2.0 REST binding under /epcis/, the GS1
Digital Link paths (`/01/{gtin}/10/{lot}`, what the QR code holds, and its compressed form) and
the resolver's description at /.well-known/gs1resolver."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path, re_path

from civichub.traceability import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("epcis/", include("civichub.traceability.epcis.urls")),
    re_path(r"^01/(?P<gtin>\d{8,14})/10/(?P<lot>[^/]{1,20})/?$", views.resolve, name="gs1_lot"),
    # Compressed (GS1 Digital Link compression): a GTIN first, alone or in an optimised sequence.
    re_path(
        r"^(?P<segment>(?:A[Q-T]|C[g-jw-z]|D[A-DQ-T]|G[g-j])[A-Za-z0-9_-]{6,})/?$",
        views.resolve_compressed,
        name="gs1_compressed",
    ),
    path(".well-known/gs1resolver", views.resolver_description, name="gs1_resolver"),
]

from __future__ import annotations

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver, include, path

from civichub.api import api
from civichub.core import metrics
from civichub.core.health import readiness
from civichub.core.registry import modules
from civichub.core.views import CivicLoginView, CivicPasswordChangeView, language_switch


def healthz(request: HttpRequest) -> HttpResponse:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> HttpResponse:
    """503 naming what failed, while the database, the cache or the task queue cannot answer."""
    checks = readiness()
    failed = sorted(name for name, outcome in checks.items() if outcome != "ok")
    body = {"status": "failed" if failed else "ok", "failed": failed, "checks": checks}
    return JsonResponse(body, status=503 if failed else 200)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus's scrape: a bearer token (CIVICHUB_METRICS_TOKEN) or a signed-in operator."""
    if not metrics.scrape_allowed(request):
        status = 403 if request.user.is_authenticated else 401
        response = JsonResponse({"status": status, "detail": "metrics need a token"}, status=status)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)


urlpatterns: list[URLPattern | URLResolver] = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    *(path("", include(m.root_urls)) for _c, m in modules() if m.root_urls),
    path("api/", api.urls),
    path("admin/", admin.site.urls),
    path("i18n/setlang/", language_switch, name="set_language"),
    path("accounts/login/", CivicLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", CivicPasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(template_name="core/password_change_done.html"),
        name="password_change_done",
    ),
]

for _config, manifest in modules():
    if manifest.urls:
        urlpatterns.append(path(manifest.url_prefix, include(manifest.urls)))

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
handler400 = "civichub.core.views.bad_request"
handler403 = "civichub.core.views.permission_denied"
handler404 = "civichub.core.views.page_not_found"
handler500 = "civichub.core.views.server_error"

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from civichub.core import registry
from civichub.core.permissions import allowed


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Navigation by role: each module's items that the user may use."""
    user = getattr(request, "user", None)
    items = []
    if user is not None and user.is_authenticated:
        for item in registry.navigation():
            if item.action and not allowed(user, item.action):
                continue
            try:
                url = reverse(item.url_name)
            except NoReverseMatch:
                continue
            items.append({"label": item.label, "url": url, "current": request.path.startswith(url)})
    return {"civichub_nav": items}

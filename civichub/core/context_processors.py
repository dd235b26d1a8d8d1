from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse

from civichub.core import registry
from civichub.core.permissions import allowed


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Navigation by role: each module's items that the user may use."""
    user = getattr(request, "user", None)
    items: list[dict[str, Any]] = []
    if user is not None and user.is_authenticated:
        for item in registry.navigation():
            if item.action and not allowed(user, item.action):
                continue
            try:
                url = reverse(item.url_name)
            except NoReverseMatch:
                continue
            items.append({"label": item.label, "url": url, "current": False})
    # One item is current: the longest address the page lies under (the board at /messages/board/
    # is not also the inbox at /messages/).
    matches = [entry for entry in items if request.path.startswith(str(entry["url"]))]
    if matches:
        max(matches, key=lambda entry: len(str(entry["url"])))["current"] = True
    return {"civichub_nav": items}

"""Where in the organisation tree an object sits: the path its permission check and its audit
rows both use. An Organisation is its own scope; any other object exposes `organisation`."""

from __future__ import annotations

from typing import Any

from civichub.core.models import Organisation


def scope_path(obj: Any) -> str | None:
    if isinstance(obj, Organisation):
        return obj.path
    organisation = getattr(obj, "organisation", None)
    if isinstance(organisation, Organisation):
        return organisation.path
    return None

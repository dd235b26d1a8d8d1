"""The one permission check. Pages, the API, the admin, tasks and the CLI all call `allowed` or
`require`; list reads call `scope_filter`. A role is held over an organisation subtree: an
assignment at a subdistrict covers its communities and the departments under them.

Object scope: an Organisation is its own scope; any other object exposes `organisation`.
Ownership (a resident acting on their own record) is decided by the module's owner rule for the
object's model label, and only for actions declared `owner=True`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet
from django.utils.translation import gettext as _

from civichub.core import registry
from civichub.core.audit import audit_refusal
from civichub.core.errors import NotAuthenticated, PermissionDenied
from civichub.core.models import Organisation
from civichub.core.scope import scope_path

__all__ = [
    "action_def",
    "allowed",
    "clear_cache",
    "granted_paths",
    "require",
    "reset_registry_cache",
    "role_paths",
    "scope_filter",
    "scope_path",
]

M = TypeVar("M", bound=Model)
_CACHE_ATTR = "_civichub_role_paths"


@lru_cache(maxsize=1)
def _actions() -> dict[str, registry.ActionDef]:
    return registry.all_actions()


@lru_cache(maxsize=1)
def _owner_rules() -> dict[str, Any]:
    return registry.owner_rules()


def action_def(action: str) -> registry.ActionDef:
    try:
        return _actions()[action]
    except KeyError:
        raise LookupError(f"unknown permission action {action!r}") from None


def role_paths(user: Any) -> list[tuple[str, str]]:
    """(role, organisation path) pairs the user holds; cached on the user object for a request.
    Superusers are operators of the whole tree."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return []
    cached = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    pairs = [
        (role, path)
        for role, path in user.role_assignments.values_list("role", "organisation__path")
    ]
    if user.is_superuser:
        pairs.append(("operator", "/"))
    setattr(user, _CACHE_ATTR, pairs)
    return pairs


def clear_cache(user: Any) -> None:
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def _is_owner(user: Any, obj: Any) -> bool:
    if obj is None or not getattr(user, "is_authenticated", False):
        return False
    rule = _owner_rules().get(obj._meta.label_lower) if isinstance(obj, Model) else None
    return bool(rule and rule(user, obj))


def allowed(user: Any, action: str, obj: Any = None) -> bool:
    definition = action_def(action)
    if definition.public:
        return True
    if definition.owner and _is_owner(user, obj):
        return True
    granted = [path for role, path in role_paths(user) if role in definition.roles]
    if not granted:
        return False
    if obj is None:
        return True
    target = scope_path(obj)
    if target is None:
        # An object outside the tree (a global setting) needs a role held at the root.
        return any(path == "/" or path.count("/") <= 2 for path in granted)
    return any(target.startswith(path) for path in granted)


def require(user: Any, action: str, obj: Any = None) -> None:
    """Raises unless `allowed`. Every refusal of a signed-in user passes here, whichever entry
    point asked (page, API, protocol adapter, task), and is audited once the request is over."""
    if allowed(user, action, obj):
        return
    if not getattr(user, "is_authenticated", False):
        raise NotAuthenticated(_("请先登录。"))
    audit_refusal(actor=user, action=action, obj=obj)
    # People read a sentence; the action's code stays on the exception and in the audit record
    # of the refusal, for the operators who need it.
    raise PermissionDenied(
        _("您无权在此执行该操作。如需办理，请联系所在单位的管理员。"), action=action
    )


def granted_paths(user: Any, action: str) -> list[str]:
    definition = action_def(action)
    return [path for role, path in role_paths(user) if role in definition.roles]


def scope_filter(
    user: Any, action: str, queryset: QuerySet[M], path_field: str, owner_q: Q | None = None
) -> QuerySet[M]:
    """Narrows a queryset to the objects the user may do `action` on. `path_field` is the lookup
    to the owning organisation's path, either through a relation ("community__path") or a path
    stored on the row ("organisation_path"); `owner_q` adds the user's own objects."""
    definition = action_def(action)
    if definition.public:
        return queryset
    paths = granted_paths(user, action)
    if "/" in paths:
        return queryset
    in_tree = Q(pk__in=[])
    for path in paths:
        in_tree |= Q(path__startswith=path)
    relation, _sep, last = path_field.rpartition("__")
    if relation and last == "path":
        # Select the organisations first and filter by their ids: a LIKE through the join would
        # scan every row of a large table (every resident of a city).
        condition = Q(**{f"{relation}__in": Organisation.objects.filter(in_tree).values("pk")})
    else:
        condition = Q(pk__in=[])
        for path in paths:
            condition |= Q(**{f"{path_field}__startswith": path})
    if definition.owner and owner_q is not None and getattr(user, "is_authenticated", False):
        condition |= owner_q
    return queryset.filter(condition)


def reset_registry_cache() -> None:
    _actions.cache_clear()
    _owner_rules.cache_clear()

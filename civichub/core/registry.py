"""The module registry. Each module app declares a `manifest` on its AppConfig; core assembles
URLs, API routers, navigation, permissions, dashboard tiles, demo data and periodic tasks from
them, so core never imports a module by name."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.apps import AppConfig, apps
from django.utils.functional import Promise
from django.utils.module_loading import import_string

from civichub.core.config import ModuleConfig
from civichub.core.measures import Measure, MeasureSource

if TYPE_CHECKING:
    from civichub.core.models import User


@dataclass(frozen=True)
class RoleDef:
    key: str
    label: str | Promise  # zh-Hans source text, translated with gettext
    description: str = ""


@dataclass(frozen=True)
class ActionDef:
    """A permission: which roles may do it within their organisation subtree. `owner` lets a
    user act on their own object (as decided by the module's owner rule); `public` lets anyone."""

    key: str
    roles: frozenset[str]
    owner: bool = False
    public: bool = False
    description: str = ""


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    action: str | None = None  # shown only to users allowed this action somewhere
    order: int = 100
    staff_only: bool = False


@dataclass(frozen=True)
class Tile:
    """A dashboard tile. `value` gives a figure for the user (already scope-filtered): a
    callable, or the dotted path "pkg.selectors:function" of one, resolved when the dashboard
    is drawn (a manifest is read while the apps load, before a selector can be imported)."""

    label: str | Promise
    url_name: str
    action: str
    value: Callable[[User], str | int] | str | None = None
    order: int = 100

    def figure(self, user: User) -> str | int | None:
        if self.value is None:
            return None
        value = (
            import_string(self.value.replace(":", "."))
            if isinstance(self.value, str)
            else self.value
        )
        return value(user)


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    task: str  # dotted path to a django-tasks Task
    every_seconds: int


@dataclass
class ModuleManifest:
    url_prefix: str = ""
    urls: str | None = None  # dotted module path with urlpatterns and app_name
    # dotted module path of URL patterns a standard fixes at the site's root (Mastodon's /api/v1/
    # and /oauth/); they come before civichub's own /api/
    root_urls: str | None = None
    # dotted path "pkg.views:home" of the page shown at `/` to visitors and to users who hold
    # no staff role (residents); staff keep core's workbench. The first module declaring one wins.
    public_home: str | None = None
    # capabilities the module offers other modules without being imported by them: a name
    # ("public_notices", "working_day_deadline") -> dotted path "pkg.selectors:function".
    # A module that uses one reads it with `registry.provided(name)` and copes with its absence.
    provides: dict[str, str] = field(default_factory=dict)
    api_router: str | None = None  # dotted path "pkg.api:router"
    api_prefix: str = ""
    roles: list[RoleDef] = field(default_factory=list)
    actions: list[ActionDef] = field(default_factory=list)
    owner_rules: dict[str, Callable[[Any, Any], bool]] = field(default_factory=dict)
    nav: list[NavItem] = field(default_factory=list)
    tiles: list[Tile] = field(default_factory=list)
    # dotted path "pkg.demo:seed", called with city=, size= (and seed= when it accepts one)
    demo_data: str | None = None
    # dotted path "pkg.demo:demo_logins", called with seed=; returns core.demo.DemoLogin rows
    demo_logins: str | None = None
    periodic_tasks: list[PeriodicTask] = field(default_factory=list)
    # URL prefix -> "pkg.module:function(request, status, message) -> HttpResponse": errors that
    # Django raises before a view runs (bad Host, unknown URL, crash) in a standard's own format.
    error_renderers: dict[str, str] = field(default_factory=dict)
    # dotted path "pkg.notifications:KINDS" of a sequence of notify's NotificationKind; notify
    # registers them (core does not know notify's types)
    notification_kinds: str | None = None
    # dotted path "pkg.audit_actions:LABELS" of a dict from the module's audit actions to their
    # names in people's words, for the audit log
    audit_actions: str | None = None
    # the module's part of the deployment profile: a `core.config.ModuleConfig` dataclass
    config: type[ModuleConfig] | None = None
    # the figures the module produces for the statistics module's daily rollups
    # (`core.measures`): each source names the read that turns new rows into contributions
    measures: list[MeasureSource] = field(default_factory=list)
    # dotted path "pkg.metrics:readings" of a function returning `core.metrics.Reading`s, read
    # when /metrics is scraped (the module's backlogs and lags)
    metrics: str | None = None
    # dotted paths "pkg.module:function" called once the app registry is ready (signal
    # receivers of caches, for one): a module's code loaded at start without an import inside a
    # function, which would hide a dependency cycle
    on_ready: list[str] = field(default_factory=list)
    # exact path -> dotted "pkg.module:function(scope) -> ASGI app | None": event streams served
    # beside Django's request cycle when the function takes the request (core.events.asgi)
    asgi_streams: dict[str, str] = field(default_factory=dict)


class CivicModuleConfig(AppConfig):
    """Base for every civichub app config; subclasses set `manifest`."""

    manifest: ModuleManifest = ModuleManifest()

    def ready(self) -> None:
        for path in self.manifest.on_ready:
            import_string(path.replace(":", "."))()


def modules() -> Iterator[tuple[AppConfig, ModuleManifest]]:
    for config in apps.get_app_configs():
        manifest = getattr(config, "manifest", None)
        if isinstance(manifest, ModuleManifest):
            yield config, manifest


def all_roles() -> dict[str, RoleDef]:
    return {role.key: role for _, m in modules() for role in m.roles}


def all_actions() -> dict[str, ActionDef]:
    actions: dict[str, ActionDef] = {}
    for _, manifest in modules():
        for action in manifest.actions:
            if action.key in actions:
                raise RuntimeError(f"permission action {action.key} declared twice")
            actions[action.key] = action
    return actions


def owner_rules() -> dict[str, Callable[[Any, Any], bool]]:
    rules: dict[str, Callable[[Any, Any], bool]] = {}
    for _, manifest in modules():
        rules.update(manifest.owner_rules)
    return rules


def public_home() -> Callable[..., Any] | None:
    """The view a module offers as the public home page, if one does."""
    for _, manifest in modules():
        if manifest.public_home:
            view: Callable[..., Any] = import_string(manifest.public_home.replace(":", "."))
            return view
    return None


def provided(name: str) -> Callable[..., Any] | None:
    """The function some installed module provides under `name` (`ModuleManifest.provides`)."""
    for _, manifest in modules():
        if name in manifest.provides:
            function: Callable[..., Any] = import_string(manifest.provides[name].replace(":", "."))
            return function
    return None


def navigation() -> list[NavItem]:
    return sorted((i for _, m in modules() for i in m.nav), key=lambda i: i.order)


def tiles() -> list[Tile]:
    return sorted((t for _, m in modules() for t in m.tiles), key=lambda t: t.order)


def periodic_tasks() -> list[PeriodicTask]:
    return [t for _, m in modules() for t in m.periodic_tasks]


def error_renderer_for(path: str) -> str | None:
    for _, manifest in modules():
        for prefix, renderer in manifest.error_renderers.items():
            if path.startswith(prefix):
                return renderer
    return None


def notification_kind_paths() -> list[str]:
    """Dotted paths of every module's notification kinds, for notify to register."""
    return [m.notification_kinds for _, m in modules() if m.notification_kinds]


@functools.cache
def audit_action_labels() -> dict[str, Any]:
    """Every module's audit actions and their names in people's words (lazy translations)."""
    labels: dict[str, Any] = {}
    for _, manifest in modules():
        if manifest.audit_actions:
            labels.update(import_string(manifest.audit_actions.replace(":", ".")))
    return labels


def module_config_types() -> list[type[ModuleConfig]]:
    """Every module's configuration dataclass (documentation, `civichub check`)."""
    return [m.config for _, m in modules() if m.config is not None]


def measure_sources() -> list[MeasureSource]:
    """Every module's measure sources, for the statistics module's rollups."""
    return [source for _, m in modules() for source in m.measures]


def measures() -> dict[str, Measure]:
    """Every declared measure by key, in the order the modules give them."""
    found = [measure for source in measure_sources() for measure in source.measures]
    return {m.key: m for m in sorted(found, key=lambda m: m.order)}

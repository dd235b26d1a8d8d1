"""OAuth scopes as Mastodon defines them: the top-level `read`, `write`, `follow` and `push`,
the granular `read:…`/`write:…` scopes, and `profile` (verify_credentials only).

A token holds the scopes it was granted; an endpoint names the one granular scope it needs, and
the token passes when it holds that scope or a top-level scope that includes it (`write` covers
`write:statuses`; the legacy `follow` covers the follow, block and mute scopes)."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import pgettext_lazy

READ_SCOPES = (
    "read:accounts",
    "read:blocks",
    "read:bookmarks",
    "read:favourites",
    "read:filters",
    "read:follows",
    "read:lists",
    "read:mutes",
    "read:notifications",
    "read:search",
    "read:statuses",
)
WRITE_SCOPES = (
    "write:accounts",
    "write:blocks",
    "write:bookmarks",
    "write:conversations",
    "write:favourites",
    "write:filters",
    "write:follows",
    "write:lists",
    "write:media",
    "write:mutes",
    "write:notifications",
    "write:reports",
    "write:statuses",
)
FOLLOW_SCOPES = (
    "read:blocks",
    "write:blocks",
    "read:follows",
    "write:follows",
    "read:mutes",
    "write:mutes",
)
# Scopes that stand for a set of granular ones.
EXPANSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(READ_SCOPES),
    "write": frozenset(WRITE_SCOPES),
    "follow": frozenset(FOLLOW_SCOPES),
}
ALL_SCOPES = frozenset({"read", "write", "follow", "push", "profile", *READ_SCOPES, *WRITE_SCOPES})
# Mastodon's default when a client names no scope.
DEFAULT_SCOPES = "read"

# What the consent page tells the resident each scope allows.
DESCRIPTIONS: dict[str, Promise] = {
    "read": pgettext_lazy("OAuth scope", "读取您的账号信息、关注、动态和通知"),
    "write": pgettext_lazy("OAuth scope", "以您的名义发布、转发、点赞和关注"),
    "follow": pgettext_lazy("OAuth scope", "管理您的关注"),
    "push": pgettext_lazy("OAuth scope", "接收推送通知"),
    "profile": pgettext_lazy("OAuth scope", "只读取您的账号基本信息"),
    "read:accounts": pgettext_lazy("OAuth scope", "读取账号信息"),
    "read:blocks": pgettext_lazy("OAuth scope", "读取屏蔽列表"),
    "read:bookmarks": pgettext_lazy("OAuth scope", "读取书签"),
    "read:favourites": pgettext_lazy("OAuth scope", "读取点赞"),
    "read:filters": pgettext_lazy("OAuth scope", "读取过滤规则"),
    "read:follows": pgettext_lazy("OAuth scope", "读取关注"),
    "read:lists": pgettext_lazy("OAuth scope", "读取列表"),
    "read:mutes": pgettext_lazy("OAuth scope", "读取隐藏列表"),
    "read:notifications": pgettext_lazy("OAuth scope", "读取通知"),
    "read:search": pgettext_lazy("OAuth scope", "以您的名义搜索"),
    "read:statuses": pgettext_lazy("OAuth scope", "读取动态和时间线"),
    "write:accounts": pgettext_lazy("OAuth scope", "修改账号信息"),
    "write:blocks": pgettext_lazy("OAuth scope", "屏蔽账号"),
    "write:bookmarks": pgettext_lazy("OAuth scope", "添加书签"),
    "write:conversations": pgettext_lazy("OAuth scope", "管理私信会话"),
    "write:favourites": pgettext_lazy("OAuth scope", "点赞"),
    "write:filters": pgettext_lazy("OAuth scope", "设置过滤规则"),
    "write:follows": pgettext_lazy("OAuth scope", "关注和取消关注"),
    "write:lists": pgettext_lazy("OAuth scope", "管理列表"),
    "write:media": pgettext_lazy("OAuth scope", "上传媒体文件"),
    "write:mutes": pgettext_lazy("OAuth scope", "隐藏账号"),
    "write:notifications": pgettext_lazy("OAuth scope", "清除通知"),
    "write:reports": pgettext_lazy("OAuth scope", "举报"),
    "write:statuses": pgettext_lazy("OAuth scope", "发布、转发和回复"),
}


def parse(text: str) -> list[str]:
    """Scopes as a client sends them: space-separated (Mastodon also accepts `+` in queries and
    commas from some clients), duplicates dropped, order kept."""
    seen: list[str] = []
    for scope in text.replace("+", " ").replace(",", " ").split():
        if scope not in seen:
            seen.append(scope)
    return seen


def unknown(scopes: list[str]) -> list[str]:
    return [s for s in scopes if s not in ALL_SCOPES]


def expand(scopes: list[str] | str) -> frozenset[str]:
    """Every scope a set of scopes grants, the granular ones included."""
    if isinstance(scopes, str):
        scopes = parse(scopes)
    granted = set(scopes)
    for scope in scopes:
        granted |= EXPANSIONS.get(scope, frozenset())
    return frozenset(granted)


def covers(granted: list[str] | str, wanted: list[str]) -> bool:
    """Whether a token or app holding `granted` may be given every scope in `wanted`."""
    have = expand(granted)
    return all(
        scope in have or EXPANSIONS.get(scope, frozenset({scope})) <= have for scope in wanted
    )


def allows(granted: list[str] | str, needed: tuple[str, ...]) -> bool:
    """Whether a token holding `granted` may call an endpoint that accepts any one of `needed`
    (verify_credentials accepts `read:accounts` or `profile`)."""
    have = expand(granted)
    return any(scope in have for scope in needed)

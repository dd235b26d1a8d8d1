"""The documented demo logins: core's (one or more per role), then the installed modules'."""

from __future__ import annotations

from dataclasses import dataclass

from civichub.core.demo.hooks import demo_login_hooks
from civichub.core.demo.organisations import full_tree
from civichub.core.demo.plan import DEFAULT_SEED
from civichub.core.demo.staff import DEMO_ACCOUNTS, demo_placements


@dataclass(frozen=True)
class DemoLogin:
    role: str  # a role key, or "resident" for the resident's own account
    username: str
    password: str
    description_zh: str
    description_en: str
    organisation_code: str
    organisation_name: str
    organisation_name_en: str

    @property
    def description(self) -> str:
        return f"{self.description_zh} / {self.description_en}"


def demo_logins(*, seed: int = DEFAULT_SEED) -> list[DemoLogin]:
    """The documented demo logins, one or more per role. The same at every size."""
    logins = core_demo_logins(seed=seed)
    for module_logins in demo_login_hooks():
        logins.extend(module_logins(seed=seed))
    return logins


def core_demo_logins(*, seed: int = DEFAULT_SEED) -> list[DemoLogin]:
    """Core's own demo logins, before any module's."""
    organisations = full_tree(seed)
    by_code = {o.code: o for o in organisations}
    placements = demo_placements(organisations)
    logins = []
    for role, username, password, zh, en in DEMO_ACCOUNTS:
        where = by_code[placements[username]]
        logins.append(
            DemoLogin(
                role=role,
                username=username,
                password=password,
                description_zh=zh,
                description_en=en,
                organisation_code=where.code,
                organisation_name=where.name,
                organisation_name_en=where.name_en,
            )
        )
    return logins

"""The documented demo logins: core's (one or more per role), then the installed modules'."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
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


def logins_table(logins: Sequence[DemoLogin]) -> str:
    """The demo logins as an aligned text table (CJK characters count two columns)."""
    header = ("role", "username", "password", "description")
    rows = [header] + [
        (str(x.role), str(x.username), str(x.password), str(x.description)) for x in logins
    ]
    widths = [max(_width(row[i]) for row in rows) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        cells = [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row)]
        return "  " + " | ".join(cells).rstrip()

    rule = "  " + "-+-".join("-" * w for w in widths)
    return "\n".join([line(rows[0]), rule, *(line(row) for row in rows[1:])])


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)

"""Residents' own accounts in the demo city."""

from __future__ import annotations

from civichub.core import services
from civichub.core.demo.logins import core_demo_logins
from civichub.core.demo.names import COMPOUND_SURNAMES
from civichub.core.models import Resident, User


def resident_accounts_create(*, seed: int, first_residents: dict[str, Resident]) -> int:
    """Every community's first resident has an account; the first community's is the demo
    `resident` login, the others cannot sign in until given a password."""
    demo = next(login for login in core_demo_logins(seed=seed) if login.role == "resident")
    taken = set(User.objects.values_list("username", flat=True))
    created = 0
    for code, resident in first_residents.items():
        if code == demo.organisation_code:
            username, password = demo.username, demo.password
        else:
            username, password = resident.name_en.replace(" ", ".").replace("'", "").lower(), None
            username = f"{username}.{resident.phone[-4:]}"
        if username in taken:
            continue
        taken.add(username)
        surname_length = 2 if resident.name[:2] in COMPOUND_SURNAMES else 1
        services.user_create(
            actor=None,
            username=username,
            password=password,
            last_name=resident.name[:surname_length],
            first_name=resident.name[surname_length:],
            phone=resident.phone,
            resident=resident,
        )
        created += 1
    return created

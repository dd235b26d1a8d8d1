"""`civichub rotate_identity_key`: after a new key is put first, every stored identity number is
re-encrypted under it, resumably and audited, and residents stay findable by number."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command

from civichub.core import crypto, selectors, services
from civichub.core.errors import Conflict
from civichub.core.identity import check_digit
from civichub.core.models import AuditEvent, Resident
from civichub.testing.city import SmallCity

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def _number(n: int) -> str:
    first17 = f"11010519800101{n:03d}"
    return first17 + check_digit(first17)


@pytest.fixture
def keys(settings: Any) -> Iterator[Any]:
    settings.IDENTITY_KEYS = [OLD_KEY]
    crypto.reset_key_cache()
    yield settings
    crypto.reset_key_cache()


def _use_keys(settings: Any, *keys: str) -> None:
    settings.IDENTITY_KEYS = list(keys)
    crypto.reset_key_cache()


@pytest.fixture
def residents(city: SmallCity, keys: Any) -> list[Resident]:
    made = [
        services.resident_create(
            actor=None, name=f"居民{n}", community=city.community_a1, identity_number=_number(n)
        )
        for n in range(5)
    ]
    services.resident_create(actor=None, name="没有身份证号", community=city.community_a1)
    return made


def _under_new_key_only(resident: Resident) -> str | None:
    resident.refresh_from_db()
    assert resident.identity_encrypted is not None
    try:
        return Fernet(NEW_KEY.encode()).decrypt(bytes(resident.identity_encrypted)).decode()
    except InvalidToken:
        return None


def test_rotation_reencrypts_every_number_under_the_newest_key(
    residents: list[Resident], keys: Any
) -> None:
    _use_keys(keys, NEW_KEY, OLD_KEY)
    assert all(_under_new_key_only(r) is None for r in residents)  # still under the old key
    out = io.StringIO()
    call_command("rotate_identity_key", batch_size=2, stdout=out)
    assert "5 identity numbers checked, 5 re-encrypted" in out.getvalue()
    assert [_under_new_key_only(r) for r in residents] == [_number(n) for n in range(5)]
    # The lookup hash moved to the newest key with the number: found by it alone.
    digest = crypto.identity_lookup_hash(_number(3))
    assert Resident.objects.get(identity_hash=digest).pk == residents[3].pk
    assert digest == crypto.identity_lookup_hashes(_number(3))[0]
    rows = AuditEvent.objects.filter(action="resident.identity_key_rotated")
    assert rows.count() == 3  # batches of 2, 2 and 1
    audited = sorted(pk for row in rows for pk in row.changes["residents"])
    assert audited == sorted(r.pk for r in residents)


def test_an_interrupted_rotation_resumes_without_redoing_finished_batches(
    residents: list[Resident], keys: Any
) -> None:
    _use_keys(keys, NEW_KEY, OLD_KEY)
    last, scanned, rotated = services.resident_identity_key_rotate(after_id=0, batch_size=2)
    assert (last, scanned, rotated) == (residents[1].pk, 2, 2)
    # The process stops here; run again from the start, the finished batch is skipped.
    out = io.StringIO()
    call_command("rotate_identity_key", stdout=out)
    assert "5 identity numbers checked, 3 re-encrypted" in out.getvalue()
    assert all(_under_new_key_only(r) is not None for r in residents)
    # Once more: nothing left to do, and no further audit row.
    before = AuditEvent.objects.filter(action="resident.identity_key_rotated").count()
    out = io.StringIO()
    call_command("rotate_identity_key", stdout=out)
    assert "5 identity numbers checked, 0 re-encrypted" in out.getvalue()
    after = AuditEvent.objects.filter(action="resident.identity_key_rotated").count()
    assert after == before


def test_after_rotation_the_numbers_read_with_the_new_key_alone(
    residents: list[Resident], keys: Any, city: SmallCity, make_user: Any
) -> None:
    operator = make_user("registrar", city.district_a)
    _use_keys(keys, NEW_KEY, OLD_KEY)
    call_command("rotate_identity_key", stdout=io.StringIO())
    _use_keys(keys, NEW_KEY)
    for n, resident in enumerate(residents):
        resident.refresh_from_db()
        assert resident.identity_encrypted is not None
        assert crypto.decrypt_identity(resident.identity_encrypted) == _number(n)
    # Nothing stored depends on the old key any more: found by number, duplicates refused.
    found = selectors.resident_find_by_identity(
        actor=operator, identity_number=_number(2), purpose="核对"
    )
    assert found is not None and found.pk == residents[2].pk
    with pytest.raises(Conflict):
        services.resident_create(
            actor=None, name="重复", community=residents[0].community, identity_number=_number(2)
        )


def test_during_a_rotation_residents_are_found_and_duplicates_refused_under_either_key(
    residents: list[Resident], keys: Any, city: SmallCity, make_user: Any
) -> None:
    operator = make_user("registrar", city.district_a)
    _use_keys(keys, NEW_KEY, OLD_KEY)
    services.resident_identity_key_rotate(after_id=0, batch_size=2)  # residents 0 and 1 moved
    newcomer = services.resident_create(
        actor=None, name="新居民", community=residents[0].community, identity_number=_number(9)
    )
    for n, resident in [(0, residents[0]), (4, residents[4]), (9, newcomer)]:
        found = selectors.resident_find_by_identity(
            actor=operator, identity_number=_number(n), purpose="核对"
        )
        assert found is not None and found.pk == resident.pk
    for n in (1, 4):  # one moved, one still under the old key
        with pytest.raises(Conflict):
            services.resident_create(
                actor=None,
                name="重复",
                community=residents[0].community,
                identity_number=_number(n),
            )

"""`civichub backup` and `civichub restore`: a round trip into a scratch database gives back
every table with the same rows (counted) and the same people, tree and audit log (checksummed),
on whichever database the suite runs (SQLite, then PostgreSQL in CI)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from civichub.core import backup, services
from civichub.core.identity import check_digit
from civichub.core.models import AuditEvent
from civichub.testing.city import SmallCity

pytestmark = pytest.mark.django_db(transaction=True)  # pg_dump sees only committed rows
LOSE_A_RESIDENT = "DELETE FROM core_resident WHERE id = (SELECT max(id) FROM core_resident)"


@pytest.fixture
def city(city: SmallCity) -> SmallCity:
    """The small city with residents in it (each with an identity number)."""
    for n in range(3):
        first17 = f"11010519800101{n:03d}"
        services.resident_create(
            actor=None,
            name=f"居民{n}",
            community=city.community_a1,
            phone=f"1380000000{n}",
            identity_number=first17 + check_digit(first17),
        )
    return city


def _scratch_target(tmp_path: Path) -> str:
    if connection.vendor == "sqlite":
        return str(tmp_path / "scratch.sqlite3")
    return f"{connection.settings_dict['NAME']}_restore"


def _drop_scratch(target: str) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(target)}")


def test_backup_restores_into_a_scratch_database_with_the_same_rows(
    city: SmallCity, tmp_path: Path, settings: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "media" / "casework").mkdir(parents=True)
    (tmp_path / "media" / "casework" / "photo.jpg").write_bytes(b"\xff\xd8 not really a photo")
    dump = tmp_path / "civichub.backup"
    media = tmp_path / "media.tar.gz"
    target = _scratch_target(tmp_path)
    _drop_scratch(target)

    out = io.StringIO()
    call_command("backup", output=str(dump), media=str(media), stdout=out)
    assert f"database: {dump}" in out.getvalue()
    backed_up = backup.summary_of_current()
    assert backed_up.rows["core_resident"] > 0 and backed_up.rows["core_auditevent"] > 0
    assert set(backed_up.checksums) == set(backup.CHECKSUM_TABLES)

    try:
        out = io.StringIO()
        call_command("restore", str(dump), into=target, stdout=out)
        restored = backup.summary_of_target(target)
    finally:
        _drop_scratch(target)

    assert restored.rows == backed_up.rows
    assert restored.checksums == backed_up.checksums
    assert f"core_resident: {backed_up.rows['core_resident']}" in out.getvalue()
    assert AuditEvent.objects.filter(action="backup.created").count() == 1
    assert AuditEvent.objects.filter(action="backup.restored").count() == 1
    with tarfile.open(media) as archive:
        assert archive.getnames() == ["casework/photo.jpg"]


def test_the_comparison_sees_a_lost_row(city: SmallCity, tmp_path: Path) -> None:
    dump = tmp_path / "civichub.backup"
    target = _scratch_target(tmp_path)
    _drop_scratch(target)
    call_command("backup", output=str(dump), stdout=io.StringIO())
    backed_up = backup.summary_of_current()
    try:
        call_command("restore", str(dump), into=target, stdout=io.StringIO())
        if connection.vendor == "sqlite":
            import sqlite3

            with sqlite3.connect(target) as scratch:
                scratch.execute(LOSE_A_RESIDENT)
        else:
            with backup.pg_connection(target) as scratch:
                scratch.execute(LOSE_A_RESIDENT)
        restored = backup.summary_of_target(target)
    finally:
        _drop_scratch(target)
    assert restored.rows["core_resident"] == backed_up.rows["core_resident"] - 1
    assert restored.checksums["core_resident"] != backed_up.checksums["core_resident"]


def test_restore_refuses_to_overwrite_a_database_without_replace(
    city: SmallCity, tmp_path: Path
) -> None:
    dump = tmp_path / "civichub.backup"
    call_command("backup", output=str(dump), stdout=io.StringIO())
    with pytest.raises(CommandError, match="--replace"):
        call_command("restore", str(dump), stdout=io.StringIO())


def test_media_restore_refuses_members_outside_the_media_directory(
    tmp_path: Path, settings: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as archive:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 3
        archive.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(tarfile.OutsideDestinationError):
        backup.media_restore(evil)
    assert not (tmp_path / "outside.txt").exists()

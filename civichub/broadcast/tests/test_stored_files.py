"""Stored files that no row names: an image written inside a transaction that an outer caller
rolls back stays on disk (Django calls nothing on a rollback); the stored-file sweep removes it,
and nothing a row names, nothing younger than the grace period and nothing outside the file
fields' folders."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from civichub.broadcast import services
from civichub.broadcast.models import PostImage
from civichub.broadcast.tests.test_images import image_in, png
from civichub.core.files import file_folders, stored_files_sweep
from civichub.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def _age(path: Path, days: float) -> None:
    moment = (timezone.now() - dt.timedelta(days=days)).timestamp()
    os.utime(path, (moment, moment))


def _rolled_back_upload(bc: Any) -> str:
    """An image stored inside a caller's transaction that is then rolled back: its row is
    gone, its file is not."""
    names: list[str] = []
    with transaction.atomic():
        stored = services.media_upload(
            actor=bc.police_publisher, account=bc.police, image=image_in(png())
        )
        names.append(stored.image.name)
        transaction.set_rollback(True)
    assert not PostImage.objects.filter(image=names[0]).exists()
    return names[0]


def test_the_folders_are_those_of_the_file_fields() -> None:
    folders = file_folders()
    assert {"broadcast/images/", "broadcast/avatars/", "casework/photos/"} <= set(folders)
    assert all(folder.endswith("/") and "%" not in folder for folder in folders)
    assert ("PostImage", "image") in {(m.__name__, a) for m, a in folders["broadcast/images/"]}


def test_an_outer_rollback_leaves_a_file_that_the_sweep_removes_a_day_later(
    bc: Any, settings: Any
) -> None:
    media = Path(settings.MEDIA_ROOT)
    orphan = _rolled_back_upload(bc)
    assert (media / orphan).exists()
    kept = services.media_upload(
        actor=bc.police_publisher, account=bc.police, image=image_in(png())
    )
    (media / "exports").mkdir()
    foreign = media / "exports" / "report.csv"
    foreign.write_text("not a file field's")
    for path in (media / orphan, media / kept.image.name, foreign):
        _age(path, 2)

    young = _rolled_back_upload(bc)
    report = stored_files_sweep()
    assert report.removed == 1 and report.names == [orphan]
    assert report.examined >= 3
    assert not (media / orphan).exists()
    assert (media / kept.image.name).exists()
    assert (media / young).exists(), "younger than the grace period: its row may be on its way"
    assert foreign.exists(), "outside every file field's folder"
    audit = AuditEvent.objects.filter(action="core.files.sweep").get()
    assert audit.changes["removed"] == 1 and audit.changes["dry_run"] is False

    again = stored_files_sweep()
    assert again.removed == 0


def test_a_dry_run_lists_and_keeps_and_the_command_refuses_a_short_grace(
    bc: Any, settings: Any, capsys: Any
) -> None:
    media = Path(settings.MEDIA_ROOT)
    orphan = _rolled_back_upload(bc)
    _age(media / orphan, 2)
    call_command("sweep_files", "--dry-run")
    out = capsys.readouterr().out
    assert orphan in out and "1 would be removed" in out
    assert (media / orphan).exists()
    with pytest.raises(Exception, match="at least 1"):
        call_command("sweep_files", "--grace-hours", "0.5")
    call_command("sweep_files")
    assert "1 removed" in capsys.readouterr().out
    assert not (media / orphan).exists()

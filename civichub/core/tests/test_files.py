"""A file stored ahead of its row stays only if the row's transaction commits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from civichub.core import services
from civichub.core.files import files_kept_on_commit
from civichub.core.models import Organisation


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


def _store(name: str) -> str:
    return default_storage.save(name, ContentFile(b"contents"))


def _city(code: str) -> Organisation:
    return services.organisation_create(actor=None, kind="city", name="东湖市", code=code)


@pytest.mark.django_db(transaction=True)
def test_a_committed_transaction_keeps_the_files(media: Path) -> None:
    before = _store("before.txt")
    with files_kept_on_commit(before) as written:
        _city("T9")
        written.append(_store("during.txt"))
    assert Organisation.objects.filter(code="T9").exists()
    assert (media / before).exists() and (media / written[1]).exists()


@pytest.mark.django_db
def test_an_exception_removes_the_files_stored_before_and_during_the_block(media: Path) -> None:
    before = _store("before.txt")
    during: list[str] = []

    def failing() -> None:
        with files_kept_on_commit(before) as written:
            _city("T9")
            written.append(_store("during.txt"))
            during.extend(written[1:])
            raise RuntimeError("the row could not be kept")

    with pytest.raises(RuntimeError):
        failing()
    assert not Organisation.objects.filter(code="T9").exists()
    assert not (media / before).exists() and not (media / during[0]).exists()


@pytest.mark.django_db
def test_a_rollback_asked_for_in_the_block_removes_the_files(media: Path) -> None:
    before = _store("before.txt")
    with files_kept_on_commit(before):
        _city("T9")
        transaction.set_rollback(True)
    assert not Organisation.objects.filter(code="T9").exists()
    assert not (media / before).exists()


@pytest.mark.django_db
def test_a_block_that_ends_early_keeps_the_files_like_any_commit(media: Path) -> None:
    def stored() -> str:
        name = _store("early.txt")
        with files_kept_on_commit(name):
            _city("T9")
            return name

    name = stored()
    assert Organisation.objects.filter(code="T9").exists()
    assert (media / name).exists()

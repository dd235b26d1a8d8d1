"""Large photos: taken after their header checks alone (nothing decoded in the request), stored
`processing` and re-encoded by a task in a child process; served to no one until ready; a
failed decode marks the photo failed, removes the file and tells the sender, and the case
stays. The profile's `image_background_pixels` is lowered so that small test photos count as
large. Tasks go to the database backend and are run here by hand."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django_tasks_db.models import DBTaskResult
from PIL import Image

from civichub.casework.models import Case, CasePhoto, PhotoState
from civichub.casework.photos import GPS_IFD, PhotoUpload
from civichub.casework.services import photo_processing
from civichub.casework.tests.conftest import Casework, jpeg_with_gps, png_bytes
from civichub.core import images
from civichub.core.models import AuditEvent

pytestmark = pytest.mark.django_db

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


@pytest.fixture(autouse=True)
def _large_from_1000_pixels(settings: Any) -> Iterator[None]:
    settings.CIVICHUB_PROFILE = {"image_background_pixels": 1000}
    settings.TASKS = DB_TASKS
    with translation.override("en"):
        yield


@pytest.fixture
def forbid_decode(monkeypatch: pytest.MonkeyPatch) -> Callable[[], Callable[[], None]]:
    """`allow = forbid_decode()`: from then on any decode, in this process or in a child
    process, fails the test, until `allow()`."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an image was decoded in the request")

    def forbid() -> Callable[[], None]:
        monkeypatch.setattr(Image.Image, "load", refuse)
        monkeypatch.setattr(images, "reencode", refuse)
        monkeypatch.setattr(images, "reencode_isolated", refuse)
        monkeypatch.setattr(photo_processing, "reencode_isolated", refuse)
        return monkeypatch.undo

    return forbid


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def run_photo_tasks() -> list[str]:
    done = []
    for result in DBTaskResult.objects.filter(task_path__endswith="process_case_photo"):
        done.append(result.task.call(*result.args_kwargs["args"]))
    return done


def header_only_png(width: int, height: int) -> bytes:
    """A PNG of a few dozen bytes whose header claims `width`×`height` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0\0\0\0"))
        + chunk(b"IEND", b"")
    )


def test_a_large_photo_is_stored_processing_without_a_decode_and_the_task_re_encodes_it(
    cw: Casework,
    submit: Callable[..., Case],
    forbid_decode: Callable[[], Callable[[], None]],
) -> None:
    upload = PhotoUpload(name="well.jpg", data=jpeg_with_gps())
    allow_decode = forbid_decode()
    case = submit(latitude=None, longitude=None, keep_photo_location=True, photos=[upload])

    photo = case.photos.get()
    assert (photo.state, photo.width, photo.height) == (PhotoState.PROCESSING, 64, 48)
    # The place comes from the header's EXIF block, read in the request without a decode.
    case.refresh_from_db()
    assert case.wgs84_latitude == pytest.approx(30.25)
    assert case.wgs84_longitude == pytest.approx(120 + 10 / 60)
    photo_url = reverse("casework:photo", args=[case.tracking_number, photo.pk])
    sender = client_for(cw.resident)
    assert sender.get(photo_url).status_code == 404
    assert client_for(cw.handler).get(photo_url).status_code == 404
    page = sender.get(reverse("casework:case", args=[case.tracking_number])).content.decode()
    assert "照片 well.jpg 正在处理" in page and photo_url not in page

    allow_decode()  # the task may decode, in its child process
    assert run_photo_tasks() == ["ready"]

    photo.refresh_from_db()
    assert photo.state == PhotoState.READY and photo.location_kept
    assert photo.image.name.endswith(".jpg")
    with photo.image.open("rb") as handle, Image.open(io.BytesIO(handle.read())) as stored:
        exif = stored.getexif()
        assert 0x010F not in exif  # the camera is gone, the kept place stays
        assert exif.get_ifd(GPS_IFD)[1] == "N"
    assert sender.get(photo_url)["Content-Type"] == "image/jpeg"
    assert AuditEvent.objects.filter(action="casework.case.photo_ready").count() == 1
    assert run_photo_tasks() == ["ready"]  # a second run changes nothing


def test_a_large_png_added_through_the_api_returns_at_once_and_appears_after_the_task(
    cw: Casework,
    submit: Callable[..., Case],
    api_as: Callable[..., Any],
    after_commit: Callable[[], Any],
    forbid_decode: Callable[[], Callable[[], None]],
) -> None:
    case = submit()
    client = api_as(cw.resident)
    upload = SimpleUploadedFile("wall.png", png_bytes((64, 64)), "image/png")
    allow_decode = forbid_decode()

    with after_commit():
        added = client.client.post(
            f"/api/casework/cases/{case.tracking_number}/photos",
            {"photos": [upload]},
            headers=_csrf(client),
        )

    assert added.status_code == 201, added.content
    assert [(p["state"], p["width"]) for p in added.json()] == [("processing", 64)]
    allow_decode()
    assert run_photo_tasks() == ["ready"]
    shown = client.client.get(f"/api/casework/cases/{case.tracking_number}").json()
    assert [(p["state"], p["content_type"]) for p in shown["photos"]] == [("ready", "image/png")]


def test_a_photo_claiming_pixels_beyond_the_hard_limit_is_refused_at_once(
    cw: Casework,
    submit: Callable[..., Case],
    api_as: Callable[..., Any],
    forbid_decode: Callable[[], Callable[[], None]],
) -> None:
    case = submit()
    client = api_as(cw.resident)
    bomb = header_only_png(100_000, 100_000)
    assert len(bomb) < 100
    forbid_decode()

    refused = client.client.post(
        f"/api/casework/cases/{case.tracking_number}/photos",
        {"photos": [SimpleUploadedFile("bomb.png", bomb, "image/png")]},
        headers=_csrf(client),
    )

    assert refused.status_code == 422, refused.content
    assert refused["Content-Type"] == "application/problem+json"
    assert "40,000,000" in refused.json()["errors"]["photos.0"][0]  # the most it takes
    assert not CasePhoto.objects.exists()
    assert not DBTaskResult.objects.filter(task_path__endswith="process_case_photo").exists()


def test_a_decode_failure_in_the_task_marks_the_photo_failed_and_tells_the_sender(
    cw: Casework,
    submit: Callable[..., Case],
    forbid_decode: Callable[[], Callable[[], None]],
    after_commit: Callable[[], Any],
) -> None:
    whole = png_bytes((64, 64))
    broken = whole[: len(whole) // 2]  # the header is whole, the pixels are not
    allow_decode = forbid_decode()
    case = submit(photos=[PhotoUpload(name="broken.png", data=broken)])
    photo = case.photos.get()
    original = photo.image.name
    assert default_storage.exists(original)

    allow_decode()
    with after_commit():
        assert run_photo_tasks() == ["failed"]  # decoded for real in the child process

    photo.refresh_from_db()
    assert photo.state == PhotoState.FAILED and photo.error
    assert not default_storage.exists(original)
    assert Case.objects.filter(pk=case.pk).exists()
    assert AuditEvent.objects.get(action="casework.case.photo_fail").changes["photo"] == photo.pk
    sender = client_for(cw.resident)
    page = sender.get(reverse("casework:case", args=[case.tracking_number])).content.decode()
    assert "照片 broken.png 无法读取" in page
    photo_url = reverse("casework:photo", args=[case.tracking_number, photo.pk])
    assert sender.get(photo_url).status_code == 404


def test_an_ordinary_photo_stays_in_the_request(
    settings: Any, cw: Casework, submit: Callable[..., Case]
) -> None:
    settings.CIVICHUB_PROFILE = {}
    case = submit(photos=[PhotoUpload(name="well.jpg", data=jpeg_with_gps())])
    assert case.photos.get().state == PhotoState.READY
    assert not DBTaskResult.objects.filter(task_path__endswith="process_case_photo").exists()


def _csrf(client: Any) -> dict[str, str]:
    from django.middleware.csrf import get_token
    from django.test import RequestFactory

    token = get_token(RequestFactory().get("/"))
    client.client.cookies["csrftoken"] = token
    return {"X-CSRFToken": token}

"""Large images uploaded ahead of a post: the header is checked in the request (a decompression
bomb is refused at once, nothing decoded), a large allowed image is stored `processing` and
re-encoded by a task in a child process, served to no one and attachable by no one until it is
ready, and a failed decode is kept with its reason for the uploader. Thresholds are lowered in
the profile so that small images count as large."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from PIL import Image

from civichub.broadcast import services
from civichub.broadcast.mastodon import services as mastodon_services
from civichub.broadcast.models import ImageState, PostImage
from civichub.broadcast.tests.conftest import Broadcast
from civichub.core.errors import ValidationFailed
from civichub.core.models import AuditEvent
from civichub.notify.models import Notification
from civichub.testing.images import plain_png

pytestmark = pytest.mark.django_db

UPLOAD = "/api/broadcast/accounts/safe-qingshan/media"


def jpeg_with_metadata(size: tuple[int, int] = (80, 60)) -> bytes:
    """A real JPEG with an EXIF block (camera and place) and a comment carrying markup."""
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x8825] = {1: "N", 2: (30.0, 15.0, 0.0), 3: "E", 4: (120.0, 10.0, 0.0)}
    out = io.BytesIO()
    Image.new("RGB", size, "red").save(
        out, format="JPEG", exif=exif.tobytes(), comment=b"<script>x</script>"
    )
    return out.getvalue()


@pytest.fixture
def large_from_100_pixels(settings: Any) -> None:
    settings.CIVICHUB_PROFILE = {"image_free_pixels": 100}


@pytest.fixture
def uploader(bc: Broadcast) -> Client:
    client = Client()
    client.force_login(bc.police_publisher)
    return client


def _upload(client: Client, data: bytes, name: str = "map.jpg") -> Any:
    file = io.BytesIO(data)
    file.name = name
    return client.post(UPLOAD, {"file": file, "alt_text": "封闭路段示意图"})


def _media_files(settings: Any) -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "broadcast" / "images"
    return sorted(root.iterdir()) if root.exists() else []


def test_a_decompression_bomb_is_refused_from_its_header_without_decoding(
    bc: Broadcast, uploader: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_decode(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the bomb was decoded")

    # Any decode, in the request or in a child process, would fail the test.
    monkeypatch.setattr(Image.Image, "load", no_decode)
    monkeypatch.setattr(services.media, "reencode_isolated", no_decode)
    monkeypatch.setattr(services.media, "check_image", no_decode)

    refused = _upload(uploader, plain_png(6300, 6300), "bomb.png")

    assert refused.status_code == 422
    assert refused["Content-Type"] == "application/problem+json"
    assert "6300×6300" in refused.json()["errors"]["file"][0]
    assert not PostImage.objects.exists()
    assert _media_files(settings) == []


def test_a_large_image_is_processing_until_the_task_re_encodes_it_without_metadata(
    bc: Broadcast,
    uploader: Client,
    settings: Any,
    large_from_100_pixels: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as waiting:
        accepted = _upload(uploader, jpeg_with_metadata())
    assert accepted.status_code == 202
    body = accepted.json()
    assert (body["state"], body["url"], body["width"], body["height"]) == (
        "processing",
        None,
        80,
        60,
    )
    image = PostImage.objects.get(pk=body["id"])
    # The original is stored as received, and nobody is served it, not even its publisher.
    with image.image.open("rb") as stored:
        assert b"<script>" in stored.read()
    assert uploader.get(f"/broadcast/images/{image.pk}").status_code == 404
    assert Client().get(f"/broadcast/images/{image.pk}").status_code == 404
    with pytest.raises(ValidationFailed, match="处理中"):
        services.post_publish(
            actor=bc.police_publisher,
            account=bc.police,
            text="青山大道封闭施工",
            category="road_closure",
            media_ids=[image.pk],
        )

    with django_capture_on_commit_callbacks(execute=True):
        for callback in waiting:  # the task, enqueued once the upload committed
            callback()

    image.refresh_from_db()
    assert image.state == ImageState.READY
    assert (image.width, image.height, image.content_type) == (80, 60, "image/jpeg")
    with image.image.open("rb") as stored:
        data = stored.read()
    assert b"<script>" not in data and b"TestCam" not in data
    with Image.open(io.BytesIO(data)) as reread:
        assert "comment" not in reread.info and "exif" not in reread.info
        assert not reread.getexif()
    assert len(_media_files(settings)) == 1  # the original is gone
    ready = uploader.get(f"/api/broadcast/media/{image.pk}").json()
    assert ready["state"] == "ready" and ready["url"].endswith(f"/broadcast/images/{image.pk}")
    post = services.post_publish(
        actor=bc.police_publisher,
        account=bc.police,
        text="青山大道封闭施工",
        category="road_closure",
        media_ids=[image.pk],
    )
    assert [i.pk for i in post.images.all()] == [image.pk]
    served = Client().get(f"/broadcast/images/{image.pk}")
    assert served.status_code == 200 and served.getvalue() == data
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"broadcast.media.upload", "broadcast.media.ready"} <= actions


def test_a_small_image_is_still_re_encoded_in_the_request(
    bc: Broadcast, uploader: Client, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=False):  # no task runs
        accepted = _upload(uploader, jpeg_with_metadata())

    assert accepted.status_code == 201 and accepted.json()["state"] == "ready"
    with PostImage.objects.get().image.open("rb") as stored:
        assert b"<script>" not in stored.read()


def test_a_failed_decode_is_recorded_with_its_reason_and_never_served(
    bc: Broadcast,
    uploader: Client,
    settings: Any,
    large_from_100_pixels: None,
    after_commit: Callable[[], Any],
) -> None:
    whole = jpeg_with_metadata((400, 300))
    truncated = whole[: len(whole) // 3]  # the header is whole, the picture is not

    with after_commit():  # the task runs once the upload has committed
        accepted = _upload(uploader, truncated)

    assert accepted.status_code == 202
    image = PostImage.objects.get(pk=accepted.json()["id"])
    assert image.state == ImageState.FAILED and image.error
    shown = uploader.get(f"/api/broadcast/media/{image.pk}").json()
    assert (shown["state"], shown["url"], shown["error"]) == ("failed", None, image.error)
    assert uploader.get(f"/broadcast/images/{image.pk}").status_code == 404
    assert _media_files(settings) == []  # the original is removed
    assert AuditEvent.objects.filter(action="broadcast.media.fail").count() == 1


def test_a_decode_past_its_time_limit_fails_in_the_task(
    bc: Broadcast, uploader: Client, settings: Any, after_commit: Callable[[], Any]
) -> None:
    # No child process starts, decodes and answers within a microsecond.
    settings.CIVICHUB_PROFILE = {"image_free_pixels": 100, "image_decode_seconds": 0.000001}

    with after_commit():
        accepted = _upload(uploader, jpeg_with_metadata())

    image = PostImage.objects.get(pk=accepted.json()["id"])
    assert (image.state, image.error) == (ImageState.FAILED, "timeout")


def test_mastodon_clients_get_202_and_a_null_url_while_a_large_image_processes(
    bc: Broadcast,
    large_from_100_pixels: None,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    app, _secret = mastodon_services.client_app_register(name="app", scopes_text="read write")
    _token, secret = mastodon_services.token_for_password(
        app=app, user=bc.police_publisher, scope_text="read write"
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    file = io.BytesIO(jpeg_with_metadata())
    file.name = "map.jpg"

    with django_capture_on_commit_callbacks(execute=False) as waiting:
        uploaded = client.post("/api/v2/media", {"file": file, "description": "封闭路段"})
    assert uploaded.status_code == 202
    media = uploaded.json()
    assert (media["type"], media["url"], media["preview_url"]) == ("image", None, None)
    assert client.get(f"/api/v1/media/{media['id']}").status_code == 206
    refused = client.post("/api/v1/statuses", {"status": "封闭", "media_ids[]": [media["id"]]})
    assert refused.status_code == 422

    with django_capture_on_commit_callbacks(execute=True):
        for callback in waiting:
            callback()

    ready = client.get(f"/api/v1/media/{media['id']}")
    assert ready.status_code == 200 and ready.json()["url"].endswith(f"/images/{media['id']}")
    status = client.post("/api/v1/statuses", {"status": "封闭", "media_ids[]": [media["id"]]})
    assert status.status_code == 200
    assert [m["id"] for m in status.json()["media_attachments"]] == [media["id"]]


def test_mastodon_clients_see_why_a_large_image_failed(
    bc: Broadcast, large_from_100_pixels: None, after_commit: Callable[[], Any]
) -> None:
    app, _secret = mastodon_services.client_app_register(name="app", scopes_text="read write")
    _token, secret = mastodon_services.token_for_password(
        app=app, user=bc.police_publisher, scope_text="read write"
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    whole = jpeg_with_metadata((400, 300))
    file = io.BytesIO(whole[: len(whole) // 3])
    file.name = "map.jpg"

    with after_commit():
        uploaded = client.post("/api/v2/media", {"file": file, "description": "封闭路段"})

    failed = client.get(f"/api/v1/media/{uploaded.json()['id']}")
    assert failed.status_code == 422
    assert "Error processing media" in failed.json()["error"]


def test_a_large_image_published_with_its_post_is_re_encoded_by_the_task_after_commit(
    bc: Broadcast,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    settings.CIVICHUB_PROFILE = {"image_background_pixels": 1000}
    upload = services.ImageIn(name="map.jpg", data=jpeg_with_metadata(), alt_text="封闭路段示意图")

    def no_decode(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the image was decoded in the request")

    monkeypatch.setattr(Image.Image, "load", no_decode)
    monkeypatch.setattr(services.media, "reencode_isolated", no_decode)
    with django_capture_on_commit_callbacks(execute=False) as waiting:
        post = services.post_publish(
            actor=bc.police_publisher,
            account=bc.police,
            text="青山大道封闭施工",
            category="road_closure",
            images=[upload],
        )
    monkeypatch.undo()

    image = post.images.get()
    assert (image.state, image.width, image.height) == (ImageState.PROCESSING, 80, 60)
    assert Client().get(f"/broadcast/images/{image.pk}").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        for callback in waiting:
            callback()
    image.refresh_from_db()
    assert image.state == ImageState.READY and image.post_id == post.pk
    with image.image.open("rb") as stored:
        assert b"TestCam" not in stored.read()
    assert Client().get(f"/broadcast/images/{image.pk}").status_code == 200


def test_an_image_that_fails_after_its_post_is_published_is_named_to_the_author(
    bc: Broadcast, settings: Any, uploader: Client, after_commit: Callable[[], Any]
) -> None:
    settings.CIVICHUB_PROFILE = {"image_background_pixels": 1000}
    whole = jpeg_with_metadata((400, 300))
    broken = services.ImageIn(
        name="map.jpg", data=whole[: len(whole) // 3], alt_text="封闭路段示意图"
    )  # the header is whole, the picture is not

    with after_commit():  # the task runs once the post has committed
        post = services.post_publish(
            actor=bc.police_publisher,
            account=bc.police,
            text="青山大道封闭施工",
            category="road_closure",
            images=[broken],
        )

    image = post.images.get()
    assert image.state == ImageState.FAILED and image.error
    told = Notification.objects.get(recipient=bc.police_publisher)
    assert told.dispatch.kind == "broadcast.image_failed"
    assert "封闭路段示意图" in told.body and image.error in told.body
    page = uploader.get(reverse("broadcast:post", args=[post.pk])).content.decode()
    assert escape(f"图片「封闭路段示意图」处理失败（{image.error}）") in page
    image_url = reverse("broadcast:image", args=[image.pk])
    assert image_url not in page  # no broken picture in the post
    public = Client().get(reverse("broadcast:post", args=[post.pk])).content.decode()
    assert image_url not in public and "处理失败" not in public

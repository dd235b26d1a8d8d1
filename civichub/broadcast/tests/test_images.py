"""Post images and the account avatar: up to four images per post, each with alt text; the
real type and pixel count are checked and the image is re-encoded without its metadata. Bad
images get clear errors naming the image, and nothing of the post is stored."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.test import Client
from PIL import Image, PngImagePlugin

from civichub.broadcast import services
from civichub.broadcast.models import Post, PostImage
from civichub.core.errors import PermissionDenied, ValidationFailed
from civichub.core.images import ImageUpload
from civichub.core.models import AuditEvent
from civichub.testing.summaries import described_by, summary_targets

pytestmark = pytest.mark.django_db


def jpeg_with_gps(size: tuple[int, int] = (64, 48)) -> bytes:
    """A real JPEG with an EXIF block naming a camera and a place."""
    image = Image.new("RGB", size, "red")
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif[0x8825] = {1: "N", 2: (30.0, 15.0, 0.0), 3: "E", 4: (120.0, 10.0, 0.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


def png(size: tuple[int, int] = (32, 24)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "blue").save(out, format="PNG")
    return out.getvalue()


def image_in(data: bytes, alt: str = "封闭路段示意图", name: str = "map.jpg") -> services.ImageIn:
    return services.ImageIn(name=name, data=data, alt_text=alt)


def publish(bc: Any, **kwargs: Any) -> Post:
    return services.post_publish(
        actor=bc.police_publisher,
        account=bc.police,
        text="青山大道封闭施工",
        category="road_closure",
        **kwargs,
    )


def test_a_post_carries_images_in_order_re_encoded_without_metadata(bc: Any) -> None:
    post = publish(bc, images=[image_in(jpeg_with_gps()), image_in(png(), "绕行路线", "r.png")])
    images = list(post.images.order_by("position"))
    assert [(i.content_type, i.width, i.height, i.alt_text) for i in images] == [
        ("image/jpeg", 64, 48, "封闭路段示意图"),
        ("image/png", 32, 24, "绕行路线"),
    ]
    with images[0].image.open("rb") as stored, Image.open(stored) as reread:
        assert dict(reread.getexif()) == {}
    event = AuditEvent.objects.get(action="broadcast.post.publish", object_id=str(post.pk))
    assert event.changes["images"] == 2


def test_post_images_keep_no_comment_or_text_chunk(bc: Any) -> None:
    payload = b"<script>x</script>"
    jpeg = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(jpeg, format="JPEG", comment=payload)
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", payload.decode())
    info.add_text("Description", payload.decode(), zip=True)
    info.add_itxt("XML:com.adobe.xmp", payload.decode())
    png_out = io.BytesIO()
    Image.new("RGB", (40, 30), "blue").save(png_out, format="PNG", pnginfo=info)
    uploads = [image_in(jpeg.getvalue()), image_in(png_out.getvalue(), "绕行路线", "r.png")]
    assert all(payload in upload.data for upload in uploads)

    post = publish(bc, images=uploads)

    for image in post.images.order_by("position"):
        with image.image.open("rb") as handle:
            stored = handle.read()
        assert payload not in stored
        with Image.open(io.BytesIO(stored)) as reread:
            reread.load()
            assert "comment" not in reread.info and not getattr(reread, "text", {})


@pytest.mark.parametrize(
    ("images", "field"),
    [
        ([image_in(b"%PDF-1.4 not an image", name="scan.jpg")], "images.0"),
        ([image_in(png(), alt="  ")], "images.0.alt_text"),
        ([image_in(png()), image_in(png((9000, 5000)))], "images.1"),
        ([image_in(png())] * 5, "images"),
        ([image_in(b"")], "images.0"),
    ],
    ids=["not-an-image", "no-alt-text", "too-many-pixels", "five-images", "empty"],
)
def test_bad_images_are_refused_naming_the_image_and_nothing_is_stored(
    bc: Any, images: list[services.ImageIn], field: str, settings: Any
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        publish(bc, images=images)
    assert field in caught.value.errors
    assert not Post.objects.exists() and not PostImage.objects.exists()
    media = settings.MEDIA_ROOT
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


def test_images_are_served_for_visible_posts_and_hidden_after_retraction(bc: Any) -> None:
    post = publish(bc, images=[image_in(png())])
    image = post.images.get()
    anyone = Client()
    served = anyone.get(f"/broadcast/images/{image.pk}")
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert served.getvalue().startswith(b"\x89PNG")
    page = anyone.get(f"/broadcast/posts/{post.pk}/").content.decode()
    assert f'src="/broadcast/images/{image.pk}"' in page and 'alt="封闭路段示意图"' in page
    services.post_retract(actor=bc.police_publisher, post_id=post.pk)
    assert anyone.get(f"/broadcast/images/{image.pk}").status_code == 404


def test_uploaded_media_are_attached_once_and_only_to_their_accounts_posts(bc: Any) -> None:
    media = services.media_upload(
        actor=bc.police_publisher, account=bc.police, image=image_in(png())
    )
    assert Client().get(f"/broadcast/images/{media.pk}").status_code == 404  # not yet public
    with pytest.raises(ValidationFailed) as caught:
        services.post_publish(
            actor=bc.health_publisher,
            account=bc.health,
            text="接种通知",
            category="public_health",
            media_ids=[media.pk],
        )
    assert "media_ids" in caught.value.errors
    post = publish(bc, media_ids=[media.pk])
    assert [i.pk for i in post.images.all()] == [media.pk]
    with pytest.raises(ValidationFailed):
        publish(bc, media_ids=[media.pk])
    with pytest.raises(PermissionDenied):
        services.media_upload(actor=bc.resident_a, account=bc.police, image=image_in(png()))


def test_images_through_the_api_and_in_the_mastodon_status(bc: Any, api_as: Any) -> None:
    # Multipart uploads; the JSON calls after them are checked against the OpenAPI document.
    client = Client()
    client.force_login(bc.police_publisher)
    uploaded = client.post(
        "/api/broadcast/accounts/safe-qingshan/media",
        {"file": io.BytesIO(jpeg_with_gps()), "alt_text": "事故现场"},
    )
    assert uploaded.status_code == 201, uploaded.content
    media_id = uploaded.json()["id"]
    bad = client.post(
        "/api/broadcast/accounts/safe-qingshan/media",
        {"file": io.BytesIO(b"GIF89a nonsense"), "alt_text": "x"},
    )
    assert bad.status_code == 422 and bad["Content-Type"] == "application/problem+json"
    assert "file" in bad.json()["errors"]

    created = api_as(bc.police_publisher).post(
        "/api/broadcast/accounts/safe-qingshan/posts",
        {"text": "事故提醒", "category": "traffic", "media_ids": [media_id]},
    )
    assert created.status_code == 201
    [image] = created.json()["images"]
    assert (image["id"], image["alt_text"], image["width"]) == (media_id, "事故现场", 64)
    assert image["url"].endswith(f"/broadcast/images/{media_id}")

    status = Client().get(f"/api/v1/statuses/{created.json()['id']}")  # Mastodon's view
    assert status.status_code == 200
    [attachment] = status.json()["media_attachments"]
    assert attachment["type"] == "image" and attachment["description"] == "事故现场"
    assert attachment["url"] == image["url"]


def test_account_avatar_is_re_encoded_served_and_replaced(
    bc: Any, settings: Any, after_commit: Any
) -> None:
    services.account_avatar_set(
        actor=bc.police_publisher,
        account=bc.police,
        upload=ImageUpload(name="logo.jpg", data=jpeg_with_gps((80, 80))),
    )
    bc.police.refresh_from_db()
    first = bc.police.avatar.name
    served = Client().get("/broadcast/@safe-qingshan/avatar")
    assert served.status_code == 200 and served["Content-Type"] == "image/jpeg"
    with pytest.raises(ValidationFailed) as caught:
        services.account_avatar_set(
            actor=bc.police_publisher,
            account=bc.police,
            upload=ImageUpload(name="logo.svg", data=b"<svg/>"),
        )
    assert "avatar" in caught.value.errors
    with pytest.raises(PermissionDenied):
        services.account_avatar_set(
            actor=bc.health_publisher, account=bc.police, upload=ImageUpload("a.png", png())
        )
    page = Client()
    page.force_login(bc.police_publisher)
    with after_commit():
        response = page.post(
            "/broadcast/@safe-qingshan/avatar/set/", {"avatar": io.BytesIO(png((50, 50)))}
        )
    assert response.status_code == 302
    bc.police.refresh_from_db()
    assert bc.police.avatar.name != first and bc.police.avatar_content_type == "image/png"
    # A file that is no image: in the shared summary, at the file's box, which names its message.
    refused = page.post("/broadcast/@safe-qingshan/avatar/set/", {"avatar": io.BytesIO(b"x")})
    assert refused.status_code == 422
    assert summary_targets(refused.content.decode()) == ["avatar"]
    assert described_by(refused.content.decode(), "avatar") == ["avatar-error"]
    assert not (settings.MEDIA_ROOT / first).exists()


def test_compose_page_publishes_images_and_keeps_the_text_when_an_image_is_bad(bc: Any) -> None:
    client = Client()
    client.force_login(bc.police_publisher)
    url = "/broadcast/@safe-qingshan/compose/"
    bad = io.BytesIO(b"not an image")
    bad.name = "photo.jpg"
    refused = client.post(
        url,
        {"text": "周末演练", "category": "notice", "image_1": bad, "alt_1": "演练地点"},
    )
    assert refused.status_code == 422
    page = refused.content.decode()
    assert "photo.jpg" in page and "周末演练" in page and 'value="演练地点"' in page
    assert not Post.objects.exists()

    good = io.BytesIO(png())
    good.name = "site.png"
    done = client.post(
        url, {"text": "周末演练", "category": "notice", "image_1": good, "alt_1": "演练地点"}
    )
    assert done.status_code == 302
    assert Post.objects.get().images.get().alt_text == "演练地点"


def test_images_never_attached_to_a_post_expire_with_their_files(
    bc: Any, settings: Any, after_commit: Any
) -> None:
    import datetime as dt

    from django.utils import timezone

    from civichub.broadcast.tasks import expire_unattached_media

    kept = services.media_upload(
        actor=bc.police_publisher, account=bc.police, image=image_in(png())
    )
    publish(bc, media_ids=[kept.pk])
    orphan = services.media_upload(
        actor=bc.police_publisher, account=bc.police, image=image_in(png())
    )
    fresh = services.media_upload(
        actor=bc.police_publisher, account=bc.police, image=image_in(png())
    )
    PostImage.objects.filter(pk__in=[kept.pk, orphan.pk]).update(
        created_at=timezone.now() - dt.timedelta(days=2)
    )
    with after_commit():
        removed = expire_unattached_media.call()
    assert removed == 1
    assert set(PostImage.objects.values_list("pk", flat=True)) == {kept.pk, fresh.pk}
    assert not (settings.MEDIA_ROOT / orphan.image.name).exists()
    assert (settings.MEDIA_ROOT / kept.image.name).exists()
    assert AuditEvent.objects.filter(action="broadcast.media.expire").count() == 1


def test_an_image_of_a_scheduled_post_is_only_for_its_publishers_and_never_cached(
    bc: Any,
) -> None:
    import datetime as dt

    from django.utils import timezone

    post = publish(bc, images=[image_in(png())], publish_at=timezone.now() + dt.timedelta(hours=2))
    image = post.images.get()
    assert Client().get(f"/broadcast/images/{image.pk}").status_code == 404
    staff = Client()
    staff.force_login(bc.police_publisher)
    served = staff.get(f"/broadcast/images/{image.pk}")
    assert served.status_code == 200 and served["Cache-Control"] == "private, no-store"


def test_an_avatar_over_the_background_threshold_is_refused_from_its_header(
    bc: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CIVICHUB_PROFILE = {"image_background_pixels": 1000}
    data = png((40, 40))

    def no_decode(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the avatar was decoded")

    monkeypatch.setattr(Image.Image, "load", no_decode)
    with pytest.raises(ValidationFailed) as caught:
        services.account_avatar_set(
            actor=bc.police_publisher, account=bc.police, upload=ImageUpload("big.png", data)
        )
    assert "40×40" in caught.value.errors["avatar"][0]
    bc.police.refresh_from_db()
    assert not bc.police.avatar

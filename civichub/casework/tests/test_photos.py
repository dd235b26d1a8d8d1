"""Photo intake: real type and size checks, metadata removed unless the sender keeps the place."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import translation
from PIL import Image, PngImagePlugin

from civichub.casework import services
from civichub.casework.models import Case, CasePhoto
from civichub.casework.photos import GPS_IFD, PhotoUpload
from civichub.casework.tests.conftest import Casework, jpeg_with_gps, png_bytes
from civichub.core.errors import PermissionDenied, ValidationFailed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """A refusal says in words which photo is wrong and why; these tests read it in English."""
    with translation.override("en"):
        yield


def stored_exif(photo: CasePhoto) -> Image.Exif:
    with photo.image.open("rb") as handle, Image.open(io.BytesIO(handle.read())) as image:
        return image.getexif()


def test_the_test_photo_really_carries_gps() -> None:
    with Image.open(io.BytesIO(jpeg_with_gps())) as image:
        exif = image.getexif()
        assert exif.get_ifd(GPS_IFD)[1] == "N"
        assert exif[0x010F] == "TestCam"


def test_photo_location_and_camera_data_are_stripped(cw: Casework) -> None:
    result = services.case_submit(
        actor=cw.resident,
        kind="complaint",
        text="井盖破损",
        photos=[PhotoUpload(name="well.jpg", data=jpeg_with_gps())],
    )

    photo = result.case.photos.get()
    exif = stored_exif(photo)
    assert photo.content_type == "image/jpeg" and (photo.width, photo.height) == (64, 48)
    assert not photo.location_kept
    assert exif.get_ifd(GPS_IFD) == {}
    assert 0x010F not in exif


def test_sender_may_keep_the_photo_location_which_then_places_the_case(cw: Casework) -> None:
    result = services.case_submit(
        actor=cw.resident,
        kind="complaint",
        text="井盖破损",
        keep_photo_location=True,
        photos=[PhotoUpload(name="well.jpg", data=jpeg_with_gps())],
    )

    photo = result.case.photos.get()
    gps = stored_exif(photo).get_ifd(GPS_IFD)
    assert photo.location_kept
    assert gps[1] == "N" and float(gps[2][0]) == 30.0
    assert 0x010F not in stored_exif(photo)
    assert result.case.crs == "wgs84"
    assert result.case.latitude == pytest.approx(30.25)
    assert result.case.longitude == pytest.approx(120.1666667)


PAYLOAD = b"<script>x</script>"


def jpeg_with_comment() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "green").save(out, format="JPEG", comment=PAYLOAD)
    return out.getvalue()


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", PAYLOAD.decode())
    info.add_text("Description", PAYLOAD.decode(), zip=True)
    info.add_itxt("XML:com.adobe.xmp", PAYLOAD.decode())
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "green").save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def jpeg_with_xmp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "green").save(out, format="JPEG", xmp=PAYLOAD)
    return out.getvalue()


def webp_with_xmp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "green").save(out, format="WEBP", xmp=PAYLOAD)
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("c.jpg", jpeg_with_comment),
        ("x.jpg", jpeg_with_xmp),
        ("t.png", png_with_text),
        ("x.webp", webp_with_xmp),
    ],
    ids=["jpeg-comment", "jpeg-xmp", "png-text", "webp-xmp"],
)
def test_photo_comments_and_text_chunks_are_not_stored(
    cw: Casework, name: str, data: Callable[[], bytes]
) -> None:
    upload = data()
    assert PAYLOAD in upload
    result = services.case_submit(
        actor=cw.resident,
        kind="complaint",
        text="井盖破损",
        photos=[PhotoUpload(name=name, data=upload)],
    )

    with result.case.photos.get().image.open("rb") as handle:
        stored = handle.read()
    assert PAYLOAD not in stored
    with Image.open(io.BytesIO(stored)) as image:
        image.load()
        text_keys = {"comment", "Comment", "Description", "xmp", "XML:com.adobe.xmp"}
        assert not text_keys & set(image.info)
        assert not getattr(image, "text", {})


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("notes.txt", b"just some text, not an image", "not a readable image"),
        ("fake.jpg", b"\xff\xd8\xff\xe0 truncated", "not a readable image"),
        ("anim.gif", None, "is not accepted"),
        ("empty.png", b"", "empty"),
    ],
)
def test_wrong_type_upload_is_refused_and_nothing_is_stored(
    cw: Casework, name: str, data: bytes | None, message: str
) -> None:
    if data is None:
        out = io.BytesIO()
        Image.new("RGB", (8, 8)).save(out, format="GIF")
        data = out.getvalue()

    with pytest.raises(ValidationFailed) as caught:
        services.case_submit(
            actor=cw.resident,
            kind="complaint",
            text="x",
            photos=[
                PhotoUpload(name="ok.png", data=png_bytes()),
                PhotoUpload(name=name, data=data),
            ],
        )

    assert message in caught.value.errors["photos.1"][0]
    assert name in caught.value.message
    assert not Case.objects.exists() and not CasePhoto.objects.exists()


def test_oversized_photo_is_refused_and_the_stored_case_is_untouched(
    cw: Casework, submit: Callable[..., Case], settings: Any
) -> None:
    case = submit(photos=[PhotoUpload(name="a.png", data=png_bytes())])
    before = list(case.photos.values_list("pk", "image", "size"))
    settings.CIVICHUB_CASEWORK = {"photo_max_bytes": 2000}

    big = jpeg_with_gps((800, 600), "white") + b"\0" * 3000

    with pytest.raises(ValidationFailed) as caught:
        services.case_photos_add(
            actor=cw.resident, case=case, photos=[PhotoUpload(name="big.jpg", data=big)]
        )

    assert "at most 1 KiB" in caught.value.message
    assert list(case.photos.values_list("pk", "image", "size")) == before
    with case.photos.get().image.open("rb") as handle:
        assert handle.read(8).startswith(b"\x89PNG")


def test_too_many_pixels_are_refused(cw: Casework, settings: Any) -> None:
    settings.CIVICHUB_CASEWORK = {"photo_max_pixels": 100}

    with pytest.raises(ValidationFailed, match="too many pixels"):
        services.case_submit(
            actor=cw.resident,
            kind="complaint",
            text="x",
            photos=[PhotoUpload(name="a.png", data=png_bytes((20, 20)))],
        )


def test_only_the_sender_or_staff_add_photos(cw: Casework, submit: Callable[..., Case]) -> None:
    case = submit()

    services.case_photos_add(
        actor=cw.handler, case=case, photos=[PhotoUpload(name="a.png", data=png_bytes())]
    )
    with pytest.raises(PermissionDenied):
        services.case_photos_add(
            actor=cw.outsider, case=case, photos=[PhotoUpload(name="a.png", data=png_bytes())]
        )
    assert case.photos.count() == 1

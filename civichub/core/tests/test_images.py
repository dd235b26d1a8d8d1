"""Image decode amplification: a pixel budget read from the header before anything is decoded,
a bound on pixels per byte of file, and large decodes taken a few at a time."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.utils import translation
from PIL import Image

from civichub.core import images
from civichub.core.errors import RateLimited, ValidationFailed
from civichub.core.images import ImageUpload, _large_decode_slots, check_image
from civichub.testing.images import plain_png

pytestmark = pytest.mark.once  # the same on any database: the SQLite run runs it


def noisy_jpeg(width: int, height: int) -> bytes:
    pixels = bytes((i * 7919) % 251 for i in range(width * height * 3))
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), pixels).save(out, format="JPEG", quality=90)
    return out.getvalue()


def _check(data: bytes, *, max_pixels: int = 40_000_000, name: str = "a.png") -> Any:
    return check_image(
        ImageUpload(name=name, data=data),
        field="photos.0",
        max_bytes=8 * 1024 * 1024,
        max_pixels=max_pixels,
        allowed_formats=["JPEG", "PNG", "WEBP"],
    )


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return plain_png(6300, 6300)


def test_a_small_png_of_forty_million_pixels_is_refused_before_it_is_decoded(
    bomb: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(bomb) < 200_000  # 39.7 million pixels, under every module's pixel limit

    def no_decode(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the bomb was decoded")

    # The header alone refuses it: any decode, here or in a child process, fails the test.
    monkeypatch.setattr(Image.Image, "load", no_decode)
    monkeypatch.setattr(images, "reencode", no_decode)
    monkeypatch.setattr(images, "reencode_isolated", no_decode)
    with translation.override("en"), pytest.raises(ValidationFailed) as caught:
        _check(bomb, name="bomb.png")

    assert list(caught.value.errors) == ["photos.0"]
    assert "6300×6300" in caught.value.message and "bomb.png" in caught.value.message


def test_the_deployment_pixel_budget_caps_what_a_module_allows(settings: Any) -> None:
    settings.CIVICHUB_PROFILE = {"image_max_pixels": 1_000}

    with translation.override("en"), pytest.raises(ValidationFailed, match="too many pixels"):
        _check(plain_png(40, 40))
    assert _check(plain_png(20, 20)).width == 20


def test_photographs_of_many_pixels_are_still_accepted(settings: Any) -> None:
    # Every image counts as large here: a real photograph is far under the bound per byte.
    settings.CIVICHUB_PROFILE = {"image_free_pixels": 0}

    checked = _check(noisy_jpeg(600, 400), name="photo.jpg")

    assert (checked.width, checked.height, checked.format) == (600, 400, "JPEG")


def test_a_large_decode_waits_its_turn_and_is_refused_past_the_wait(settings: Any) -> None:
    settings.CIVICHUB_PROFILE = {
        "image_free_pixels": 100,
        "image_large_decodes": 1,
        "image_large_wait_seconds": 0.05,
    }
    slots = _large_decode_slots(1)
    assert slots.acquire(timeout=1)  # another request is decoding a large image
    try:
        with pytest.raises(RateLimited) as caught:
            _check(noisy_jpeg(40, 40), name="b.jpg")
        assert list(caught.value.errors) == ["photos.0"]
        assert _check(plain_png(10, 10)).width == 10  # small images need no turn
    finally:
        slots.release()
    assert _check(noisy_jpeg(40, 40), name="b.jpg").width == 40


def jpeg_with_comment_and_exif(width: int, height: int) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    out = io.BytesIO()
    Image.new("RGB", (width, height), "blue").save(
        out, format="JPEG", exif=exif.tobytes(), comment=b"<script>x</script>"
    )
    return out.getvalue()


def test_a_large_image_is_re_encoded_in_a_child_process_without_metadata(settings: Any) -> None:
    settings.CIVICHUB_PROFILE = {"image_free_pixels": 100}

    checked = _check(jpeg_with_comment_and_exif(80, 60), name="large.jpg")

    assert (checked.width, checked.height, checked.format) == (80, 60, "JPEG")
    with Image.open(io.BytesIO(checked.data)) as reread:
        assert "comment" not in reread.info and "exif" not in reread.info
        assert not reread.getexif()
    assert b"<script>" not in checked.data


def test_a_large_decode_past_its_time_limit_is_refused(settings: Any) -> None:
    # No child process starts, decodes and answers within a microsecond.
    settings.CIVICHUB_PROFILE = {"image_free_pixels": 100, "image_decode_seconds": 0.000001}

    with translation.override("en"), pytest.raises(ValidationFailed) as caught:
        _check(jpeg_with_comment_and_exif(80, 60), name="slow.jpg")

    assert "timeout" in caught.value.message and "slow.jpg" in caught.value.message


def test_a_large_decode_past_its_memory_limit_is_refused(settings: Any) -> None:
    # The child starts in about 30 MB; 3000×3000 RGB pixels alone take 27 MB more.
    settings.CIVICHUB_PROFILE = {
        "image_free_pixels": 100,
        "image_max_pixels_per_byte": 1_000_000,
        "image_decode_memory_mb": 48,
    }
    out = io.BytesIO()
    Image.new("RGB", (3000, 3000), "blue").save(out, format="JPEG")

    with translation.override("en"), pytest.raises(ValidationFailed) as caught:
        _check(out.getvalue(), name="hungry.jpg")
    assert "hungry.jpg" in caught.value.message and "memory" in caught.value.message

    settings.CIVICHUB_PROFILE = {**settings.CIVICHUB_PROFILE, "image_decode_memory_mb": 512}
    assert _check(out.getvalue(), name="hungry.jpg").width == 3000

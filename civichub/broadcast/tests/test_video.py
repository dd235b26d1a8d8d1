"""Short videos: the probe judges the container, not the name; the profile's limits hold;
transcoding gives playable H.264/AAC MP4 and HLS without the original's metadata; captions are
WebVTT; a post carries its video once ready. Clips are generated (1 s, 160x120) by ffmpeg."""

from __future__ import annotations

import io
import json
import shutil
import subprocess  # nosec B404
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage

from civichub.broadcast import services
from civichub.broadcast.models import PostVideo, VideoState
from civichub.broadcast.tests.conftest import Broadcast
from civichub.core.errors import PermissionDenied, ValidationFailed
from civichub.core.models import AuditEvent

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed"),
]

LOCATION = "+31.2304+121.4737/"
DEVICE = "Pear Phone 15"
CAPTIONS = "WEBVTT\n\n00:00.000 --> 00:00.900\n青山路封闭施工\n"


def _ffmpeg(*args: str) -> None:
    subprocess.run(  # nosec B603 B607
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args], check=True, timeout=60
    )


def ffprobe(path: Path) -> dict[str, Any]:
    result = subprocess.run(  # nosec B603 B607
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams"]
        + [str(path)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    found: dict[str, Any] = json.loads(result.stdout)
    return found


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("clips")
    source = ["-f", "lavfi", "-i", "testsrc=duration=1:size=160x120:rate=25"]
    tone = ["-f", "lavfi", "-i", "sine=duration=1:frequency=440", "-shortest"]
    tagged = [
        "-metadata",
        "title=holiday",
        "-movflags",
        "use_metadata_tags",
        "-metadata",
        f"com.apple.quicktime.location.ISO6709={LOCATION}",
        "-metadata",
        f"com.apple.quicktime.model={DEVICE}",
    ]
    _ffmpeg(*source, *tone, "-c:v", "libx264", "-c:a", "aac", *tagged, str(folder / "phone.mov"))
    _ffmpeg(*source, *tone, "-c:v", "libx264", "-c:a", "aac", str(folder / "clip.mp4"))
    _ffmpeg(*source, "-c:v", "libvpx", "-b:v", "200k", str(folder / "clip.webm"))
    long = ["-f", "lavfi", "-i", "testsrc=duration=3:size=160x120:rate=10"]
    _ffmpeg(*long, "-c:v", "libx264", str(folder / "long.mp4"))
    _ffmpeg(*source, "-frames:v", "1", str(folder / "frame.png"))
    (folder / "picture.mp4").write_bytes((folder / "frame.png").read_bytes())
    (folder / "notes.mp4").write_bytes(b"not a video at all\n" * 20)
    # A playlist pointing elsewhere, renamed: the probe must not follow it.
    (folder / "playlist.mp4").write_text(f"#EXTM3U\n#EXTINF:1,\nfile://{folder / 'clip.mp4'}\n")
    return {path.name: path for path in folder.iterdir()}


def upload(bc: Broadcast, path: Path, **fields: Any) -> PostVideo:
    return services.video_upload(
        actor=bc.police_publisher,
        account=bc.police,
        video=services.VideoIn(
            name=path.name, file=io.BytesIO(path.read_bytes()), description="路口监控画面", **fields
        ),
    )


@pytest.mark.parametrize("name", ["notes.mp4", "picture.mp4", "playlist.mp4"])
def test_a_file_that_is_not_a_video_is_refused_whatever_its_name(
    bc: Broadcast, clips: dict[str, Path], name: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        upload(bc, clips[name])
    assert "file" in refused.value.errors
    assert not PostVideo.objects.exists()


def test_size_and_running_time_limits_come_from_the_profile(
    bc: Broadcast, clips: dict[str, Path], settings: Any
) -> None:
    settings.CIVICHUB_BROADCAST = {"video_max_seconds": 2}
    with pytest.raises(ValidationFailed, match="2 秒"):
        upload(bc, clips["long.mp4"])
    settings.CIVICHUB_BROADCAST = {"video_max_bytes": clips["clip.mp4"].stat().st_size - 1}
    with pytest.raises(ValidationFailed, match="MB"):
        upload(bc, clips["clip.mp4"])
    settings.CIVICHUB_BROADCAST = {"video_max_seconds": 5}
    assert upload(bc, clips["long.mp4"]).duration == pytest.approx(3, abs=0.2)


def test_only_the_accounts_publishers_upload(bc: Broadcast, clips: dict[str, Path]) -> None:
    with pytest.raises(PermissionDenied):
        services.video_upload(
            actor=bc.health_publisher,
            account=bc.police,
            video=services.VideoIn(name="x.mp4", file=io.BytesIO(clips["clip.mp4"].read_bytes())),
        )


def test_upload_is_probed_and_transcoded_into_playable_mp4_hls_and_poster(
    bc: Broadcast, clips: dict[str, Path], after_commit: Callable[[], Any], settings: Any
) -> None:
    settings.CIVICHUB_BROADCAST = {"video_heights": (120,)}
    with after_commit():
        video = upload(bc, clips["phone.mov"])
    assert (video.container, video.width, video.height) == ("mov", 160, 120)
    video.refresh_from_db()
    assert video.state == VideoState.READY, video.error
    assert video.progress == 100
    assert not video.original  # the original, with its location, is gone
    root = Path(settings.MEDIA_ROOT) / video.folder
    mp4 = ffprobe(root / "video.mp4")
    codecs = {s["codec_type"]: s["codec_name"] for s in mp4["streams"]}
    assert codecs == {"video": "h264", "audio": "aac"}
    assert float(mp4["format"]["duration"]) == pytest.approx(1, abs=0.1)
    assert (video.out_width, video.out_height) == (160, 120)
    hls = ffprobe(root / "master.m3u8")
    assert {s["codec_name"] for s in hls["streams"]} >= {"h264", "aac"}
    assert "120p.m3u8" in (root / "master.m3u8").read_text()
    poster = ffprobe(root / "poster.jpg")
    assert poster["streams"][0]["codec_name"] == "mjpeg"
    assert (poster["streams"][0]["width"], poster["streams"][0]["height"]) == (160, 120)
    assert AuditEvent.objects.filter(action="broadcast.video.ready").count() == 1


def test_transcoded_outputs_carry_none_of_the_originals_metadata(
    bc: Broadcast, clips: dict[str, Path], after_commit: Callable[[], Any], settings: Any
) -> None:
    before = json.dumps(ffprobe(clips["phone.mov"]))
    assert LOCATION in before and DEVICE in before  # the clip really carries them
    settings.CIVICHUB_BROADCAST = {"video_heights": (120,)}
    with after_commit():
        video = upload(bc, clips["phone.mov"])
    video.refresh_from_db()
    root = Path(settings.MEDIA_ROOT) / video.folder
    for name in ["video.mp4", "poster.jpg", "120p_000.ts"]:
        text = json.dumps(ffprobe(root / name)) + (root / name).read_bytes().decode("latin-1")
        for secret in [LOCATION, DEVICE, "holiday", "ISO6709"]:
            assert secret not in text, (name, secret)


def test_renditions_follow_the_profile_and_never_upscale(
    bc: Broadcast, clips: dict[str, Path], after_commit: Callable[[], Any], settings: Any
) -> None:
    settings.CIVICHUB_BROADCAST = {"video_heights": (90, 360, 720)}
    with after_commit():
        video = upload(bc, clips["clip.webm"])
    video.refresh_from_db()
    assert video.state == VideoState.READY, video.error
    assert [r["name"] for r in video.renditions] == ["90p"]
    settings.CIVICHUB_BROADCAST = {"video_heights": (60, 90)}
    with after_commit():
        two = upload(bc, clips["clip.mp4"])
    two.refresh_from_db()
    assert [(r["name"], r["height"]) for r in two.renditions] == [("60p", 60), ("90p", 90)]
    master = (Path(settings.MEDIA_ROOT) / two.folder / "master.m3u8").read_text()
    assert "RESOLUTION=120x90" in master and "RESOLUTION=80x60" in master


def test_a_video_is_published_only_once_ready_and_only_once(
    bc: Broadcast, clips: dict[str, Path], after_commit: Callable[[], Any], settings: Any
) -> None:
    settings.CIVICHUB_BROADCAST = {"video_heights": (120,)}
    pending = upload(bc, clips["clip.mp4"])  # no commit: the task has not run
    with pytest.raises(ValidationFailed, match="处理中"):
        services.post_publish(
            actor=bc.police_publisher,
            account=bc.police,
            text="施工视频",
            category="traffic",
            video_id=pending.pk,
        )
    with after_commit():
        video = upload(bc, clips["clip.mp4"])
    post = services.post_publish(
        actor=bc.police_publisher,
        account=bc.police,
        text="施工视频",
        category="traffic",
        video_id=video.pk,
    )
    assert post.video.pk == video.pk
    with pytest.raises(ValidationFailed, match="已用于"):
        services.post_publish(
            actor=bc.police_publisher,
            account=bc.police,
            text="again",
            category="traffic",
            video_id=video.pk,
        )


def test_captions_are_webvtt_and_a_video_without_them_warns(
    bc: Broadcast, clips: dict[str, Path]
) -> None:
    video = upload(bc, clips["clip.mp4"])
    assert services.video_warnings(video) == ["no_captions"]
    with pytest.raises(ValidationFailed, match="WEBVTT"):
        services.video_captions_set(
            actor=bc.police_publisher, video_id=video.pk, captions="青山路封闭施工"
        )
    with pytest.raises(ValidationFailed, match="第 3 行"):
        services.video_captions_set(
            actor=bc.police_publisher, video_id=video.pk, captions="WEBVTT\n\n0:1 --> 0:2\nx"
        )
    typed = services.video_captions_set(
        actor=bc.police_publisher, video_id=video.pk, captions=CAPTIONS, captions_lang="zh-Hans"
    )
    assert services.video_warnings(typed) == []
    assert AuditEvent.objects.filter(action="broadcast.video.captions").exists()
    with pytest.raises(PermissionDenied):
        services.video_captions_set(actor=bc.health_publisher, video_id=video.pk, captions="")


def test_a_failed_transcode_is_recorded_for_the_publisher(
    bc: Broadcast, clips: dict[str, Path], after_commit: Callable[[], Any]
) -> None:
    video = upload(bc, clips["clip.mp4"])
    # The stored original is damaged after the probe (a disk fault, a truncated copy).
    with default_storage.open(video.original.name, "wb") as damaged:
        damaged.write(b"broken")
    result = services.video_transcode(video_id=video.pk)
    assert result.state == VideoState.FAILED
    assert result.error

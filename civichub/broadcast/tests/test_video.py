"""Short videos: the probe judges the container, not the name; the profile's limits hold;
transcoding gives playable H.264/AAC MP4 and HLS without the original's metadata; captions are
WebVTT; a post carries its video once ready. Clips are generated (1 s, 160x120) by ffmpeg."""

from __future__ import annotations

import io
import json
import re
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
from civichub.testing.summaries import described_by, summary_targets

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


def test_the_api_uploads_reports_progress_captions_and_publishes_a_video(
    bc: Broadcast,
    clips: dict[str, Path],
    api_as: Any,
    settings: Any,
    after_commit: Callable[[], Any],
) -> None:
    from django.test import Client

    settings.CIVICHUB_BROADCAST = {"video_heights": (120,)}
    # Multipart uploads; the JSON calls after them are checked against the OpenAPI document.
    uploader = Client()
    uploader.force_login(bc.police_publisher)
    with clips["notes.mp4"].open("rb") as fake:
        refused = uploader.post("/api/broadcast/accounts/safe-qingshan/videos", {"file": fake})
    assert refused.status_code == 422
    assert refused["Content-Type"] == "application/problem+json"
    assert "file" in refused.json()["errors"]
    with clips["clip.webm"].open("rb") as clip, after_commit():
        uploaded = uploader.post(
            "/api/broadcast/accounts/safe-qingshan/videos",
            {"file": clip, "description": "施工路段"},
        )
    publisher = api_as(bc.police_publisher)
    assert uploaded.status_code == 202
    body = uploaded.json()
    assert body["container"] == "webm"
    assert body["warnings"] == ["no_captions"]
    video_id = body["id"]
    # The task ran once the upload committed (tasks run at once in tests).
    ready = publisher.get(f"/api/broadcast/videos/{video_id}").json()
    assert (ready["state"], ready["progress"]) == ("ready", 100)
    assert ready["mp4_url"].endswith("/video.mp4") and ready["hls_url"].endswith("/master.m3u8")
    assert api_as(None).get(f"/api/broadcast/videos/{video_id}").status_code == 404
    captioned = publisher.request(
        "PUT",
        f"/api/broadcast/videos/{video_id}/captions",
        {"captions": CAPTIONS, "captions_lang": "zh-Hans"},
    ).json()
    assert captioned["warnings"] == [] and captioned["captions_url"]
    post = publisher.post(
        "/api/broadcast/accounts/safe-qingshan/posts",
        {"text": "施工视频", "category": "traffic", "video_id": video_id},
    )
    assert post.status_code == 201
    assert post.json()["video"]["id"] == video_id
    public = api_as(None).get(f"/api/broadcast/videos/{video_id}").json()
    assert public["post_id"] == post.json()["id"]


def test_pages_upload_caption_publish_and_play_a_video(
    bc: Broadcast, clips: dict[str, Path], settings: Any, after_commit: Callable[[], Any]
) -> None:
    from django.test import Client

    settings.CIVICHUB_BROADCAST = {"video_heights": (120,)}
    publisher = Client()
    publisher.force_login(bc.police_publisher)
    page = "/broadcast/@safe-qingshan/videos/"
    with clips["notes.mp4"].open("rb") as fake:
        refused = publisher.post(page, {"video": fake})
    assert refused.status_code == 422
    assert "不是可以识别的视频文件" in refused.content.decode()
    with clips["clip.mp4"].open("rb") as clip, after_commit():
        assert publisher.post(page, {"video": clip, "description": "施工路段"}).status_code == 302
    video = PostVideo.objects.get()
    assert video.state == VideoState.READY
    listed = publisher.get(page).content.decode()
    assert "还没有字幕" in listed and f"?video={video.pk}" in listed
    anonymous = Client()
    assert anonymous.get(f"/broadcast/videos/{video.pk}/video.mp4").status_code == 404
    vtt = io.BytesIO(CAPTIONS.encode())
    vtt.name = "captions.vtt"
    publisher.post(f"/broadcast/videos/{video.pk}/captions/", {"captions_file": vtt})
    video.refresh_from_db()
    assert video.captions == CAPTIONS
    compose = publisher.get(f"/broadcast/@safe-qingshan/compose/?video={video.pk}")
    assert f'name="video_id" value="{video.pk}"' in compose.content.decode()
    published = publisher.post(
        "/broadcast/@safe-qingshan/compose/",
        {"text": "施工视频", "category": "traffic", "video_id": video.pk, "submission": "s1"},
    )
    assert published.status_code == 302
    post_page = anonymous.get(published["Location"]).content.decode()
    assert f'src="/broadcast/videos/{video.pk}/video.mp4" type="video/mp4"' in post_page
    assert f'src="/broadcast/videos/{video.pk}/captions.vtt"' in post_page
    whole = anonymous.get(f"/broadcast/videos/{video.pk}/video.mp4")
    assert whole.status_code == 200 and whole["Cache-Control"].startswith("public")
    part = anonymous.get(f"/broadcast/videos/{video.pk}/video.mp4", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    assert part["Content-Range"] == f"bytes 0-99/{video.mp4_size}"
    assert anonymous.get(f"/broadcast/videos/{video.pk}/..%2Fsecret").status_code == 404
    captions = anonymous.get(f"/broadcast/videos/{video.pk}/captions.vtt")
    assert captions["Content-Type"].startswith("text/vtt")
    # Captions changed after posting, from the post's page; refused ones are shown there in the
    # shared summary at the captions box, with what was typed.
    refused = publisher.post(f"/broadcast/videos/{video.pk}/captions/", {"captions": "青山路"})
    assert refused.status_code == 422
    assert summary_targets(refused.content.decode()) == ["captions"]
    assert described_by(refused.content.decode(), "captions") == ["captions-error"]
    assert ">青山路</textarea>" in refused.content.decode()
    feed = anonymous.get("/broadcast/@safe-qingshan/feed.atom").content.decode()
    enclosure = re.search(
        r'<link rel="enclosure" href="([^"]+)" type="video/mp4" length="(\d+)"', feed
    )
    assert enclosure is not None, feed
    assert enclosure[1].endswith(f"/broadcast/videos/{video.pk}/video.mp4")
    assert int(enclosure[2]) == video.mp4_size


@pytest.mark.django_db(transaction=True)
def test_mastodon_clients_attach_a_video_with_its_meta(
    live_server: Any, bc: Broadcast, clips: dict[str, Path], settings: Any
) -> None:
    from civichub.broadcast.tests.test_mastodon import client_for

    settings.CIVICHUB_BROADCAST = {"video_heights": (120,)}
    publisher = client_for(live_server.url, bc.police_publisher.username)
    media = publisher.media_post(
        str(clips["clip.mp4"]), mime_type="video/mp4", description="施工路段", synchronous=True
    )
    assert media.type == "video" and media.id.startswith("v")
    status = publisher.status_post("施工视频", media_ids=[media])
    attachment = status.media_attachments[0]
    assert attachment.type == "video"
    assert attachment.url.endswith("/video.mp4") and attachment.preview_url.endswith("poster.jpg")
    assert (attachment.meta.original.width, attachment.meta.original.height) == (160, 120)
    assert attachment.meta.original.duration == pytest.approx(1, abs=0.1)
    assert attachment.meta.fps == 25 and attachment.meta.length.startswith("0:00:01")
    assert attachment.description == "施工路段"
    with pytest.raises(Exception, match="视频"):
        publisher.media_post(str(clips["notes.mp4"]), mime_type="video/mp4")

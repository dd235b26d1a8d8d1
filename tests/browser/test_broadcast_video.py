"""A publisher uploads a short video, sees it ready with a warning that it has no captions,
types captions, and publishes it to a district; a resident plays it on a phone-sized page, from
HLS through hls.js, with the captions showing; axe finds no serious or critical problem."""

from __future__ import annotations

import shutil
import subprocess  # nosec B404
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from django.urls import reverse

from tests.browser.support import check_page, sign_in
from tests.browser.test_broadcast import people, phone_page

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.either_database,
    pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed"),
]
__all__ = ["people", "phone_page"]  # fixtures used here

CAPTIONS = "WEBVTT\n\n00:00.000 --> 00:02.000\n青山路今晚封闭施工\n"


@pytest.fixture(autouse=True)
def _video_setup(settings: Any, tmp_path: Path) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CIVICHUB_BROADCAST = {"video_heights": (60, 120)}


def clip(folder: Path) -> Path:
    out = folder / "roadworks.mp4"
    subprocess.run(  # nosec B603 B607
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y"]
        + ["-f", "lavfi", "-i", "testsrc=duration=2:size=160x120:rate=25"]
        + ["-f", "lavfi", "-i", "sine=duration=2", "-shortest", "-c:v", "libx264", "-c:a", "aac"]
        + [str(out)],
        check=True,
        timeout=60,
    )
    return out


def test_a_video_is_uploaded_captioned_published_and_played_from_hls_on_a_phone(
    page: Page, phone_page: Page, people: dict[str, Any], tmp_path: Path
) -> None:
    from civichub.broadcast.models import PostVideo

    sign_in(page, "fabu")
    page.goto(reverse("broadcast:videos", args=["safe-qingshan"]))
    check_page(page, "broadcast-videos")
    page.get_by_label("视频文件").set_input_files(str(clip(tmp_path)))
    page.get_by_label("视频说明（供看不见画面的观众使用）").fill("青山路施工现场画面")
    with page.expect_navigation():
        page.get_by_role("button", name="上传视频").click()
    video = PostVideo.objects.get()
    # Transcoding runs as a task; the page shows its state until it is ready.
    heading = page.locator(f"#video-{video.pk}-h")
    for _look in range(30):
        if "可播放" in heading.inner_text():
            break
        page.get_by_role("link", name="刷新处理进度").click()
    assert "可播放" in heading.inner_text()
    assert "还没有字幕" in page.locator("main").inner_text()
    check_page(page, "broadcast-videos-ready")
    page.get_by_label("字幕（WebVTT）").fill(CAPTIONS)
    with page.expect_navigation():
        page.get_by_role("button", name="保存字幕").click()
    assert "还没有字幕" not in page.locator("main").inner_text()
    with page.expect_navigation():
        page.get_by_role("link", name="用这段视频发布").click()
    page.get_by_label("内容（中文）").fill("青山路今晚封闭施工，请绕行。")
    page.get_by_label("类别").select_option("road_closure")
    page.get_by_label("东湖区", exact=True).check()
    check_page(page, "broadcast-compose-video")
    with page.expect_navigation():
        page.get_by_role("button", name="发布", exact=True).click()
    assert "/broadcast/posts/" in page.url
    post_url = page.url

    sign_in(phone_page, "resident-east")
    phone_page.goto(post_url)
    player = phone_page.locator("video")
    phone_page.wait_for_function(
        "document.querySelector('video').getAttribute('data-player') !== null"
    )
    kind = player.get_attribute("data-player")
    assert kind in {"hls.js", "native-hls"}, kind
    state = phone_page.evaluate(
        """async () => {
            const video = document.querySelector('video');
            video.muted = true;
            await video.play();
            await new Promise((done) => {
                const check = () => video.currentTime > 0.5 ? done() : setTimeout(check, 50);
                check();
            });
            return {
                src: video.currentSrc,
                time: video.currentTime,
                readyState: video.readyState,
                error: video.error && video.error.code,
                width: video.videoWidth,
                track: video.textTracks[0] && video.textTracks[0].mode,
                cues: video.textTracks[0] && video.textTracks[0].cues
                    ? video.textTracks[0].cues.length : 0,
            };
        }"""
    )
    assert state["error"] is None and state["readyState"] >= 2 and state["time"] > 0.5
    if kind == "hls.js":
        assert state["src"].startswith("blob:")  # Media Source fed by hls.js
    assert state["width"] in {80, 160}  # one of the two renditions
    assert state["track"] == "showing" and state["cues"] == 1
    check_page(phone_page, "broadcast-video-post-phone")

"""Short videos: uploaded ahead of a post, probed, transcoded in the background, captioned,
attached to a post once ready.

The upload is judged by what ffprobe finds in the container, never by its name or declared
type: only the MP4/QuickTime and WebM demuxers may open it (and only local files), it must hold
one real video stream, and its size and running time must be within the deployment profile.
Transcoding (a task, so a slow encode never holds a request) writes an H.264/AAC MP4, one HLS
rendition per configured height the source reaches, and a poster frame, all with the
original's metadata (location, device, creation time) left out; the original is deleted."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
import secrets
import shutil
import subprocess  # nosec B404
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import ImproperlyConfigured
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from civichub.broadcast.conf import broadcast_settings
from civichub.broadcast.models import ALT_TEXT_MAX_CHARS, BroadcastAccount, PostVideo, VideoState
from civichub.broadcast.queue import priority
from civichub.broadcast.services.checks import check_text
from civichub.broadcast.services.media import unattached_delete
from civichub.core.audit import audit_record
from civichub.core.context import acting
from civichub.core.errors import NotFound, ValidationFailed
from civichub.core.files import files_kept_on_commit
from civichub.core.models import User
from civichub.core.permissions import require

# What the demuxers report for the accepted containers, and the codecs each may carry.
_MOV_FORMAT = "mov,mp4,m4a,3gp,3g2,mj2"
_WEBM_FORMAT = "matroska,webm"
_MOV_VIDEO_CODECS = frozenset({"h264", "hevc", "mpeg4", "av1", "vp9"})
_WEBM_VIDEO_CODECS = frozenset({"vp8", "vp9", "av1"})
# Larger frames are refused before anything decodes them.
VIDEO_MAX_SIDE = 4096
CAPTIONS_MAX_CHARS = 100_000
# One HLS segment's length in seconds (a keyframe is forced at each boundary).
HLS_SEGMENT_SECONDS = 4
_COPY_CHUNK = 1024 * 1024
_CUE_TIMING = re.compile(
    r"^(?:\d{2,}:)?[0-5]\d:[0-5]\d\.\d{3}[ \t]+-->[ \t]+(?:\d{2,}:)?[0-5]\d:[0-5]\d\.\d{3}"
)
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")

# The names of a transcoded video's files, as its page and playlists ask for them.
VIDEO_OUTPUT = re.compile(
    r"^(?:video\.mp4|poster\.jpg|master\.m3u8|\d{2,4}p(?:_\d{3,5}\.ts|\.m3u8))$"
)


@dataclass(frozen=True)
class VideoIn:
    """A video for a post as received: its stream, what a screen reader says of it, and its
    captions (WebVTT), which may follow later."""

    name: str
    file: IO[bytes]
    description: str = ""
    captions: str = ""
    captions_lang: str = "zh-Hans"


@dataclass(frozen=True)
class ProbedVideo:
    container: str  # "mp4", "mov" or "webm"
    duration: float
    width: int
    height: int


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ImproperlyConfigured(f"{name} is not installed (Debian package ffmpeg).")
    return found


def _run(args: list[str], *, timeout: float) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # noqa: S603  # nosec B603
        args, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL
    )


# Only local files, and only the demuxers of the accepted containers: a playlist or a
# concat list renamed .mp4 cannot make the probe or the encoder open anything else.
_INPUT_GUARD = ["-protocol_whitelist", "file", "-format_whitelist", "mov,mp4,matroska,webm"]


def ffprobe_json(path: Path) -> dict[str, Any] | None:
    """ffprobe's view of a file (format and streams), or None when it cannot read it."""
    result = _run(
        [
            _binary("ffprobe"),
            "-v",
            "error",
            *_INPUT_GUARD,
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            str(path),
        ],
        timeout=60,
    )
    if result.returncode != 0:
        return None
    try:
        found = json.loads(result.stdout or b"{}")
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def video_probe(path: Path, *, field: str = "file") -> ProbedVideo:
    """The container's real type, frame size and running time; refuses anything that is not
    an MP4, QuickTime or WebM video within the deployment's running time."""
    info = ffprobe_json(path)
    fmt = (info or {}).get("format") or {}
    streams = (info or {}).get("streams") or []
    not_video = ValidationFailed.on(field, _("这不是可以识别的视频文件（支持 MP4、MOV、WebM）。"))
    if not fmt:
        raise not_video
    video = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if not video:
        raise not_video
    codec = str(video[0].get("codec_name", ""))
    format_name = str(fmt.get("format_name", ""))
    if format_name == _MOV_FORMAT and codec in _MOV_VIDEO_CODECS:
        brand = str((fmt.get("tags") or {}).get("major_brand", "")).strip()
        container = "mov" if brand == "qt" else "mp4"
    elif format_name == _WEBM_FORMAT and codec in _WEBM_VIDEO_CODECS:
        container = "webm"
    else:
        raise not_video
    width, height = int(video[0].get("width") or 0), int(video[0].get("height") or 0)
    if not (0 < width <= VIDEO_MAX_SIDE and 0 < height <= VIDEO_MAX_SIDE):
        raise ValidationFailed.on(
            field, _("视频画面尺寸须在 %(n)d 像素以内。") % {"n": VIDEO_MAX_SIDE}
        )
    try:
        duration = float(fmt.get("duration") or video[0].get("duration") or 0)
    except ValueError:
        duration = 0.0
    if not math.isfinite(duration) or duration <= 0:
        raise not_video
    limit = broadcast_settings().video_max_seconds
    if duration > limit:
        raise ValidationFailed.on(
            field,
            _("视频时长 %(seconds)d 秒，超过了 %(limit)d 秒的上限。")
            % {"seconds": math.ceil(duration), "limit": limit},
        )
    return ProbedVideo(container=container, duration=duration, width=width, height=height)


def captions_checked(text: str, *, field: str = "captions") -> str:
    """WebVTT as uploaded or typed: the header, then cues with valid timings. Empty: none."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").strip()
    if not text:
        return ""
    if len(text) > CAPTIONS_MAX_CHARS:
        raise ValidationFailed.on(field, _("字幕最多 %(n)d 个字符。") % {"n": CAPTIONS_MAX_CHARS})
    lines = text.split("\n")
    if not re.match(r"^WEBVTT(?:[ \t].*)?$", lines[0]):
        raise ValidationFailed.on(field, _("字幕须为 WebVTT 格式，第一行是 WEBVTT。"))
    for number, line in enumerate(lines, start=1):
        if "-->" in line and not _CUE_TIMING.match(line):
            raise ValidationFailed.on(
                field,
                _("字幕第 %(line)d 行的时间格式不对，应如 00:00.000 --> 00:02.000。")
                % {"line": number},
            )
    if not any(_CUE_TIMING.match(line) for line in lines):
        raise ValidationFailed.on(field, _("字幕里没有任何一条带时间的字幕。"))
    return text + "\n"


def _language_checked(lang: str) -> str:
    lang = lang.strip() or "zh-Hans"
    if len(lang) > 16 or not _LANGUAGE.match(lang):
        raise ValidationFailed.on("captions_lang", _("字幕语言应为语言代码，如 zh-Hans 或 en。"))
    return lang


@contextlib.contextmanager
def _received(upload: IO[bytes], *, field: str) -> Iterator[tuple[Path, int]]:
    """The upload copied to a private temporary file, refused as soon as it passes the limit."""
    limit = broadcast_settings().video_max_bytes
    with tempfile.TemporaryDirectory(prefix="civichub-video-") as folder:
        path = Path(folder) / "upload"
        size = 0
        with path.open("wb") as out:
            while chunk := upload.read(_COPY_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise ValidationFailed.on(
                        field,
                        _("视频文件超过了 %(mb)d MB 的上限。") % {"mb": limit // (1024 * 1024)},
                    )
                out.write(chunk)
        if size == 0:
            raise ValidationFailed.on(field, _("视频文件是空的。"))
        yield path, size


def video_upload(*, actor: User | None, account: BroadcastAccount, video: VideoIn) -> PostVideo:
    """A video uploaded ahead of its post: probed now, transcoded by a task after commit,
    attached by `post_publish(video_id=...)` once ready. The copy and the probe happen before
    the transaction, which then only writes the row and the audit record."""
    if actor is not None:
        require(actor, "broadcast.post.publish", account)
    description = check_text("description", video.description, ALT_TEXT_MAX_CHARS, required=False)
    captions = captions_checked(video.captions)
    lang = _language_checked(video.captions_lang)
    with _received(video.file, field="file") as (path, size):
        probed = video_probe(path)
        row = PostVideo(
            account=account,
            container=probed.container,
            description=description,
            captions=captions,
            captions_lang=lang,
            duration=probed.duration,
            width=probed.width,
            height=probed.height,
            size=size,
            uploaded_by=actor,
        )
        with path.open("rb") as stored:
            name = f"{account.handle}-{secrets.token_hex(8)}.{probed.container}"
            row.original.save(name, File(stored), save=False)
    with files_kept_on_commit(row.original.name):
        row.save()
        audit_record(
            actor=actor,
            action="broadcast.video.upload",
            obj=row,
            organisation=account.organisation,
            changes={
                "container": row.container,
                "size": size,
                "duration": round(row.duration, 3),
                "captions": bool(captions),
            },
        )
        video_id = row.pk
        transaction.on_commit(lambda: transcode_video.enqueue(video_id))
    return row


def _video_for_publisher(actor: User | None, video_id: int) -> PostVideo:
    found = (
        PostVideo.objects.select_for_update()
        .select_related("account__organisation")
        .filter(pk=video_id)
        .first()
    )
    if found is None:
        raise NotFound(_("没有这段视频。"))
    if actor is not None:
        require(actor, "broadcast.post.publish", found.account)
    return found


@transaction.atomic
def video_captions_set(
    *, actor: User | None, video_id: int, captions: str, captions_lang: str = "zh-Hans"
) -> PostVideo:
    """Sets (or, with empty text, removes) a video's WebVTT captions, before or after its post."""
    video = _video_for_publisher(actor, video_id)
    video.captions = captions_checked(captions)
    video.captions_lang = _language_checked(captions_lang)
    video.save(update_fields=["captions", "captions_lang"])
    audit_record(
        actor=actor,
        action="broadcast.video.captions",
        obj=video,
        organisation=video.account.organisation,
        changes={"captions": bool(video.captions), "lang": video.captions_lang},
    )
    return video


def video_warnings(video: PostVideo) -> list[str]:
    """What the publisher should fix before (or after) publishing; codes the pages and API
    show: `no_captions` (deaf viewers and muted phones see nothing of what is said)."""
    return [] if video.captions else ["no_captions"]


# Transcoding ---------------------------------------------------------------------------------


def rendition_heights(width: int, height: int) -> list[int]:
    """The configured renditions (by the frame's short side) the source reaches, never
    upscaled; a source below the smallest gets one rendition at its own size."""
    short = min(width, height)
    wanted = sorted({h for h in broadcast_settings().video_heights if 0 < h <= short})
    return wanted or [short - short % 2]


def _scale_filter(width: int, height: int, short: int) -> str:
    if width >= height:
        return f"scale=-2:{short}"
    return f"scale={short}:-2"


class _Progress:
    """Turns ffmpeg's position in each pass into per cent of the whole job, and hands it on
    at most every few per cent."""

    def __init__(self, total_seconds: float, report: Callable[[int], None]) -> None:
        self.total, self.done, self.shown, self.report = total_seconds, 0.0, 0, report

    def seen(self, seconds: float) -> None:
        percent = min(99, int(100 * (self.done + seconds) / self.total)) if self.total else 0
        if percent >= self.shown + 5:
            self.shown = percent
            self.report(percent)

    def finished_pass(self, seconds: float) -> None:
        self.done += seconds
        self.seen(0)


def _encode(
    source: Path, out: Path, *, probed: ProbedVideo, short: int, progress: _Progress
) -> None:
    args = [
        _binary("ffmpeg"),
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        *_INPUT_GUARD,
        "-i",
        str(source),
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        # The original's metadata (location, device, creation time, chapters) stays behind.
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
        "-vf",
        _scale_filter(probed.width, probed.height, short),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-profile:v",
        "high",
        "-pix_fmt",
        "yuv420p",
        "-force_key_frames",
        f"expr:gte(t,n_forced*{HLS_SEGMENT_SECONDS})",
        "-c:a",
        "aac",
        "-b:a",
        "128k",
        "-ac",
        "2",
        "-movflags",
        "+faststart",
        "-fflags",
        "+bitexact",
        "-flags:v",
        "+bitexact",
        "-flags:a",
        "+bitexact",
        "-progress",
        "pipe:1",
        "-y",
        str(out),
    ]
    process = subprocess.Popen(  # noqa: S603  # nosec B603
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    assert process.stdout is not None
    for raw in process.stdout:
        line = raw.decode("ascii", "replace").strip()
        if line.startswith("out_time_us="):
            value = line.partition("=")[2]
            if value.isdigit():
                progress.seen(int(value) / 1_000_000)
    stderr = process.stderr.read() if process.stderr else b""
    if process.wait(timeout=60) != 0:
        raise RuntimeError(stderr.decode("utf-8", "replace")[-200:] or "ffmpeg failed")
    progress.finished_pass(probed.duration)


def _segment(mp4: Path, folder: Path, name: str) -> None:
    result = _run(
        [
            _binary("ffmpeg"),
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            str(mp4),
            "-map",
            "0",
            "-c",
            "copy",
            "-map_metadata",
            "-1",
            "-f",
            "hls",
            "-hls_time",
            str(HLS_SEGMENT_SECONDS),
            "-hls_playlist_type",
            "vod",
            "-hls_segment_filename",
            str(folder / f"{name}_%03d.ts"),
            str(folder / f"{name}.m3u8"),
        ],
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr.decode("utf-8", "replace")[-200:] or "ffmpeg failed")


def _poster(mp4: Path, out: Path, duration: float) -> None:
    result = _run(
        [
            _binary("ffmpeg"),
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-ss",
            f"{min(1.0, duration / 2):.3f}",
            "-i",
            str(mp4),
            "-frames:v",
            "1",
            "-map_metadata",
            "-1",
            "-q:v",
            "3",
            "-y",
            str(out),
        ],
        timeout=120,
    )
    if result.returncode != 0 or not out.exists():
        raise RuntimeError(result.stderr.decode("utf-8", "replace")[-200:] or "no poster")


@dataclass(frozen=True)
class _Rendition:
    name: str
    width: int
    height: int
    bitrate: int
    frame_rate: str


def _described(mp4: Path, name: str) -> _Rendition:
    info = ffprobe_json(mp4) or {}
    video = next(s for s in info.get("streams", []) if s.get("codec_type") == "video")
    return _Rendition(
        name=name,
        width=int(video["width"]),
        height=int(video["height"]),
        bitrate=int((info.get("format") or {}).get("bit_rate") or 0),
        frame_rate=str(video.get("avg_frame_rate") or ""),
    )


def _master_playlist(renditions: list[_Rendition]) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3"]
    for r in renditions:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={max(r.bitrate, 1)},RESOLUTION={r.width}x{r.height}"
        )
        lines.append(f"{r.name}.m3u8")
    return "\n".join(lines) + "\n"


def video_outputs_write(
    source: Path, out: Path, probed: ProbedVideo, *, report: Callable[[int], None]
) -> list[_Rendition]:
    """Writes a video's outputs into the folder `out` (the MP4, the poster, the master
    playlist, each rendition's playlist and segments) from the file `source`, reporting
    progress in per cent. Touches no table: the task and the benchmark share it."""
    heights = rendition_heights(probed.width, probed.height)
    progress = _Progress(probed.duration * len(heights), report)
    renditions: list[_Rendition] = []
    for short in heights:
        name = f"{short}p"
        mp4 = out / f"{name}.mp4"
        _encode(source, mp4, probed=probed, short=short, progress=progress)
        _segment(mp4, out, name)
        renditions.append(_described(mp4, name))
    (out / f"{heights[-1]}p.mp4").rename(out / "video.mp4")
    for short in heights[:-1]:
        (out / f"{short}p.mp4").unlink()
    _poster(out / "video.mp4", out / "poster.jpg", probed.duration)
    (out / "master.m3u8").write_text(_master_playlist(renditions))
    return renditions


def video_transcode(*, video_id: int) -> PostVideo:
    """Transcodes an uploaded video (idempotent: a ready or failed video is left alone). Runs
    outside a transaction, since encoding takes long; the row changes at the end only, and a
    failure is recorded on the row for the publisher to see."""
    video = PostVideo.objects.select_related("account__organisation").filter(pk=video_id).first()
    if video is None or video.state != VideoState.PROCESSING:
        raise NotFound(_("没有待处理的这段视频。"))
    probed = ProbedVideo(
        container=video.container,
        duration=video.duration,
        width=video.width,
        height=video.height,
    )

    def report(percent: int) -> None:
        PostVideo.objects.filter(pk=video.pk, state=VideoState.PROCESSING).update(progress=percent)

    folder_name = f"broadcast/videos/{video.pk}-{secrets.token_hex(6)}"
    try:
        with tempfile.TemporaryDirectory(prefix="civichub-transcode-") as work:
            source = Path(work) / f"source.{video.container}"
            with video.original.open("rb") as original, source.open("wb") as copy:
                shutil.copyfileobj(original, copy, _COPY_CHUNK)
            out = Path(work) / "out"
            out.mkdir()
            renditions = video_outputs_write(source, out, probed, report=report)
            for path in sorted(out.iterdir()):
                with path.open("rb") as handle:
                    default_storage.save(f"{folder_name}/{path.name}", File(handle))
            mp4_size = (out / "video.mp4").stat().st_size
    except (RuntimeError, OSError, subprocess.SubprocessError, StopIteration) as error:
        return _video_failed(video, str(error))
    best = renditions[-1]
    original = video.original.name
    with transaction.atomic():
        changed = PostVideo.objects.filter(pk=video.pk, state=VideoState.PROCESSING).update(
            state=VideoState.READY,
            progress=100,
            folder=folder_name,
            renditions=[
                {"name": r.name, "width": r.width, "height": r.height, "bitrate": r.bitrate}
                for r in renditions
            ],
            mp4_size=mp4_size,
            out_width=best.width,
            out_height=best.height,
            bitrate=best.bitrate,
            frame_rate=best.frame_rate,
            ready_at=timezone.now(),
            original="",
        )
        if changed:
            audit_record(
                actor=None,
                action="broadcast.video.ready",
                obj=video,
                organisation=video.account.organisation,
                changes={"renditions": [r.name for r in renditions], "mp4_size": mp4_size},
            )
            # The original carries what was stripped from the outputs; it goes once committed.
            transaction.on_commit(lambda: default_storage.delete(original))
    video.refresh_from_db()
    return video


def _video_failed(video: PostVideo, error: str) -> PostVideo:
    with transaction.atomic():
        PostVideo.objects.filter(pk=video.pk, state=VideoState.PROCESSING).update(
            state=VideoState.FAILED, error=error.strip()[-200:]
        )
        audit_record(
            actor=None,
            action="broadcast.video.fail",
            obj=video,
            organisation=video.account.organisation,
            changes={"error": error.strip()[-200:]},
        )
    video.refresh_from_db()
    return video


@task(priority=priority(30))
def transcode_video(video_id: int) -> str:
    """Transcodes an uploaded video; enqueued by `video_upload` once the upload has committed."""
    with acting(channel="task"):
        try:
            return str(video_transcode(video_id=int(video_id)).state)
        except NotFound:
            return "gone"


UNATTACHED_VIDEO_HOURS = 24


def video_unattached_delete(*, older_than: dt.timedelta | None = None) -> int:
    """Removes videos uploaded for a post that was never published, with their files."""
    return unattached_delete(
        PostVideo,
        older_than=older_than or dt.timedelta(hours=UNATTACHED_VIDEO_HOURS),
        limit=200,
        action="broadcast.video.expire",
        counted="videos",
        remove=video_files_delete,
    )


def video_files_delete(video: PostVideo) -> None:
    if video.original:
        default_storage.delete(video.original.name)
    if video.folder:
        with contextlib.suppress(FileNotFoundError, NotImplementedError):
            _dirs, files = default_storage.listdir(video.folder)
            for name in files:
                default_storage.delete(f"{video.folder}/{name}")

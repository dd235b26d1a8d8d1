"""Benchmarks for broadcast at the scale of the largest government accounts.

    python benchmarks/broadcast.py [--database both|sqlite|postgres] [--quick]
        [--followers N] [--district-residents N] [--posts N] [--reposts N] [--feed-readers N]
        [--repost-clients threads|processes] [--postgres URL]

Prints `name: value` lines on stdout (progress bars go to stderr). For each database a child
process gets a fresh data directory (and, for PostgreSQL, a scratch database dropped afterwards)
and bulk-loads, behind tqdm progress bars:

- one account ("safe-qingshan") followed by N users (default 12,500,000): minimal accounts with
  an unusable password, inserted by COPY (PostgreSQL) or executemany in large transactions
  (SQLite, with load-time PRAGMAs), each table's secondary indexes and foreign keys dropped
  during the load and built afterwards;
- the first `--district-residents` of them (default 1,000,000) are residents of one district,
  with a phone, the audience of the alert;
- a 10-follower account and 100 other accounts; `--feed-readers` residents (default 1,000) who
  also follow 19 to 99 of the other accounts (20 to 100 in all, the big one among them);
- `--posts` posts (default 1,000,000) spread over the big account and the 100 others.

Then it measures:

- `publish_ratio`: median latency of `post_publish` for the N-follower account divided by the
  same for the 10-follower account (target ≤ 1.5); samples alternate between the two.
- `home_feed_first_page_p99_ms`: p99 of `home_feed` (first page of 20) over the readers, five
  rounds (target ≤ 20 ms).
- `reposts_per_second`: `--reposts` reposts (default 290,000) of one post by distinct residents
  from 8 concurrent clients through `repost_create`; `reposts_exact` says whether the post's
  counter equals the number of rows and of reposts made, and each client also repeats one
  repost, which must be refused and count nothing (target ≥ 2,000/s). Then the kill -9 check
  (`reposts_kill9_*`): a quarter of those residents repost another post from 8 processes, each
  logging every repost acknowledged to it; one is killed with SIGKILL a third of the way
  through. `reposts_kill9_exact` says whether every acknowledged repost was stored with its
  audit row, the counter equals the rows, and at most one repost per killed client was stored
  without its acknowledgement.
- `alert_deliveries_queued_per_second`: `alert_push` of an alert for the district: inbox rows and
  one SMS delivery per resident written to the outbox and the delivery tasks enqueued, divided by
  its wall time (target ≥ 100,000/s).
- `peak_memory_mib`: the peak resident set of the child process (`getrusage`).

Then, once, without a database (`--only-video` runs this part alone): a generated
`--video-seconds` clip (default 60; 1280x720, 30 frames/s, H.264/AAC, ffmpeg's `testsrc2`
pattern, which is harder to compress than a still scene) is transcoded by the same function the
task uses (`video_outputs_write`: the profile's renditions, default 360p and 720p, each an
H.264/AAC encode cut into HLS, the MP4 and the poster), and

- `video.transcode_seconds_per_minute`: its wall time per minute of video, on every core the
  machine gives (ffmpeg's own threading);
- `video.decode_only_seconds_per_minute`: the baseline in the same run: ffmpeg only decoding
  the same clip (`-f null`), the floor no transcoder goes below.

Last (`--only-federation` runs this part alone), in a process of its own
(benchmarks/broadcast_federation.py): one post delivered to `--remote-servers` followers on as
many simulated servers (default 1,000; local inboxes in another process), on each database of
`--database` — `federation.<database>.activities_per_second` (signed deliveries made,
wall-clock and per CPU-second), with the publish and fan-out times.

Then (`--only-streams` runs this part alone; benchmarks/broadcast_streams.py): live updates
for a city — `--streams` open Mastodon streams (default 10,000) against `civichub serve`, one
post published, the time until every stream has it (p50/p99/max, dropped streams) and the
server's memory per stream; with one web process, then two with Redis between them.

`--only-databases` runs the database figures alone (publish, feeds, reposts, alert).

`--quick` is a smoke test of the script with small numbers, not a timing (200 streams).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.broadcast_reposts import measure_reposts  # noqa: E402
from benchmarks.common import (  # noqa: E402
    line,
    load_average,
    migrate_database,
    note,
    percentile,
    print_machine,
    run_measuring_child,
)

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "civichub_bench_broadcast"
SQLITE_CHUNK = 50_000
PROGRESS_STEP = 50_000
PREFIX = ""  # the database's name in the printed lines
QUICK = {
    "followers": 2_000,
    "district_residents": 1_000,
    "posts": 2_000,
    "reposts": 400,
    "feed_readers": 20,
}


def run_child(database: str, args: argparse.Namespace) -> int:
    data_dir = tempfile.mkdtemp(prefix="civichub-bench-broadcast-")
    env = dict(os.environ, CIVICHUB_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="civichub.settings")
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)  # the task queue in the database, as the embedded install has it
    # Under `immediate` (a test run's setting) the timed alert push would return the push
    # already made, and the figure would time nothing.
    env.pop("CIVICHUB_TASK_BACKEND", None)
    env.pop("CIVICHUB_TEST_DATABASE_URL", None)
    env["CIVICHUB_DB_POOL"] = "off"  # one connection per client, as the services run in tasks
    command = [sys.executable, __file__, "--measure", database]
    for option in ("followers", "district_residents", "posts", "reposts", "feed_readers"):
        command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    command += ["--repost-clients", args.repost_clients]
    return run_measuring_child(
        command, env, database=database, postgres=args.postgres, name=DATABASE, data_dir=data_dir
    )


# Inside the child: loading ---------------------------------------------------------------------


def _progress(total: int, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="row", unit_scale=True, file=sys.stderr, mininterval=2)


def bulk_insert(
    table: str, columns: list[str], rows: Iterable[tuple[Any, ...]], total: int
) -> None:
    """COPY on PostgreSQL, executemany in large transactions on SQLite, streamed from a
    generator (never a list of all rows), behind a progress bar."""
    from django.db import connection, transaction

    bar = _progress(total, table)
    names = ", ".join(columns)
    with transaction.atomic():
        _insert(connection, table, names, len(columns), rows, bar)
    bar.close()


def _insert(
    connection: Any, table: str, names: str, width: int, rows: Iterable[Any], bar: Any
) -> None:
    raw = connection.connection
    if connection.vendor == "postgresql":
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
        ):
            done = 0
            for row in rows:
                copy.write_row(row)
                done += 1
                if done % PROGRESS_STEP == 0:
                    bar.update(PROGRESS_STEP)
            bar.update(done % PROGRESS_STEP)
    else:
        marks = ", ".join("?" for _ in range(width))
        sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608
        chunk: list[tuple[Any, ...]] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) == SQLITE_CHUNK:
                raw.executemany(sql, chunk)
                bar.update(len(chunk))
                chunk = []
        if chunk:
            raw.executemany(sql, chunk)
            bar.update(len(chunk))


@contextlib.contextmanager
def indexes_built_after(tables: list[str]) -> Iterator[None]:
    """Drops the tables' secondary indexes, unique and foreign-key constraints for the load and
    builds them again afterwards: one sort per index instead of a tree insert per row."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET maintenance_work_mem = '512MB'")
            constraints: list[tuple[str, str, str, str]] = []
            indexes: list[str] = []
            for table in tables:
                cursor.execute(
                    "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint"
                    " WHERE conrelid = %s::regclass AND contype IN ('f', 'u')",
                    [table],
                )
                constraints += [(table, name, kind, ddl) for name, kind, ddl in cursor.fetchall()]
                cursor.execute(
                    "SELECT indexdef FROM pg_indexes i WHERE tablename = %s AND NOT EXISTS"
                    " (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
                    [table],
                )
                indexes += [row[0] for row in cursor.fetchall()]
            for table, name, _kind, _ddl in constraints:
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for ddl in indexes:
                name = ddl.split(" INDEX ", 1)[1].split(" ON ", 1)[0]
                cursor.execute(f"DROP INDEX {name}")
            yield
            started = time.perf_counter()
            for ddl in indexes:
                cursor.execute(ddl)
            for kind in ("u", "f"):  # unique keys before the foreign keys that may need them
                for table, name, k, ddl in constraints:
                    if k == kind:
                        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {ddl}')
        else:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"  # noqa: S608
                f" AND tbl_name IN ({', '.join('%s' for _ in tables)})",
                tables,
            )
            sqlite_indexes = cursor.fetchall()
            for name, _ddl in sqlite_indexes:
                cursor.execute(f'DROP INDEX "{name}"')
            yield
            started = time.perf_counter()
            for _name, ddl in sqlite_indexes:
                cursor.execute(ddl)
    line(f"{PREFIX}.load_index_build_seconds", f"{time.perf_counter() - started:.1f}")


@contextlib.contextmanager
def sqlite_load_pragmas() -> Iterator[None]:
    """No fsync and no foreign-key checks while loading generated, consistent rows."""
    from django.db import connection

    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA foreign_keys = OFF")
        cursor.execute("PRAGMA synchronous = OFF")
        cursor.execute("PRAGMA cache_size = -262144")  # 256 MiB
        cursor.execute("PRAGMA temp_store = MEMORY")
        yield
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")


def db_time(value: dt.datetime) -> Any:
    from django.db import connection

    if connection.vendor == "postgresql":
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")


def next_id(model: Any) -> int:
    from django.db.models import Max

    return int(model.objects.aggregate(m=Max("id"))["m"] or 0) + 1


def reset_sequences(models: list[Any]) -> None:
    """COPY with explicit ids leaves PostgreSQL's sequences behind."""
    from django.core.management.color import no_style
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)


def timed_phase(name: str, func: Callable[[], None]) -> None:

    started = time.perf_counter()
    func()
    line(f"{PREFIX}.load_seconds.{name}", f"{time.perf_counter() - started:.1f}")


def load(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection

    from civichub.broadcast import services
    from civichub.broadcast.models import BroadcastAccount, Follow, Post
    from civichub.broadcast.permissions import PUBLISHER
    from civichub.core.models import Resident, User
    from civichub.testing.city import build_city, staff_user

    city = build_city()
    publisher = staff_user(PUBLISHER, city.city, username="bench-publisher")
    big = services.account_create(
        actor=None, organisation=city.police_city, handle="safe-qingshan", name="平安青山"
    )
    small = services.account_create(
        actor=None, organisation=city.police_city, handle="small", name="小账号"
    )
    others = [
        services.account_create(
            actor=None, organisation=city.city, handle=f"acct{i}", name=f"账号{i}"
        )
        for i in range(100)
    ]
    n, district = args.followers, min(args.district_residents, args.followers)
    stamp = db_time(dt.datetime.now(dt.UTC))
    first_resident, first_user = next_id(Resident), next_id(User)
    rng = random.Random(7)
    readers = [first_user + n - 1 - i for i in range(min(args.feed_readers, n))]
    reader_follows = {reader: rng.sample(others, rng.randint(19, 99)) for reader in readers}
    user_table, follow_table = User._meta.db_table, Follow._meta.db_table

    def residents() -> None:
        bulk_insert(
            Resident._meta.db_table,
            [
                "id",
                "name",
                "name_en",
                "phone",
                "address",
                "community_id",
                "crs",
                "identity_hash",
                "identity_last4",
                "created_at",
                "updated_at",
            ],
            (
                (
                    first_resident + i,
                    f"居民{i}",
                    "",
                    f"139{i:08d}",
                    "",
                    city.community_a1.pk,
                    "gcj02",
                    "",
                    "",
                    stamp,
                    stamp,
                )
                for i in range(district)
            ),
            district,
        )

    def users() -> None:
        # "!" is an unusable password (Django's prefix): these accounts cannot sign in.
        bulk_insert(
            user_table,
            [
                "id",
                "password",
                "is_superuser",
                "username",
                "first_name",
                "last_name",
                "email",
                "is_staff",
                "is_active",
                "date_joined",
                "phone",
                "language",
                "resident_id",
            ],
            (
                (
                    first_user + i,
                    "!",
                    False,
                    f"r{i:09d}",
                    "",
                    "",
                    "",
                    False,
                    True,
                    stamp,
                    "",
                    "zh-hans",
                    first_resident + i if i < district else None,
                )
                for i in range(n)
            ),
            n,
        )

    def follows() -> None:
        def rows() -> Iterator[tuple[Any, ...]]:
            for i in range(n):
                yield (first_user + i, big.pk, stamp)
            for i in range(10):
                yield (first_user + i, small.pk, stamp)
            for reader, accounts in reader_follows.items():
                for account in accounts:
                    yield (reader, account.pk, stamp)

        total = n + 10 + sum(len(a) for a in reader_follows.values())
        bulk_insert(follow_table, ["user_id", "account_id", "created_at"], rows(), total)

    accounts = [big, *others]
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=365)
    step = dt.timedelta(days=365) / max(args.posts, 1)

    def posts() -> None:
        bulk_insert(
            Post._meta.db_table,
            [
                "account_id",
                "text",
                "text_en",
                "category",
                "state",
                "published_at",
                "created_at",
                "reposts_count",
                "favourites_count",
                "comments_count",
                "is_alert",
                "cap_category",
                "cap_event",
                "cap_urgency",
                "cap_severity",
                "cap_certainty",
                "cap_instruction",
                "cap_headline",
                "cap_event_en",
                "cap_headline_en",
                "cap_instruction_en",
            ],
            (
                (
                    accounts[i % len(accounts)].pk,
                    f"发布 {i}",
                    "",
                    "news",
                    "published",
                    db_time(start + step * i),
                    stamp,
                    0,
                    0,
                    0,
                    False,
                    *[""] * 10,
                )
                for i in range(args.posts)
            ),
            args.posts,
        )

    tables = [Resident._meta.db_table, user_table, follow_table, Post._meta.db_table]
    with sqlite_load_pragmas(), indexes_built_after(tables):
        timed_phase("residents", residents)
        timed_phase("users", users)
        timed_phase("follows", follows)
        timed_phase("posts", posts)
    reset_sequences([Resident, User, Follow, Post])
    BroadcastAccount.objects.filter(pk=big.pk).update(followers_count=n)
    BroadcastAccount.objects.filter(pk=small.pk).update(followers_count=10)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    line(f"{PREFIX}.load_analyze_seconds", f"{time.perf_counter() - started:.1f}")
    return {
        "city": city,
        "publisher": publisher,
        "big": big,
        "small": small,
        "first_user": first_user,
        "readers": readers,
    }


# Inside the child: measuring -------------------------------------------------------------------


def measure(database: str, args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from civichub.broadcast import selectors, services
    from civichub.broadcast.models import Post
    from civichub.core.models import User
    from civichub.notify.models import Delivery, Notification

    global PREFIX
    p = PREFIX = database
    migrate_database()
    line(f"{p}.vendor", connection.vendor)
    started = time.perf_counter()
    data = load(args)
    line(f"{p}.load_seconds", f"{time.perf_counter() - started:.1f}")
    line(f"{p}.followers", User.objects.filter(broadcast_follows__account=data["big"]).count())
    line(f"{p}.district_residents", min(args.district_residents, args.followers))
    line(f"{p}.posts", Post.objects.count())
    line(f"{p}.accounts", 102)
    line(f"{p}.peak_memory_mib_after_load", peak_memory_mib())

    publisher = data["publisher"]

    def publish(account: Any) -> float:
        started = time.perf_counter()
        services.post_publish(actor=publisher, account=account, text="出行提示", category="traffic")
        return time.perf_counter() - started

    for _ in range(5):  # warm caches
        publish(data["small"])
        publish(data["big"])
    big_samples, small_samples = [], []
    for _ in range(100):
        big_samples.append(publish(data["big"]))
        small_samples.append(publish(data["small"]))
    big, small = statistics.median(big_samples), statistics.median(small_samples)
    line(f"{p}.publish_median_ms_{args.followers}_followers", f"{big * 1000:.2f}")
    line(f"{p}.publish_median_ms_10_followers", f"{small * 1000:.2f}")
    line(f"{p}.publish_ratio", f"{big / small:.2f}")

    readers = list(User.objects.filter(pk__in=data["readers"]))
    for reader in readers:
        selectors.home_feed(reader)  # warm
    samples = []
    for _ in range(5):
        for reader in readers:
            started = time.perf_counter()
            page = selectors.home_feed(reader)
            samples.append(time.perf_counter() - started)
            assert len(page.posts) == selectors.PAGE_SIZE
    line(f"{p}.home_feed_readers", len(readers))
    line(f"{p}.home_feed_first_page_p50_ms", f"{percentile(samples, 0.5) * 1000:.2f}")
    line(f"{p}.home_feed_first_page_p99_ms", f"{percentile(samples, 0.99) * 1000:.2f}")

    measure_reposts(p, args, data)  # benchmarks/broadcast_reposts.py

    alert = services.post_publish(
        actor=publisher,
        account=data["big"],
        text="东湖区暴雨红色预警",
        category="weather",
        target_area_ids=[data["city"].district_a.pk],
        alert=services.AlertFields(
            category="Met",
            event="暴雨",
            urgency="Immediate",
            severity="Extreme",
            certainty="Likely",
            expires=timezone.now() + dt.timedelta(hours=6),
        ),
    )
    started = time.perf_counter()
    push = services.alert_push(post_id=alert.pk)
    elapsed = time.perf_counter() - started
    assert push.dispatch is not None
    deliveries = Delivery.objects.filter(notification__dispatch=push.dispatch).count()
    line(f"{p}.alert_recipients", push.dispatch.recipient_count)
    line(f"{p}.alert_inbox_rows", Notification.objects.filter(dispatch=push.dispatch).count())
    line(f"{p}.alert_deliveries", deliveries)
    line(f"{p}.alert_seconds", f"{elapsed:.2f}")
    line(f"{p}.alert_deliveries_queued_per_second", f"{deliveries / elapsed:.0f}")
    line(f"{p}.peak_memory_mib", peak_memory_mib())
    line(f"{p}.load_average_end", load_average())


def peak_memory_mib() -> str:
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database", choices=["both", "sqlite", "postgres"], default="both")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--quick", action="store_true", help="small numbers: a smoke test")
    parser.add_argument("--followers", type=int, default=12_500_000)
    parser.add_argument("--district-residents", type=int, default=1_000_000)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--reposts", type=int, default=290_000)
    parser.add_argument("--feed-readers", type=int, default=1_000)
    parser.add_argument("--repost-clients", choices=["threads", "processes"], default="processes")
    parser.add_argument("--video-seconds", type=int, default=60)
    parser.add_argument("--only-video", action="store_true", help="only the transcoding figures")
    parser.add_argument("--remote-servers", type=int, default=1000)
    parser.add_argument(
        "--only-federation", action="store_true", help="only the remote delivery figures"
    )
    parser.add_argument("--streams", type=int, default=10_000, help="open live-update streams")
    parser.add_argument("--only-streams", action="store_true", help="only the live updates")
    parser.add_argument(
        "--only-databases",
        action="store_true",
        help="only the database figures (publish, feeds, reposts, alert)",
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
        args.video_seconds = min(args.video_seconds, 5)
        args.remote_servers = min(args.remote_servers, 50)
        args.streams = min(args.streams, 200)
    if args.measure:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civichub.settings")
        measure(args.measure, args)
        return 0
    print_machine(sqlite=True)  # the children set Django up, each with its own data directory
    status = 0
    only = args.only_video or args.only_federation or args.only_streams or args.only_databases
    if not only or args.only_databases:
        databases = ["sqlite", "postgres"] if args.database == "both" else [args.database]
        for database in databases:
            status |= run_child(database, args)
    if not only or args.only_video:
        measure_transcoding(args.video_seconds)
    if not only or args.only_federation:
        # Remote delivery rate (benchmarks/broadcast_federation.py), in a process of its own.
        script = Path(__file__).with_name("broadcast_federation.py")
        command = [sys.executable, str(script), "--inboxes", str(args.remote_servers)]
        command += ["--database", args.database, "--postgres", args.postgres]
        status |= subprocess.run(command, check=False).returncode
    if not only or args.only_streams:
        # Live updates for a city (benchmarks/broadcast_streams.py), servers of their own.
        script = Path(__file__).with_name("broadcast_streams.py")
        command = [sys.executable, str(script), "--streams", str(args.streams)]
        status |= subprocess.run(command, check=False).returncode
    return status


def _ffmpeg(*arguments: str) -> float:
    """Runs ffmpeg; returns its wall time in seconds."""
    start = time.perf_counter()
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *arguments],
        check=True,
    )
    return time.perf_counter() - start


def measure_transcoding(seconds: int) -> None:
    """Transcoding time per minute of video against decoding alone, in this process (no
    database: `video_outputs_write` touches no table)."""
    if shutil.which("ffmpeg") is None:
        note("ffmpeg is not installed: no transcoding figures")
        return
    with tempfile.TemporaryDirectory(prefix="civichub-bench-video-") as work:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civichub.settings")
        os.environ["CIVICHUB_DATA_DIR"] = work
        import django

        django.setup()
        from civichub.broadcast.conf import broadcast_settings
        from civichub.broadcast.services.video import video_outputs_write, video_probe

        folder = Path(work)
        source = folder / "source.mp4"
        note(f"generating a {seconds} s 1280x720 clip")
        _ffmpeg(
            *["-f", "lavfi", "-i", f"testsrc2=duration={seconds}:size=1280x720:rate=30"],
            *["-f", "lavfi", "-i", f"sine=duration={seconds}:frequency=440", "-shortest"],
            *["-c:v", "libx264", "-preset", "medium", "-crf", "20", "-c:a", "aac", str(source)],
        )
        probed = video_probe(source)
        heights = ",".join(f"{h}p" for h in broadcast_settings().video_heights)
        line("video.source", f"1280x720 30 fps H.264/AAC testsrc2, {probed.duration:.1f} s")
        line("video.renditions", heights)
        line("video.load_average_start", load_average())
        decode = _ffmpeg("-i", str(source), "-f", "null", "-")
        out = folder / "out"
        out.mkdir()
        start = time.perf_counter()
        renditions = video_outputs_write(source, out, probed, report=lambda _percent: None)
        transcode = time.perf_counter() - start
        per_minute = 60 / probed.duration
        line("video.decode_only_seconds_per_minute", f"{decode * per_minute:.1f}")
        line("video.transcode_seconds_per_minute", f"{transcode * per_minute:.1f}")
        line("video.transcode_vs_decode_only", f"{transcode / decode:.1f}")
        line("video.outputs", ", ".join(f"{r.name} {r.width}x{r.height}" for r in renditions))
        line("video.load_average_end", load_average())


if __name__ == "__main__":
    sys.exit(main())

"""Benchmarks for broadcast.

    python benchmarks/broadcast.py [--databases sqlite,postgres] [--followers N] [--posts N]
        [--reposts N] [--feed-readers N]

Prints `name: value` lines on stdout (progress bars go to stderr). For each database a child
process gets a fresh data directory (and, for PostgreSQL, a fresh database dropped afterwards),
builds the test city and bulk-loads the data: N resident accounts in one district who all
follow one account ("safe-qingshan"), a 10-follower account, 100 other accounts, and the posts.
Loading uses COPY on PostgreSQL and executemany on SQLite, behind tqdm progress bars.

- `publish_ratio`: median latency of `post_publish` for the N-follower account divided by the
  same for the 10-follower account (target ≤ 1.5). Publishing writes nothing per follower.
- `home_feed_first_page_p99_ms`: p99 of `home_feed` (first page of 20) for residents who follow
  20 to 100 accounts plus the big one (target ≤ 20 ms).
- `reposts_per_second`: reposts of one post by distinct residents from 8 threads through
  `repost_create`, and whether the final counter equals the number of rows (must be exact).
- `alert_deliveries_queued_per_second`: an alert to the district of the N residents, pushed by
  `alert_push` through the outbox (inbox rows plus one SMS delivery each).
- `peak_memory_mib`: the child process's peak resident set.

The defaults are the issue's figures (12,500,000 followers, 1,000,000 posts, 290,000 reposts);
pass smaller numbers to finish sooner. The printed `*.followers` etc. are the actual sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "civichub_bench_broadcast"
THREADS = 8
CHUNK = 20_000


def line(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def print_machine() -> None:
    import django

    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                model = row.split(":", 1)[1].strip()
                break
    line("machine.cpu_model", model)
    line("machine.cpu_cores", len(os.sched_getaffinity(0)))
    with contextlib.suppress(OSError, ValueError):
        for row in Path("/proc/meminfo").read_text().splitlines():
            if row.startswith("MemTotal:"):
                line("machine.memory_gib", f"{int(row.split()[1]) / 1024**2:.1f}")
    line("machine.python", platform.python_version())
    line("machine.django", django.get_version())


@contextlib.contextmanager
def postgres_database(server_url: str) -> Iterator[str]:
    import psycopg

    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    try:
        yield f"{server_url}/{DATABASE}"
    finally:
        with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def run_child(database: str, args: argparse.Namespace) -> int:
    data_dir = tempfile.mkdtemp(prefix="civichub-bench-broadcast-")
    env = dict(os.environ, CIVICHUB_DATA_DIR=data_dir, DJANGO_SETTINGS_MODULE="civichub.settings")
    env.pop("DATABASE_URL", None)
    command = [sys.executable, __file__, "--measure", database]
    for option in ("followers", "posts", "reposts", "feed_readers"):
        command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    try:
        with contextlib.ExitStack() as stack:
            if database == "postgres":
                env["DATABASE_URL"] = stack.enter_context(postgres_database(args.postgres))
            return subprocess.run(command, env=env, check=False).returncode
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


# Inside the child -----------------------------------------------------------------------------


def bulk_insert(
    table: str, columns: list[str], rows: Iterator[tuple[Any, ...]], total: int
) -> None:
    """COPY on PostgreSQL, executemany on SQLite, in chunks, behind a progress bar."""
    from django.db import connection, transaction
    from tqdm import tqdm

    bar = tqdm(total=total, desc=table, unit="row", file=sys.stderr, mininterval=1.0)
    names = ", ".join(columns)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                raw = cursor.cursor
                with raw.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                        bar.update(1)
        else:
            marks = ", ".join("?" for _ in columns)
            sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608
            raw = connection.connection
            assert raw is not None
            chunk: list[tuple[Any, ...]] = []
            for row in rows:
                chunk.append(row)
                if len(chunk) == CHUNK:
                    raw.executemany(sql, chunk)
                    bar.update(len(chunk))
                    chunk = []
            if chunk:
                raw.executemany(sql, chunk)
                bar.update(len(chunk))
    bar.close()


def db_time(value: dt.datetime) -> Any:
    from django.db import connection

    if connection.vendor == "postgresql":
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")


def max_id(model: Any) -> int:
    from django.db.models import Max

    return int(model.objects.aggregate(m=Max("id"))["m"] or 0)


def load(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection

    from civichub.broadcast import services
    from civichub.broadcast.models import BroadcastAccount, Follow, Post
    from civichub.broadcast.permissions import PUBLISHER
    from civichub.core.models import Resident, User
    from civichub.core.testing import build_city, staff_user

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
    n = args.followers
    now = dt.datetime.now(dt.UTC)
    stamp = db_time(now)
    first_resident = max_id(Resident) + 1
    bulk_insert(
        Resident._meta.db_table,
        [
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
            (f"居民{i}", "", f"139{i:08d}", "", city.community_a1.pk, "gcj02", "", "", stamp, stamp)
            for i in range(n)
        ),
        n,
    )
    first_user = max_id(User) + 1
    bulk_insert(
        User._meta.db_table,
        [
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
            ("!", False, f"r{i}", "", "", "", False, True, stamp, "", "zh-hans", first_resident + i)
            for i in range(n)
        ),
        n,
    )
    follow_table = Follow._meta.db_table
    bulk_insert(
        follow_table,
        ["user_id", "account_id", "created_at"],
        ((first_user + i, big.pk, stamp) for i in range(n)),
        n,
    )
    BroadcastAccount.objects.filter(pk=big.pk).update(followers_count=n)
    bulk_insert(
        follow_table,
        ["user_id", "account_id", "created_at"],
        ((first_user + i, small.pk, stamp) for i in range(10)),
        10,
    )
    BroadcastAccount.objects.filter(pk=small.pk).update(followers_count=10)
    # Readers: the last `feed_readers` residents also follow 20 to 100 of the other accounts.
    rng = random.Random(7)
    readers = [first_user + n - 1 - i for i in range(min(args.feed_readers, n))]
    reader_follows = [
        (reader, account.pk)
        for reader in readers
        for account in rng.sample(others, rng.randint(20, 100))
    ]
    bulk_insert(
        follow_table,
        ["user_id", "account_id", "created_at"],
        ((user, account, stamp) for user, account in reader_follows),
        len(reader_follows),
    )
    accounts = [big, *others]
    posts = args.posts
    start = now - dt.timedelta(days=365)
    step = dt.timedelta(days=365) / max(posts, 1)
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
                "",
                "",
                "",
                "",
                "",
                "",
            )
            for i in range(posts)
        ),
        posts,
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {
        "city": city,
        "publisher": publisher,
        "big": big,
        "small": small,
        "first_user": first_user,
        "readers": readers,
    }


def timed(func: Any, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        samples.append(time.perf_counter() - started)
    return samples


def measure(database: str, args: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections
    from django.utils import timezone

    from civichub.broadcast import selectors, services
    from civichub.broadcast.models import Post, Repost
    from civichub.core.models import User
    from civichub.notify.models import Delivery

    p = database
    call_command("migrate", interactive=False, verbosity=0)
    line(f"{p}.vendor", connection.vendor)
    started = time.perf_counter()
    data = load(args)
    line(f"{p}.load_seconds", f"{time.perf_counter() - started:.1f}")
    line(f"{p}.followers", args.followers)
    line(f"{p}.posts", Post.objects.count())
    line(f"{p}.accounts", 102)

    publisher = data["publisher"]

    def publish(account: Any) -> None:
        services.post_publish(actor=publisher, account=account, text="出行提示", category="traffic")

    publish(data["small"])  # warm caches
    big = statistics.median(timed(lambda: publish(data["big"]), 50))
    small = statistics.median(timed(lambda: publish(data["small"]), 50))
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
    samples.sort()
    line(f"{p}.home_feed_readers", len(readers))
    line(f"{p}.home_feed_first_page_p50_ms", f"{samples[len(samples) // 2] * 1000:.2f}")
    line(
        f"{p}.home_feed_first_page_p99_ms",
        f"{samples[min(len(samples) - 1, int(0.99 * len(samples)))] * 1000:.2f}",
    )

    target = services.post_publish(
        actor=publisher, account=data["big"], text="转发测试", category="news"
    )
    reposts = min(args.reposts, args.followers)
    ids = list(range(data["first_user"], data["first_user"] + reposts))
    users = {u.pk: u for u in User.objects.filter(pk__in=ids)}
    errors: list[str] = []
    lock = threading.Lock()

    def worker(share: list[int]) -> None:
        try:
            for pk in share:
                for attempt in range(20):
                    try:
                        services.repost_create(actor=users[pk], post_id=target.pk)
                        break
                    except django.db.utils.OperationalError:  # SQLite: database is locked
                        time.sleep(0.001 * (attempt + 1))
                else:
                    with lock:
                        errors.append(f"gave up on {pk}")
        finally:
            connections.close_all()

    shares = [ids[i::THREADS] for i in range(THREADS)]
    started = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(worker, shares))
    elapsed = time.perf_counter() - started
    target.refresh_from_db()
    rows = Repost.objects.filter(post=target).count()
    line(f"{p}.reposts", reposts)
    line(f"{p}.reposts_per_second", f"{reposts / elapsed:.0f}")
    line(f"{p}.reposts_counter", target.reposts_count)
    line(f"{p}.reposts_rows", rows)
    line(f"{p}.reposts_exact", target.reposts_count == rows == reposts and not errors)

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
    deliveries = Delivery.objects.filter(notification__dispatch=push.dispatch).count()
    line(f"{p}.alert_recipients", push.dispatch.recipient_count if push.dispatch else 0)
    line(f"{p}.alert_deliveries", deliveries)
    line(f"{p}.alert_seconds", f"{elapsed:.2f}")
    line(f"{p}.alert_deliveries_queued_per_second", f"{deliveries / elapsed:.0f}")
    line(
        f"{p}.peak_memory_mib",
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--followers", type=int, default=12_500_000)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--reposts", type=int, default=290_000)
    parser.add_argument("--feed-readers", type=int, default=200)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civichub.settings")
        measure(args.measure, args)
        return 0
    print_machine()
    status = 0
    for database in args.databases.split(","):
        status |= run_child(database.strip(), args)
    return status


if __name__ == "__main__":
    sys.exit(main())

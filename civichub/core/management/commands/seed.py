"""`civichub seed`: write the demo city into an empty database.

`--size small` (hundreds of residents, seconds) is what the demo and the tests use; `--size city`
(more than 500,000 residents, minutes) is for benchmarks. The same `--seed` always gives the same
city. It never adds to a database that already holds organisations.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from civichub.core import demo
from civichub.core.context import acting


class Command(BaseCommand):
    help = "生成演示城市 / Seed the demo city into an empty database."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--size",
            choices=demo.SIZES,
            default="small",
            help="small: 几百位居民，数秒 / hundreds of residents, seconds; "
            "city: 50 万以上居民，数分钟 / over 500,000 residents, minutes.",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=demo.DEFAULT_SEED,
            help=f"随机种子 / random seed (default {demo.DEFAULT_SEED}).",
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="不显示进度条 / no progress bar."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            empty = demo.database_is_empty()
        except DatabaseError as exc:
            raise CommandError(
                "数据库尚未初始化，请先运行 `civichub migrate`。"
                " / The database is not set up; run `civichub migrate` first."
            ) from exc
        if not empty:
            raise CommandError(
                "数据库中已有组织机构，演示城市只能写入空数据库。"
                " / The database already holds organisations; the demo city is only seeded "
                "into an empty database (use a new data directory or database)."
            )
        with acting(channel="cli"):
            summary = demo.seed_city(
                size=options["size"], seed=options["seed"], progress=not options["no_progress"]
            )
        lines = [
            f"演示城市已生成 / Demo city seeded: size={summary.size} seed={summary.seed}",
            f"  组织机构 organisations: {summary.organisations}"
            f" (社区 communities {summary.communities}, 部门 departments {summary.departments})",
            f"  居民 residents: {summary.residents} in {summary.import_batches} batches",
            f"  账号 accounts: {summary.users}"
            f" (居民账号 resident accounts {summary.resident_accounts})",
            f"  角色授权 role assignments: {summary.role_assignments}",
            f"  模块 modules: {', '.join(summary.modules) or '-'}",
            f"  用时 seconds: {summary.seconds:.1f}",
            "",
            "演示账号 / Demo logins:",
        ]
        for login in demo.demo_logins(seed=summary.seed):
            lines.append(
                f"  {login.username:<10} {login.password:<20} {login.role:<19}"
                f" {login.organisation_name} / {login.organisation_name_en}"
            )
        self.stdout.write("\n".join(lines))

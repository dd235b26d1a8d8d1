"""Screenshots of each journey's main pages at phone width (390×844), for the README and the
docs: a resident sends a message and follows a notification, a community worker's inbox map and
a message's actions, a publisher's compose page with its preview, and a wellbeing alert handled
by a community worker.

It starts `civichub demo` on a fresh data directory, waits until the demo city is seeded, walks
the pages in Chromium (Debian's /usr/bin/chromium through Playwright) and writes small PNGs
(palette of 256 colours, optimised) beside this file, named `<page>.png` in Chinese and
`<page>-en.png` with `--language en`. Chinese text needs a CJK font
(Debian: `apt-get install fonts-noto-cjk`).

    python docs/screenshots/take.py [--port 8765] [--language zh-Hans|en]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess  # nosec B404 - starts this project's own `civichub demo`
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.sync_api import Page, sync_playwright

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
PHONE = {"width": 390, "height": 844}
SEEDING = "演示数据正在生成"
LOGINS = {
    "resident": "demo-resident-2026",
    "worker": "demo-worker-2026",
    "publisher": "demo-publisher-2026",
}


def wait_until_seeded(base: str, demo: subprocess.Popen[bytes], timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if demo.poll() is not None:
            raise SystemExit(f"civichub demo stopped (exit status {demo.returncode})")
        try:
            page = f"{base}/accounts/login/"  # always http://127.0.0.1
            with urllib.request.urlopen(page, timeout=5) as answer:  # noqa: S310  # nosec B310
                if SEEDING not in answer.read().decode("utf-8", "replace"):
                    return
        except OSError:
            pass
        time.sleep(3)
    raise SystemExit(f"the demo at {base} was not ready within {timeout:.0f} s")


# "" for Chinese (the README's), "-en" for English: set by main().
SUFFIX = {"language": ""}


def english() -> bool:
    return SUFFIX["language"] == "-en"


def save(page: Page, name: str) -> Path:
    """The visible phone screen as a small PNG: 390 px wide, 256 colours, optimised."""
    raw = page.screenshot(full_page=False)
    image = Image.open(io.BytesIO(raw)).convert("RGB")
    path = HERE / f"{name}{SUFFIX['language']}.png"
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    print(f"{path.name}: {path.stat().st_size // 1024} KiB")  # noqa: T201
    return path


def sign_in(page: Page, username: str) -> None:
    page.context.clear_cookies()
    page.goto("/accounts/login/")
    page.locator("#id_username").fill(username)
    page.locator("#id_password").fill(LOGINS[username])
    with page.expect_navigation():
        page.locator("main button[type=submit]").click()


def resident_journey(page: Page) -> None:
    sign_in(page, "resident")
    save(page, "resident-home")
    page.goto("/messages/new/")
    save(page, "resident-message-form")
    page.locator("#id_kind").select_option("complaint")
    if english():
        page.locator("#id_title").fill("Street light out downstairs")
        page.locator("#id_text").fill(
            "The street light outside block 12 on Taoyuan Road has been out for three days."
        )
    else:
        page.locator("#id_title").fill("楼下路灯坏了")
        page.locator("#id_text").fill("桃园路 12 号楼下的路灯已经坏了三天，晚上很黑。")
    with page.expect_navigation():
        page.locator("main form button[type=submit]").last.click()
    save(page, "resident-message-sent")
    page.goto("/notifications/")
    save(page, "resident-notifications")
    opened = page.locator("main a[href*='/open/']")
    if opened.count():
        with page.expect_navigation():
            opened.first.click()
        save(page, "resident-notification-followed")


def worker_journey(page: Page) -> None:
    sign_in(page, "worker")
    page.goto("/messages/inbox/?map=1")
    page.wait_for_timeout(1500)  # the map's tiles and markers
    save(page, "worker-inbox-map")
    page.locator(".nav-compact summary").click()
    save(page, "worker-menu-open")
    # A message in hand: its one primary action, the others under "more actions".
    page.goto("/messages/inbox/")
    message = page.locator("main td a[href^='/messages/']")
    if message.count():
        with page.expect_navigation():
            message.first.click()
        page.locator("#actions-heading").evaluate("(el) => el.scrollIntoView()")
        save(page, "worker-message-actions")


def publisher_journey(page: Page) -> None:
    sign_in(page, "publisher")
    save(page, "publisher-landing")
    page.goto("/broadcast/publish/")
    with page.expect_navigation():
        page.locator("main a.button[href$='/alert/']").first.click()
    page.locator("#text").fill("今晚 20 时起桃园路停水检修，预计次日 6 时恢复，请提前储水。")
    page.locator("#cap_event").fill("停水检修")
    if english():
        page.locator("#text_en").fill(
            "Water off on Taoyuan Road from 20:00 tonight until 06:00; please store water."
        )
        page.locator("#cap_event_en").fill("Water supply works")
    # An ordinary notice, chosen as a publisher would: nothing at the extremes.
    page.locator("#cap_category").select_option("Infra")
    page.locator("#cap_urgency").select_option("Expected")
    page.locator("#cap_severity").select_option("Minor")
    page.locator("#cap_certainty").select_option("Likely")
    page.locator("#cap_expires").fill(
        time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() + 86400))
    )
    page.locator("input[name=target_areas]").first.check()
    area_map = page.locator("#area-map")
    if area_map.count():
        area_map.scroll_into_view_if_needed()
        area_map.click()  # a circle at the middle of the map
        page.locator("#draw-tools").scroll_into_view_if_needed()
        save(page, "publisher-compose-map")
    with page.expect_navigation():
        page.locator("button[name=preview]").first.click()
    if page.locator("#preview").count():
        page.locator("#preview").scroll_into_view_if_needed()
    save(page, "publisher-compose-preview")


def wellbeing_journey(page: Page) -> None:
    sign_in(page, "worker")
    page.goto("/wellbeing/")
    save(page, "wellbeing-dashboard")
    household = page.locator("main a[href*='/wellbeing/households/']")
    if household.count():
        with page.expect_navigation():
            household.first.click()
        save(page, "wellbeing-household")
    page.goto("/wellbeing/visits/")
    save(page, "wellbeing-visits")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--language", default="zh-Hans", choices=["zh-Hans", "en"])
    args = parser.parse_args(argv)
    SUFFIX["language"] = "-en" if args.language == "en" else ""
    base = f"http://127.0.0.1:{args.port}"
    with tempfile.TemporaryDirectory(prefix="civichub-screenshots-") as data:
        env = {**os.environ, "CIVICHUB_DATA_DIR": data}
        # Fixed arguments: this project's own command from the active environment.
        demo = subprocess.Popen(  # noqa: S603  # nosec B603 B607
            ["civichub", "demo", "--port", str(args.port)],  # noqa: S607
            env=env,
            stdout=subprocess.DEVNULL,
        )
        try:
            wait_until_seeded(base, demo)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
                )
                context = browser.new_context(
                    base_url=base,
                    viewport=PHONE,  # type: ignore[arg-type]
                    locale="zh-CN" if args.language == "zh-Hans" else "en-GB",
                )
                context.set_default_timeout(30_000)
                page = context.new_page()
                journeys: list[Any] = [
                    resident_journey,
                    worker_journey,
                    publisher_journey,
                    wellbeing_journey,
                ]
                for journey in journeys:
                    journey(page)
                browser.close()
        finally:
            demo.terminate()
            demo.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())

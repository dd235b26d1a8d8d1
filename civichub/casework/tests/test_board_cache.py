"""The public board is read once per change and shared between visitors (`core.publiccache`):
every change that can show on it is there at the next read, and nothing of one reader's page
reaches another."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections, transaction
from django.test import Client
from django.urls import reverse

from civichub.casework import selectors, services
from civichub.casework.models import Case, CaseStatus
from civichub.casework.selectors.board import BOARD_CACHE
from civichub.casework.tests.conftest import Casework
from civichub.core import publiccache

pytestmark = pytest.mark.django_db


class Rollback(Exception):
    pass


@pytest.fixture(autouse=True)
def _public_cache(settings: Any) -> None:
    settings.PUBLIC_CACHE = True  # on with Redis; checked here on whichever cache the run has


def board() -> dict[str, Any]:
    entries, total = selectors.board_list()
    return {"total": total, "entries": {e.tracking_number: e for e in entries}}


def test_a_second_read_of_the_board_asks_the_database_nothing(
    cw: Casework, submit: Callable[..., Case], django_assert_num_queries: Any
) -> None:
    case = submit(is_public=True)
    first = board()
    selectors.board_departments()
    with django_assert_num_queries(0):
        again = board()
        departments = selectors.board_departments()
    assert again["total"] == first["total"] == 1 and case.tracking_number in again["entries"]
    assert [d.pk for d in departments] == [cw.city.health_a.pk]


def test_new_messages_replies_and_status_changes_show_at_the_next_read(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    first = submit(is_public=True)
    assert board()["total"] == 1

    second = submit(is_public=True, title="医院停车难")
    assert set(board()["entries"]) == {first.tracking_number, second.tracking_number}

    services.case_reply(actor=cw.handler, case=first, text="已协调增加挂号窗口")
    replies = board()["entries"][first.tracking_number].replies
    assert [text for _at, text in replies] == ["已协调增加挂号窗口"]

    services.case_close(actor=cw.handler, case=first)
    assert board()["entries"][first.tracking_number].status == CaseStatus.CLOSED


def test_intake_leaves_the_shared_board_as_it_is_and_routing_brings_the_message_to_it(
    cw: Casework, after_commit: Callable[[], Any]
) -> None:
    # A message arrives without its department, so it cannot be on the board yet: its intake
    # costs the board nothing. Routing gives it the department and the board is read again.
    assert board()["total"] == 0
    generation = publiccache.generation(BOARD_CACHE)
    with after_commit():
        submitted = services.case_submit(
            actor=cw.resident,
            kind="complaint",
            text="社区医院每天挂号排队很久，看病很难。",
            is_public=True,
            schedule_routing=False,
        )
    assert publiccache.generation(BOARD_CACHE) == generation
    with after_commit():
        services.case_route(case_id=submitted.case.pk)
    assert publiccache.generation(BOARD_CACHE) != generation
    assert set(board()["entries"]) == {submitted.case.tracking_number}


def test_a_private_message_is_never_on_the_board_and_a_message_made_private_leaves_it(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    public = submit(is_public=True)
    submit(is_public=False, title="私密留言")
    assert set(board()["entries"]) == {public.tracking_number}

    public.is_public = False
    public.save(update_fields=["is_public"])
    assert board() == {"total": 0, "entries": {}}


def test_a_renamed_department_is_renamed_on_the_board(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit(is_public=True)
    assert board()["entries"][case.tracking_number].department == cw.city.health_a.name
    department = cw.city.health_a
    department.name = "区卫生健康委员会"
    department.save(update_fields=["name"])
    assert board()["entries"][case.tracking_number].department == "区卫生健康委员会"


def test_a_signed_in_readers_board_page_is_never_served_to_the_next_reader(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    submit(is_public=True)
    reader = Client()
    reader.force_login(cw.resident)
    signed_in = reader.get(reverse("casework:board"))
    visitor = Client().get(reverse("casework:board"))

    assert signed_in.status_code == visitor.status_code == 200
    name = cw.resident.username
    assert name in signed_in.content.decode()
    assert name not in visitor.content.decode()
    assert signed_in.cookies.get("sessionid") is None or "sessionid" not in visitor.cookies


def test_the_board_page_shows_a_new_message_and_reply_at_the_next_read(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    first = submit(is_public=True)
    page = Client().get(reverse("casework:board")).content.decode()
    assert first.tracking_number in page and "尚未答复" in page

    second = submit(is_public=True, title="医院停车难")
    services.case_reply(actor=cw.handler, case=first, text="已协调增加挂号窗口")
    page = Client().get(reverse("casework:board")).content.decode()
    assert second.tracking_number in page and "已协调增加挂号窗口" in page


def test_the_board_page_in_english_is_not_the_chinese_one(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    submit(is_public=True)
    chinese = Client().get(reverse("casework:board")).content.decode()
    english = Client(headers={"Accept-Language": "en"}).get(reverse("casework:board"))
    assert cw.city.health_a.name in chinese
    assert cw.city.health_a.name_en and cw.city.health_a.name_en in english.content.decode()


def test_without_a_shared_cache_the_board_is_read_from_the_database_every_time(
    cw: Casework, submit: Callable[..., Case], settings: Any, django_assert_num_queries: Any
) -> None:
    # Another process (the task worker) could not reach this process's own memory.
    settings.PUBLIC_CACHE = False
    submit(is_public=True)
    board()
    with django_assert_num_queries(3):  # the count, the page, its replies
        assert board()["total"] == 1


def on_another_connection(read: Callable[[], Any]) -> Any:
    """What a reader in another process gets (another thread here, with its own connection)."""
    result: list[Any] = []

    def run() -> None:
        try:
            result.append(read())
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert result, "the other reader failed"
    return result[0]


@pytest.mark.django_db(transaction=True)
def test_a_reply_not_yet_committed_is_on_no_other_readers_board_nor_after_a_rollback(
    cw: Casework, submit: Callable[..., Case]
) -> None:
    case = submit(is_public=True)

    def replies(entries: dict[str, Any]) -> list[str]:
        return [text for _at, text in entries["entries"][case.tracking_number].replies]

    assert replies(board()) == []
    with contextlib.suppress(Rollback), transaction.atomic():
        services.case_reply(actor=cw.handler, case=case, text="已协调增加挂号窗口")
        # The replying transaction reads its reply; no one else does before the commit.
        assert replies(board()) == ["已协调增加挂号窗口"]
        assert replies(on_another_connection(board)) == []
        raise Rollback
    assert replies(on_another_connection(board)) == []
    assert replies(board()) == []

    services.case_reply(actor=cw.handler, case=case, text="已协调增加挂号窗口")
    assert replies(on_another_connection(board)) == replies(board()) == ["已协调增加挂号窗口"]

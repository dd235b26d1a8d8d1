"""The Mastodon client API's reads, undo calls, scopes and errors, driven by Mastodon.py against a
live test server: public and account timelines with Link paging, a status and its context,
unreblog and unfavourite, retraction; each endpoint's scope (403), bad tokens (401), unknown
records (404) and oversized posts (422), all as Mastodon's `{"error": ...}`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests
from django.utils import timezone
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonNotFoundError,
    MastodonUnauthorizedError,
)

from civichub.broadcast import selectors, services
from civichub.broadcast.models import Post, PostState
from civichub.broadcast.tests.conftest import Broadcast

PASSWORD = "correct horse battery 9"
OUTSIDE = "This action is outside the authorized scopes"
pytestmark = pytest.mark.django_db(transaction=True)


def signed_in(base: str, username: str, scopes: list[str]) -> Mastodon:
    client_id, client_secret = Mastodon.create_app(
        "civichub tests", api_base_url=base, scopes=scopes
    )
    client = Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=base)
    client.log_in(username=username, password=PASSWORD, scopes=scopes, allow_http=True)
    return client


def next_page(client: Mastodon, page: Any) -> Any:
    """The page a list's Link header points to next (Mastodon.py gives None at the end)."""
    following = client.fetch_next(page)
    assert following is not None
    return following


def status_of(error: MastodonAPIError) -> tuple[int, str]:
    """Mastodon.py's error arguments: (message, HTTP status, reason, the server's "error")."""
    return error.args[1], error.args[3]


def publish(bc: Broadcast, count: int, account: Any = None) -> list[Post]:
    return [
        services.post_publish(
            actor=bc.health_publisher if account is bc.health else bc.police_publisher,
            account=account or bc.police,
            text=f"第{i}条",
            category="traffic",
        )
        for i in range(count)
    ]


def test_the_public_timeline_pages_through_every_account_without_a_token(
    live_server: Any, bc: Broadcast
) -> None:
    police = publish(bc, 3)
    health = publish(bc, 2, bc.health)
    services.post_retract(actor=bc.police_publisher, post_id=police[0].pk)
    anonymous = Mastodon(api_base_url=live_server.url)

    first = anonymous.timeline_public(limit=2)
    assert [s.id for s in first] == [str(health[1].pk), str(health[0].pk)]
    second = next_page(anonymous, first)
    assert [s.id for s in second] == [str(police[2].pk), str(police[1].pk)]
    assert anonymous.fetch_next(second) is None  # the retracted post is not there
    newer = anonymous.timeline_public(min_id=police[2].pk, limit=1)
    assert [s.id for s in newer] == [str(health[0].pk)]
    since = anonymous.timeline_public(since_id=police[2].pk)
    assert [s.id for s in since] == [str(health[1].pk), str(health[0].pk)]

    # Mastodon.py pages by time too: it sends a datetime as a snowflake id.
    hour = dt.timedelta(hours=1)
    assert len(anonymous.timeline_public(max_id=timezone.now() + hour)) == 4
    assert anonymous.timeline_public(max_id=timezone.now() - hour) == []
    assert len(anonymous.timeline_public(since_id=timezone.now() - hour)) == 4
    assert anonymous.timeline_public(min_id=timezone.now() + hour) == []

    assert len(anonymous.timeline_local()) == 4
    assert anonymous.timeline_public(remote=True) == []
    assert anonymous.timeline_public(only_media=True) == []  # no post has an image

    # Link headers keep the other parameters.
    response = requests.get(
        f"{live_server.url}/api/v1/timelines/public/?local=true&limit=1", timeout=10
    )
    assert response.status_code == 200
    assert f"local=true&limit=1&max_id={health[1].pk}" in response.headers["Link"]


def test_an_accounts_statuses_page_with_links(live_server: Any, bc: Broadcast) -> None:
    posts = publish(bc, 3)
    publish(bc, 1, bc.health)
    reader = signed_in(live_server.url, bc.resident_a.username, ["read"])
    first = reader.account_statuses(f"a{bc.police.pk}", limit=2)
    assert [s.id for s in first] == [str(posts[2].pk), str(posts[1].pk)]
    assert [s.id for s in next_page(reader, first)] == [str(posts[0].pk)]
    assert reader.account(f"a{bc.police.pk}").statuses_count == 3
    me = reader.account_verify_credentials()
    assert reader.account_statuses(me.id) == []


def test_unreblog_and_unfavourite_undo_and_count_once(live_server: Any, bc: Broadcast) -> None:
    (post,) = publish(bc, 1)
    resident = signed_in(live_server.url, bc.resident_a.username, ["read", "write"])
    resident.status_reblog(post.pk)
    resident.status_favourite(post.pk)
    seen = resident.status(post.pk)
    assert (seen.reblogged, seen.favourited) == (True, True)
    assert (seen.reblogs_count, seen.favourites_count) == (1, 1)

    undone = resident.status_unreblog(post.pk)
    assert not undone.reblogged and undone.reblogs_count == 0
    assert resident.status_unreblog(post.pk).reblogs_count == 0  # twice changes nothing
    unfavourited = resident.status_unfavourite(post.pk)
    assert not unfavourited.favourited and unfavourited.favourites_count == 0
    post.refresh_from_db()
    assert (post.reposts_count, post.favourites_count) == (0, 0)


def test_a_status_and_its_thread_of_replies(live_server: Any, bc: Broadcast) -> None:
    (post,) = publish(bc, 1)
    a = signed_in(live_server.url, bc.resident_a.username, ["read", "write"])
    b = signed_in(live_server.url, bc.resident_b.username, ["read", "write"])
    question = a.status_reply(a.status(post.pk), "几点恢复？")
    answer = b.status_reply(question, "听说三点")
    assert answer.in_reply_to_id == question.id
    assert b.status(answer.id).content.endswith("听说三点</p>")
    # A resident sees their own name; everyone else a pseudonym.
    assert a.status(question.id).account.acct == bc.resident_a.username
    assert b.status(question.id).account.acct == f"u{bc.resident_a.pk}"
    anonymous = Mastodon(api_base_url=live_server.url)
    seen = anonymous.account(f"u{bc.resident_a.pk}")
    assert bc.resident_a.username not in (seen.username, seen.acct, seen.display_name)

    around_post = a.status_context(post.pk)
    assert around_post.ancestors == []
    assert [s.id for s in around_post.descendants] == [question.id, answer.id]
    around_question = a.status_context(question.id)
    assert [s.id for s in around_question.ancestors] == [str(post.pk)]
    assert [s.id for s in around_question.descendants] == [answer.id]
    around_answer = a.status_context(answer.id)
    assert [s.id for s in around_answer.ancestors] == [str(post.pk), question.id]


def test_a_publisher_retracts_a_status_and_it_is_gone(live_server: Any, bc: Broadcast) -> None:
    publisher = signed_in(live_server.url, bc.police_publisher.username, ["read", "write"])
    posted = publisher.status_post("临时封路")
    publisher.status_delete(posted.id)
    assert Post.objects.get(pk=int(posted.id)).state == PostState.RETRACTED
    with pytest.raises(MastodonNotFoundError):
        publisher.status(posted.id)


def test_each_endpoint_needs_its_scope(live_server: Any, bc: Broadcast) -> None:
    (post,) = publish(bc, 1)
    police = f"a{bc.police.pk}"
    reader = signed_in(live_server.url, bc.resident_a.username, ["read:statuses"])
    assert reader.timeline_home() == []
    assert reader.status(post.pk).id == str(post.pk)
    with pytest.raises(MastodonAPIError) as refused:
        reader.notifications()  # read:notifications
    # Mastodon.py drops the message of an error from a list endpoint; the body has it.
    assert status_of(refused.value)[0] == 403
    headers = {"Authorization": f"Bearer {reader.access_token}"}
    response = requests.get(f"{live_server.url}/api/v1/notifications", headers=headers, timeout=10)
    assert (response.status_code, response.json()) == (403, {"error": OUTSIDE})
    for call in (
        lambda: reader.account_verify_credentials(),  # read:accounts
        lambda: reader.status_favourite(post.pk),  # write:favourites
        lambda: reader.status_reblog(post.pk),  # write:statuses
        lambda: reader.account_follow(police),  # write:follows
    ):
        with pytest.raises(MastodonAPIError) as refused:
            call()
        assert status_of(refused.value) == (403, OUTSIDE)

    liker = signed_in(live_server.url, bc.resident_a.username, ["write:favourites", "follow"])
    assert liker.status_favourite(post.pk).favourited
    assert liker.account_follow(police).following  # the legacy follow scope covers it
    with pytest.raises(MastodonAPIError) as refused:
        liker.status_reblog(post.pk)
    assert status_of(refused.value) == (403, OUTSIDE)
    with pytest.raises(MastodonAPIError) as refused:
        liker.account(police)  # a public read, but a token sent must hold the scope
    assert status_of(refused.value) == (403, OUTSIDE)

    # Posting needs write:statuses and the publisher role.
    reading_publisher = signed_in(live_server.url, bc.police_publisher.username, ["read"])
    with pytest.raises(MastodonAPIError) as refused:
        reading_publisher.status_post("不该发出")
    assert status_of(refused.value) == (403, OUTSIDE)
    resident = signed_in(live_server.url, bc.resident_a.username, ["write:statuses"])
    with pytest.raises(MastodonAPIError) as refused:
        resident.status_post("居民不能发布")
    assert status_of(refused.value)[0] == 403
    assert Post.objects.count() == 1


def test_errors_are_mastodons_with_the_right_status(live_server: Any, bc: Broadcast) -> None:
    publisher = signed_in(live_server.url, bc.police_publisher.username, ["read", "write"])
    with pytest.raises(MastodonAPIError) as too_long:
        publisher.status_post("长" * 501)
    assert status_of(too_long.value)[0] == 422
    assert status_of(too_long.value)[1].startswith("Validation failed: ")
    assert Post.objects.count() == 0

    with pytest.raises(MastodonNotFoundError):
        publisher.status(999999)
    with pytest.raises(MastodonNotFoundError):
        publisher.account("a999999")

    forged = Mastodon(access_token="not-a-token", api_base_url=live_server.url)
    with pytest.raises(MastodonUnauthorizedError, match="The access token is invalid"):
        forged.account_verify_credentials()
    with pytest.raises(MastodonUnauthorizedError):
        forged.timeline_home()
    with pytest.raises(MastodonUnauthorizedError):
        forged.timeline_public()  # a public read, but a bad token is refused
    anonymous = Mastodon(api_base_url=live_server.url)
    with pytest.raises(MastodonUnauthorizedError):
        anonymous.timeline_home()

    unknown = requests.get(f"{live_server.url}/api/v1/no/such/thing", timeout=10)
    assert (unknown.status_code, unknown.json()) == (404, {"error": "Record not found"})
    wrong_method = requests.get(f"{live_server.url}/api/v1/statuses", timeout=10)
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()


def test_the_api_answers_at_the_root_with_and_without_a_trailing_slash(
    live_server: Any, bc: Broadcast
) -> None:
    for path in ("/api/v1/instance", "/api/v1/instance/", "/api/v2/instance/"):
        body = requests.get(f"{live_server.url}{path}", timeout=10).json()
        assert body["version"].startswith("4.3.0 ")
    described = Mastodon(api_base_url=live_server.url).instance_v2()
    assert described.configuration.statuses.max_characters == 500
    assert described.registrations.enabled is False
    instance = requests.get(f"{live_server.url}/api/v2/instance", timeout=10).json()
    assert instance["configuration"]["urls"]["streaming"] == live_server.url
    metadata = requests.get(
        f"{live_server.url}/.well-known/oauth-authorization-server", timeout=10
    ).json()
    assert metadata["token_endpoint"] == f"{live_server.url}/oauth/token"
    assert "authorization_code" in metadata["grant_types_supported"]
    (post,) = publish(bc, 1)
    slashed = requests.get(f"{live_server.url}/api/v1/statuses/{post.pk}/context/", timeout=10)
    assert slashed.json() == {"ancestors": [], "descendants": []}


def test_a_publisher_attaches_an_uploaded_image_and_only_media_finds_it(
    live_server: Any, bc: Broadcast
) -> None:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), "blue").save(out, format="PNG")
    publisher = signed_in(live_server.url, bc.police_publisher.username, ["read", "write"])
    media = publisher.media_post(
        out.getvalue(), mime_type="image/png", description="封闭路段示意图"
    )
    assert media.type == "image" and media.description == "封闭路段示意图"
    assert (media.meta.original.width, media.meta.original.height) == (40, 30)
    with_image = publisher.status_post("青山路封闭", media_ids=[media])
    publisher.status_post("没有图片")
    assert [m.id for m in with_image.media_attachments] == [media.id]
    assert requests.get(with_image.media_attachments[0].url, timeout=10).status_code == 200

    only_media = publisher.timeline_public(only_media=True)
    assert [s.id for s in only_media] == [with_image.id]

    resident = signed_in(live_server.url, bc.resident_a.username, ["write"])
    with pytest.raises(MastodonAPIError) as refused:
        resident.media_post(out.getvalue(), mime_type="image/png", description="x")
    assert status_of(refused.value)[0] == 403
    reader = signed_in(live_server.url, bc.police_publisher.username, ["write:statuses"])
    with pytest.raises(MastodonAPIError) as refused:
        reader.media_post(out.getvalue(), mime_type="image/png", description="x")
    assert status_of(refused.value) == (403, OUTSIDE)


def test_a_retried_status_with_the_same_idempotency_key_is_made_once(
    live_server: Any, bc: Broadcast
) -> None:
    from civichub.broadcast.models import Comment

    publisher = signed_in(live_server.url, bc.police_publisher.username, ["read", "write"])
    first = publisher.status_post("青山隧道恢复通行", idempotency_key="compose-1")
    again = publisher.status_post("青山隧道恢复通行", idempotency_key="compose-1")
    assert again.id == first.id
    other = publisher.status_post("青山隧道恢复通行", idempotency_key="compose-2")
    assert other.id != first.id
    assert Post.objects.count() == 2

    resident = signed_in(live_server.url, bc.resident_a.username, ["read", "write"])
    replies = {resident.status_reply(first, "好的", idempotency_key="reply-1").id for _ in range(3)}
    assert len(replies) == 1 and Comment.objects.count() == 1

    # A refused request does not use its key up.
    with pytest.raises(MastodonAPIError):
        publisher.status_post("长" * 501, idempotency_key="compose-3")
    fixed = publisher.status_post("长" * 50, idempotency_key="compose-3")
    assert Post.objects.filter(pk=int(fixed.id)).exists()


def test_lookup_following_and_favourites_with_links(live_server: Any, bc: Broadcast) -> None:
    posts = publish(bc, 3)
    resident = signed_in(live_server.url, bc.resident_a.username, ["read", "write", "follow"])
    police = resident.account_lookup("safe-qingshan")
    assert police.id == f"a{bc.police.pk}"
    with pytest.raises(MastodonNotFoundError):
        resident.account_lookup("no-such-account")

    resident.account_follow(police.id)
    resident.account_follow(f"a{bc.health.pk}")
    me = resident.account_verify_credentials()
    following = resident.account_following(me.id, limit=1)
    assert [a.acct for a in following] == ["donghu-health"]
    assert [a.acct for a in next_page(resident, following)] == ["safe-qingshan"]
    # Nobody else sees whom a resident follows, nor who follows an account.
    other = signed_in(live_server.url, bc.resident_b.username, ["read"])
    assert other.account_following(me.id) == []
    assert other.account_followers(police.id) == []
    assert other.account(police.id).followers_count == 1

    for post in posts:
        resident.status_favourite(post.pk)
    services.post_retract(actor=bc.police_publisher, post_id=posts[1].pk)
    first = resident.favourites(limit=1)
    assert [s.id for s in first] == [str(posts[2].pk)]
    assert [s.id for s in next_page(resident, first)] == [str(posts[0].pk)]

    # What clients ask for at start-up answers, empty where civichub has no such thing.
    assert resident.custom_emojis() == []
    assert resident.filters() == []
    assert resident.preferences()["posting:default:visibility"] == "public"


def test_a_publisher_edits_a_status_and_its_history_shows_every_version(
    live_server: Any, bc: Broadcast
) -> None:
    publisher = signed_in(live_server.url, bc.police_publisher.username, ["read", "write"])
    posted = publisher.status_post("青山路 9 点封闭")
    publisher.status_update(posted.id, status="青山路 10 点封闭")
    edited = publisher.status_update(posted.id, status="青山路 10 点半封闭")
    assert edited.content == "<p>青山路 10 点半封闭</p>" and edited.edited_at is not None
    assert publisher.status_source(posted.id).text == "青山路 10 点半封闭"

    anonymous = Mastodon(api_base_url=live_server.url)
    history = anonymous.status_history(posted.id)
    assert [v.content for v in history] == [
        "<p>青山路 9 点封闭</p>",
        "<p>青山路 10 点封闭</p>",
        "<p>青山路 10 点半封闭</p>",
    ]
    assert history[0].created_at <= history[1].created_at <= history[2].created_at

    resident = signed_in(live_server.url, bc.resident_a.username, ["read", "write"])
    with pytest.raises(MastodonAPIError) as refused:
        resident.status_update(posted.id, status="改掉")
    assert status_of(refused.value)[0] == 403
    reader = signed_in(live_server.url, bc.police_publisher.username, ["read"])
    with pytest.raises(MastodonAPIError) as refused:
        reader.status_update(posted.id, status="改掉")
    assert status_of(refused.value) == (403, OUTSIDE)
    assert len(anonymous.status_history(posted.id)) == 3


@pytest.mark.django_db
def test_errors_raised_around_the_views_are_mastodons_too(
    bc: Broadcast, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test import Client

    def broken() -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(selectors, "visible_posts", broken)
    client = Client(raise_request_exception=False)
    crashed = client.get("/api/v1/timelines/public")
    assert crashed.status_code == 500 and set(crashed.json()) == {"error"}
    bad_host = client.get("/api/v1/instance", HTTP_HOST="evil.example")
    assert bad_host.status_code == 400 and set(bad_host.json()) == {"error"}
    # civichub's own API keeps its problem documents.
    own = client.get("/api/no-such-thing")
    assert own.status_code == 404 and own["Content-Type"] == "application/problem+json"


def test_categories_are_hashtags_and_search_finds_accounts(live_server: Any, bc: Broadcast) -> None:
    traffic = publish(bc, 2)
    weather = services.post_publish(
        actor=bc.police_publisher, account=bc.police, text="明天大风", category="weather"
    )
    anonymous = Mastodon(api_base_url=live_server.url)
    assert [t.name for t in anonymous.status(weather.pk).tags] == ["weather"]
    by_value = anonymous.timeline_hashtag("traffic", limit=1)
    assert [s.id for s in by_value] == [str(traffic[1].pk)]
    assert [s.id for s in next_page(anonymous, by_value)] == [str(traffic[0].pk)]
    assert [s.id for s in anonymous.timeline_hashtag("天气")] == [str(weather.pk)]
    assert anonymous.timeline_hashtag("no_such_tag") == []

    reader = signed_in(live_server.url, bc.resident_a.username, ["read"])
    found = reader.search_v2("qingshan")
    assert [a.acct for a in found.accounts] == ["safe-qingshan"]
    assert [h.name for h in reader.search_v2("天气").hashtags] == ["weather"]
    assert found.statuses == []


def test_a_publisher_is_notified_of_replies_to_the_accounts_posts(
    live_server: Any, bc: Broadcast
) -> None:
    (post,) = publish(bc, 1)
    (elsewhere,) = publish(bc, 1, bc.health)
    a = signed_in(live_server.url, bc.resident_a.username, ["read", "write"])
    b = signed_in(live_server.url, bc.resident_b.username, ["read", "write"])
    first = a.status_reply(a.status(post.pk), "几点恢复？")
    second = b.status_reply(first, "同问")
    a.status_reply(a.status(elsewhere.pk), "别的账号")  # not this publisher's account
    publisher = signed_in(live_server.url, bc.police_publisher.username, ["read", "write"])
    own = publisher.status_reply(publisher.status(post.pk), "十点恢复")  # their own reply

    page = publisher.notifications(limit=1)
    assert [(n.type, n.status.id) for n in page] == [("mention", second.id)]
    assert page[0].account.acct == f"u{bc.resident_b.pk}"  # a pseudonym
    rest = next_page(publisher, page)
    assert [(n.type, n.status.id) for n in rest] == [("mention", first.id)]
    assert list(next_page(publisher, rest)) == []
    assert own.id not in {n.status.id for n in publisher.notifications()}
    assert publisher.notifications(types=["status"]) == []
    assert publisher.notifications(exclude_types=["mention"]) == []
    assert publisher.notifications(id=page[0].id).status.id == second.id
    # Residents get no mentions: their notifications are the alerts for their area.
    assert a.notifications() == []


@pytest.mark.django_db
def test_a_threads_context_costs_the_same_few_queries_however_many_replies(
    bc: Broadcast, django_assert_max_num_queries: Any
) -> None:
    from django.test import Client

    (post,) = publish(bc, 1)
    client = Client()

    def replies(n: int) -> None:
        for i in range(n):
            services.comment_create(actor=bc.resident_a, post_id=post.pk, text=f"回复{i}")

    replies(2)
    with django_assert_max_num_queries(12) as few:
        assert len(client.get(f"/api/v1/statuses/{post.pk}/context").json()["descendants"]) == 2
    replies(20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get(f"/api/v1/statuses/{post.pk}/context").json()["descendants"]) == 22


@pytest.mark.django_db
def test_a_timeline_page_costs_the_same_few_queries_however_long(
    bc: Broadcast, django_assert_max_num_queries: Any
) -> None:
    from django.test import Client

    publish(bc, 2)
    client = Client()
    with django_assert_max_num_queries(12) as few:
        assert len(client.get("/api/v1/timelines/public?limit=40").json()) == 2
    publish(bc, 30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get("/api/v1/timelines/public?limit=40").json()) == 32

"""Core pages through Django's test client (the browser tests in tests/browser drive Chromium)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.test import Client

from civichub.core import services
from civichub.core.models import AuditEvent, User


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_login_page_is_served_in_chinese_by_default(db: Any) -> None:
    response = Client().get("/accounts/login/")
    assert response.status_code == 200
    assert '<html lang="zh-Hans">' in response.content.decode()
    assert "登录" in response.content.decode()


def test_pages_send_a_content_security_policy(db: Any) -> None:
    response = Client().get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "object-src 'none'" in policy


def test_dashboard_shows_the_tiles_of_the_users_roles(city: Any, make_user: Any) -> None:
    services.resident_create(actor=None, name="甲", community=city.community_a1)
    worker = make_user("community_worker", city.community_a1)
    page = _client(worker).get("/dashboard/").content.decode()
    assert "辖区居民" in page and "今日审计记录" not in page
    auditor = make_user("auditor", city.city)
    page = _client(auditor).get("/dashboard/").content.decode()
    assert "今日审计记录" in page and "辖区居民" not in page


def test_dashboard_needs_a_login(db: Any) -> None:
    response = Client().get("/dashboard/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_audit_page_is_refused_to_a_community_worker(city: Any, make_user: Any) -> None:
    response = _client(make_user("community_worker", city.city)).get("/audit/")
    assert response.status_code == 403


def test_audit_page_filters_by_action(city: Any, make_user: Any) -> None:
    services.resident_create(actor=None, name="甲", community=city.community_a1)
    page = _client(make_user("auditor", city.city)).get("/audit/", {"action": "resident."})
    text = page.content.decode().split("<tbody>", 1)[1]
    assert page.status_code == 200
    assert "resident.create" in text and "organisation.create" not in text


def test_audit_page_names_actions_and_objects_in_the_readers_language(
    city: Any, make_user: Any
) -> None:
    services.resident_create(actor=None, name="甲", community=city.community_a1)
    client = _client(make_user("auditor", city.city))
    rows = client.get("/audit/", {"action": "resident."}).content.decode().split("<tbody>")[1]
    assert "新建居民档案" in rows and "居民" in rows and "resident.create" in rows
    client.post("/i18n/setlang/", {"language": "en", "next": "/audit/"})
    page = client.get("/audit/", {"action": "resident."}).content.decode()
    rows = page.split("<tbody>")[1]
    assert "Resident record created" in rows and "resident.create" in rows
    assert "新建居民档案" not in rows
    # The filter offers every action by its name.
    assert '<option value="casework.case.view">Case viewed</option>' in page


def test_audit_page_tolerates_nonsense_filters(city: Any, make_user: Any) -> None:
    client = _client(make_user("auditor", city.city))
    response = client.get("/audit/", {"since": "not-a-date", "page": "-3"})
    assert response.status_code == 200


def test_resident_page_shows_the_masked_number_and_audits_the_view(
    city: Any, make_user: Any
) -> None:
    resident = services.resident_create(
        actor=None, name="甲", community=city.community_a1, identity_number="11010519491231002X"
    )
    worker = make_user("community_worker", city.community_a1)
    text = _client(worker).get(f"/residents/{resident.pk}/").content.decode()
    assert "**************002X" in text and "11010519491231002X" not in text
    assert AuditEvent.objects.filter(action="resident.view", actor=worker).count() == 1


def test_registrar_reveals_the_number_after_stating_a_purpose(city: Any, make_user: Any) -> None:
    resident = services.resident_create(
        actor=None, name="甲", community=city.community_a1, identity_number="11010519491231002X"
    )
    registrar = make_user("registrar", city.city)
    client = _client(registrar)
    refused = client.post(f"/residents/{resident.pk}/", {"purpose": ""}).content.decode()
    assert "11010519491231002X" not in refused
    shown = client.post(f"/residents/{resident.pk}/", {"purpose": "户籍核验"}).content.decode()
    assert "11010519491231002X" in shown
    assert (
        AuditEvent.objects.filter(action="resident.view_identity", purpose="户籍核验").count() == 1
    )


def test_audit_purposes_do_not_depend_on_the_readers_language(city: Any, make_user: Any) -> None:
    resident = services.resident_create(actor=None, name="甲", community=city.community_a1)
    worker = make_user("community_worker", city.community_a1)
    for language in ("zh-hans", "en"):
        client = _client(worker)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        assert client.get("/residents/").status_code == 200
        assert client.get(f"/residents/{resident.pk}/").status_code == 200
    recorded = AuditEvent.objects.filter(actor=worker).values_list("action", "purpose")
    assert sorted(recorded) == [
        ("resident.list", "居民名册查询"),
        ("resident.list", "居民名册查询"),
        ("resident.view", "查看居民档案"),
        ("resident.view", "查看居民档案"),
    ]


def test_a_refusal_on_a_page_is_in_the_readers_language(city: Any, make_user: Any) -> None:
    resident = services.resident_create(actor=None, name="甲", community=city.community_a1)
    client = _client(make_user("registrar", city.city))
    chinese = client.post(f"/residents/{resident.pk}/", {"purpose": " "}).content.decode()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.post(f"/residents/{resident.pk}/", {"purpose": " "}).content.decode()
    assert "请说明查看个人信息的事由。" in chinese
    assert "State the purpose of viewing personal data." in english


def test_resident_page_outside_scope_is_403(city: Any, make_user: Any) -> None:
    resident = services.resident_create(actor=None, name="甲", community=city.community_a1)
    client = _client(make_user("community_worker", city.community_b1))
    assert client.get(f"/residents/{resident.pk}/").status_code == 403


def test_password_change_page_goes_through_the_service(city: Any, make_user: Any) -> None:
    user = make_user("community_worker", city.city, password="old password 123")
    client = _client(user)
    weak = client.post(
        "/accounts/password/",
        {"old_password": "old password 123", "new_password1": "1234", "new_password2": "1234"},
    )
    assert weak.status_code == 200
    done = client.post(
        "/accounts/password/",
        {
            "old_password": "old password 123",
            "new_password1": "a much better one 77",
            "new_password2": "a much better one 77",
        },
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a much better one 77")
    assert AuditEvent.objects.filter(action="user.password_change").count() == 1
    assert client.get("/dashboard/").status_code == 200  # still signed in


def test_language_switch_sets_the_cookie_and_the_account_language(
    city: Any, make_user: Any
) -> None:
    user = make_user("community_worker", city.city)
    client = _client(user)
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/dashboard/"})
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "en"
    assert User.objects.get(pk=user.pk).language == "en"
    page = client.get("/dashboard/").content.decode()
    assert '<html lang="en">' in page


def test_the_account_is_named_in_the_pages_language(city: Any, make_user: Any) -> None:
    """An English page names the account by the English name its resident has, a Chinese page
    by the registered name."""
    resident = services.resident_create(
        actor=None, name="李秀英", name_en="Li Xiuying", community=city.community_a1
    )
    user = make_user(None, None, resident=resident, last_name="李", first_name="秀英")
    client = _client(user)
    account = '<div class="account">\n      <span>{}</span>'
    assert account.format("李秀英") in client.get("/dashboard/").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/dashboard/"})
    assert account.format("Li Xiuying") in client.get("/dashboard/").content.decode()


def test_a_resident_signs_in_to_the_front_door_and_staff_to_their_workbench(
    city: Any, make_user: Any
) -> None:
    """The workbench is not in a resident's menu: signing in takes them to the public home page,
    staff to the workbench, and a page the sign-in was asked for wins over both."""
    resident = make_user(None, None, username="li.xiuying")
    make_user("community_worker", city.community_a1, username="wang.fang")
    signed_in = {"password": "correct horse battery 9"}

    def landing(username: str, query: str = "") -> str:
        response = Client().post(f"/accounts/login/{query}", {"username": username, **signed_in})
        assert response.status_code == 302, response.content.decode()[:300]
        return str(response["Location"])

    assert landing("li.xiuying") == "/"
    assert landing("wang.fang") == "/dashboard/"
    assert landing("li.xiuying", "?next=/messages/mine/") == "/messages/mine/"
    front_door = Client()
    front_door.force_login(resident)
    assert "网上办事大厅" in front_door.get("/").content.decode()


def test_login_is_throttled_after_repeated_failures(city: Any, make_user: Any) -> None:
    make_user(None, None, username="target", password="the right one 123")
    client = Client()
    for _ in range(5):
        client.post("/accounts/login/", {"username": "target", "password": "wrong"})
    locked = client.post(
        "/accounts/login/", {"username": "target", "password": "the right one 123"}
    )
    assert locked.status_code == 429
    assert "锁定" in locked.content.decode()


def test_healthz_answers(db: Any) -> None:
    assert Client().get("/healthz").json() == {"status": "ok"}


def test_unknown_api_url_is_a_problem_document(db: Any) -> None:
    response = Client().get("/api/no/such/thing")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_bad_host_under_the_api_is_a_problem_document(db: Any) -> None:
    response = Client(HTTP_HOST="attacker.example").get("/api/me")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_bad_host_under_open311_is_an_open311_error_document(db: Any) -> None:
    response = Client(HTTP_HOST="attacker.example").get("/open311/v2/services.json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json()[0]["code"] == 400
    xml = Client(HTTP_HOST="attacker.example").get("/open311/v2/services.xml")
    assert xml.status_code == 400 and b"<errors>" in xml.content


def test_unknown_page_is_an_html_page(db: Any) -> None:
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    assert "text/html" in response["Content-Type"] and "页面不存在" in response.content.decode()


def test_a_crash_on_a_page_shows_no_traceback(city: Any, make_user: Any, monkeypatch: Any) -> None:
    from civichub.core import views

    def explode(**kwargs: Any) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(views.selectors, "user_roles", explode)
    client = Client(raise_request_exception=False)
    client.force_login(make_user("community_worker", city.city))
    response = client.get("/dashboard/")
    assert response.status_code == 500
    text = response.content.decode()
    assert "secret internal detail" not in text and "Traceback" not in text

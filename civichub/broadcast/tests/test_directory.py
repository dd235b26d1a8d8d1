"""Finding the way: a publisher reaches compose from the landing page and the menu; residents
find government accounts to follow in a directory they can search."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from civichub.broadcast.models import Follow
from civichub.core.models import RoleAssignment

pytestmark = pytest.mark.django_db


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_publisher_finds_publish_on_the_landing_page_and_the_menu(bc: Any) -> None:
    client = signed_in(bc.police_publisher)
    landing = client.get("/").content.decode()
    assert 'href="/broadcast/publish/"' in landing
    page = client.get("/broadcast/publish/")
    html = page.content.decode()
    assert page.status_code == 200
    assert 'href="/broadcast/@safe-qingshan/compose/"' in html
    assert "donghu-health" not in html  # another organisation's account


def test_the_role_is_shown_once_however_many_assignments_give_it(bc: Any) -> None:
    assignment = RoleAssignment.objects.filter(user=bc.police_publisher).first()
    assert assignment is not None
    # Core's publisher role has the same name as broadcast's.
    RoleAssignment.objects.create(
        user=bc.police_publisher, role="publisher", organisation=assignment.organisation
    )
    landing = signed_in(bc.police_publisher).get("/").content.decode()
    name = assignment.organisation.name
    assert landing.count(f"（{name}）") == 1


def test_a_resident_has_no_publish_entry(bc: Any) -> None:
    client = signed_in(bc.resident_a)
    assert 'href="/broadcast/publish/"' not in client.get("/").content.decode()
    assert client.get("/broadcast/publish/").status_code == 403


def test_residents_search_the_directory_and_follow_from_it(bc: Any) -> None:
    client = signed_in(bc.resident_a)
    everyone = client.get("/broadcast/accounts/").content.decode()
    assert "平安青山" in everyone and "东湖健康" in everyone
    found = client.get("/broadcast/accounts/", {"q": "health"}).content.decode()
    assert "东湖健康" in found and "平安青山" not in found
    response = client.post(
        "/broadcast/@donghu-health/follow/", {"next": "/broadcast/accounts/?q=health"}
    )
    assert response["Location"] == "/broadcast/accounts/?q=health"
    assert Follow.objects.filter(user=bc.resident_a, account=bc.health).exists()
    assert "取消关注" in client.get("/broadcast/accounts/", {"q": "health"}).content.decode()

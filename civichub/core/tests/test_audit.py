from __future__ import annotations

from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from civichub.core import selectors, services
from civichub.core.audit import audit_fields, audit_record, audit_sql, audit_sql_params
from civichub.core.context import acting
from civichub.core.errors import PermissionDenied, ValidationFailed
from civichub.core.models import AppendOnlyError, AuditEvent


@pytest.fixture
def resident(city: Any) -> Any:
    return services.resident_create(
        actor=None, name="王小明", community=city.community_a1, identity_number="11010519491231002X"
    )


def test_viewing_a_resident_is_audited_with_who_what_and_purpose(
    city: Any, make_user: Any, resident: Any
) -> None:
    worker = make_user("community_worker", city.community_a1)
    selectors.resident_get(actor=worker, pk=resident.pk, purpose="入户走访")
    event = AuditEvent.objects.filter(action="resident.view").get()
    assert (event.actor, event.object_type, event.object_id, event.purpose) == (
        worker,
        "core.resident",
        str(resident.pk),
        "入户走访",
    )
    assert event.organisation_path == city.community_a1.path


def test_viewing_personal_data_without_a_purpose_is_refused(
    city: Any, make_user: Any, resident: Any
) -> None:
    worker = make_user("community_worker", city.community_a1)
    with pytest.raises(ValidationFailed):
        selectors.resident_get(actor=worker, pk=resident.pk, purpose="  ")
    assert not AuditEvent.objects.filter(action="resident.view").exists()


def test_refused_view_leaves_no_view_event(city: Any, make_user: Any, resident: Any) -> None:
    stranger = make_user("community_worker", city.community_b1)
    with pytest.raises(PermissionDenied):
        selectors.resident_get(actor=stranger, pk=resident.pk, purpose="好奇")
    assert not AuditEvent.objects.filter(action="resident.view").exists()


def test_identity_reveal_is_registrar_only_and_audited(
    city: Any, make_user: Any, resident: Any
) -> None:
    worker = make_user("community_worker", city.community_a1)
    with pytest.raises(PermissionDenied):
        selectors.resident_identity_reveal(actor=worker, resident=resident, purpose="核验")
    registrar = make_user("registrar", city.city)
    number = selectors.resident_identity_reveal(
        actor=registrar, resident=resident, purpose="户籍核验"
    )
    assert number == "11010519491231002X"
    assert AuditEvent.objects.filter(action="resident.view_identity", actor=registrar).exists()


def test_listing_residents_audits_which_records_were_shown(
    city: Any, make_user: Any, resident: Any
) -> None:
    worker = make_user("community_worker", city.community_a1)
    page = selectors.resident_list(actor=worker, purpose="名册")
    assert [r.pk for r in page.items] == [resident.pk]
    event = AuditEvent.objects.get(action="resident.list")
    assert event.changes["shown"] == [resident.pk]


def test_audit_events_cannot_be_changed_or_deleted_through_the_orm(resident: Any) -> None:
    event = AuditEvent.objects.first()
    assert event is not None
    event.purpose = "tampered"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE core_auditevent SET purpose = 'tampered'",
        "DELETE FROM core_auditevent",
    ],
)
def test_the_database_itself_refuses_to_change_audit_rows(resident: Any, statement: str) -> None:
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert AuditEvent.objects.exclude(purpose="tampered").count() == AuditEvent.objects.count()
    assert AuditEvent.objects.count() > 0


def test_queryset_update_and_delete_are_refused_too(resident: Any) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.all().update(purpose="tampered")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.all().delete()


def test_auditor_sees_only_events_of_their_subtree(city: Any, make_user: Any) -> None:
    services.resident_create(actor=None, name="甲", community=city.community_a1)
    services.resident_create(actor=None, name="乙", community=city.community_b1)
    district_auditor = make_user("auditor", city.district_a)
    events, total = selectors.audit_search(
        actor=district_auditor, filters=selectors.AuditFilter(action="resident.create")
    )
    assert total == 1 and events[0].organisation_path.startswith(city.district_a.path)
    city_auditor = make_user("auditor", city.city)
    _, city_total = selectors.audit_search(
        actor=city_auditor, filters=selectors.AuditFilter(action="resident.create")
    )
    assert city_total == 2


def test_audit_search_is_auditor_only(city: Any, make_user: Any) -> None:
    worker = make_user("community_worker", city.city)
    with pytest.raises(PermissionDenied):
        selectors.audit_search(actor=worker, filters=selectors.AuditFilter())


# The set-based path: a statement that writes its own audit row -----------------------------


def _audit_target(resident: Any) -> dict[str, Any]:
    return {"obj": resident, "purpose": "户籍核验", "changes": {"shown": [resident.pk], "n": 2}}


def _comparable(value: Any) -> Any:
    """A JSON parameter (psycopg's `Jsonb`) by the value it carries."""
    return getattr(value, "obj", value)


@pytest.mark.parametrize("signed_in", [True, False])
def test_audit_sql_params_give_each_column_what_an_audit_event_of_the_same_fields_gives(
    city: Any, make_user: Any, resident: Any, signed_in: bool
) -> None:
    """The parameters are built without an `AuditEvent`, but hold exactly what one built from
    the same `audit_fields` sends to the database, column by column."""
    actor = make_user("registrar", city.city) if signed_in else None
    at = timezone.now()
    with acting(ip_address="203.0.113.9", channel="web", request_id="req-7"):
        params = audit_sql_params(
            connection,
            computed=["object_id"],
            at=at,
            actor=actor,
            action="resident.view",
            **_audit_target(resident),
        )
        row = AuditEvent(
            **audit_fields(actor=actor, action="resident.view", **_audit_target(resident)), at=at
        )
    expected = {
        f"audit_{f.attname}": f.get_db_prep_save(getattr(row, f.attname), connection)
        for f in AuditEvent._meta.concrete_fields
        if not f.primary_key and f.attname != "object_id"
    }
    assert {k: _comparable(v) for k, v in params.items()} == {
        k: _comparable(v) for k, v in expected.items()
    }
    assert params["audit_actor_id"] == (actor.pk if actor else None)


def test_audit_record_and_a_statement_writing_its_own_row_write_what_the_orm_writes(
    city: Any, make_user: Any, resident: Any
) -> None:
    """`audit_record` (one INSERT of `audit_sql`'s columns) and a set-based statement
    (`audit_sql` with `audit_sql_params`, as a repost writes its row) write the same columns
    with the same values as the ORM saving an `AuditEvent` of the same `audit_fields`."""
    registrar = make_user("registrar", city.city)
    with acting(ip_address="203.0.113.9", channel="web", request_id="req-7"):
        fields = audit_fields(actor=registrar, action="resident.view", **_audit_target(resident))
        by_orm = AuditEvent.objects.create(**fields)
        recorded = audit_record(actor=registrar, action="resident.view", **_audit_target(resident))
        sql = audit_sql(connection, computed={})
        params = audit_sql_params(
            connection,
            computed=(),
            at=by_orm.at,
            actor=registrar,
            action="resident.view",
            **_audit_target(resident),
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {sql.table} ({sql.columns}) SELECT {sql.select}",  # noqa: S608  # nosec B608
                params,
            )
    columns = [f.attname for f in AuditEvent._meta.concrete_fields if not f.primary_key]
    rows = list(AuditEvent.objects.filter(action="resident.view").order_by("id").values(*columns))
    assert len(rows) == 3
    orm, by_record, by_statement = rows
    assert by_statement == orm
    assert by_record == {**orm, "at": by_record["at"]}
    assert orm["at"] <= by_record["at"] and by_record["at"].tzinfo is not None
    assert orm["actor_id"] == registrar.pk and orm["ip_address"] == "203.0.113.9"
    stored = AuditEvent.objects.get(pk=recorded.pk)
    assert [getattr(recorded, c) for c in columns] == [getattr(stored, c) for c in columns]

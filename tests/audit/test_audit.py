"""EHR-4: every insert, update and delete — through the ORM or raw SQL — leaves a structured audit row."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from shifa.audit.context import audit_context
from shifa.audit.models import AuditEvent
from shifa.audit.triggers import domain_models
from shifa.tenancy.models import Clinic
from tests.factories import ClinicFactory, InstitutionFactory


def events_for(obj, operation=None):
    qs = AuditEvent.objects.filter(table_name=obj._meta.db_table, entity_id=str(obj.pk)).order_by("pk")
    return list(qs.filter(operation=operation) if operation else qs)


def test_every_domain_table_has_the_audit_trigger(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
        )
        triggers = {(table, name) for table, name in cursor.fetchall()}
    models = domain_models()
    assert len(models) >= 10
    for model in models:
        table = model._meta.db_table
        assert any(t == table and name.startswith("pgtrigger_audit_") for t, name in triggers), table


def test_orm_insert_update_delete_are_audited_with_before_and_after(db):
    institution = InstitutionFactory()
    clinic = Clinic.objects.create(
        institution=institution, slug="audited", name_en="A", name_ar="أ", city="Amman"
    )
    (insert,) = events_for(clinic, "INSERT")
    assert insert.before is None
    assert insert.after["slug"] == "audited"
    assert insert.entity_external_id == clinic.external_id
    assert insert.clinic_id == clinic.pk

    clinic.city = "Zarqa"
    clinic.save(update_fields=["city", "updated_at"])
    (update,) = events_for(clinic, "UPDATE")
    assert update.before["city"] == "Amman"
    assert update.after["city"] == "Zarqa"
    assert "city" in update.changed_fields

    Clinic.objects.filter(pk=clinic.pk).update(city="Aqaba")
    assert [e.after["city"] for e in events_for(clinic, "UPDATE")] == ["Zarqa", "Aqaba"]

    pk = clinic.pk
    clinic.delete()
    delete = AuditEvent.objects.get(table_name="tenancy_clinic", entity_id=str(pk), operation="DELETE")
    assert delete.before["city"] == "Aqaba"
    assert delete.after is None


def test_raw_sql_insert_update_delete_are_audited_without_actor(db):
    institution = InstitutionFactory()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO tenancy_clinic (external_id, created_at, updated_at, institution_id, slug, name_en, name_ar,"
            " city, time_zone, status) VALUES (gen_random_uuid(), now(), now(), %s, 'raw', 'Raw', 'خام', 'Salt',"
            " 'Asia/Amman', 'pending') RETURNING id",
            [institution.pk],
        )
        (pk,) = cursor.fetchone()
        cursor.execute("UPDATE tenancy_clinic SET city = 'Madaba' WHERE id = %s", [pk])
        cursor.execute("DELETE FROM tenancy_clinic WHERE id = %s", [pk])
    rows = list(AuditEvent.objects.filter(table_name="tenancy_clinic", entity_id=str(pk)).order_by("pk"))
    assert [r.operation for r in rows] == ["INSERT", "UPDATE", "DELETE"]
    assert rows[1].before["city"] == "Salt" and rows[1].after["city"] == "Madaba"
    assert rows[2].before["city"] == "Madaba"
    assert all(r.actor_id is None for r in rows)
    assert all(r.source == "database" for r in rows)


def test_context_reaches_raw_sql_inside_a_block(db):
    clinic = ClinicFactory()
    with (
        audit_context(actor_id=42, request_id="req-raw-1", source="job:cleanup"),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE tenancy_clinic SET city = 'Jerash' WHERE id = %s", [clinic.pk])
    (event,) = events_for(clinic, "UPDATE")
    assert event.actor_id == 42
    assert event.request_id == "req-raw-1"
    assert event.source == "job:cleanup"


def test_no_op_update_writes_no_row(db):
    clinic = ClinicFactory(city="Amman")
    Clinic.objects.filter(pk=clinic.pk).update(city="Amman")
    assert events_for(clinic, "UPDATE") == []


def test_password_change_is_audited_without_the_hash(db):
    from tests.factories import UserFactory

    user = UserFactory()
    user.set_password("a-new-password-123")
    user.save(update_fields=["password"])
    (event,) = events_for(user, "UPDATE")
    assert event.changed_fields == ["password"]
    for row in events_for(user):
        assert "password" not in (row.before or {}) and "password" not in (row.after or {})


def test_triggers_cannot_be_switched_off_from_a_session(db):
    """django-pgtrigger's `pgtrigger.ignore` setting must not silence the audit."""
    clinic = ClinicFactory()
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'tenancy_clinic'::regclass")
        names = [row[0] for row in cursor.fetchall()]
        cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + ",".join(names) + "}"])
        cursor.execute("UPDATE tenancy_clinic SET city = 'Karak' WHERE id = %s", [clinic.pk])
    assert [e.after["city"] for e in events_for(clinic, "UPDATE")] == ["Karak"]


def test_every_audit_trigger_runs_the_shared_function(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, p.proname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgname LIKE 'pgtrigger_audit%%'"
        )
        functions = {name for _, name in cursor.fetchall()}
    assert functions == {"shifa_audit_row", "shifa_audit_truncate"}


@pytest.mark.django_db(transaction=True)
def test_truncate_is_audited():
    from tests.testapp.models import ClinicalNote

    ClinicalNote.unscoped.create(clinic=ClinicFactory(), text="x")
    truncations = AuditEvent.objects.filter(table_name="testapp_clinicalnote", operation="TRUNCATE")
    before = truncations.count()  # the test database itself is emptied by TRUNCATE between such tests
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE testapp_clinicalnote")
    assert truncations.count() == before + 1
    assert truncations.order_by("-pk").first().source == "database"


def test_audit_log_is_append_only(db):
    ClinicFactory()
    event = AuditEvent.objects.first()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(source="tampered")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_event SET actor_id = 1")


def test_write_from_a_request_records_actor_clinic_and_request_id(cast, api):
    admin = cast.staff_a["clinic_admin"]
    response = api(admin).put(
        f"/api/v1/clinics/{cast.clinic_a.external_id}/roles/secretary/permissions/tenancy.view_members",
        {"granted": False},
        headers={"X-Request-ID": "forged-request-id"},
    )
    assert response.status_code == 200, response.content
    event = AuditEvent.objects.get(table_name="access_clinicrolepermission", operation="INSERT")
    assert event.actor_id == admin.pk
    assert event.clinic_id == cast.clinic_a.pk
    assert event.request_id == response["X-Request-ID"] != "forged-request-id"
    assert event.source == "api"
    assert event.after["granted"] is False


def test_platform_admin_searches_the_audit_log(cast, api):
    admin = cast.staff_a["clinic_admin"]
    api(admin).put(
        f"/api/v1/clinics/{cast.clinic_a.external_id}/roles/doctor/permissions/tenancy.view_members",
        {"granted": False},
    )
    response = api(cast.platform_admin).get(
        f"/api/v1/platform/audit-events?table=access_clinicrolepermission&actor_id={admin.external_id}"
        f"&clinic_id={cast.clinic_a.external_id}&limit=5"
    )
    assert response.status_code == 200
    items = response.json()["items"]
    assert len(items) == 1
    assert items[0]["operation"] == "INSERT"
    assert items[0]["after"]["granted"] is False
    other = api(cast.platform_admin).get(
        f"/api/v1/platform/audit-events?clinic_id={cast.clinic_b.external_id}"
        "&table=access_clinicrolepermission"
    )
    assert other.json()["items"] == []


def test_audit_log_pages_newest_first(cast, api):
    first = api(cast.platform_admin).get("/api/v1/platform/audit-events?limit=2").json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = (
        api(cast.platform_admin)
        .get(f"/api/v1/platform/audit-events?limit=2&cursor={first['next_cursor']}")
        .json()
    )
    assert first["items"][1]["occurred_at"] >= second["items"][0]["occurred_at"]


def test_nested_context_applies_only_inside_its_block(db):
    first, second, third = ClinicFactory(), ClinicFactory(), ClinicFactory()
    with audit_context(actor_id=7, request_id="req-outer", source="request"):
        Clinic.objects.filter(pk=first.pk).update(city="Irbid")
        with audit_context(source="job:inline"):
            Clinic.objects.filter(pk=second.pk).update(city="Irbid")
        Clinic.objects.filter(pk=third.pk).update(city="Irbid")
    sources = [events_for(c, "UPDATE")[0].source for c in (first, second, third)]
    assert sources == ["request", "job:inline", "request"]
    assert all(events_for(c, "UPDATE")[0].request_id == "req-outer" for c in (first, second, third))


def test_audit_api_shows_public_ids_only(cast, api, django_assert_max_num_queries):
    admin = cast.staff_a["clinic_admin"]
    api(admin).put(
        f"/api/v1/clinics/{cast.clinic_a.external_id}/roles/doctor/permissions/tenancy.view_members",
        {"granted": False},
    )
    platform = api(cast.platform_admin)
    platform.token()
    # Bounded by the number of referenced models (one query each), not by the number of rows.
    with django_assert_max_num_queries(16):
        body = platform.get("/api/v1/platform/audit-events?limit=200").json()
    # (transactional tests empty tables with TRUNCATE, which is audited too: look at this test's insert)
    (event,) = [
        e for e in body["items"] if e["table"] == "access_clinicrolepermission" and e["operation"] == "INSERT"
    ]
    assert event["actor"] == str(admin.external_id)
    assert event["clinic"] == str(cast.clinic_a.external_id)
    assert event["after"]["clinic"] == str(cast.clinic_a.external_id)
    assert "id" not in event["after"] and "clinic_id" not in event["after"]
    for item in body["items"]:
        for row in (item["before"] or {}, item["after"] or {}):
            assert not [k for k, v in row.items() if k == "id" or (k.endswith("_id") and isinstance(v, int))]

"""EHR-3: once committed, the database itself rejects every change; corrections are amendments."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test import RequestFactory

from shifa.core import timezones
from shifa.core.errors import COMMITTED_SQLSTATE, sqlstate
from tests.factories import ClinicFactory
from tests.testapp.models import ClinicalNote


@pytest.fixture
def committed(db):
    clinic = ClinicFactory()
    note = ClinicalNote.unscoped.create(clinic=clinic, text="BP 150/95, start amlodipine")
    ClinicalNote.unscoped.filter(pk=note.pk).update(is_committed=True, committed_at=timezones.now())
    note.refresh_from_db()
    return note


def _rejected(fn):
    with pytest.raises(DatabaseError) as info, transaction.atomic():
        fn()
    assert sqlstate(info.value) == COMMITTED_SQLSTATE
    return info.value


def test_uncommitted_note_can_change_and_be_committed(db):
    note = ClinicalNote.unscoped.create(clinic=ClinicFactory(), text="draft")
    note.text = "final"
    note.save()
    note.is_committed = True
    note.committed_at = timezones.now()
    note.save()
    note.refresh_from_db()
    assert note.is_committed and note.text == "final"


def test_commit_without_time_is_rejected(db):
    note = ClinicalNote.unscoped.create(clinic=ClinicFactory(), text="draft")
    with pytest.raises(IntegrityError), transaction.atomic():
        ClinicalNote.unscoped.filter(pk=note.pk).update(is_committed=True)


def test_save_of_committed_row_is_rejected(committed):
    committed.text = "changed"
    _rejected(committed.save)


def test_queryset_update_of_committed_row_is_rejected(committed):
    _rejected(lambda: ClinicalNote.unscoped.filter(pk=committed.pk).update(text="changed"))


def test_uncommit_is_rejected(committed):
    _rejected(lambda: ClinicalNote.unscoped.filter(pk=committed.pk).update(is_committed=False))


def test_raw_sql_update_and_delete_of_committed_row_are_rejected(committed):
    def raw(sql):
        with connection.cursor() as cursor:
            cursor.execute(sql, [committed.pk])

    _rejected(lambda: raw("UPDATE testapp_clinicalnote SET text = 'x' WHERE id = %s"))
    _rejected(lambda: raw("DELETE FROM testapp_clinicalnote WHERE id = %s"))


def test_commit_guard_cannot_be_switched_off_from_a_session(committed):
    def attack():
        with connection.cursor() as cursor:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'testapp_clinicalnote'::regclass")
            names = [row[0] for row in cursor.fetchall()]
            cursor.execute("SELECT set_config('pgtrigger.ignore', %s, true)", ["{" + ",".join(names) + "}"])
            cursor.execute("UPDATE testapp_clinicalnote SET text = 'tampered' WHERE id = %s", [committed.pk])

    _rejected(attack)


def test_orm_delete_of_committed_row_is_rejected(committed):
    _rejected(committed.delete)
    assert ClinicalNote.unscoped.filter(pk=committed.pk, text__startswith="BP").exists()


def test_amendment_is_appended_and_points_at_the_original(committed):
    amendment = ClinicalNote.unscoped.create(
        clinic=committed.clinic, text="BP 150/95, start amlodipine 5 mg", amends=committed
    )
    assert amendment.amends_id == committed.pk
    assert list(committed.amendments.all()) == [amendment]
    committed.refresh_from_db()
    assert committed.text == "BP 150/95, start amlodipine"


def test_committed_error_is_answered_409_problem(committed):
    from shifa.api import api

    try:
        with transaction.atomic():
            ClinicalNote.unscoped.filter(pk=committed.pk).update(text="changed")
    except DatabaseError as exc:
        error = exc
    request = RequestFactory().put("/api/v1/whatever")
    response = api.on_exception(request, error)
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    import json

    assert json.loads(response.content)["code"] == "record_committed"


def test_tenant_model_refuses_unscoped_queries(committed):
    from shifa.tenancy.models import TenantContextMissing

    with pytest.raises(TenantContextMissing):
        ClinicalNote.objects.all()
    assert list(ClinicalNote.objects.for_clinic(committed.clinic)) == [committed]
    assert list(ClinicalNote.objects.for_clinic(ClinicFactory())) == []

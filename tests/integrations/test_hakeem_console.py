"""The Hakeem sync consoles (HK-1, HK-2): the platform's monitor (counts, failures, sending again one record or a
clinic's failed records) and the clinic's own view (its records' states, a visit's summary, third-party orders),
against the local Hakeem simulator."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from procrastinate.contrib.django.models import ProcrastinateJob

from shifa.core import timezones
from shifa.integrations.hakeem import actions, queries
from shifa.integrations.hakeem.models import Kind, SyncRecord, SyncState, ThirdPartyOrder
from shifa.records.models import Patient, Visit
from shifa.simulators.hakeem import actions as simulator
from tests.conftest import sign_in_page
from tests.routes_hakeem import failed_record
from tests.support.records import base, committed_visit

pytestmark = pytest.mark.django_db

MONITOR = "/api/v1/platform/hakeem/sync"
#: A name that appears nowhere else on the pages: the monitor must never show it.
PATIENT_NAME = "Zainab Qawasmeh"


def _named_patient(cast) -> Patient:
    Patient.objects.filter(pk=cast.patient.pk).update(full_name=PATIENT_NAME)
    cast.patient.refresh_from_db()
    return cast.patient


def _records_of(clinic, patient):
    return SyncRecord.unscoped.filter(clinic=clinic, patient=patient)


def _failed_visit(cast, api) -> Visit:
    """A visit of clinic A committed while Hakeem is down: the send job tried once, every record failed."""
    _named_patient(cast)
    simulator.switch_set("down")
    body = committed_visit(cast, api, notes="Clinical note kept from the monitor")
    actions.send_patient(clinic_id=cast.clinic_a.pk, patient_id=cast.patient.pk)
    assert set(_records_of(cast.clinic_a, cast.patient).values_list("state", flat=True)) == {SyncState.FAILED}
    return Visit.unscoped.get(external_id=body["id"])


def _encounter(visit: Visit) -> SyncRecord:
    return SyncRecord.unscoped.get(clinic_id=visit.clinic_id, kind=Kind.VISIT, key=visit.external_id)


# --- the platform's monitor -------------------------------------------------------------------------------------


def test_counts_by_state_overall_and_per_clinic_with_failures_first(cast, api):
    failed_record(cast.clinic_b)
    failed_record(cast.clinic_b)
    done = failed_record(cast.clinic_a)
    SyncRecord.unscoped.filter(pk=done.pk).update(state=SyncState.ACKNOWLEDGED, attempts=0, last_error="")
    pending = failed_record(cast.clinic_a)
    SyncRecord.unscoped.filter(pk=pending.pk).update(state=SyncState.PENDING)

    response = api(cast.platform_admin).get(MONITOR)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["counts"] == {"pending": 1, "sending": 0, "acknowledged": 1, "failed": 2, "total": 4}
    assert [c["clinic"]["name"] for c in body["clinics"]] == ["Clinic B", "Clinic A"]
    assert body["clinics"][0]["counts"]["failed"] == 2
    assert body["clinics"][1]["counts"] == {
        "pending": 1,
        "sending": 0,
        "acknowledged": 1,
        "failed": 0,
        "total": 2,
    }


def test_record_list_filters_by_state_and_clinic_newest_failures_first(cast, api):
    now = timezones.now()
    older = failed_record(cast.clinic_a)
    newer = failed_record(cast.clinic_b)
    newest = failed_record(cast.clinic_a)
    done = failed_record(cast.clinic_a)
    for record, minutes in ((older, 30), (newer, 20), (newest, 10)):
        SyncRecord.unscoped.filter(pk=record.pk).update(last_attempt_at=now - dt.timedelta(minutes=minutes))
    SyncRecord.unscoped.filter(pk=done.pk).update(state=SyncState.ACKNOWLEDGED)
    admin = api(cast.platform_admin)

    items = admin.get(f"{MONITOR}/records").json()["items"]  # by default: not yet acknowledged
    assert [i["id"] for i in items] == [str(r.external_id) for r in (newest, newer, older)]
    first = items[0]
    assert first["clinic"]["name"] == "Clinic A" and first["state"] == "failed" and first["attempts"] == 1
    assert first["resource_type"] == "Patient" and "503" in first["last_error"]
    assert first["identifier"]["system"] == "https://shifa.jo/fhir/id/patient"

    clinic_a = admin.get(f"{MONITOR}/records?clinic_id={cast.clinic_a.external_id}&state=failed").json()
    assert [i["id"] for i in clinic_a["items"]] == [str(newest.external_id), str(older.external_id)]
    acknowledged = admin.get(f"{MONITOR}/records?state=acknowledged").json()["items"]
    assert [i["id"] for i in acknowledged] == [str(done.external_id)]

    # Cursor pagination walks the same order, one at a time.
    seen, url = [], f"{MONITOR}/records?limit=1"
    while url:
        page = admin.get(url).json()
        seen += [i["id"] for i in page["items"]]
        url = f"{MONITOR}/records?limit=1&cursor={page['next_cursor']}" if page["next_cursor"] else ""
    assert seen == [str(r.external_id) for r in (newest, newer, older)]
    bad = admin.get(f"{MONITOR}/records?state=lost")
    assert bad.status_code == 422 and bad["Content-Type"] == "application/problem+json"


def test_the_monitor_list_takes_a_fixed_number_of_queries(cast, django_assert_max_num_queries):
    from shifa.access.policies import Actor

    for _ in range(20):
        failed_record(cast.clinic_a)
        failed_record(cast.clinic_b)
    actor = Actor(user=cast.platform_admin, roles=frozenset({"platform_admin"}))
    with django_assert_max_num_queries(2):
        page = queries.monitor_record_list(actor=actor, limit=50)
        names = {r.clinic.name_en for r in page.items}
    assert names == {"Clinic A", "Clinic B"} and len(page.items) == 40


def test_retry_one_record_once_hakeem_is_back(cast, api):
    visit = _failed_visit(cast, api)
    encounter = _encounter(visit)
    admin = api(cast.platform_admin)
    failures = admin.get(f"{MONITOR}/records?state=failed").json()["items"]
    row = next(i for i in failures if i["id"] == str(encounter.external_id))
    assert row["resource_type"] == "Encounter" and "503" in row["last_error"] and row["remote_id"] is None

    down = admin.post(f"{MONITOR}/records/{encounter.external_id}/retry")  # still down: fails again
    assert down.status_code == 200 and down.json()["state"] == "failed" and down.json()["attempts"] == 2

    simulator.switch_set("normal")
    response = admin.post(f"{MONITOR}/records/{encounter.external_id}/retry")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "acknowledged" and body["attempts"] == 0 and body["last_error"] == ""
    assert body["remote_id"].startswith("Encounter/")
    # The rest the patient owed went with it.
    assert set(_records_of(cast.clinic_a, cast.patient).values_list("state", flat=True)) == {"acknowledged"}

    again = admin.post(f"{MONITOR}/records/{encounter.external_id}/retry")
    assert again.status_code == 409
    assert again["Content-Type"] == "application/problem+json"
    assert again.json()["code"] == "already_acknowledged"
    missing = admin.post(f"{MONITOR}/records/00000000-0000-0000-0000-000000000000/retry")
    assert missing.status_code == 404


def test_a_record_being_sent_is_left_to_its_sender(cast, api):
    record = failed_record(cast.clinic_a)
    SyncRecord.unscoped.filter(pk=record.pk).update(state=SyncState.SENDING, last_attempt_at=timezones.now())
    response = api(cast.platform_admin).post(f"{MONITOR}/records/{record.external_id}/retry")
    assert response.status_code == 409 and response.json()["code"] == "being_sent"


def test_retry_all_failed_of_a_clinic(cast, api):
    visit = _failed_visit(cast, api)
    other = failed_record(cast.clinic_b)
    owed = _records_of(cast.clinic_a, cast.patient).count()
    SyncRecord.unscoped.filter(clinic=cast.clinic_a).update(
        next_attempt_at=timezones.now() + dt.timedelta(hours=1)  # not due by itself for an hour
    )
    simulator.switch_set("normal")
    admin = api(cast.platform_admin)
    response = admin.post(f"{MONITOR}/clinics/{cast.clinic_a.external_id}/retry")
    assert response.status_code == 202, response.content
    assert response.json() == {
        "clinic": {"id": str(cast.clinic_a.external_id), "name": "Clinic A"},
        "queued": owed,
    }
    job = ProcrastinateJob.objects.get(task_name="hakeem.send_clinic")
    assert job.args == {"clinic_id": cast.clinic_a.pk}

    actions.clinic_send(**job.args)  # what the job runs
    assert set(_records_of(cast.clinic_a, cast.patient).values_list("state", flat=True)) == {"acknowledged"}
    assert _encounter(visit).remote_id.startswith("Encounter/")
    other.refresh_from_db()
    assert other.state == SyncState.FAILED  # another clinic's records are not touched
    counts = admin.get(MONITOR).json()["counts"]
    assert counts["failed"] == 1 and counts["acknowledged"] == owed

    unknown = admin.post(f"{MONITOR}/clinics/00000000-0000-0000-0000-000000000000/retry")
    assert unknown.status_code == 404


def test_the_monitor_shows_no_patient_and_nothing_clinical(cast, api):
    _failed_visit(cast, api)
    admin = api(cast.platform_admin)
    for url in (MONITOR, f"{MONITOR}/records", f"{MONITOR}/records?state=all"):
        text = admin.get(url).content.decode()
        assert PATIENT_NAME not in text and "Clinical note" not in text and "Hypertension" not in text
    items = admin.get(f"{MONITOR}/records?state=all").json()["items"]
    assert len(items) == _records_of(cast.clinic_a, cast.patient).count()
    assert all("patient" not in item for item in items)
    page = Client()
    sign_in_page(page, cast.platform_admin)
    html = page.get("/platform/hakeem?state=all").content.decode()
    assert "Encounter" in html and "503" in html
    assert PATIENT_NAME not in html and "Clinical note" not in html and "Hypertension" not in html


def test_platform_routes_refuse_clinic_staff_and_clinic_routes_refuse_the_platform(cast, api):
    record = failed_record(cast.clinic_a)
    for user in (cast.staff_a["doctor"], cast.staff_a["clinic_admin"], cast.general_admin):
        client = api(user)
        assert client.get(MONITOR).status_code == 403
        assert client.get(f"{MONITOR}/records").status_code == 403
        assert client.post(f"{MONITOR}/records/{record.external_id}/retry").status_code == 403
        assert client.post(f"{MONITOR}/clinics/{cast.clinic_a.external_id}/retry").status_code == 403
    record.refresh_from_db()
    assert record.attempts == 1  # nobody sent it
    assert api(cast.platform_admin).get(f"{base(cast.clinic_a)}/hakeem/records").status_code == 404
    assert api(cast.staff_a["secretary"]).get(f"{base(cast.clinic_a)}/hakeem/records").status_code == 403
    assert (
        api(cast.staff_a["secretary"]).get(f"{base(cast.clinic_a)}/hakeem/third-party-orders").status_code
        == 403
    )
    page = Client()
    sign_in_page(page, cast.staff_a["doctor"])
    assert page.get("/platform/hakeem").status_code == 403


# --- the clinic's own -------------------------------------------------------------------------------------------


def test_a_clinic_sees_its_own_records_with_patients_and_nothing_of_another_clinic(cast, api):
    visit = _failed_visit(cast, api)
    other = failed_record(cast.clinic_b)
    doctor = api(cast.staff_a["doctor"])
    body = doctor.get(f"{base(cast.clinic_a)}/hakeem/records").json()
    ids = {i["id"] for i in body["items"]}
    assert ids == {str(r.external_id) for r in _records_of(cast.clinic_a, cast.patient)}
    assert str(other.external_id) not in ids
    assert {i["patient"]["name"] for i in body["items"]} == {PATIENT_NAME}
    encounter = next(i for i in body["items"] if i["kind"] == "visit")
    assert encounter["visit_id"] == str(visit.external_id) and encounter["state"] == "failed"

    failed = doctor.get(f"{base(cast.clinic_a)}/hakeem/records?state=failed").json()["items"]
    assert len(failed) == len(ids)
    assert doctor.get(f"{base(cast.clinic_a)}/hakeem/records?state=acknowledged").json()["items"] == []
    mine = doctor.get(f"{base(cast.clinic_a)}/hakeem/records?patient_id={cast.patient.external_id}").json()
    assert {i["id"] for i in mine["items"]} == ids

    # Another clinic: its path is 404, and so is its visit under our clinic.
    assert doctor.get(f"{base(cast.clinic_b)}/hakeem/records").status_code == 404
    assert doctor.get(f"{base(cast.clinic_b)}/hakeem/third-party-orders").status_code == 404
    b_visit = Visit.unscoped.create(
        clinic=cast.clinic_b,
        patient=cast.patient,
        doctor=cast.doctor_b,
        origin="walk_in",
        started_at=timezones.now(),
        created_by=cast.doctor_b,
    )
    refused = doctor.get(f"{base(cast.clinic_a)}/hakeem/records?visit_id={b_visit.external_id}")
    assert refused.status_code == 404 and refused["Content-Type"] == "application/problem+json"
    doctor_b = api(cast.doctor_b)
    assert doctor_b.get(f"{base(cast.clinic_b)}/hakeem/records").json()["items"][0]["id"] == str(
        other.external_id
    )
    assert doctor_b.get(f"{base(cast.clinic_a)}/hakeem/records").status_code == 404


def test_a_visits_records_are_those_it_produced(cast, api):
    visit = _failed_visit(cast, api)
    failed_record(cast.clinic_a)  # another patient's
    doctor = api(cast.staff_a["doctor"])
    items = doctor.get(f"{base(cast.clinic_a)}/hakeem/records?visit_id={visit.external_id}").json()["items"]
    kinds = sorted(i["kind"] for i in items)
    assert kinds == sorted(["appointment", "visit", "diagnosis", "diagnosis", "prescription"])
    keys = {i["identifier"]["value"] for i in items}
    assert str(visit.external_id) in keys
    assert {str(d.external_id) for d in visit.diagnoses.all()} <= keys


def test_the_visit_page_shows_how_its_records_are_doing_on_hakeem(cast, api):
    visit = _failed_visit(cast, api)
    page = Client()
    sign_in_page(page, cast.staff_a["doctor"])
    url = f"/clinic/{cast.clinic_a.external_id}/visits/{visit.external_id}"
    html = page.get(url).content.decode()
    assert 'data-hakeem="failed"' in html and "503" in html  # the error on hover

    simulator.switch_set("normal")
    SyncRecord.unscoped.filter(clinic=cast.clinic_a).update(next_attempt_at=timezones.now())
    actions.send_patient(clinic_id=cast.clinic_a.pk, patient_id=cast.patient.pk)
    assert 'data-hakeem="acknowledged"' in page.get(url).content.decode()
    SyncRecord.unscoped.filter(pk=_encounter(visit).pk).update(state=SyncState.PENDING)
    assert 'data-hakeem="waiting"' in page.get(url).content.decode()

    nurse = Client()  # nurses follow the sync too
    sign_in_page(nurse, cast.staff_a["nurse"])
    assert 'data-hakeem="waiting"' in nurse.get(url).content.decode()


def test_the_clinic_page_lists_records_and_third_party_orders(cast, api):
    visit = _failed_visit(cast, api)
    from shifa.catalog.actions import reference_list_load
    from shifa.catalog.models import Facility

    reference_list_load("facilities")
    place = Facility.objects.order_by("pk").first()
    tpo = ThirdPartyOrder.unscoped.create(
        clinic=cast.clinic_a,
        patient=cast.patient,
        visit=visit,
        kind=Kind.ORDER_TASK,
        key=visit.external_id,
        facility=place,
        description="Complete blood count",
        status="in-progress",
        business_status="Sample taken",
    )
    ThirdPartyOrder.unscoped.create(
        clinic=cast.clinic_b,
        patient=cast.patient,
        visit=Visit.unscoped.create(
            clinic=cast.clinic_b,
            patient=cast.patient,
            doctor=cast.doctor_b,
            origin="walk_in",
            started_at=timezones.now(),
            created_by=cast.doctor_b,
        ),
        kind=Kind.ORDER_TASK,
        key=cast.patient.external_id,
        facility=place,
        description="Chest X-ray of clinic B",
    )
    orders = api(cast.staff_a["doctor"]).get(f"{base(cast.clinic_a)}/hakeem/third-party-orders").json()
    assert [o["id"] for o in orders["items"]] == [str(tpo.external_id)]
    (order,) = orders["items"]
    assert order["status"] == "in-progress" and order["business_status"] == "Sample taken"
    assert order["facility"]["code"] == place.code and order["visit_id"] == str(visit.external_id)
    assert order["patient"]["name"] == PATIENT_NAME
    closed = api(cast.staff_a["doctor"]).get(f"{base(cast.clinic_a)}/hakeem/third-party-orders?status=closed")
    assert closed.json()["items"] == []

    page = Client()
    sign_in_page(page, cast.staff_a["clinic_admin"])
    html = page.get(f"/clinic/{cast.clinic_a.external_id}/hakeem").content.decode()
    assert PATIENT_NAME in html and "Complete blood count" in html and "Sample taken" in html
    assert "Chest X-ray of clinic B" not in html
    assert html.count('data-state="failed"') >= _records_of(cast.clinic_a, cast.patient).count()
    assert f'href="/clinic/{cast.clinic_a.external_id}/hakeem"' in html  # the nav entry
    failed_only = page.get(f"/clinic/{cast.clinic_a.external_id}/hakeem?state=acknowledged").content.decode()
    assert 'data-state="failed"' not in failed_only


def test_the_platform_page_retries_a_record_and_a_clinic(cast, api):
    visit = _failed_visit(cast, api)
    encounter = _encounter(visit)
    page = Client()
    sign_in_page(page, cast.platform_admin)
    html = page.get("/platform/hakeem").content.decode()
    assert f'data-record="{encounter.external_id}"' in html and "Retry all failed" in html
    assert 'href="/platform/hakeem"' in html  # the nav entry

    simulator.switch_set("normal")
    response = page.post(f"/platform/hakeem/records/{encounter.external_id}/retry", {"state": "failed"})
    assert response.status_code == 302
    assert f"retried={encounter.external_id}" in response["Location"]
    shown = page.get(response["Location"]).content.decode()
    assert f'data-retried="{encounter.external_id}"' in shown and 'data-state="acknowledged"' in shown
    again = page.post(f"/platform/hakeem/records/{encounter.external_id}/retry", {"state": "failed"})
    assert again.status_code == 302
    assert "already acknowledged" in page.get(again["Location"]).content.decode()

    failed_record(cast.clinic_b)
    response = page.post(f"/platform/hakeem/clinics/{cast.clinic_b.external_id}/retry", {"state": "failed"})
    assert response.status_code == 302
    job = ProcrastinateJob.objects.get(task_name="hakeem.send_clinic")
    assert job.args == {"clinic_id": cast.clinic_b.pk}
    assert "will be sent again in a moment" in page.get(response["Location"]).content.decode()


def test_errors_are_shown_in_the_readers_words_with_what_hakeem_said():
    from django.utils import translation

    from shifa.integrations.hakeem.client import describe_error

    with translation.override("en"):
        assert describe_error("Hakeem answered 503: Service temporarily unavailable") == (
            "Hakeem is unavailable (503); the record will be sent again."
        )
        assert describe_error("Hakeem did not answer within 10 s").startswith("Hakeem did not answer in time")
        assert describe_error("Hakeem refused it (422): Condition.code: unknown code") == (
            "Hakeem refused the record (422): Condition.code: unknown code"
        )
        assert describe_error("something else went wrong") == "something else went wrong"
        assert describe_error("") == ""
    with translation.override("ar"):
        shown = describe_error("Hakeem answered 503: Service temporarily unavailable")
        assert "503" in shown and "Service" not in shown and "حكيم" in shown
        unasked = describe_error("Hakeem found the patient but could not be asked whose record it is")
        assert "حكيم" in unasked and "Hakeem" not in unasked

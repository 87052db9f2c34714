"""Consent-scoped sharing and the read log (ID-5), the patient's own record (EHR-6), and what secretaries see."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.db import connection

from shifa.audit.models import RecordRead
from shifa.core import timezones
from shifa.records.models import Patient
from shifa.scheduling.models import Appointment
from tests.routes import Target, call, http_routes, url_for
from tests.support.records import base, committed_visit, in_care


def _later(days: int):
    """The clock ``days`` ahead: clinic A's visit is then long over."""
    from tests.conftest import time_machine

    return time_machine(timezones.now() + dt.timedelta(days=days))


def test_clinic_b_reads_clinic_as_visit_only_with_the_patients_grant(cast, api):
    visit = committed_visit(cast, api, notes="Private note of clinic A")
    with _later(10):
        _grant_and_read(cast, api, visit)


def _grant_and_read(cast, api, visit):
    patient = cast.patient
    doctor_b = api(cast.doctor_b)
    # The patient is clinic B's patient (an appointment there, next month), but has no visit with B now.
    in_care(cast, clinic=cast.clinic_b, hours=24 * 30)
    visit_url = f"{base(cast.clinic_b)}/visits/{visit['id']}"
    chart_url = f"{base(cast.clinic_b)}/patients/{patient.external_id}/chart"
    assert doctor_b.get(visit_url).status_code == 404
    chart = doctor_b.get(chart_url).json()
    assert chart["shared"] is False and chart["visits"]["items"] == []
    assert "Private note of clinic A" not in json.dumps(chart)

    me = api(cast.patient_user)
    granted = me.post("/api/v1/me/grants", {"clinic_id": str(cast.clinic_b.external_id), "days": 7})
    assert granted.status_code == 201, granted.content
    before = RecordRead.objects.filter(patient=patient).count()
    read = doctor_b.get(visit_url)
    assert read.status_code == 200 and read.json()["notes"] == "Private note of clinic A"
    assert [v["id"] for v in doctor_b.get(chart_url).json()["visits"]["items"]] == [visit["id"]]
    assert RecordRead.objects.filter(patient=patient).count() == before + 2

    log = me.get("/api/v1/me/record/reads").json()["items"]
    assert log[0]["clinic"]["name"] == "Clinic B" and log[0]["role"] == "doctor" and log[0]["what"] == "chart"
    assert log[1]["what"] == "visit" and log[1]["clinic"]["name"] == "Clinic B"

    # Revoked: clinic B no longer reads it.
    assert me.delete(f"/api/v1/me/grants/{granted.json()['id']}").status_code == 200
    assert doctor_b.get(visit_url).status_code == 404
    assert me.get("/api/v1/me/grants").json()["items"] == []


def test_a_visit_with_the_clinic_opens_the_shared_record_while_it_lasts(cast, api):
    visit = committed_visit(cast, api)
    with _later(10):
        doctor_b = api(cast.doctor_b)
        appointment = in_care(cast, clinic=cast.clinic_b, hours=2)  # a visit with clinic B today
        assert doctor_b.get(f"{base(cast.clinic_b)}/visits/{visit['id']}").status_code == 200
        Appointment.unscoped.filter(pk=appointment.pk).update(status="cancelled")
        assert doctor_b.get(f"{base(cast.clinic_b)}/visits/{visit['id']}").status_code == 404


def test_a_clinic_with_no_tie_to_the_patient_does_not_find_them(cast, api):
    committed_visit(cast, api)
    doctor_b = api(cast.doctor_b)
    url = f"{base(cast.clinic_b)}/patients/{cast.patient.external_id}/chart"
    assert doctor_b.get(url).status_code == 404
    assert doctor_b.get(f"{base(cast.clinic_b)}/patients?q=Patient").json()["items"] == []


def test_the_patient_sees_their_visit_in_plain_words(cast, api):
    visit = committed_visit(cast, api)
    me = api(cast.patient_user)
    listed = me.get("/api/v1/me/visits").json()["items"]
    assert [v["id"] for v in listed] == [visit["id"]]
    shown = me.get(f"/api/v1/me/visits/{visit['id']}").json()
    assert [d["plain_words"] for d in shown["diagnoses"]] == ["Hypertension NOS", "Chest infection"]
    assert shown["prescriptions"][0]["instructions"] == "Finish the whole course"
    record = me.get("/api/v1/me/record").json()
    assert [p["medication"]["code"] for p in record["current_prescriptions"]] == ["amoxicillin"]
    # Another patient cannot open it; nor does a patient's own read enter the read log.
    assert api(cast.other_patient_user).get(f"/api/v1/me/visits/{visit['id']}").status_code == 404
    assert not RecordRead.objects.filter(reader=cast.patient_user).exists()


def test_a_draft_is_not_shown_to_the_patient(cast, api):
    from tests.support.booking import open_for_booking
    from tests.support.records import open_visit

    open_for_booking(cast)
    draft = open_visit(api(cast.staff_a["doctor"]), cast.clinic_a, in_care(cast))
    me = api(cast.patient_user)
    assert me.get("/api/v1/me/visits").json()["items"] == []
    assert me.get(f"/api/v1/me/visits/{draft['id']}").status_code == 404


def test_a_guardian_manages_a_dependants_own_record_and_sharing(cast, api):
    me = api(cast.patient_user)
    child = me.post(
        "/api/v1/me/dependants",
        {"full_name": "Lina", "date_of_birth": "2019-03-02", "sex": "female", "relation": "child"},
    )
    assert child.status_code == 201, child.content
    child_id = child.json()["id"]
    names = [p["full_name"] for p in me.get("/api/v1/me/patients").json()["items"]]
    assert names == ["Patient", "Lina"]
    grant = me.post(
        "/api/v1/me/grants", {"clinic_id": str(cast.clinic_a.external_id), "patient_id": child_id}
    )
    assert grant.status_code == 201
    assert (
        me.get(f"/api/v1/me/grants?patient_id={child_id}").json()["items"][0]["clinic"]["name"] == "Clinic A"
    )
    # The dependant's record is now the clinic's to read; another patient cannot touch it.
    doctor = api(cast.staff_a["doctor"])
    assert doctor.get(f"{base(cast.clinic_a)}/patients/{child_id}/chart").status_code == 200
    other = api(cast.other_patient_user)
    assert other.get(f"/api/v1/me/record?patient_id={child_id}").status_code == 404
    assert other.patch(f"/api/v1/me/patients/{child_id}", {"blood_group": "A+"}).status_code == 404


def test_a_bad_dependant_is_refused_on_its_field(cast, api):
    me = api(cast.patient_user)
    future = (timezones.now().date() + dt.timedelta(days=3)).isoformat()
    response = me.post(
        "/api/v1/me/dependants",
        {"full_name": "Lina", "date_of_birth": future, "sex": "female", "relation": "child"},
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "date_of_birth"
    assert not Patient.objects.filter(full_name="Lina").exists()


def test_a_national_number_is_found_through_its_blind_index_only(cast, api):
    me = api(cast.patient_user)
    pid = str(cast.patient.external_id)
    saved = me.patch(f"/api/v1/me/patients/{pid}", {"national_id": "٩٨٧٦٥٤٣٢١٠"})
    assert saved.status_code == 200 and saved.json()["national_id"] == "9876543210"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT national_id, national_id_index FROM records_patient WHERE id = %s", [cast.patient.pk]
        )
        stored, index = cursor.fetchone()
    assert "9876543210" not in stored and stored.startswith("g1.") and len(index) == 64
    # A clinic finds the person by the exact number, even before they are its patient.
    found = api(cast.doctor_b).get(f"{base(cast.clinic_b)}/patients?q=9876543210").json()["items"]
    assert [p["id"] for p in found] == [pid]
    # Two patients cannot share one number; a malformed number is refused on its field.
    other = str(Patient.objects.get(user=cast.other_patient_user).external_id)
    taken = api(cast.other_patient_user).patch(f"/api/v1/me/patients/{other}", {"national_id": "9876543210"})
    assert taken.status_code == 422 and taken.json()["errors"][0]["code"] == "national_id_taken"
    bad = me.patch(f"/api/v1/me/patients/{pid}", {"national_id": "12345"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "national_id"


CLINICAL_MARKERS = (
    "Private marker note 7731",
    "Finish the whole course",
    "Headache and fever",
    "Chest infection",
)


def test_a_secretary_gets_no_clinical_field_in_any_response(cast, api):
    committed_visit(cast, api, notes=CLINICAL_MARKERS[0])
    secretary = cast.staff_a["secretary"]
    membership = secretary.memberships.first()
    for spec in http_routes():
        if spec.method != "GET" or "{" in spec.path.replace("{clinic_id}", ""):
            continue
        response = call(spec, url_for(spec, Target(cast.clinic_a, membership, secretary)), secretary)
        body = response.content.decode(errors="replace")
        for marker in CLINICAL_MARKERS:
            assert marker not in body, (spec.path, marker)
    patient_url = f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}"
    refused = api(secretary).get(f"{patient_url}/chart")
    assert refused.status_code == 403


def _pg_dump() -> str:
    """The pg_dump that matches the server: the embedded server's own, else the system's."""
    import pgserver

    bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"
    return str(bundled) if bundled.exists() else shutil.which("pg_dump")


@pytest.mark.django_db(transaction=True)
def test_a_database_dump_shows_no_plaintext_of_encrypted_fields(cast, api):
    secret_note = "Patient confides zx-qv-plaintext-marker"
    visit = committed_visit(cast, api, notes=secret_note)
    doctor = api(cast.staff_a["doctor"])
    url = f"{base(cast.clinic_a)}/visits/{visit['id']}"
    assert doctor.get(url).json()["notes"] == secret_note
    api(cast.patient_user).patch(
        f"/api/v1/me/patients/{cast.patient.external_id}", {"national_id": "9123456780"}
    )
    settings = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": settings.get("PASSWORD") or ""}
    command = [_pg_dump(), "--data-only", "-d", settings["NAME"], "-U", settings.get("USER") or "postgres"]
    if settings.get("HOST"):
        command += ["-h", settings["HOST"]]
    if settings.get("PORT"):
        command += ["-p", str(settings["PORT"])]
    dump = subprocess.run(command, capture_output=True, env=env, check=True, timeout=120).stdout.decode()
    assert "records_visit" in dump and "g1." in dump  # the rows are there, sealed
    for plaintext in (
        secret_note,
        "Finish the whole course",
        "Headache and fever",
        "9123456780",
        "Chest infection",
    ):
        assert plaintext not in dump, plaintext


@pytest.mark.django_db(transaction=True)
def test_a_row_written_while_its_visit_is_being_committed_waits_and_is_refused(cast, api):
    """The commit guard share-locks the visit: an INSERT racing the commit waits for it, then is refused."""
    import threading
    import time

    from django.db import connections
    from django.db.utils import DatabaseError

    from shifa.records.models import Visit
    from tests.support.booking import open_for_booking
    from tests.support.records import open_visit

    open_for_booking(cast)
    draft = open_visit(api(cast.staff_a["doctor"]), cast.clinic_a, in_care(cast))
    visit = Visit.unscoped.get(external_id=draft["id"])
    committing = threading.Event()
    outcome = {}

    def commit():
        from django.db import transaction

        from shifa.core import timezones

        with transaction.atomic():
            Visit.unscoped.filter(pk=visit.pk).update(is_committed=True, committed_at=timezones.now())
            committing.set()
            time.sleep(1.0)
        connections.close_all()

    def insert():
        committing.wait(5)
        started = time.monotonic()
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute(
                    "INSERT INTO records_visitdiagnosis (external_id, created_at, updated_at, clinic_id, visit_id, "
                    "diagnosis_id, rank, plain_words, position) VALUES (gen_random_uuid(), now(), now(), %s, %s, "
                    "(SELECT id FROM catalog_diagnosis WHERE code = '4019'), 'primary', '', 0)",
                    [visit.clinic_id, visit.pk],
                )
            outcome["result"] = "inserted"
        except DatabaseError as exc:
            outcome["result"] = str(exc)
        outcome["waited"] = time.monotonic() - started
        connections.close_all()

    threads = [threading.Thread(target=commit), threading.Thread(target=insert)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert "committed" in outcome["result"], outcome
    assert outcome["waited"] > 0.5  # it waited for the commit instead of slipping in beside it
    assert not visit.diagnoses.exists()

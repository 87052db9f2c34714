"""Visit documentation, commit and amendment (EHR-2, EHR-3), and who may write what."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError

from shifa.records.models import Prescription, Visit, VisitDiagnosis
from shifa.scheduling.models import Appointment
from tests.support.booking import open_for_booking
from tests.support.records import base, committed_visit, document, in_care, open_visit


def test_a_doctor_documents_and_commits_a_visit(cast, api):
    visit = committed_visit(cast, api)
    assert visit["is_committed"] and visit["committed_by"]["name"] == cast.staff_a["doctor"].full_name
    assert [d["coding"]["code"] for d in visit["diagnoses"]] == ["401.9", "466.0"]
    assert [d["rank"] for d in visit["diagnoses"]] == ["primary", "secondary"]
    assert visit["diagnoses"][1]["plain_words"] == "Chest infection"
    line = visit["prescriptions"][0]
    assert line["medication"]["code"] == "amoxicillin" and line["dose"] == "1" and line["duration_days"] == 7
    assert line["as_text"] == "1 capsule, by mouth, three times a day, after meals, for 7 days"
    # Committing the visit completes (and commits) the appointment it came from.
    appointment = Appointment.unscoped.get(external_id=visit["appointment_id"])
    assert appointment.status == "completed" and appointment.is_committed


def test_a_committed_visit_refuses_changes_through_the_api(cast, api):
    visit = committed_visit(cast, api)
    doctor = api(cast.staff_a["doctor"])
    url = f"{base(cast.clinic_a)}/visits/{visit['id']}"
    for response in (
        doctor.patch(url, {"notes": "changed"}),
        doctor.post(f"{url}/diagnoses", {"code": "250.00"}),
        doctor.delete(f"{url}/diagnoses/{visit['diagnoses'][0]['id']}"),
        doctor.delete(url),
    ):
        assert response.status_code == 409, response.content
        assert response.json()["code"] == "record_committed"


def _raw(sql: str, params) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE records_visit SET notes = 'tampered' WHERE id = %s",
        "DELETE FROM records_visit WHERE id = %s",
        "UPDATE records_visitdiagnosis SET rank = 'secondary' WHERE visit_id = %s",
        "DELETE FROM records_visitdiagnosis WHERE visit_id = %s",
        "UPDATE records_prescription SET dose = 9 WHERE visit_id = %s",
        "DELETE FROM records_prescription WHERE visit_id = %s",
        "UPDATE records_prescription SET visit_id = NULL WHERE visit_id = %s",
    ],
)
def test_raw_sql_cannot_change_a_committed_visit_or_what_it_holds(cast, api, statement):
    visit = Visit.unscoped.get(external_id=committed_visit(cast, api)["id"])
    with pytest.raises(DatabaseError) as raised:
        _raw(statement, [visit.pk])
    assert "committed" in str(raised.value)
    visit.refresh_from_db()
    assert VisitDiagnosis.unscoped.filter(visit=visit).count() == 2
    assert Prescription.unscoped.get(visit=visit).dose == 1


def test_raw_sql_cannot_add_to_a_committed_visit(cast, api):
    visit = Visit.unscoped.get(external_id=committed_visit(cast, api)["id"])
    dx = VisitDiagnosis.unscoped.filter(visit=visit).first()
    with pytest.raises(DatabaseError):
        _raw(
            "INSERT INTO records_visitdiagnosis (external_id, created_at, updated_at, clinic_id, visit_id, "
            "diagnosis_id, rank, plain_words, position) VALUES (gen_random_uuid(), now(), now(), %s, %s, "
            "(SELECT id FROM catalog_diagnosis WHERE code = '25000'), 'secondary', '', 5)",
            [dx.clinic_id, visit.pk],
        )
    assert VisitDiagnosis.unscoped.filter(visit=visit).count() == 2


def test_an_amendment_is_shown_with_the_original(cast, api):
    original = committed_visit(cast, api, notes="Left ear red")
    doctor = api(cast.staff_a["doctor"])
    url = f"{base(cast.clinic_a)}/visits"
    started = doctor.post(f"{url}/{original['id']}/amendments", {"reason": "The right ear, not the left"})
    assert started.status_code == 201, started.content
    amendment = started.json()
    assert amendment["amends"] == original["id"] and not amendment["is_committed"]
    assert amendment["notes"] == "Left ear red" and len(amendment["diagnoses"]) == 2  # a copy to correct
    # Starting again while one is open gives the same amendment (a double tap).
    again = doctor.post(f"{url}/{original['id']}/amendments", {"reason": "again"})
    assert again.json()["id"] == amendment["id"]

    assert doctor.patch(f"{url}/{amendment['id']}", {"notes": "Right ear red"}).status_code == 200
    secondary = next(d for d in amendment["diagnoses"] if d["rank"] == "secondary")
    assert doctor.delete(f"{url}/{amendment['id']}/diagnoses/{secondary['id']}").status_code == 200
    committed = doctor.post(f"{url}/{amendment['id']}/commit")
    assert committed.status_code == 200 and committed.json()["is_committed"]

    shown = doctor.get(f"{url}/{original['id']}").json()
    assert shown["notes"] == "Left ear red"  # the original stays as it was
    assert [a["id"] for a in shown["amendments"]] == [amendment["id"]]
    assert shown["amendments"][0]["reason"] == "The right ear, not the left"
    corrected = doctor.get(f"{url}/{amendment['id']}").json()
    assert corrected["amends"] == original["id"] and corrected["notes"] == "Right ear red"

    # The chart's timeline lists the visit once, with the corrected diagnoses and its amendment.
    patient = shown["patient"]["id"]
    chart = doctor.get(f"{base(cast.clinic_a)}/patients/{patient}/chart").json()
    assert [v["id"] for v in chart["visits"]["items"]] == [original["id"]]
    entry = chart["visits"]["items"][0]
    assert [d["coding"]["code"] for d in entry["diagnoses"]] == ["401.9"]
    assert [a["id"] for a in entry["amendments"]] == [amendment["id"]]


def test_an_amendment_needs_a_reason_and_a_committed_visit(cast, api):
    open_for_booking(cast)
    doctor = api(cast.staff_a["doctor"])
    visit = open_visit(doctor, cast.clinic_a, in_care(cast))
    url = f"{base(cast.clinic_a)}/visits/{visit['id']}/amendments"
    assert doctor.post(url, {"reason": "x"}).json()["code"] == "not_committed"
    assert doctor.post(url, {"reason": ""}).status_code == 422


def test_commit_needs_a_primary_diagnosis(cast, api):
    open_for_booking(cast)
    doctor = api(cast.staff_a["doctor"])
    visit = open_visit(doctor, cast.clinic_a, in_care(cast))
    response = doctor.post(f"{base(cast.clinic_a)}/visits/{visit['id']}/commit")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "diagnoses"
    assert not Visit.unscoped.get(external_id=visit["id"]).is_committed


def test_opening_an_appointment_twice_gives_one_visit_and_checks_the_patient_in(cast, api):
    open_for_booking(cast)
    appointment = in_care(cast)
    nurse = api(cast.staff_a["nurse"])
    first = open_visit(nurse, cast.clinic_a, appointment)
    second = nurse.post(f"{base(cast.clinic_a)}/visits", {"appointment_id": str(appointment.external_id)})
    assert second.json()["id"] == first["id"]
    appointment.refresh_from_db()
    assert appointment.status == "checked_in"
    assert Visit.unscoped.filter(appointment=appointment).count() == 1


def test_a_nurse_records_vitals_and_triage_but_cannot_write_a_diagnosis(cast, api):
    open_for_booking(cast)
    nurse = api(cast.staff_a["nurse"])
    visit = open_visit(nurse, cast.clinic_a, in_care(cast))
    url = f"{base(cast.clinic_a)}/visits/{visit['id']}"
    vitals = nurse.post(f"{url}/vitals", {"readings": {"8480-6": 150, "8462-4": 95, "8867-4": "72"}})
    assert vitals.status_code == 201, vitals.content
    by_code = {v["code"]["code"]: v for v in vitals.json()["vitals"]}
    assert by_code["8480-6"]["flag"] == "high" and by_code["8867-4"]["flag"] == ""
    assert nurse.post(f"{url}/triage", {"triage": "urgent", "note": "BP high"}).json()["triage"] == "urgent"
    refused = nurse.post(f"{url}/diagnoses", {"code": "401.9"})
    assert refused.status_code == 403
    assert nurse.post(f"{url}/prescriptions", {}).status_code == 403
    assert nurse.patch(url, {"notes": "x"}).status_code == 403
    assert not VisitDiagnosis.unscoped.filter(visit__external_id=visit["id"]).exists()


def test_a_typing_mistake_in_vitals_is_refused_on_its_field_and_nothing_is_saved(cast, api):
    open_for_booking(cast)
    nurse = api(cast.staff_a["nurse"])
    visit = open_visit(nurse, cast.clinic_a, in_care(cast))
    response = nurse.post(
        f"{base(cast.clinic_a)}/visits/{visit['id']}/vitals", {"readings": {"8480-6": 1200, "8867-4": 70}}
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["readings.8480-6"]
    assert nurse.get(f"{base(cast.clinic_a)}/visits/{visit['id']}").json()["vitals"] == []


def test_an_assistant_doctor_drafts_but_only_a_doctor_commits(cast, api):
    open_for_booking(cast)
    assistant = api(cast.staff_a["assistant_doctor"])
    visit = open_visit(assistant, cast.clinic_a, in_care(cast))
    document(assistant, cast.clinic_a, visit["id"])
    url = f"{base(cast.clinic_a)}/visits/{visit['id']}/commit"
    assert assistant.post(url).status_code == 403
    assert api(cast.staff_a["doctor"]).post(url).json()["is_committed"] is True


def test_a_prescription_is_checked_against_the_patients_allergies(cast, api):
    open_for_booking(cast)
    appointment = in_care(cast)
    doctor = api(cast.staff_a["doctor"])
    patient_url = f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}"
    allergy = doctor.post(f"{patient_url}/allergies", {"medication": "amoxicillin", "reaction": "Rash"})
    assert allergy.status_code == 201, allergy.content
    visit = open_visit(doctor, cast.clinic_a, appointment)
    url = f"{base(cast.clinic_a)}/visits/{visit['id']}/prescriptions"
    line = {"medication": "flucloxacillin", "strength": "500 mg", "dose": "1", "dose_unit": "capsule"}
    line |= {"frequency": "four_times_daily", "duration_days": 5}
    response = doctor.post(url, line)
    assert response.status_code == 201, response.content
    warnings = response.json()["prescriptions"][0]["allergy_warnings"]
    assert warnings == ["Allergic to Amoxicillin, of the same class (penicillins) (Rash)"]
    combined = doctor.post(url, {**line, "medication": "amoxicillin-clavulanic-acid"})
    assert combined.json()["prescriptions"][1]["allergy_warnings"] == [
        "Allergic to Amoxicillin, which this medicine contains (Rash)"
    ]
    other = doctor.post(url, {**line, "medication": "paracetamol", "dose_unit": "tablet"})
    assert other.json()["prescriptions"][2]["allergy_warnings"] == []


@pytest.mark.parametrize(
    "change, field",
    [
        ({"medication": "no-such-medicine"}, "medication"),
        ({"dose": "0"}, "dose"),
        ({"dose": "abc"}, "dose"),
        ({"frequency": "sometimes"}, "frequency"),
        ({"duration_days": None}, "duration_days"),
        ({"form": "injection"}, "form"),
    ],
)
def test_a_bad_prescription_line_is_refused_on_its_field(cast, api, change, field):
    open_for_booking(cast)
    doctor = api(cast.staff_a["doctor"])
    visit = open_visit(doctor, cast.clinic_a, in_care(cast))
    line = {"medication": "amoxicillin", "strength": "500 mg", "dose": "1", "dose_unit": "capsule"}
    line |= {"frequency": "three_times_daily", "duration_days": 7, **change}
    response = doctor.post(f"{base(cast.clinic_a)}/visits/{visit['id']}/prescriptions", line)
    assert response.status_code in {400, 422}
    assert field in [e["field"] for e in response.json()["errors"]]
    assert not Prescription.unscoped.filter(visit__external_id=visit["id"]).exists()


def test_another_clinics_visit_ids_are_404(cast, api):
    visit = committed_visit(cast, api)
    doctor_b = api(cast.doctor_b)
    b_url = f"{base(cast.clinic_b)}/visits/{visit['id']}"
    assert doctor_b.get(b_url).status_code == 404
    assert doctor_b.patch(b_url, {"notes": "x"}).status_code == 404
    assert doctor_b.post(f"{b_url}/amendments", {"reason": "x"}).status_code == 404
    # Clinic A's item under clinic A's other visit is 404 too.
    doctor = api(cast.staff_a["doctor"])
    other = open_visit(doctor, cast.clinic_a, in_care(cast, hours=3))
    item = visit["diagnoses"][0]["id"]
    assert doctor.delete(f"{base(cast.clinic_a)}/visits/{other['id']}/diagnoses/{item}").status_code in {
        404,
        409,
    }


def test_results_are_attached_to_an_order_after_commit_and_never_changed(cast, api):
    open_for_booking(cast)
    doctor = api(cast.staff_a["doctor"])
    visit = open_visit(doctor, cast.clinic_a, in_care(cast))
    document(doctor, cast.clinic_a, visit["id"])
    url = f"{base(cast.clinic_a)}/visits/{visit['id']}"
    order = doctor.post(f"{url}/orders", {"kind": "lab", "test": "718-7"}).json()["orders"][0]
    doctor.post(f"{url}/commit")
    nurse = api(cast.staff_a["nurse"])
    values = [{"name": "Haemoglobin", "value": "10.1", "unit": "g/dL", "low": "12", "high": "16"}]
    result = nurse.post(f"{base(cast.clinic_a)}/orders/{order['id']}/results", {"values": values})
    assert result.status_code == 201, result.content
    assert result.json()["values"][0]["flag"] == "low"
    shown = doctor.get(url).json()["orders"][0]["results"]
    assert [r["id"] for r in shown] == [result.json()["id"]]
    with pytest.raises(DatabaseError):
        _raw("UPDATE records_orderresult SET summary = '' WHERE external_id = %s", [result.json()["id"]])


def test_results_show_with_every_version_of_an_amended_visit(cast, api):
    open_for_booking(cast)
    doctor = api(cast.staff_a["doctor"])
    visit = open_visit(doctor, cast.clinic_a, in_care(cast))
    document(doctor, cast.clinic_a, visit["id"])
    url = f"{base(cast.clinic_a)}/visits"
    order = doctor.post(f"{url}/{visit['id']}/orders", {"kind": "lab", "test": "718-7"}).json()["orders"][0]
    doctor.post(f"{url}/{visit['id']}/commit")
    values = [{"name": "Haemoglobin", "value": "13.1", "unit": "g/dL"}]
    doctor.post(f"{base(cast.clinic_a)}/orders/{order['id']}/results", {"values": values})
    amendment = doctor.post(f"{url}/{visit['id']}/amendments", {"reason": "Typo in the notes"}).json()
    assert amendment["orders"][0]["results"][0]["values"][0]["value"] == "13.1"


def test_running_prescriptions_follow_duration_and_the_latest_version(cast, api):
    import datetime as dt

    from shifa.core import timezones
    from tests.conftest import time_machine

    visit = committed_visit(cast, api)  # amoxicillin for 7 days
    doctor = api(cast.staff_a["doctor"])
    chart_url = f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/chart"
    running = doctor.get(chart_url).json()["current_prescriptions"]
    assert [p["medication"]["code"] for p in running] == ["amoxicillin"]
    # The amendment replaces amoxicillin by paracetamol: only the corrected line runs.
    url = f"{base(cast.clinic_a)}/visits"
    amendment = doctor.post(f"{url}/{visit['id']}/amendments", {"reason": "Wrong medicine"}).json()
    doctor.delete(f"{url}/{amendment['id']}/prescriptions/{amendment['prescriptions'][0]['id']}")
    line = {"medication": "paracetamol", "strength": "500 mg", "dose": "1", "dose_unit": "tablet"}
    doctor.post(
        f"{url}/{amendment['id']}/prescriptions", {**line, "frequency": "every_8_hours", "duration_days": 3}
    )
    doctor.post(f"{url}/{amendment['id']}/commit")
    running = doctor.get(chart_url).json()["current_prescriptions"]
    assert [p["medication"]["code"] for p in running] == ["paracetamol"]
    # Four days later the three-day course is over.
    with time_machine(timezones.now() + dt.timedelta(days=4)):
        assert api(cast.patient_user).get("/api/v1/me/record").json()["current_prescriptions"] == []


def test_an_amendment_corrects_a_diagnosis_in_place(cast, api):
    original = committed_visit(cast, api)
    doctor = api(cast.staff_a["doctor"])
    url = f"{base(cast.clinic_a)}/visits"
    amendment = doctor.post(f"{url}/{original['id']}/amendments", {"reason": "Wrong code"}).json()
    primary = next(d for d in amendment["diagnoses"] if d["rank"] == "primary")
    secondary = next(d for d in amendment["diagnoses"] if d["rank"] == "secondary")
    row = f"{url}/{amendment['id']}/diagnoses/{primary['id']}"

    corrected = doctor.patch(row, {"code": "401.1", "plain_words": "Blood pressure"})
    assert corrected.status_code == 200, corrected.content
    (shown,) = [d for d in corrected.json()["diagnoses"] if d["id"] == primary["id"]]
    assert shown["coding"]["code"] == "401.1" and shown["plain_words"] == "Blood pressure"
    copy = VisitDiagnosis.unscoped.get(external_id=primary["id"])
    assert copy.lineage is not None  # still the original's diagnosis, corrected

    # A code already in the visit, an unknown code, demoting the primary: refused on their field.
    taken = doctor.patch(row, {"code": secondary["coding"]["code"]})
    assert taken.status_code == 422 and taken.json()["errors"][0]["field"] == "code"
    assert doctor.patch(row, {"code": "999.99x"}).status_code == 422
    demoted = doctor.patch(row, {"rank": "secondary"})
    assert demoted.status_code == 422 and demoted.json()["errors"][0]["field"] == "rank"
    # Making the secondary one primary demotes the other.
    promoted = doctor.patch(f"{url}/{amendment['id']}/diagnoses/{secondary['id']}", {"rank": "primary"})
    ranks = {d["id"]: d["rank"] for d in promoted.json()["diagnoses"]}
    assert ranks == {primary["id"]: "secondary", secondary["id"]: "primary"}

    # A committed visit cannot be corrected in place; the original's rows are not reachable through the amendment.
    committed_row = f"{url}/{original['id']}/diagnoses/{original['diagnoses'][0]['id']}"
    assert doctor.patch(committed_row, {"plain_words": "x"}).status_code == 409
    assert (
        doctor.patch(f"{url}/{amendment['id']}/diagnoses/{original['diagnoses'][0]['id']}", {}).status_code
        == 404
    )

"""Importing a patient's history from Hakeem (issue 11, HK-3), against the local Hakeem simulator: with consent, by
national ID, filed once and marked as from Hakeem, nothing duplicated (not what was imported before, not what a
clinic recorded, not what Shifa sent), nothing queued back to Hakeem; refusals; Hakeem down; the API and the page.

Decision (tested below): a fact a clinic recorded before is the same fact as Hakeem's when it says the same thing
— an active chronic condition with the same ICD-9-CM code, an allergy to the same medicine or substance, an active
current medicine of the same catalog medicine, the same vaccine on the same day, the same reading at the same
moment. It counts as "already in the record" and is not filed a second time."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.db import connection

from shifa.access import catalog
from shifa.access.policies import Actor
from shifa.catalog.models import Diagnosis
from shifa.core import timezones
from shifa.integrations.hakeem import fhir
from shifa.integrations.hakeem.history import actions, reading
from shifa.integrations.hakeem.models import HistoryImport, ImportState, SyncRecord
from shifa.records.models import Allergy, Condition, Immunization, MedicationStatement, Vital
from shifa.simulators.hakeem import actions as simulator
from tests.routes_hakeem_history import give_national_id
from tests.support.records import base, in_care

pytestmark = pytest.mark.django_db

FACTS = (Condition, Allergy, MedicationStatement, Immunization)


def _actor(user, clinic, role: str = catalog.DOCTOR) -> Actor:
    return Actor(user=user, clinic=clinic, roles=frozenset({role}))


def _doctor(cast) -> Actor:
    return _actor(cast.staff_a["doctor"], cast.clinic_a)


def _on_hakeem(cast) -> str:
    """The cast's patient with a national ID, in clinic A's care, and their history on Hakeem; its Patient id."""
    patient = cast.patient
    give_national_id(patient)
    in_care(cast)
    return simulator.history_seed(
        national_id=patient.national_id,
        national_id_system=fhir.NATIONAL_ID_SYSTEM,
        full_name=patient.full_name,
        birth_date=dt.date(1970, 5, 1),
        gender="female",
    )


def _import(cast, actor=None) -> HistoryImport:
    """Start an import and run its job's body."""
    started = actions.history_import_start(
        actor=actor or _doctor(cast), patient_id=cast.patient.external_id, consent=True
    )
    return actions.history_import_run(import_id=started.pk)


def _kinds(row: HistoryImport) -> dict:
    return row.summary["kinds"]


def _imported(model, patient):
    return model.unscoped.filter(patient=patient).exclude(hakeem_ref="")


def test_import_files_the_history_once_marked_as_from_hakeem(cast):
    hakeem_patient = _on_hakeem(cast)
    started = actions.history_import_start(
        actor=_doctor(cast), patient_id=cast.patient.external_id, consent=True
    )
    assert started.state == ImportState.RUNNING and started.consent == "in_person"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT args::text FROM procrastinate_jobs WHERE task_name = %s", ["hakeem.history_import"]
        )
        assert [json.loads(row[0]) for row in cursor.fetchall()] == [{"import_id": started.pk}]

    done = actions.history_import_run(import_id=started.pk)

    assert done.state == ImportState.DONE and done.finished_at is not None and done.error == ""
    assert done.summary["found"] is True and done.summary["patients"] == [f"Patient/{hakeem_patient}"]
    kinds = _kinds(done)
    assert {k: v["filed"] for k, v in kinds.items()} == {
        "conditions": 2,
        "allergies": 1,
        "medications": 1,
        "immunizations": 1,
        "vitals": 4,  # weight, heart rate, and the blood-pressure panel's systolic and diastolic
    }
    assert done.summary["left_out"] == []
    patient = cast.patient
    conditions = _imported(Condition, patient).select_related("diagnosis")
    assert sorted(c.diagnosis.display_code for c in conditions) == ["250.00", "401.9"]
    assert {c.status for c in conditions} == {"active"}
    assert all(c.since == (timezones.now() - dt.timedelta(days=365)).date() for c in conditions)
    allergy = _imported(Allergy, patient).get()
    assert (allergy.medication, allergy.substance, allergy.reaction, allergy.severity) == (
        None,
        "Penicillin",
        "Rash",
        "severe",
    )
    medicine = _imported(MedicationStatement, patient).select_related("medication").get()
    assert (medicine.medication.code, medicine.dosage) == ("metformin", "500 mg twice daily")
    vaccine = _imported(Immunization, patient).select_related("vaccine").get()
    assert vaccine.vaccine.code == "td"
    vitals = {v.kind.code: v for v in _imported(Vital, patient).select_related("kind")}
    assert {code: v.value for code, v in vitals.items()} == {
        "29463-7": Decimal("84.0"),
        "8867-4": Decimal("78"),
        "8480-6": Decimal("145"),
        "8462-4": Decimal("92"),
    }
    assert vitals["8480-6"].hakeem_ref == vitals["8462-4"].hakeem_ref  # one panel, two readings
    assert all(v.visit_id is None for v in vitals.values())
    rows = [*(r for m in FACTS for r in _imported(m, patient)), *vitals.values()]
    assert all(r.hakeem_ref.split("/")[0] in reading.RESOURCE_KINDS for r in rows)
    assert {(r.clinic_id, r.recorded_by_id) for r in rows} == {(cast.clinic_a.pk, cast.staff_a["doctor"].pk)}
    # Nothing imported goes back to Hakeem.
    assert not SyncRecord.unscoped.filter(patient=patient).exists()


def test_a_second_import_files_nothing_new(cast):
    _on_hakeem(cast)
    first = _import(cast)
    before = {m: _imported(m, cast.patient).count() for m in (*FACTS, Vital)}

    second = _import(cast)

    assert second.pk != first.pk and second.state == ImportState.DONE
    assert {k: v["filed"] for k, v in _kinds(second).items()} == dict.fromkeys(reading.KINDS, 0)
    assert _kinds(second)["vitals"]["already_there"] == 4
    assert all(_kinds(second)[k]["already_there"] == 1 for k in ("allergies", "medications", "immunizations"))
    assert {m: _imported(m, cast.patient).count() for m in (*FACTS, Vital)} == before


def test_another_clinic_importing_the_same_history_files_nothing_new(cast):
    """The record is one across the platform: what clinic A imported is there for clinic B too."""
    _on_hakeem(cast)
    _import(cast)
    in_care(cast, clinic=cast.clinic_b)

    by_b = _import(cast, _actor(cast.doctor_b, cast.clinic_b))

    assert by_b.clinic_id == cast.clinic_b.pk
    assert sum(v["filed"] for v in _kinds(by_b).values()) == 0
    assert not Condition.unscoped.filter(patient=cast.patient, clinic=cast.clinic_b).exists()


def test_a_condition_a_clinic_recorded_is_already_there(cast):
    """Clinic B recorded hypertension (401.9), active: Hakeem's 401.9 is the same fact, not filed again; the
    diabetes is new. A resolved 250.00 does not cover Hakeem's active one."""
    _on_hakeem(cast)
    common = {"clinic": cast.clinic_b, "patient": cast.patient, "recorded_by": cast.doctor_b}
    Condition.unscoped.create(**common, diagnosis=Diagnosis.objects.get(code="4019"))
    Condition.unscoped.create(**common, diagnosis=Diagnosis.objects.get(code="25000"), status="resolved")

    done = _import(cast)

    assert _kinds(done)["conditions"] == {"filed": 1, "already_there": 1, "from_shifa": 0, "skipped": 0}
    hypertension = Condition.unscoped.filter(patient=cast.patient, diagnosis__code="4019")
    assert hypertension.count() == 1 and hypertension.get().hakeem_ref == ""
    assert _imported(Condition, cast.patient).get().diagnosis.code == "25000"


def test_what_shifa_sent_to_hakeem_is_not_imported(cast):
    """Resources carrying our identifier system came from a clinic on Shifa: counted, never filed."""
    hakeem_patient = _on_hakeem(cast)
    subject = {"reference": f"Patient/{hakeem_patient}"}
    simulator.resource_create(
        "Condition",
        {
            "resourceType": "Condition",
            "identifier": [
                {"system": fhir.ID_SYSTEM + "condition", "value": "0b7a7500-0000-4000-8000-000000000001"}
            ],
            "clinicalStatus": {"coding": [{"system": fhir.CONDITION_CLINICAL, "code": "active"}]},
            "code": {"coding": [{"system": fhir.ICD9CM, "code": "493.90", "display": "Asthma"}]},
            "subject": subject,
        },
    )
    simulator.resource_create(
        "Observation",
        {
            "resourceType": "Observation",
            "identifier": [
                {"system": fhir.ID_SYSTEM + "vital", "value": "0b7a7500-0000-4000-8000-000000000002"}
            ],
            "status": "final",
            "category": [{"coding": [{"system": fhir.OBSERVATION_CATEGORY, "code": "vital-signs"}]}],
            "code": {"coding": [{"system": fhir.LOINC, "code": "8310-5", "display": "Body temperature"}]},
            "subject": subject,
            "effectiveDateTime": timezones.isoformat_z(timezones.now() - dt.timedelta(days=2)),
            "valueQuantity": {"value": 37.9, "unit": "Cel", "system": fhir.UCUM, "code": "Cel"},
        },
    )

    done = _import(cast)

    assert _kinds(done)["conditions"]["from_shifa"] == 1 and _kinds(done)["vitals"]["from_shifa"] == 1
    assert not Condition.unscoped.filter(patient=cast.patient, diagnosis__code="49390").exists()
    assert not Vital.unscoped.filter(patient=cast.patient, kind__code="8310-5").exists()
    assert _kinds(done)["conditions"]["filed"] == 2


def test_what_our_catalog_lacks_is_left_out_and_listed(cast):
    hakeem_patient = _on_hakeem(cast)
    simulator.resource_create(
        "MedicationStatement",
        {
            "resourceType": "MedicationStatement",
            "status": "active",
            "medicationCodeableConcept": {"text": "Unobtainium 5 mg"},
            "subject": {"reference": f"Patient/{hakeem_patient}"},
        },
    )
    simulator.resource_create(
        "Immunization",
        {
            "resourceType": "Immunization",
            "status": "entered-in-error",
            "vaccineCode": {"coding": [{"system": reading.CVX, "code": "88", "display": "Influenza"}]},
            "patient": {"reference": f"Patient/{hakeem_patient}"},
            "occurrenceDateTime": "2024-11-02",
        },
    )

    done = _import(cast)

    left_out = {(e["kind"], e["name"], e["reason"]) for e in done.summary["left_out"]}
    assert left_out == {
        ("medications", "Unobtainium 5 mg", "not_in_catalog"),
        ("immunizations", "Influenza", "entered_in_error"),
    }
    assert _kinds(done)["medications"] == {"filed": 1, "already_there": 0, "from_shifa": 0, "skipped": 1}
    assert _imported(Immunization, cast.patient).count() == 1


def test_a_patient_hakeem_does_not_know_is_not_found(cast):
    give_national_id(cast.patient)
    in_care(cast)

    done = _import(cast)

    assert done.state == ImportState.DONE and done.summary == {"found": False}
    assert not any(_imported(m, cast.patient).exists() for m in (*FACTS, Vital))


def test_hakeem_down_fails_the_import_then_a_new_one_succeeds(cast):
    _on_hakeem(cast)
    simulator.switch_set("down")

    failed = _import(cast)

    assert failed.state == ImportState.FAILED and failed.summary == {"error_code": "unavailable"}
    assert "503" in failed.error
    assert not any(_imported(m, cast.patient).exists() for m in (*FACTS, Vital))

    simulator.switch_set("normal")
    again = _import(cast)

    assert again.pk != failed.pk and again.state == ImportState.DONE
    assert _kinds(again)["conditions"]["filed"] == 2


def test_starting_twice_returns_the_running_import(cast):
    _on_hakeem(cast)
    first = actions.history_import_start(
        actor=_doctor(cast), patient_id=cast.patient.external_id, consent=True
    )
    nurse = _actor(cast.staff_a["nurse"], cast.clinic_a, catalog.NURSE)

    second = actions.history_import_start(actor=nurse, patient_id=cast.patient.external_id, consent=True)

    assert second.pk == first.pk
    assert HistoryImport.unscoped.filter(patient=cast.patient).count() == 1


def test_an_import_whose_job_never_ran_does_not_block_the_next(cast):
    _on_hakeem(cast)
    lost = actions.history_import_start(
        actor=_doctor(cast), patient_id=cast.patient.external_id, consent=True
    )
    HistoryImport.unscoped.filter(pk=lost.pk).update(created_at=timezones.now() - dt.timedelta(hours=1))

    fresh = actions.history_import_start(
        actor=_doctor(cast), patient_id=cast.patient.external_id, consent=True
    )

    lost.refresh_from_db()
    assert fresh.pk != lost.pk and lost.state == ImportState.FAILED
    assert lost.summary == {"error_code": "stalled"}
    assert actions.history_import_run(import_id=lost.pk).state == ImportState.FAILED  # its job, late: nothing


def test_another_clinics_running_import_is_409(cast):
    _on_hakeem(cast)
    in_care(cast, clinic=cast.clinic_b)
    actions.history_import_start(actor=_doctor(cast), patient_id=cast.patient.external_id, consent=True)
    from shifa.core.errors import Conflict

    with pytest.raises(Conflict) as refused:
        actions.history_import_start(
            actor=_actor(cast.doctor_b, cast.clinic_b), patient_id=cast.patient.external_id, consent=True
        )
    assert refused.value.code == "import_running"


# --- reading FHIR ----------------------------------------------------------------------------------------------------


def test_reading_matches_our_catalogs():
    found = reading.Catalog()
    medicine, rest = found.medication({"text": "Glucophage XR 750 mg"})
    assert (medicine.code, rest) == ("metformin", "750 mg")
    assert found.medication({"coding": [{"system": fhir.ATC, "code": "J01CA04"}]})[0].code == "amoxicillin"
    assert found.medication({"text": "Penicillin"}) == (None, "")
    assert found.vaccine({"coding": [{"system": reading.CVX, "code": "09"}]}).code == "td"
    assert found.vaccine({"text": "Tetanus and diphtheria (Td)"}).code == "td"
    assert found.vaccine({"text": "Hepatitis"}) is None


def test_reading_converts_units_and_refuses_impossible_values():
    kinds = reading.Catalog().vital_kinds()
    assert reading._reading({"value": 185, "unit": "lb"}, kinds["29463-7"]) == (Decimal("83.9"), "")
    assert reading._reading({"value": 100.4, "code": "[degF]"}, kinds["8310-5"]) == (Decimal("38.0"), "")
    assert reading._reading({"value": 1450, "code": "mm[Hg]"}, kinds["8480-6"]) == (None, "out_of_range")
    assert reading._reading({"value": 3, "code": "[stone_av]"}, kinds["29463-7"]) == (None, "unknown_unit")


# --- the API -----------------------------------------------------------------------------------------------------------


def _url(cast, clinic=None) -> str:
    return f"{base(clinic or cast.clinic_a)}/patients/{cast.patient.external_id}/hakeem-imports"


def test_api_starts_an_import_and_lists_how_it_went(cast, api):
    _on_hakeem(cast)
    doctor = api(cast.staff_a["doctor"])

    answer = doctor.post(_url(cast), {"consent": True}, headers={"Idempotency-Key": "import-1"})

    assert answer.status_code == 202, answer.content
    body = answer.json()
    assert body["state"] == "running" and body["consent"] == "in_person"
    assert (
        doctor.post(_url(cast), {"consent": True}, headers={"Idempotency-Key": "import-1"}).json()["id"]
        == body["id"]
    )
    actions.history_import_run(import_id=HistoryImport.unscoped.get(external_id=body["id"]).pk)
    simulator.resource_create(
        "MedicationStatement",
        {
            "resourceType": "MedicationStatement",
            "status": "active",
            "medicationCodeableConcept": {"text": "Unobtainium 5 mg"},
            "subject": {
                "reference": HistoryImport.unscoped.get(external_id=body["id"]).summary["patients"][0]
            },
        },
    )

    listed = doctor.get(_url(cast))

    assert listed.status_code == 200
    (item,) = listed.json()["items"]
    assert item["id"] == body["id"] and item["state"] == "done" and item["found"] is True
    counts = {c["kind"]: c["filed"] for c in item["counts"]}
    assert counts == {"conditions": 2, "allergies": 1, "medications": 1, "immunizations": 1, "vitals": 4}
    assert item["summary"][0].startswith("Chronic conditions: 2 filed")
    assert item["error"] is None


def test_api_names_what_was_left_out_only_to_those_who_read_charts(cast, api):
    hakeem_patient = _on_hakeem(cast)
    simulator.resource_create(
        "MedicationStatement",
        {
            "resourceType": "MedicationStatement",
            "status": "active",
            "medicationCodeableConcept": {"text": "Unobtainium 5 mg"},
            "subject": {"reference": f"Patient/{hakeem_patient}"},
        },
    )
    _import(cast)

    by_doctor = api(cast.staff_a["doctor"]).get(_url(cast)).json()["items"][0]
    assert [e["name"] for e in by_doctor["left_out"]] == ["Unobtainium 5 mg"]
    assert by_doctor["left_out"][0]["reason_text"] == "not in our catalog"
    # A clinic admin, who does not read charts, neither imports nor sees what an import filed.
    assert api(cast.staff_a["clinic_admin"]).get(_url(cast)).status_code == 403


def test_api_without_consent_is_400_on_the_consent_field(cast, api):
    _on_hakeem(cast)
    doctor = api(cast.staff_a["doctor"])

    for body in ({"consent": False}, {}):
        answer = doctor.post(_url(cast), body)
        assert answer.status_code == 400, answer.content
        assert answer["Content-Type"] == "application/problem+json"
        assert [e["field"] for e in answer.json()["errors"]] == ["consent"]
    assert not HistoryImport.unscoped.exists()


def test_api_without_a_national_id_is_409(cast, api):
    in_care(cast)

    answer = api(cast.staff_a["doctor"]).post(_url(cast), {"consent": True})

    assert answer.status_code == 409
    assert answer.json()["code"] == "no_national_id"
    assert not HistoryImport.unscoped.exists()


def test_api_other_clinic_is_404_and_a_role_without_the_permission_is_403(cast, api):
    _on_hakeem(cast)
    assert api(cast.doctor_b).post(_url(cast, cast.clinic_b), {"consent": True}).status_code == 404
    assert api(cast.doctor_b).get(_url(cast, cast.clinic_b)).status_code == 404
    assert api(cast.doctor_b).post(_url(cast), {"consent": True}).status_code == 404  # clinic A in the path
    assert api(cast.staff_a["secretary"]).post(_url(cast), {"consent": True}).status_code == 403
    assert api(cast.staff_a["secretary"]).get(_url(cast)).status_code == 403
    assert not HistoryImport.unscoped.exists()


def test_list_shows_only_the_clinics_own_imports(cast, api):
    _on_hakeem(cast)
    _import(cast)
    in_care(cast, clinic=cast.clinic_b)

    listed = api(cast.doctor_b).get(_url(cast, cast.clinic_b))

    assert listed.status_code == 200 and listed.json()["items"] == []


# --- the pages ---------------------------------------------------------------------------------------------------------


def _page_url(cast) -> str:
    return f"/clinic/{cast.clinic_a.external_id}/patients/{cast.patient.external_id}/hakeem"


def _chart_url(cast) -> str:
    return f"/clinic/{cast.clinic_a.external_id}/patients/{cast.patient.external_id}"


def test_chart_offers_the_import_and_marks_what_came_from_hakeem(cast):
    from django.test import Client

    from tests.conftest import sign_in_page

    _on_hakeem(cast)
    browser = sign_in_page(Client(), cast.staff_a["doctor"])
    chart = browser.get(_chart_url(cast)).content.decode()
    assert "data-hakeem-history" in chart and 'name="consent"' in chart and "required" in chart
    assert "Import history from Hakeem" in chart and "data-from-hakeem" not in chart

    refused = browser.post(_page_url(cast), {"back": "chart"})
    assert refused.status_code == 400
    assert "Confirm that the patient agreed" in refused.content.decode()
    assert not HistoryImport.unscoped.exists()

    started = browser.post(_page_url(cast), {"consent": "on", "back": "chart"})
    assert started.status_code == 302 and started["Location"].startswith(_chart_url(cast))
    actions.history_import_run(import_id=HistoryImport.unscoped.get().pk)

    chart = browser.get(_chart_url(cast)).content.decode()
    assert chart.count("data-from-hakeem") == 5  # two conditions, an allergy, a medicine, a vaccination
    imports = browser.get(_page_url(cast) + "?part=imports", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-hakeem-import-row="done"' in imports and "Chronic conditions: 2 filed" in imports
    assert "<html" not in imports


def test_page_without_a_national_id_explains_and_offers_no_import(cast):
    from django.test import Client

    from tests.conftest import sign_in_page

    in_care(cast)
    browser = sign_in_page(Client(), cast.staff_a["nurse"])
    page = browser.get(_page_url(cast))
    assert page.status_code == 200
    html = page.content.decode()
    assert "data-no-national-id" in html and "data-hakeem-import>" not in html
    assert browser.post(_page_url(cast), {"consent": "on"}).status_code == 409


@pytest.mark.django_db(transaction=True)
def test_the_job_runs_in_the_worker_and_its_writes_are_audited_for_the_requester(cast):
    from django.db import connections
    from procrastinate.contrib.django.models import ProcrastinateJob

    from shifa.audit.models import AuditEvent
    from tests.core.test_jobs import run_worker_until_idle

    _on_hakeem(cast)
    started = actions.history_import_start(
        actor=_doctor(cast), patient_id=cast.patient.external_id, consent=True
    )
    try:
        run_worker_until_idle()
    finally:
        connections.close_all()

    started.refresh_from_db()
    assert started.state == ImportState.DONE
    assert ProcrastinateJob.objects.get(task_name="hakeem.history_import").status == "succeeded"
    condition = _imported(Condition, cast.patient).first()
    event = AuditEvent.objects.get(
        table_name="records_condition", entity_id=str(condition.pk), operation="INSERT"
    )
    assert (event.source, event.actor_id, event.clinic_id) == (
        "job:hakeem.history_import",
        cast.staff_a["doctor"].pk,
        cast.clinic_a.pk,
    )

"""Records mapped to FHIR R4 for Hakeem (issue 11, HK-1): every resource produced from the demo data validates with
fhir.resources and our value-set checks, and the mappings that matter say what they should."""

from __future__ import annotations

import datetime as dt

import pytest

from shifa.access import catalog
from shifa.access.policies import Actor
from shifa.adherence.models import Reading
from shifa.careplans.models import CarePlan
from shifa.catalog.models import ImagingStudy, LabTest, Specialty
from shifa.core import timezones
from shifa.demo.actions import load_demo
from shifa.integrations.hakeem import fhir
from shifa.records import actions as records
from shifa.records.models import (
    Condition,
    DoseUnit,
    Frequency,
    MealTiming,
    Patient,
    Route,
    Visit,
    Vital,
)
from shifa.scheduling.models import Appointment, AppointmentStatus

pytestmark = pytest.mark.django_db


def _demo_visit() -> Visit:
    load_demo()
    return Visit.unscoped.select_related("patient", "doctor", "clinic").get(
        patient__user__email="patient1@demo.shifa.jo"
    )


def _video_visit(demo: Visit) -> Visit:
    """A committed video visit of the demo patient with a lab order, an imaging order, a referral and a
    prescription taken three times a day after meals for a week."""
    start = timezones.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=30)
    appointment = Appointment.unscoped.create(
        clinic=demo.clinic,
        doctor=demo.doctor,
        patient=demo.patient,
        visit_type="video",
        starts_at=start,
        ends_at=start + dt.timedelta(minutes=20),
        status="checked_in",
        channel="app",
        reason="Follow-up of blood pressure",
    )
    staff = Actor(user=demo.doctor, clinic=demo.clinic, roles=frozenset({catalog.DOCTOR}))
    visit = records.visit_open(actor=staff, appointment_id=appointment.external_id)
    vid = visit.external_id
    records.diagnosis_add(actor=staff, visit_id=vid, code="401.9", rank="primary")
    records.order_add(
        actor=staff, visit_id=vid, kind="lab", test=LabTest.objects.first().code, urgency="urgent"
    )
    records.order_add(actor=staff, visit_id=vid, kind="imaging", test=ImagingStudy.objects.first().code)
    records.referral_add(
        actor=staff, visit_id=vid, reason="Resistant hypertension", specialty=Specialty.objects.first().code
    )
    records.prescription_add(
        actor=staff,
        visit_id=vid,
        data={
            "medication": "amoxicillin",
            "form": "capsule",
            "strength": "500 mg",
            "dose": "1",
            "dose_unit": "capsule",
            "route": "oral",
            "frequency": "three_times_daily",
            "timing": "after_meals",
            "duration_days": 7,
            "instructions": "Finish the whole course",
        },
    )
    records.visit_commit(actor=staff, visit_id=vid)
    return Visit.unscoped.get(pk=visit.pk)


def _all_resources(visit: Visit) -> list[dict]:
    plan = CarePlan.unscoped.get(patient=visit.patient)
    resources = [fhir.patient(visit.patient), fhir.encounter(visit), fhir.care_plan(plan)]
    resources += [fhir.condition(d) for d in visit.diagnoses.all()]
    resources += [fhir.chronic_condition(c) for c in Condition.unscoped.filter(patient=visit.patient)]
    resources += [fhir.medication_request(p) for p in visit.prescriptions.all()]
    resources += [fhir.service_request(o) for o in visit.orders.all()]
    resources += [fhir.service_request(r) for r in visit.referrals.all()]
    resources += fhir.observations(Vital.unscoped.filter(patient=visit.patient).order_by("taken_at", "id"))
    if visit.appointment_id:
        resources.append(fhir.appointment(visit.appointment))
    return resources


def test_every_resource_from_the_demo_data_validates():
    demo = _demo_visit()
    video = _video_visit(demo)
    resources = _all_resources(demo) + _all_resources(video)
    for resource in resources:
        fhir.validate(resource)
    assert {r["resourceType"] for r in resources} == {
        "Patient",
        "Encounter",
        "Condition",
        "MedicationRequest",
        "ServiceRequest",
        "CarePlan",
        "Appointment",
        "Observation",
    }


def test_every_resource_is_keyed_on_our_identifier():
    demo = _demo_visit()
    for resource in _all_resources(demo):
        ours = resource["identifier"][0]
        assert ours["system"].startswith("https://shifa.jo/fhir/id/") and len(ours["value"]) == 36
    assert fhir.encounter(demo)["identifier"] == [
        {"system": "https://shifa.jo/fhir/id/visit", "value": str(demo.external_id)}
    ]


def test_condition_is_an_icd9cm_encounter_diagnosis():
    demo = _demo_visit()
    primary = demo.diagnoses.get(rank="primary")
    resource = fhir.condition(primary)
    assert resource["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-9-cm"
    assert resource["code"]["coding"][0]["code"] == "466.0"
    assert resource["category"][0]["coding"][0]["code"] == "encounter-diagnosis"
    assert resource["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert resource["clinicalStatus"]["coding"][0]["code"] == "active"
    assert resource["encounter"]["reference"] == (
        f"Encounter?identifier=https://shifa.jo/fhir/id/visit|{demo.external_id}"
    )
    ranks = {
        d["condition"]["reference"].rsplit("|", 1)[1]: d["rank"] for d in fhir.encounter(demo)["diagnosis"]
    }
    assert ranks[str(primary.external_id)] == 1


def test_blood_pressure_is_one_loinc_panel_in_mm_hg():
    demo = _demo_visit()
    resources = fhir.observations(Vital.unscoped.filter(visit=demo))
    assert len(resources) == 2  # systolic + diastolic as one panel, heart rate on its own
    (bp,) = [r for r in resources if r["code"]["coding"][0]["code"] == "85354-9"]
    assert bp["code"]["coding"][0]["system"] == "http://loinc.org"
    assert bp["category"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": "vital-signs",
    }
    assert "valueQuantity" not in bp
    assert [(c["code"]["coding"][0]["code"], c["valueQuantity"]) for c in bp["component"]] == [
        ("8480-6", {"value": 148, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}),
        ("8462-4", {"value": 92, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}),
    ]
    (pulse,) = [r for r in resources if r["code"]["coding"][0]["code"] == "8867-4"]
    assert pulse["valueQuantity"]["code"] == "/min"


def test_readings_taken_at_home_are_performed_by_the_patient():
    demo = _demo_visit()
    home = fhir.observations(Reading.objects.filter(patient=demo.patient).order_by("taken_at"))
    assert [r["component"][0]["valueQuantity"]["value"] for r in home] == [136, 152]  # two BP panels
    for resource in home:
        fhir.validate(resource)
        assert resource["performer"][0]["type"] == "Patient" and "encounter" not in resource
        assert resource["identifier"][0]["system"] == "https://shifa.jo/fhir/id/reading"


def test_encounter_class_follows_the_visit_type():
    demo = _demo_visit()
    video = _video_visit(demo)
    assert fhir.encounter(video)["class"] == {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
        "code": "VR",
        "display": "virtual",
    }
    assert fhir.encounter(demo)["class"]["code"] == "AMB"  # a walk-in is at the clinic
    assert fhir.encounter(video)["status"] == "finished"
    assert fhir.appointment(video.appointment)["serviceCategory"][0]["coding"][0]["code"] == "VR"


def test_medication_request_has_a_structured_dosage():
    video = _video_visit(_demo_visit())
    (dosage,) = fhir.medication_request(video.prescriptions.get())["dosageInstruction"]
    assert dosage["timing"] == {
        "repeat": {
            "frequency": 3,
            "period": 1,
            "periodUnit": "d",
            "when": ["PC"],
            "boundsDuration": {"value": 7, "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"},
        }
    }
    assert dosage["route"]["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": "26643006",
        "display": "Oral route",
    }
    assert dosage["doseAndRate"][0]["doseQuantity"] == {
        "value": 1,
        "unit": "capsule",
        "system": "http://unitsofmeasure.org",
        "code": "{capsule}",
    }
    assert dosage["patientInstruction"] == "Finish the whole course"


def test_orders_and_referrals_are_service_requests():
    video = _video_visit(_demo_visit())
    lab = fhir.service_request(video.orders.get(kind="lab"))
    assert lab["code"]["coding"][0]["system"] == "http://loinc.org" and lab["priority"] == "urgent"
    assert lab["category"][0]["coding"][0]["code"] == "108252007"
    imaging = fhir.service_request(video.orders.get(kind="imaging"))
    assert imaging["category"][0]["coding"][0]["code"] == "363679005"
    referral = fhir.service_request(video.referrals.get())
    assert referral["category"][0]["coding"][0]["code"] == "3457005"
    assert referral["identifier"][0]["system"] == "https://shifa.jo/fhir/id/referral"
    assert referral["performerType"]["coding"][0]["code"] == Specialty.objects.first().code
    assert referral["reasonCode"] == [{"text": "Resistant hypertension"}]


def test_care_plan_lists_its_steps_as_activities():
    demo = _demo_visit()
    plan = CarePlan.unscoped.get(patient=demo.patient)
    resource = fhir.care_plan(plan)
    assert resource["status"] == "active" and resource["intent"] == "plan"
    assert len(resource["activity"]) == plan.steps.count()
    first = resource["activity"][0]["detail"]
    assert first["kind"] == "Task" and first["code"]["coding"][0]["code"] == "8480-6"


def test_patient_carries_the_national_id_and_both_names():
    patient = records.patient_create(
        full_name="Layla Hasan Khalil", full_name_ar="ليلى حسن خليل", national_id="9861234567", sex="female"
    )
    patient = Patient.objects.get(pk=patient.pk)  # as read back: the national ID decrypted
    resource = fhir.patient(patient)
    fhir.validate(resource)
    national = resource["identifier"][1]
    assert national["value"] == "9861234567" and national["type"]["coding"][0]["code"] == "NI"
    assert national["system"] == fhir.NATIONAL_ID_SYSTEM
    languages = {n["extension"][0]["valueCode"]: n for n in resource["name"]}
    assert languages["ar"]["text"] == "ليلى حسن خليل" and languages["ar"]["family"] == "خليل"
    assert languages["en"]["given"] == ["Layla", "Hasan"] and resource["gender"] == "female"


def test_a_wrong_code_is_refused_by_our_value_sets():
    demo = _demo_visit()
    resource = fhir.encounter(demo)
    resource["class"]["code"] = "IMP"  # valid FHIR structure, but not a class we send
    with pytest.raises(fhir.InvalidResource, match=r"Encounter\.class"):
        fhir.validate(resource)
    condition = fhir.condition(demo.diagnoses.first())
    condition["code"]["coding"][0]["system"] = "http://hl7.org/fhir/sid/icd-10"
    with pytest.raises(fhir.InvalidResource, match="not allowed"):
        fhir.check_codes(condition)


def test_an_invalid_structure_is_refused():
    demo = _demo_visit()
    resource = fhir.medication_request(demo.prescriptions.get())
    del resource["subject"]
    with pytest.raises(fhir.InvalidResource):
        fhir.validate(resource)


def test_a_chronic_condition_is_a_problem_list_item():
    demo = _demo_visit()
    fact = Condition.unscoped.get(patient=demo.patient)
    resource = fhir.chronic_condition(fact)
    assert resource["category"][0]["coding"][0]["code"] == "problem-list-item"
    assert resource["code"]["coding"][0]["code"] == "401.9" and resource["onsetDateTime"] == "2019-01-01"
    fact.status = "error"  # in memory only
    resource = fhir.chronic_condition(fact)
    fhir.validate(resource)
    assert "clinicalStatus" not in resource
    assert resource["verificationStatus"]["coding"][0]["code"] == "entered-in-error"


def test_every_prescription_choice_maps_to_a_valid_dosage():
    """Each frequency, meal timing, route and dose unit we offer (set in memory on the demo line) validates."""
    line = _demo_visit().prescriptions.get()
    seen = set()
    for frequency in Frequency.values:
        for timing in MealTiming.values:
            line.frequency, line.timing = frequency, timing
            resource = fhir.medication_request(line)
            fhir.validate(resource)
            seen.add(str(resource["dosageInstruction"][0].get("timing")))
    assert len(seen) > len(Frequency.values)
    for route in Route.values:
        line.route = route
        fhir.validate(fhir.medication_request(line))
    for unit in DoseUnit.values:
        line.dose_unit = unit
        fhir.validate(fhir.medication_request(line))
    line.frequency, line.timing = "as_needed", "empty_stomach"
    (dosage,) = fhir.medication_request(line)["dosageInstruction"]
    assert dosage["asNeededBoolean"] is True
    assert dosage["timing"] == {  # no schedule, only for how long (the demo line's three days)
        "repeat": {
            "boundsDuration": {"value": 3, "unit": "d", "system": "http://unitsofmeasure.org", "code": "d"}
        }
    }
    assert dosage["additionalInstruction"][0]["coding"][0]["code"] == "717154004"


def test_every_appointment_status_and_visit_type_maps():
    appointment = _video_visit(_demo_visit()).appointment
    for status in AppointmentStatus.values:
        for visit_type in ("office", "video", "home"):
            appointment.status, appointment.visit_type = status, visit_type
            fhir.validate(fhir.appointment(appointment))
    appointment.status = "expired"
    assert fhir.appointment(appointment)["status"] == "cancelled"


def test_our_value_sets_accept_every_code_of_the_catalog():
    """The patterns stand in for ICD-9-CM, LOINC and ATC: every code our catalog can put in a resource passes."""
    from shifa.catalog.models import Diagnosis, Medication, VitalSignType

    def refused(path, system, codes):
        allowed = fhir.VALUE_SETS[path][system]
        return [
            c for c in codes if not (allowed.fullmatch(c) if hasattr(allowed, "fullmatch") else c in allowed)
        ]

    diagnoses = Diagnosis.objects.values_list("display_code", flat=True)
    assert len(diagnoses) > 10000 and refused("Condition.code.coding", fhir.ICD9CM, diagnoses) == []
    tests = [
        *LabTest.objects.values_list("code", flat=True),
        *ImagingStudy.objects.exclude(loinc="").values_list("loinc", flat=True),
    ]
    assert refused("ServiceRequest.code.coding", fhir.LOINC, tests) == []
    atc = Medication.objects.exclude(atc_code="").values_list("atc_code", flat=True)
    assert refused("MedicationRequest.medicationCodeableConcept.coding", fhir.ATC, atc) == []
    signs = VitalSignType.objects.filter(is_active=True)
    assert refused("Observation.code.coding", fhir.LOINC, [s.code for s in signs]) == []
    assert refused("Observation.valueQuantity", fhir.UCUM, [s.unit for s in signs]) == []

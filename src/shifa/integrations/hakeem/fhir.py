"""Committed records as HL7 FHIR R4 resources (HK-1), for Hakeem.

Pure mapping: each function takes our model instances (with what they point at loaded, or loadable) and returns a
plain, JSON-ready dict; nothing here writes. ``validate`` parses a resource with its ``fhir.resources`` R4B model
(R4B is R4 for every resource mapped here) and checks its coded values with ``check_codes``, because
``fhir.resources`` checks structure and types, not codes.

Identifiers: every resource carries ``{"system": ID_SYSTEM + <kind>, "value": <external_id>}``, so that a resend is
a conditional create keyed on it and an amendment an update of the same resource. References to resources we send
are conditional (``Patient?identifier=<system>|<value>``, resolved by the server in a transaction); practitioners and
clinics, which we do not send, are referred to by identifier.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from importlib import import_module

ID_SYSTEM = "https://shifa.jo/fhir/id/"
CODE_SYSTEM = "https://shifa.jo/fhir/CodeSystem/"
#: [U] Jordan's national number has no published FHIR system URI; replace with the one the EHS interface agreement
#: names. The identifier type (v2-0203 NI) says what it is either way.
NATIONAL_ID_SYSTEM = ID_SYSTEM + "jo-national-number"

ICD9CM = "http://hl7.org/fhir/sid/icd-9-cm"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ATC = "http://www.whocc.no/atc"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
LANGUAGE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/language"
SHIFA_MEDICATION = CODE_SYSTEM + "medication"
SHIFA_IMAGING = CODE_SYSTEM + "imaging-study"
SHIFA_SPECIALTY = CODE_SYSTEM + "specialty"
#: [U] Hakeem's own facility codes come with the EHS interface agreement; until then, our catalog's codes.
HAKEEM_FACILITY_SYSTEM = "https://hakeem.jo/fhir/id/facility"
TASK_CODE = "http://hl7.org/fhir/CodeSystem/task-code"

# --- coded values we emit ------------------------------------------------------------------------------------------

ENCOUNTER_CLASS = {"office": "AMB", "video": "VR", "home": "HH"}
ENCOUNTER_CLASS_DISPLAY = {"AMB": "ambulatory", "VR": "virtual", "HH": "home health"}

#: SNOMED CT route of administration (the FHIR route-codes example value set).
ROUTES = {
    "oral": ("26643006", "Oral route"),
    "sublingual": ("37839007", "Sublingual route"),
    "topical": ("6064005", "Topical route"),
    "inhaled": ("447694001", "Respiratory tract route"),
    "nasal": ("46713006", "Nasal route"),
    "eye": ("54485002", "Ophthalmic route"),
    "ear": ("10547007", "Otic route"),
    "rectal": ("37161004", "Per rectum"),
    "vaginal": ("16857009", "Per vagina"),
    "subcutaneous": ("34206005", "Subcutaneous route"),
    "intramuscular": ("78421000", "Intramuscular route"),
    "intravenous": ("47625008", "Intravenous route"),
}

#: Prescription.frequency → Timing.repeat (``None``: no repeat, see ``_timing``).
FREQUENCIES = {
    "once_daily": {"frequency": 1, "period": 1, "periodUnit": "d"},
    "twice_daily": {"frequency": 2, "period": 1, "periodUnit": "d"},
    "three_times_daily": {"frequency": 3, "period": 1, "periodUnit": "d"},
    "four_times_daily": {"frequency": 4, "period": 1, "periodUnit": "d"},
    "every_4_hours": {"frequency": 1, "period": 4, "periodUnit": "h"},
    "every_6_hours": {"frequency": 1, "period": 6, "periodUnit": "h"},
    "every_8_hours": {"frequency": 1, "period": 8, "periodUnit": "h"},
    "every_12_hours": {"frequency": 1, "period": 12, "periodUnit": "h"},
    "at_bedtime": {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]},
    "once_weekly": {"frequency": 1, "period": 1, "periodUnit": "wk"},
    "once": {"count": 1},
    "as_needed": None,
}
#: Prescription.timing (meals) → Timing.repeat.when (FHIR event-timing); an empty stomach is an instruction.
MEAL_WHEN = {"before_meals": "AC", "with_meals": "C", "after_meals": "PC"}
EMPTY_STOMACH = (SNOMED, "717154004", "Take on an empty stomach")

#: Prescription.dose_unit → UCUM: mass and volume as units, countable forms as UCUM annotations (unit 1).
DOSE_UNITS = {
    "mg": "mg",
    "mL": "mL",
    "tablet": "{tablet}",
    "capsule": "{capsule}",
    "drop": "{drop}",
    "puff": "{puff}",
    "sachet": "{sachet}",
    "suppository": "{suppository}",
    "unit": "{unit}",
    "application": "{application}",
    "patch": "{patch}",
}

ORDER_CATEGORY = {
    "lab": (SNOMED, "108252007", "Laboratory procedure"),
    "imaging": (SNOMED, "363679005", "Imaging"),
    "referral": (SNOMED, "3457005", "Patient referral"),
}

APPOINTMENT_STATUS = {
    "held": "pending",
    "booked": "booked",
    "checked_in": "checked-in",
    "completed": "fulfilled",
    "cancelled": "cancelled",
    "no_show": "noshow",
    "expired": "cancelled",
}
PLAN_STATUS = {"active": "active", "completed": "completed", "stopped": "revoked"}
STEP_STATUS = {"open": "not-started", "done": "completed", "missed": "stopped", "cancelled": "cancelled"}

#: The LOINC codes of the FHIR vital-signs profile (in our catalog, ``catalog/data/vital_signs.csv``); the other
#: signs we chart (glucose, pain) are sent as laboratory / survey observations.
VITAL_SIGNS = {
    "8480-6",
    "8462-4",
    "8867-4",
    "9279-1",
    "8310-5",
    "59408-5",
    "29463-7",
    "8302-2",
    "39156-5",
    "9843-4",
}
OTHER_CATEGORY = {"2339-0": "laboratory", "41653-7": "laboratory", "72514-3": "survey"}
#: The UCUM units of our catalog's vital signs.
VITAL_UNITS = {"mm[Hg]", "/min", "Cel", "%", "kg", "cm", "kg/m2", "mg/dL", "{score}"}
SYSTOLIC, DIASTOLIC, BP_PANEL = "8480-6", "8462-4", "85354-9"
#: The vital-signs profile codes oxygen saturation as 2708-6; our catalog's pulse-oximetry code goes with it.
SPO2, SPO2_PROFILE = "59408-5", "2708-6"

_ICD9CM_CODE = re.compile(r"(\d{3}(\.\d{1,2})?|V\d{2}(\.\d{1,2})?|E\d{3}(\.\d)?)")
_LOINC_CODE = re.compile(r"\d{1,7}-\d")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SLUG = re.compile(r"[-a-zA-Z0-9_]+")

#: The value sets of the coded elements we emit: element path → {system (``None`` for a bare code): allowed codes,
#: or a pattern for a code system too large to list (ICD-9-CM, LOINC — those codes come from our catalog)}.
VALUE_SETS: dict[str, dict] = {
    "Patient.gender": {None: {"male", "female", "unknown"}},
    "Patient.identifier.type.coding": {V2_0203: {"NI"}},
    "Encounter.status": {None: {"in-progress", "finished"}},
    "Encounter.class": {ACT_CODE: set(ENCOUNTER_CLASS.values())},
    "Condition.clinicalStatus.coding": {CONDITION_CLINICAL: {"active", "resolved"}},
    "Condition.verificationStatus.coding": {CONDITION_VERIFICATION: {"confirmed", "entered-in-error"}},
    "Condition.category.coding": {CONDITION_CATEGORY: {"encounter-diagnosis", "problem-list-item"}},
    "Condition.code.coding": {ICD9CM: _ICD9CM_CODE},
    "MedicationRequest.status": {None: {"active", "entered-in-error"}},
    "MedicationRequest.intent": {None: {"order"}},
    "MedicationRequest.medicationCodeableConcept.coding": {
        SHIFA_MEDICATION: _SLUG,
        ATC: re.compile(r"[A-Z]\d{2}([A-Z]([A-Z](\d{2})?)?)?"),
    },
    "MedicationRequest.dosageInstruction.route.coding": {SNOMED: {code for code, _ in ROUTES.values()}},
    "MedicationRequest.dosageInstruction.timing.repeat.periodUnit": {None: {"h", "d", "wk"}},
    "MedicationRequest.dosageInstruction.timing.repeat.when": {None: {"HS", *MEAL_WHEN.values()}},
    "MedicationRequest.dosageInstruction.timing.repeat.boundsDuration": {UCUM: {"d"}},
    "MedicationRequest.dosageInstruction.additionalInstruction.coding": {SNOMED: {EMPTY_STOMACH[1]}},
    "MedicationRequest.dosageInstruction.doseAndRate.doseQuantity": {UCUM: set(DOSE_UNITS.values())},
    "ServiceRequest.status": {None: {"active", "entered-in-error"}},
    "ServiceRequest.intent": {None: {"order"}},
    "ServiceRequest.priority": {None: {"routine", "urgent"}},
    "ServiceRequest.category.coding": {SNOMED: {code for _, code, _ in ORDER_CATEGORY.values()}},
    "ServiceRequest.code.coding": {LOINC: _LOINC_CODE, SHIFA_IMAGING: _SLUG, SNOMED: {"3457005"}},
    "ServiceRequest.performerType.coding": {SHIFA_SPECIALTY: _SLUG},
    "CarePlan.status": {None: set(PLAN_STATUS.values())},
    "CarePlan.intent": {None: {"plan"}},
    "CarePlan.activity.detail.kind": {None: {"Appointment", "Task"}},
    "CarePlan.activity.detail.status": {None: set(STEP_STATUS.values())},
    "CarePlan.activity.detail.code.coding": {LOINC: _LOINC_CODE},
    "Appointment.status": {None: set(APPOINTMENT_STATUS.values())},
    "Appointment.serviceCategory.coding": {ACT_CODE: set(ENCOUNTER_CLASS.values())},
    "Appointment.participant.status": {None: {"accepted"}},
    "Observation.status": {None: {"final"}},
    "Observation.category.coding": {OBSERVATION_CATEGORY: {"vital-signs", "laboratory", "survey"}},
    "Observation.code.coding": {LOINC: {*VITAL_SIGNS, *OTHER_CATEGORY, BP_PANEL, SPO2_PROFILE}},
    "Observation.valueQuantity": {UCUM: VITAL_UNITS},
    "Observation.component.code.coding": {LOINC: {SYSTOLIC, DIASTOLIC}},
    "Observation.component.valueQuantity": {UCUM: {"mm[Hg]"}},
    "Task.status": {None: {"requested", "cancelled"}},
    "Task.intent": {None: {"order"}},
    "Task.priority": {None: {"routine", "urgent"}},
    "Task.code.coding": {TASK_CODE: {"fulfill"}},
}


class InvalidResource(ValueError):
    """A produced resource that fails FHIR validation or our value-set checks; ``errors`` lists why."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


# --- small helpers -------------------------------------------------------------------------------------------------


def key(obj) -> str:
    """The value of our identifier for ``obj``: one resource on Hakeem however often it is corrected. An amendment
    is keyed on the visit it amends, and a row copied into it on the row it descends from (``lineage``)."""
    if getattr(obj, "amends_id", None) and obj._meta.model_name == "visit":
        return str(obj.amends.external_id)
    return str(getattr(obj, "lineage", None) or obj.external_id)


def identifier(kind: str, value) -> dict:
    return {"system": ID_SYSTEM + kind, "value": str(value)}


def search_key(kind: str, value) -> str:
    """``identifier=<system>|<value>``: how a conditional create, update or reference finds the resource."""
    return f"identifier={ID_SYSTEM}{kind}|{value}"


def _identifier(kind: str, obj) -> dict:
    return identifier(kind, key(obj))


def _ref(resource_type: str, kind: str, obj, display: str = "") -> dict:
    """A conditional reference to a resource we send, keyed on our identifier."""
    ref = {"reference": f"{resource_type}?{search_key(kind, key(obj))}", "type": resource_type}
    return ref | ({"display": display} if display else {})


def _by_identifier(resource_type: str, kind: str, obj, display: str = "") -> dict:
    """A reference to what we do not send (a doctor, a clinic), by our identifier."""
    ref = {"type": resource_type, "identifier": _identifier(kind, obj)}
    return ref | ({"display": display} if display else {})


def _patient_ref(patient) -> dict:
    return _ref("Patient", "patient", patient, patient.full_name)


def _doctor(user) -> dict:
    return _by_identifier("Practitioner", "practitioner", user, user.full_name)


def _clinic(clinic) -> dict:
    return _by_identifier("Organization", "clinic", clinic, clinic.name_en)


def facility(place) -> dict:
    """A Hakeem facility (``catalog.Facility``), by Hakeem's identifier for it."""
    return {
        "type": "Organization",
        "identifier": {"system": HAKEEM_FACILITY_SYSTEM, "value": place.code},
        "display": place.name_en,
    }


def _instant(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _number(value) -> int | float:
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def _coding(system: str, code: str, display: str = "") -> dict:
    return {"system": system, "code": code} | ({"display": display} if display else {})


def _concept(*codings: dict, text: str = "") -> dict:
    return {"coding": list(codings)} | ({"text": text} if text else {})


def _drop_empty(resource: dict) -> dict:
    """FHIR forbids empty elements: drop ``None``, ``""``, ``[]`` and ``{}`` values, recursively."""

    def clean(value):
        if isinstance(value, dict):
            return {k: c for k, v in value.items() if (c := clean(v)) not in (None, "", [], {})}
        if isinstance(value, list):
            return [c for v in value if (c := clean(v)) not in (None, "", [], {})]
        return value

    return clean(resource)


def _name(text: str, language: str, use: str) -> dict:
    """A HumanName in one language (the ``language`` extension), split as given names + family name."""
    parts = text.split()
    name = {
        "extension": [{"url": LANGUAGE_EXTENSION, "valueCode": language}],
        "use": use,
        "text": text,
    }
    if len(parts) > 1:
        name |= {"family": parts[-1], "given": parts[:-1]}
    return name


def _english(display) -> str:
    """A choice's label in English (the language of the texts we send)."""
    from django.utils import translation

    with translation.override("en"):
        return str(display())


def _visit_type(visit) -> str:
    """A visit from an appointment has the appointment's type; a walk-in is at the clinic."""
    return visit.appointment.visit_type if visit.appointment_id else "office"


# --- resources -----------------------------------------------------------------------------------------------------


def patient(patient) -> dict:
    identifiers = [_identifier("patient", patient)]
    if patient.national_id:
        identifiers.append(
            {
                "use": "official",
                "type": _concept(_coding(V2_0203, "NI", "National unique individual identifier")),
                "system": NATIONAL_ID_SYSTEM,
                "value": patient.national_id,
            }
        )
    names = [_name(patient.full_name, "en", "official")]
    if patient.full_name_ar:
        names.append(_name(patient.full_name_ar, "ar", "official"))
    return _drop_empty(
        {
            "resourceType": "Patient",
            "identifier": identifiers,
            "name": names,
            "gender": patient.sex,
            "birthDate": patient.date_of_birth.isoformat() if patient.date_of_birth else None,
            "telecom": [{"system": "phone", "value": patient.phone, "use": "mobile"}]
            if patient.phone
            else [],
        }
    )


def encounter(visit) -> dict:
    code = ENCOUNTER_CLASS[_visit_type(visit)]
    diagnoses = list(visit.diagnoses.all())
    return _drop_empty(
        {
            "resourceType": "Encounter",
            "identifier": [_identifier("visit", visit)],
            "status": "finished" if visit.is_committed else "in-progress",
            "class": _coding(ACT_CODE, code, ENCOUNTER_CLASS_DISPLAY[code]),
            "subject": _patient_ref(visit.patient),
            "participant": [{"individual": _doctor(visit.doctor)}],
            "appointment": [_ref("Appointment", "appointment", visit.appointment)]
            if visit.appointment_id
            else [],
            "period": {"start": _instant(visit.started_at), "end": _instant(visit.committed_at)},
            "reasonCode": [{"text": visit.complaint}] if visit.complaint else [],
            "diagnosis": [
                {"condition": _ref("Condition", "diagnosis", d), "rank": rank}
                for rank, d in enumerate(sorted(diagnoses, key=lambda d: d.rank != "primary"), start=1)
            ],
            "serviceProvider": _clinic(visit.clinic),
        }
    )


def condition(diagnosis) -> dict:
    """A diagnosis of a committed visit: an encounter diagnosis, confirmed and active, coded in ICD-9-CM."""
    visit, code = diagnosis.visit, diagnosis.diagnosis
    return _drop_empty(
        {
            "resourceType": "Condition",
            "identifier": [_identifier("diagnosis", diagnosis)],
            "clinicalStatus": _concept(_coding(CONDITION_CLINICAL, "active", "Active")),
            "verificationStatus": _concept(_coding(CONDITION_VERIFICATION, "confirmed", "Confirmed")),
            "category": [_concept(_coding(CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis"))],
            "code": _concept(_coding(ICD9CM, code.display_code, code.title), text=code.title),
            "subject": _patient_ref(visit.patient),
            "encounter": _ref("Encounter", "visit", visit),
            "recordedDate": _instant(visit.committed_at or visit.started_at),
            "recorder": _doctor(visit.doctor),
            "note": [{"text": diagnosis.plain_words}] if diagnosis.plain_words else [],
        }
    )


def chronic_condition(fact) -> dict:
    """A standing condition of the record (``records.Condition``): a problem-list item; one entered in error keeps
    no clinical status (FHIR con-5)."""
    code, error = fact.diagnosis, fact.status == "error"
    return _drop_empty(
        {
            "resourceType": "Condition",
            "identifier": [_identifier("condition", fact)],
            "clinicalStatus": None
            if error
            else _concept(_coding(CONDITION_CLINICAL, "resolved" if fact.status == "resolved" else "active")),
            "verificationStatus": _concept(
                _coding(CONDITION_VERIFICATION, "entered-in-error" if error else "confirmed")
            ),
            "category": [_concept(_coding(CONDITION_CATEGORY, "problem-list-item", "Problem List Item"))],
            "code": _concept(_coding(ICD9CM, code.display_code, code.title), text=code.title),
            "subject": _patient_ref(fact.patient),
            "onsetDateTime": fact.since.isoformat() if fact.since else None,
            "recordedDate": _instant(fact.created_at),
            "recorder": _doctor(fact.recorded_by),
            "note": [{"text": fact.note}] if fact.note else [],
        }
    )


def _timing(line) -> dict:
    repeat = dict(FREQUENCIES[line.frequency] or {})
    if line.timing in MEAL_WHEN:
        repeat["when"] = [*repeat.get("when", []), MEAL_WHEN[line.timing]]
    if line.duration_days and line.frequency != "once":
        repeat["boundsDuration"] = {"value": line.duration_days, "unit": "d", "system": UCUM, "code": "d"}
    return {"repeat": repeat} if repeat else {}


def medication_request(line) -> dict:
    """A prescription line with a structured Dosage: Timing from its frequency, meals and duration; SNOMED route;
    the dose in UCUM."""
    visit, medicine = line.visit, line.medication
    codings = [_coding(SHIFA_MEDICATION, medicine.code, medicine.name_en)]
    if medicine.atc_code:
        codings.append(_coding(ATC, medicine.atc_code))
    route_code, route_display = ROUTES[line.route]
    unit = DOSE_UNITS[line.dose_unit]
    dosage = {
        "text": f"{_number(line.dose)} {line.dose_unit} {_english(line.get_frequency_display)}",
        "patientInstruction": line.instructions,
        "additionalInstruction": [_concept(_coding(*EMPTY_STOMACH))]
        if line.timing == "empty_stomach"
        else [],
        "timing": _timing(line),
        "asNeededBoolean": True if line.frequency == "as_needed" else None,
        "route": _concept(_coding(SNOMED, route_code, route_display)),
        "doseAndRate": [
            {
                "doseQuantity": {
                    "value": _number(line.dose),
                    "unit": line.dose_unit,
                    "system": UCUM,
                    "code": unit,
                }
            }
        ],
    }
    return _drop_empty(
        {
            "resourceType": "MedicationRequest",
            "identifier": [_identifier("prescription", line)],
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": _concept(
                *codings, text=" ".join(filter(None, [medicine.name_en, line.strength, line.form]))
            ),
            "subject": _patient_ref(visit.patient),
            "encounter": _ref("Encounter", "visit", visit),
            "authoredOn": _instant(visit.committed_at or visit.started_at),
            "requester": _doctor(visit.doctor),
            "dosageInstruction": [dosage],
            "dispenseRequest": {"performer": facility(line.facility)} if line.facility_id else None,
        }
    )


def _request(kind: str, obj, *, category: str, code: dict, priority: str, visit) -> dict:
    return {
        "resourceType": "ServiceRequest",
        "identifier": [_identifier(kind, obj)],
        "status": "active",
        "intent": "order",
        "category": [_concept(_coding(*ORDER_CATEGORY[category]))],
        "priority": priority,
        "code": code,
        "subject": _patient_ref(visit.patient),
        "encounter": _ref("Encounter", "visit", visit),
        "authoredOn": _instant(visit.committed_at or visit.started_at),
        "requester": _doctor(visit.doctor),
    }


def service_request(record) -> dict:
    """A lab or imaging ``Order``, or a ``Referral``, as a ServiceRequest."""
    from shifa.records.models import Referral

    visit = record.visit
    if isinstance(record, Referral):
        performers = []
        if record.to_clinic_id:
            performers.append(_clinic(record.to_clinic))
        if record.to_doctor_id:
            performers.append(_doctor(record.to_doctor))
        specialty = record.specialty
        resource = _request(
            "referral",
            record,
            category="referral",
            code=_concept(_coding(*ORDER_CATEGORY["referral"])),
            priority=record.urgency,
            visit=visit,
        ) | {
            "performerType": _concept(_coding(SHIFA_SPECIALTY, specialty.code, specialty.name_en))
            if specialty
            else None,
            "performer": performers,
            "reasonCode": [{"text": record.reason}],
        }
        return _drop_empty(resource)
    if record.kind == "lab":
        test = record.lab_test
        code = _concept(_coding(LOINC, test.code, test.name_en), text=test.name_en)
    else:
        study = record.imaging
        codings = [_coding(SHIFA_IMAGING, study.code, study.name_en)]
        if study.loinc:
            codings.insert(0, _coding(LOINC, study.loinc, study.name_en))
        code = _concept(*codings, text=study.name_en)
    resource = _request(
        "order", record, category=record.kind, code=code, priority=record.urgency, visit=visit
    ) | {
        "note": [{"text": record.note}] if record.note else [],
        "performer": [facility(record.facility)] if record.facility_id else [],
    }
    return _drop_empty(resource)


def care_plan(plan) -> dict:
    """A care plan with its dated steps as activities (appointments to book, tasks to do)."""
    activities = []
    for step in plan.steps.all():
        end = step.due_on + dt.timedelta(days=step.window_days)
        detail = {
            "kind": "Appointment" if step.kind == "visit" else "Task",
            "status": STEP_STATUS[step.status],
            "description": step.title,
            "code": _concept(_coding(LOINC, step.vital_kind.code, step.vital_kind.name_en))
            if step.vital_kind_id
            else None,
            "scheduledPeriod": {"start": step.due_on.isoformat(), "end": end.isoformat()},
        }
        # cpl-3: an activity has a reference or a detail, not both; the booked appointment is its outcome.
        outcome = [_ref("Appointment", "appointment", step.appointment)] if step.appointment_id else []
        activities.append({"detail": detail, "outcomeReference": outcome})
    return _drop_empty(
        {
            "resourceType": "CarePlan",
            "identifier": [_identifier("care-plan", plan)],
            "status": PLAN_STATUS[plan.status],
            "intent": "plan",
            "title": plan.title,
            "description": plan.goal,
            "subject": _patient_ref(plan.patient),
            # A plan made while its visit was being written refers to the encounter once the visit is committed.
            "encounter": _ref("Encounter", "visit", plan.visit)
            if plan.visit_id and plan.visit.is_committed
            else None,
            "period": {
                "start": plan.starts_on.isoformat(),
                "end": plan.ended_at.date().isoformat() if plan.ended_at else None,
            },
            "created": _instant(plan.created_at),
            "author": _doctor(plan.doctor),
            "activity": activities,
        }
    )


def appointment(appt) -> dict:
    code = ENCOUNTER_CLASS[appt.visit_type]
    cancelled = appt.status in ("cancelled", "expired")
    return _drop_empty(
        {
            "resourceType": "Appointment",
            "identifier": [_identifier("appointment", appt)],
            "status": APPOINTMENT_STATUS[appt.status],
            "cancelationReason": {"text": appt.cancellation_reason or _english(appt.get_status_display)}
            if cancelled
            else None,
            "serviceCategory": [_concept(_coding(ACT_CODE, code, ENCOUNTER_CLASS_DISPLAY[code]))],
            "description": appt.reason,
            "start": _instant(appt.starts_at),
            "end": _instant(appt.ends_at),
            "minutesDuration": int((appt.ends_at - appt.starts_at).total_seconds() // 60),
            "created": _instant(appt.created_at),
            "participant": [
                {"actor": _patient_ref(appt.patient), "status": "accepted"},
                {"actor": _doctor(appt.doctor), "status": "accepted"},
            ],
        }
    )


def task(tpo, request) -> dict:
    """The Task of a third-party order (``hakeem.ThirdPartyOrder``): the facility named in the order fulfils the
    ServiceRequest or MedicationRequest it focuses on, and reports its progress on the Task. A withdrawn order's
    Task is cancelled."""
    on_prescription = tpo.kind == "prescription_task"
    focus_type, focus_kind = (
        ("MedicationRequest", "prescription") if on_prescription else ("ServiceRequest", "order")
    )
    visit = request.visit
    focus = {
        "reference": f"{focus_type}?{search_key(focus_kind, tpo.key)}",
        "type": focus_type,
        "display": tpo.description,
    }
    return _drop_empty(
        {
            "resourceType": "Task",
            "identifier": [identifier(tpo.kind.replace("_", "-"), tpo.key)],
            "basedOn": [focus],
            "status": "cancelled" if tpo.withdrawn else "requested",
            "intent": "order",
            "priority": getattr(request, "urgency", "routine"),
            "code": _concept(_coding(TASK_CODE, "fulfill", "Fulfill the focal request")),
            "description": tpo.description,
            "focus": focus,
            "for": _patient_ref(visit.patient),
            "encounter": _ref("Encounter", "visit", visit),
            "authoredOn": _instant(visit.committed_at),
            "lastModified": _instant(tpo.updated_at),
            "requester": _doctor(visit.doctor),
            "owner": facility(tpo.facility),
        }
    )


def entered_in_error(resource: dict) -> dict:
    """A resource an amendment took back (a diagnosis, line, order or referral no longer in the corrected visit):
    the same resource, marked entered in error."""
    resource = dict(resource)
    if resource["resourceType"] == "Condition":
        resource.pop("clinicalStatus", None)  # con-5
        resource["verificationStatus"] = _concept(
            _coding(CONDITION_VERIFICATION, "entered-in-error", "Entered in Error")
        )
    else:
        resource["status"] = "entered-in-error"
    return resource


def _quantity(value, unit: str) -> dict:
    return {"value": _number(value), "unit": unit, "system": UCUM, "code": unit}


def _observation(first, *, code: dict, category: str) -> dict:
    """``first`` is a ``records.Vital`` (taken at a clinic) or an ``adherence.Reading`` (taken at home, by the
    patient or their device: the patient is the performer)."""
    visit_id = getattr(first, "visit_id", None)
    by_patient = first.recorded_by_id in (None, first.patient.user_id)
    return {
        "resourceType": "Observation",
        "identifier": [_identifier(first._meta.model_name, first)],
        "status": "final",
        "category": [_concept(_coding(OBSERVATION_CATEGORY, category))],
        "code": code,
        "subject": _patient_ref(first.patient),
        "encounter": _ref("Encounter", "visit", first.visit) if visit_id else None,
        "effectiveDateTime": _instant(first.taken_at),
        "performer": [_patient_ref(first.patient) if by_patient else _doctor(first.recorded_by)],
    }


def observation(vital) -> dict:
    """One vital-sign reading, LOINC-coded with its UCUM unit (the catalog's ``VitalSignType``)."""
    kind = vital.kind
    codings = [_coding(LOINC, kind.code, kind.name_en)]
    if kind.code == SPO2:
        codings.insert(0, _coding(LOINC, SPO2_PROFILE, "Oxygen saturation in Arterial blood"))
    category = "vital-signs" if kind.code in VITAL_SIGNS else OTHER_CATEGORY.get(kind.code, "vital-signs")
    resource = _observation(vital, code=_concept(*codings, text=kind.name_en), category=category)
    resource["valueQuantity"] = _quantity(vital.value, kind.unit)
    return _drop_empty(resource)


def blood_pressure(systolic, diastolic) -> dict:
    """The blood-pressure panel (85354-9) from a systolic and a diastolic reading taken together; keyed on the
    systolic reading."""
    components = [
        {
            "code": _concept(_coding(LOINC, v.kind.code, v.kind.name_en)),
            "valueQuantity": _quantity(v.value, v.kind.unit),
        }
        for v in (systolic, diastolic)
    ]
    code = _concept(
        _coding(LOINC, BP_PANEL, "Blood pressure panel with all children optional"), text="Blood pressure"
    )
    resource = _observation(systolic, code=code, category="vital-signs") | {"component": components}
    return _drop_empty(resource)


def _together(v) -> tuple:
    return (v._meta.model_name, v.patient_id, getattr(v, "visit_id", None), v.taken_at)


def observations(vitals) -> list[dict]:
    """Vitals or home readings as Observations: a systolic and a diastolic taken together (same patient, visit and
    time) become one blood-pressure panel; every other reading its own Observation."""
    vitals = list(vitals)
    pairs = {}
    for v in vitals:
        if v.kind.code in (SYSTOLIC, DIASTOLIC):
            pairs.setdefault(_together(v), {})[v.kind.code] = v
    paired = {id(v) for pair in pairs.values() if len(pair) == 2 for v in pair.values()}
    resources = []
    for v in vitals:
        if id(v) not in paired:
            resources.append(observation(v))
        elif v.kind.code == SYSTOLIC:
            pair = pairs[_together(v)]
            resources.append(blood_pressure(pair[SYSTOLIC], pair[DIASTOLIC]))
    return resources


# --- validation ----------------------------------------------------------------------------------------------------


def _values(node, path: list[str]):
    """Every value at ``path`` under ``node``, lists flattened."""
    if isinstance(node, list):
        for item in node:
            yield from _values(item, path)
        return
    if not path:
        yield node
        return
    if isinstance(node, dict) and path[0] in node:
        yield from _values(node[path[0]], path[1:])


def check_codes(resource: dict) -> None:
    """Check every coded element we emit against its value set in ``VALUE_SETS``; raise ``InvalidResource``."""
    prefix = resource.get("resourceType", "") + "."
    errors = []
    for path, allowed in VALUE_SETS.items():
        if not path.startswith(prefix):
            continue
        for value in _values(resource, path[len(prefix) :].split(".")):
            system, code = (
                (value.get("system"), value.get("code")) if isinstance(value, dict) else (None, value)
            )
            codes = allowed.get(system)
            if codes is None:
                errors.append(f"{path}: system {system!r} is not allowed")
            elif not (codes.fullmatch(str(code)) if isinstance(codes, re.Pattern) else code in codes):
                errors.append(f"{path}: {code!r} is not in the value set of {system or 'the element'}")
    if errors:
        raise InvalidResource(errors)


def _model(resource_type: str):
    module = import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)


def validate(resource: dict) -> None:
    """Parse the resource with its ``fhir.resources`` R4B model and check its codes; raise ``InvalidResource``."""
    from pydantic import ValidationError

    resource_type = resource.get("resourceType")
    if resource_type not in {p.split(".")[0] for p in VALUE_SETS}:
        raise InvalidResource([f"resourceType {resource_type!r} is not one we send"])
    try:
        _model(resource_type).model_validate(resource)
    except ValidationError as exc:
        # Where and what, never the value (the errors are shown to people who may not see the record).
        raise InvalidResource(
            [f"{resource_type}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        ) from None
    check_codes(resource)

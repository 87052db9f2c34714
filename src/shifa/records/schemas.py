"""Request schemas of the record API, and how record rows are written as JSON (one place for the clinic's and the
patient's API, and what an idempotent repeat answers)."""

from __future__ import annotations

import datetime as dt
import uuid

from ninja import Field, Schema
from pydantic import AwareDatetime

from shifa.core import timezones

ICD9 = "http://hl7.org/fhir/sid/icd-9-cm"
LOINC = "http://loinc.org"
ATC = "http://www.whocc.no/atc"


# --- requests ------------------------------------------------------------------------------------------------------


class PageParams(Schema):
    cursor: str | None = None
    limit: int = Field(30, ge=1, le=200)


class VisitOpenIn(Schema):
    appointment_id: uuid.UUID | None = Field(None, description="Open the visit of this appointment")
    patient_id: uuid.UUID | None = Field(None, description="Or a walk-in visit of this patient")
    doctor_id: uuid.UUID | None = Field(None, description="For a walk-in: the doctor (default: the caller)")


class VisitChangeIn(Schema):
    complaint: str | None = Field(None, max_length=20000)
    notes: str | None = Field(None, max_length=20000)
    amendment_reason: str | None = Field(None, max_length=2000)


class TriageIn(Schema):
    triage: str = Field(..., pattern="^(emergency|urgent|semi_urgent|routine|)$")
    note: str = Field("", max_length=2000)


class VitalsIn(Schema):
    readings: dict[str, str | float | int] = Field(
        ..., description="LOINC code → value", examples=[{"8480-6": 120, "8462-4": 80}]
    )
    taken_at: AwareDatetime | None = None


class DiagnosisIn(Schema):
    code: str = Field(..., max_length=8, examples=["401.9"])
    rank: str = Field("secondary", pattern="^(primary|secondary)$")
    plain_words: str = Field("", max_length=500, description="The diagnosis in words the patient understands")


class DiagnosisPatch(Schema):
    code: str | None = Field(None, max_length=8, examples=["250.02"])
    rank: str | None = Field(None, pattern="^(primary|secondary)$")
    plain_words: str | None = Field(None, max_length=500)


class PrescriptionIn(Schema):
    medication: str = Field(..., max_length=80, description="Medication code (or id) from the catalog")
    form: str = Field("", max_length=30)
    strength: str = Field(..., max_length=60, examples=["500 mg"])
    dose: str | float = Field(..., examples=["1"])
    dose_unit: str = Field(..., max_length=12, examples=["tablet"])
    route: str = Field("oral", max_length=14)
    frequency: str = Field(..., max_length=20, examples=["three_times_daily"])
    timing: str = Field("", max_length=14, examples=["after_meals"])
    duration_days: int | None = Field(None, examples=[7])
    instructions: str = Field("", max_length=1000)
    facility: str = Field(
        "",
        max_length=60,
        description="A Hakeem facility's code: the line becomes a third-party order filled there",
    )


class OrderIn(Schema):
    kind: str = Field(..., pattern="^(lab|imaging)$")
    test: str = Field(
        ..., max_length=60, description="LOINC code of the lab test, or code of the imaging study"
    )
    urgency: str = Field("routine", pattern="^(routine|urgent)$")
    note: str = Field("", max_length=1000)
    facility: str = Field(
        "", max_length=60, description="A Hakeem facility's code: a third-party order fulfilled there"
    )


class ReferralIn(Schema):
    to_clinic_id: uuid.UUID | None = None
    to_doctor_id: uuid.UUID | None = None
    specialty: str | None = Field(None, max_length=60, description="Specialty code")
    urgency: str = Field("routine", pattern="^(routine|urgent)$")
    reason: str = Field(..., max_length=2000)


class SickLeaveIn(Schema):
    starts_on: dt.date
    days: int = Field(..., ge=1, le=90)
    note: str = Field("", max_length=1000)


class DocumentAskIn(Schema):
    kind: str = Field(..., pattern="^(prescription|referral|sick_leave|lab_order)$")
    language: str = Field("ar", pattern="^(ar|en)$")
    referral_id: uuid.UUID | None = Field(
        None, description="For a referral letter: which referral (default: the first)"
    )


class AmendIn(Schema):
    reason: str = Field(..., min_length=1, max_length=2000)


class ResultValueIn(Schema):
    name: str = Field(..., max_length=120)
    value: str = Field(..., max_length=60)
    unit: str = Field("", max_length=20)
    low: str | None = Field(None, max_length=20)
    high: str | None = Field(None, max_length=20)
    code: str = Field("", max_length=10)


class ResultIn(Schema):
    values: list[ResultValueIn] = Field(default_factory=list, max_length=100)
    summary: str = Field("", max_length=10000)
    amends: uuid.UUID | None = Field(None, description="The earlier result this one corrects")


class AllergyIn(Schema):
    medication: str | None = Field(None, max_length=80)
    substance: str = Field("", max_length=200)
    reaction: str = Field("", max_length=200)
    severity: str = Field("moderate", pattern="^(mild|moderate|severe)$")
    note: str = Field("", max_length=2000)


class ConditionIn(Schema):
    code: str = Field(..., max_length=8)
    since: dt.date | None = None
    note: str = Field("", max_length=2000)


class MedicationStatementIn(Schema):
    medication: str = Field(..., max_length=80)
    dosage: str = Field("", max_length=200)
    since: dt.date | None = None
    note: str = Field("", max_length=2000)


class ImmunizationIn(Schema):
    vaccine: str = Field(..., max_length=60)
    given_on: dt.date
    dose: int | None = Field(None, ge=1, le=20)
    lot: str = Field("", max_length=40)
    note: str = Field("", max_length=2000)


class FactStatusIn(Schema):
    status: str = Field(..., pattern="^(active|resolved|error)$")


class DependantIn(Schema):
    full_name: str = Field(..., min_length=2, max_length=200)
    full_name_ar: str = Field("", max_length=200)
    date_of_birth: dt.date
    sex: str = Field(..., pattern="^(female|male|unknown)$")
    relation: str = Field(..., pattern="^(child|parent|spouse|other)$")
    national_id: str = Field("", max_length=20)


class IdentityIn(Schema):
    full_name: str | None = Field(None, min_length=2, max_length=200)
    full_name_ar: str | None = Field(None, max_length=200)
    date_of_birth: dt.date | None = None
    sex: str | None = Field(None, pattern="^(female|male|unknown)$")
    blood_group: str | None = Field(None, pattern="^(A\\+|A-|B\\+|B-|AB\\+|AB-|O\\+|O-|)$")
    national_id: str | None = Field(None, max_length=20)


class GrantIn(Schema):
    clinic_id: uuid.UUID
    days: int | None = Field(None, ge=1, le=365, description="For how long; until stopped when left out")
    patient_id: uuid.UUID | None = Field(None, description="A dependant's record (default: one's own)")


# --- answers -------------------------------------------------------------------------------------------------------


def _z(value):
    return timezones.isoformat_z(value) if value else None


def _id(row):
    return str(row.external_id) if row is not None else None


def _named(row, language: str):
    if row is None:
        return None
    name = row.display_name(language) if hasattr(row, "display_name") else getattr(row, "full_name", str(row))
    return {"id": str(row.external_id), "name": name}


def _user(user):
    return {"id": str(user.external_id), "name": user.full_name} if user is not None else None


def patient_out(p, language: str = "en", *, identity: bool = True) -> dict:
    out = {
        "id": str(p.external_id),
        "name": p.display_name(language),
        "full_name": p.full_name,
        "full_name_ar": p.full_name_ar,
        "date_of_birth": p.date_of_birth.isoformat() if p.date_of_birth else None,
        "sex": p.sex,
        "blood_group": p.blood_group,
        "relation": p.relation or None,
        "is_dependant": p.guardian_id is not None,
    }
    if identity:
        out["national_id"] = p.national_id or None
        out["phone"] = p.phone or None
    return out


def diagnosis_code(d) -> dict:
    return {"system": ICD9, "code": d.display_code, "display": d.title}


def visit_diagnosis_out(row) -> dict:
    return {
        "id": str(row.external_id),
        "coding": diagnosis_code(row.diagnosis),
        "rank": row.rank,
        "plain_words": row.plain_words or row.diagnosis.short_title,
    }


def prescription_out(row, language: str) -> dict:
    return {
        "id": str(row.external_id),
        "medication": {
            "code": row.medication.code,
            "name": row.medication.display_name(language),
            "atc": row.medication.atc_code or None,
        },
        "form": row.form,
        "strength": row.strength,
        "dose": f"{row.dose.normalize():f}",
        "dose_unit": row.dose_unit,
        "route": row.route,
        "frequency": row.frequency,
        "timing": row.timing,
        "duration_days": row.duration_days,
        "instructions": row.instructions,
        "allergy_warnings": row.allergy_warnings,
        "as_text": prescription_text(row),
        "facility": _facility(row.facility, language),
    }


def prescription_text(row) -> str:
    """One line the patient can follow, in the reader's language: "1 tablet by mouth three times a day …"."""
    from django.utils.translation import ngettext, pgettext

    parts = [f"{row.dose.normalize():f} {row.get_dose_unit_display()}", row.get_route_display().lower()]
    parts.append(row.get_frequency_display().lower())
    if row.timing:
        parts.append(row.get_timing_display().lower())
    if row.duration_days:
        parts.append(
            ngettext("for %(days)d day", "for %(days)d days", row.duration_days) % {"days": row.duration_days}
        )
    return pgettext("between the parts of a list", ", ").join(parts)


def result_out(row) -> dict:
    return {
        "id": str(row.external_id),
        "values": row.values,
        "summary": row.summary,
        "file": {"name": row.file_name, "content_type": row.content_type} if row.file else None,
        "reported_at": _z(row.reported_at),
        "amends": _id(row.amends) if row.amends_id else None,
    }


def order_out(row, language: str, results: list | None = None) -> dict:
    test = row.lab_test or row.imaging
    coding = (
        {"system": LOINC, "code": row.lab_test.code, "display": row.lab_test.name_en}
        if row.lab_test_id
        else {"system": "urn:shifa:imaging", "code": row.imaging.code, "display": row.imaging.name_en}
    )
    return {
        "id": str(row.external_id),
        "kind": row.kind,
        "test": {"name": test.display_name(language), "coding": coding},
        "urgency": row.urgency,
        "note": row.note,
        "facility": _facility(row.facility, language),
        "results": [result_out(r) for r in (results or [])],
    }


def _facility(place, language: str) -> dict | None:
    """The Hakeem facility a third-party order is fulfilled at."""
    return {"code": place.code, "name": place.display_name(language)} if place is not None else None


def referral_out(row, language: str) -> dict:
    return {
        "id": str(row.external_id),
        "to_clinic": _named(row.to_clinic, language),
        "to_doctor": _user(row.to_doctor),
        "specialty": _named(row.specialty, language),
        "urgency": row.urgency,
        "reason": row.reason,
    }


def vital_out(row, language: str) -> dict:
    kind = row.kind
    flag = kind.flag_for(row.value)
    return {
        "id": str(row.external_id),
        "code": {"system": LOINC, "code": kind.code, "display": kind.name_en},
        "name": kind.display_name(language),
        "value": f"{row.value:.{kind.decimals}f}",
        "unit": kind.unit,
        "flag": flag,
        "taken_at": _z(row.taken_at),
        "source": "hakeem" if getattr(row, "hakeem_ref", "") else getattr(row, "source", "clinic"),
    }


def visit_summary_out(visit, language: str, amendments: list | None = None) -> dict:
    """A visit in a timeline: who, where, when, the diagnoses of its latest committed version."""
    amendments = amendments or []
    latest = next((a for a in reversed(amendments) if a.is_committed), None) or visit
    return {
        "id": str(visit.external_id),
        "clinic": _named(visit.clinic, language),
        "doctor": _user(visit.doctor),
        "started_at": _z(visit.started_at),
        "zone": visit.clinic.time_zone,
        "origin": visit.origin,
        "is_committed": visit.is_committed,
        "committed_at": _z(visit.committed_at),
        "diagnoses": [visit_diagnosis_out(d) for d in latest.diagnoses.all()],
        "amendments": [
            {"id": str(a.external_id), "is_committed": a.is_committed, "committed_at": _z(a.committed_at)}
            for a in amendments
        ],
    }


def visit_out(record, language: str) -> dict:
    """A visit with everything written in it, and its place among its amendments."""
    v = record.visit
    return {
        "id": str(v.external_id),
        "patient": patient_out(v.patient, language, identity=False),
        "clinic": _named(v.clinic, language),
        "doctor": _user(v.doctor),
        "appointment_id": _id(v.appointment) if v.appointment_id else None,
        "origin": v.origin,
        "started_at": _z(v.started_at),
        "zone": v.clinic.time_zone,
        "complaint": v.complaint,
        "notes": v.notes,
        "triage": v.triage,
        "triage_note": v.triage_note,
        "is_committed": v.is_committed,
        "committed_at": _z(v.committed_at),
        "committed_by": _user(v.committed_by),
        "amends": _id(v.amends) if v.amends_id else None,
        "amendment_reason": v.amendment_reason,
        "amendments": [
            {
                "id": str(a.external_id),
                "is_committed": a.is_committed,
                "committed_at": _z(a.committed_at),
                "reason": a.amendment_reason,
            }
            for a in record.amendments
        ],
        "diagnoses": [visit_diagnosis_out(d) for d in record.diagnoses],
        "prescriptions": [prescription_out(p, language) for p in record.prescriptions],
        "orders": [order_out(o, language, record.results.get(o.pk)) for o in record.orders],
        "referrals": [referral_out(r, language) for r in record.referrals],
        "sick_leave": {
            "id": str(record.sick_leave.external_id),
            "starts_on": record.sick_leave.starts_on.isoformat(),
            "days": record.sick_leave.days,
            "note": record.sick_leave.note,
        }
        if record.sick_leave
        else None,
        "vitals": [vital_out(x, language) for x in record.vitals],
    }


def _fact_base(row, language: str) -> dict:
    return {
        "id": str(row.external_id),
        "status": row.status,
        "note": row.note,
        "clinic": _named(row.clinic, language),
        "recorded_at": _z(row.created_at),
        "from_hakeem": bool(row.hakeem_ref),
    }


def allergy_out(row, language: str) -> dict:
    return {
        **_fact_base(row, language),
        "medication": _named(row.medication, language),
        "substance": row.substance,
        "reaction": row.reaction,
        "severity": row.severity,
    }


def condition_out(row, language: str) -> dict:
    return {
        **_fact_base(row, language),
        "coding": diagnosis_code(row.diagnosis),
        "since": row.since.isoformat() if row.since else None,
    }


def medication_statement_out(row, language: str) -> dict:
    return {
        **_fact_base(row, language),
        "medication": _named(row.medication, language),
        "dosage": row.dosage,
        "since": row.since.isoformat() if row.since else None,
    }


def immunization_out(row, language: str) -> dict:
    return {
        **_fact_base(row, language),
        "vaccine": _named(row.vaccine, language),
        "given_on": row.given_on.isoformat(),
        "dose": row.dose,
        "lot": row.lot,
    }


FACT_OUT = {
    "allergies": allergy_out,
    "conditions": condition_out,
    "medications": medication_statement_out,
    "immunizations": immunization_out,
}


def chart_out(chart, language: str, *, identity: bool = True) -> dict:
    return {
        "patient": patient_out(chart.patient, language, identity=identity),
        "shared": chart.shared,
        "allergies": [allergy_out(a, language) for a in chart.allergies],
        "conditions": [condition_out(c, language) for c in chart.conditions],
        "medications": [medication_statement_out(m, language) for m in chart.medications],
        "current_prescriptions": [
            {**prescription_out(p, language), "visit_id": str(p.visit.external_id)}
            for p in chart.current_prescriptions
        ],
        "immunizations": [immunization_out(i, language) for i in chart.immunizations],
        "latest_vitals": [vital_out(v, language) for v in chart.latest_vitals],
        "visits": {
            "items": [
                visit_summary_out(v, language, chart.amendments.get(v.pk)) for v in chart.timeline.items
            ],
            "next_cursor": chart.timeline.next_cursor,
        },
    }


def grant_out(row, language: str) -> dict:
    return {
        "id": str(row.external_id),
        "clinic": _named(row.clinic, language),
        "granted_at": _z(row.created_at),
        "expires_at": _z(row.expires_at),
        "revoked_at": _z(row.revoked_at),
    }


def read_out(row, language: str) -> dict:
    from shifa.access.catalog import role_spec

    try:
        spec = role_spec(row.role)
        role_name = spec.name_ar if language == "ar" else spec.name_en
    except StopIteration:
        role_name = row.role
    return {
        "at": _z(row.occurred_at),
        "clinic": _named(row.clinic, language),
        "role": row.role,
        "role_name": role_name,
        "reader": row.reader.full_name,
        "what": row.scope,
    }


def document_out(row) -> dict:
    return {
        "id": str(row.external_id),
        "kind": row.kind,
        "title": row.title,
        "language": row.language,
        "status": row.status,
        "size": row.size,
        "created_at": _z(row.created_at),
        "ready_at": _z(row.ready_at),
    }

"""The record's documents (EHR-5): prescription, referral letter, sick leave and lab/imaging order, as PDFs from the
document service in Arabic or English. A document row holds only the visit's id; what the PDF says is read from
the (committed, immutable) record when it is rendered, so no clinical text is stored beside the encrypted record."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext as _

from shifa.core import calendars, timezones

PRESCRIPTION = "prescription"
REFERRAL = "referral"
SICK_LEAVE = "sick_leave"
LAB_ORDER = "lab_order"
KINDS = (PRESCRIPTION, REFERRAL, SICK_LEAVE, LAB_ORDER)


def register() -> None:
    from shifa.documents import kinds

    for code in KINDS:
        kinds.register(
            kinds.Kind(
                code,
                required=("visit",),
                limits={"referral": 36},
                clinical=True,
                builder="shifa.records.documents.build",
                on_read="shifa.records.documents.log_read",
            )
        )


def title_for(kind: str, patient_name: str) -> str:
    titles = {
        PRESCRIPTION: _("Prescription for %(name)s"),
        REFERRAL: _("Referral letter for %(name)s"),
        SICK_LEAVE: _("Sick leave for %(name)s"),
        LAB_ORDER: _("Lab and imaging orders for %(name)s"),
    }
    return titles[kind] % {"name": patient_name}


def _age(born: dt.date | None, on: dt.date) -> int | None:
    if born is None:
        return None
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _visit(document):
    from .models import Visit

    return (
        Visit.unscoped.select_related("patient", "doctor", "clinic")
        .filter(clinic_id=document.clinic_id, external_id=document.context["visit"])
        .first()
    )


def build(document) -> dict:
    """What the PDF shows, read from the visit in the document's language (called inside its translation)."""
    from . import queries
    from .schemas import prescription_text

    visit = _visit(document)
    if visit is None:
        raise LookupError("the visit of this document no longer exists")
    language = document.language
    record = queries.visit_record(visit, versions=queries.Visit.unscoped.none())
    local = timezones.to_local(visit.started_at, visit.clinic.time_zone)
    patient = visit.patient
    context = {
        "patient_name": patient.display_name(language),
        "patient_age": _age(patient.date_of_birth, local.date()),
        "patient_sex": patient.get_sex_display() if patient.sex != "unknown" else "",
        "patient_national_id": patient.national_id,
        "doctor_name": visit.doctor.full_name,
        "visit_date": local.date().isoformat(),
        "visit_date_hijri": calendars.hijri(local.date(), language),
        "amended": visit.amends_id is not None,
        "diagnoses": [
            {"code": d.diagnosis.display_code, "title": d.diagnosis.title, "plain": d.plain_words}
            for d in record.diagnoses
        ],
        "prescriptions": [
            {
                "medication": p.medication.display_name(language),
                "generic": p.medication.name_en,
                "strength": p.strength,
                "form": p.form,
                "how": prescription_text(p),
                "instructions": p.instructions,
                "warnings": p.allergy_warnings,
            }
            for p in record.prescriptions
        ],
        "orders": [
            {
                "kind": o.get_kind_display(),
                "name": (o.lab_test or o.imaging).display_name(language),
                "code": o.lab_test.code if o.lab_test_id else o.imaging.code,
                "urgent": o.urgency == "urgent",
                "note": o.note,
            }
            for o in record.orders
        ],
    }
    referral_id = document.context.get("referral")
    referral = next((r for r in record.referrals if str(r.external_id) == referral_id), None)
    if referral is None and record.referrals:
        referral = record.referrals[0]
    if referral is not None:
        context["referral"] = {
            "to_clinic": referral.to_clinic.display_name(language) if referral.to_clinic_id else "",
            "to_doctor": referral.to_doctor.full_name if referral.to_doctor_id else "",
            "specialty": referral.specialty.display_name(language) if referral.specialty_id else "",
            "urgent": referral.urgency == "urgent",
            "reason": referral.reason,
            "complaint": visit.complaint,
        }
    leave = record.sick_leave
    if leave is not None:
        context["sick_leave"] = {
            "starts_on": leave.starts_on.isoformat(),
            "ends_on": (leave.starts_on + dt.timedelta(days=leave.days - 1)).isoformat(),
            "days": leave.days,
            "note": leave.note,
        }
    return context


def log_read(actor, document) -> None:
    """Opening a clinical document is a read of the record (ID-5)."""
    if actor is None or actor.user is None or actor.clinic is None:
        return
    visit = _visit(document)
    if visit is None:
        return
    from shifa.audit.actions import record_read
    from shifa.audit.models import ReadScope

    from .policies import reading_role

    record_read(
        actor=actor,
        patient=visit.patient,
        scope=ReadScope.DOCUMENT,
        subject=document.external_id,
        role=reading_role(actor),
    )

"""Family Doctor API (TM-4): the patient's choice of a family doctor, and the doctor's answers."""

from __future__ import annotations

import uuid

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from shifa.access.declare import operation
from shifa.core import timezones
from shifa.core.idempotency import once
from shifa.core.schemas import ERRORS, ProblemOut

from . import actions, queries
from .models import FamilyDoctor

router = Router(tags=["family doctor"])
OWN = operation("family.use_own")
CARE = operation("family.care")
PROBLEMS = {**ERRORS, 409: ProblemOut}
OK = {200: dict, **PROBLEMS}


def _language(request: HttpRequest) -> str:
    return getattr(request, "LANGUAGE_CODE", "en")


def _iso(value):
    return timezones.isoformat_z(value) if value else None


def family_out(relation: FamilyDoctor, language: str) -> dict:
    return {
        "id": str(relation.external_id),
        "status": relation.status,
        "patient": {"id": str(relation.patient.external_id), "name": relation.patient.display_name(language)},
        "doctor": {"id": str(relation.doctor.external_id), "name": relation.doctor.full_name},
        "clinic": {"id": str(relation.clinic.external_id), "name": relation.clinic.display_name(language)},
        "note": relation.note,
        "requested_at": _iso(relation.created_at),
        "answered_at": _iso(relation.answered_at),
        "decline_reason": relation.decline_reason,
        "suspended_at": _iso(relation.suspended_at),
        "ended_at": _iso(relation.ended_at),
        "record_shared": queries.record_shared(relation) if relation.status == "active" else False,
        "conversation_id": str(relation.conversation.external_id) if relation.conversation_id else None,
    }


class MeQuery(Schema):
    patient_id: uuid.UUID | None = Field(None, description="A dependant; left out: oneself")


class RequestIn(Schema):
    clinic_id: uuid.UUID
    doctor_id: uuid.UUID
    patient_id: uuid.UUID | None = Field(None, description="A dependant; left out: oneself")
    note: str = Field("", max_length=300, description="A word to the doctor")


class EndIn(Schema):
    patient_id: uuid.UUID | None = None


class DeclineIn(Schema):
    reason: str = Field("", max_length=300)


@router.get(
    "/me/family-doctor",
    response=OK,
    operation_id="family_get_my_family_doctor",
    summary="My (or my dependant's) family doctor or request, and whether my subscription includes one",
    **OWN,
)
def my_family_doctor(request: HttpRequest, filters: Query[MeQuery]):
    from shifa.records.policies import own_patient

    patient = own_patient(request.actor, filters.patient_id)
    relation = queries.my_family_doctor(actor=request.actor, patient_id=filters.patient_id)
    return {
        "entitled": actions.entitled(patient),
        "family_doctor": family_out(relation, _language(request)) if relation else None,
    }


@router.post(
    "/me/family-doctor",
    response={200: dict, 201: dict, **PROBLEMS},
    operation_id="family_request_family_doctor",
    summary="Ask a doctor listed on Shifa to be my family doctor (needs a subscription that includes one: 403 "
    "entitlement_required; one at a time: 409 family_doctor_exists)",
    **OWN,
)
def request_family_doctor(request: HttpRequest, payload: RequestIn):
    def run():
        relation, created = actions.family_request(
            actor=request.actor,
            clinic_id=payload.clinic_id,
            doctor_id=payload.doctor_id,
            patient_id=payload.patient_id,
            note=payload.note,
        )
        return (201 if created else 200), family_out(relation, _language(request))

    return Status(*once(request, run))


@router.post(
    "/me/family-doctor/end",
    response=OK,
    operation_id="family_end_family_doctor",
    summary="End my family doctor (or withdraw my request): the sharing made for it stops",
    **OWN,
)
def end_family_doctor(request: HttpRequest, payload: EndIn):
    relation = actions.family_end(actor=request.actor, patient_id=payload.patient_id)
    return family_out(relation, _language(request))


@router.get(
    "/clinics/{clinic_id}/family-doctor/requests",
    response=OK,
    operation_id="family_list_requests",
    summary="Patients asking me to be their family doctor here, oldest first",
    **CARE,
)
def list_requests(request: HttpRequest, clinic_id: uuid.UUID):
    language = _language(request)
    return {"items": [family_out(r, language) for r in queries.doctor_requests(actor=request.actor)]}


@router.get(
    "/clinics/{clinic_id}/family-doctor/patients",
    response=OK,
    operation_id="family_list_patients",
    summary="My family patients here (paused ones too: their subscription lapsed)",
    **CARE,
)
def list_patients(request: HttpRequest, clinic_id: uuid.UUID):
    language = _language(request)
    return {"items": [family_out(r, language) for r in queries.doctor_patients(actor=request.actor)]}


@router.post(
    "/clinics/{clinic_id}/family-doctor/requests/{family_id}/accept",
    response=OK,
    operation_id="family_accept_request",
    summary="Accept: the patient's record is shared with this clinic and our conversation opens",
    **CARE,
)
def accept_request(request: HttpRequest, clinic_id: uuid.UUID, family_id: uuid.UUID):
    relation = actions.family_accept(actor=request.actor, family_id=family_id)
    return family_out(relation, _language(request))


@router.post(
    "/clinics/{clinic_id}/family-doctor/requests/{family_id}/decline",
    response=OK,
    operation_id="family_decline_request",
    summary="Decline a patient's request (the reason, if given, is shown to them)",
    **CARE,
)
def decline_request(request: HttpRequest, clinic_id: uuid.UUID, family_id: uuid.UUID, payload: DeclineIn):
    relation = actions.family_decline(actor=request.actor, family_id=family_id, reason=payload.reason)
    return family_out(relation, _language(request))

"""The patient's side of the record (EHR-6, ID-5): my record and my dependants', my visits, who read my record,
and with which clinics I share it."""

from __future__ import annotations

import uuid

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status

from shifa.access.declare import operation
from shifa.core.idempotency import once
from shifa.core.schemas import ERRORS

from . import actions, queries
from . import schemas as out
from .api import _file_response

router = Router(tags=["my record"])
VIEW = operation("records.view_own")
MANAGE = operation("records.manage_own")
OK = {200: dict, **ERRORS}
CREATED = {201: dict, **ERRORS}


def _language(request: HttpRequest) -> str:
    return getattr(request, "LANGUAGE_CODE", "en")


class Whose(Schema):
    patient_id: uuid.UUID | None = None


class WhosePage(Whose):
    cursor: str | None = None
    limit: int = 30


@router.get(
    "/me/patients",
    response=OK,
    operation_id="records_list_my_patients",
    summary="The signed-in patient and the dependants whose records they manage",
    **VIEW,
)
def list_my_patients(request: HttpRequest):
    language = _language(request)
    return {"items": [out.patient_out(p, language) for p in queries.my_patients(actor=request.actor)]}


@router.post(
    "/me/dependants",
    response=CREATED,
    operation_id="records_add_dependant",
    summary="Add a dependant (a child, an elderly parent) with a record of their own",
    **MANAGE,
)
def add_dependant(request: HttpRequest, payload: out.DependantIn):
    def run():
        patient = actions.dependant_add(actor=request.actor, **payload.dict())
        return 201, out.patient_out(patient, _language(request))

    return Status(*once(request, run))


@router.patch(
    "/me/patients/{patient_id}",
    response=OK,
    operation_id="records_update_identity",
    summary="Correct one's own (or a dependant's) names, birth date, sex, blood group or national number",
    **MANAGE,
)
def update_identity(request: HttpRequest, patient_id: uuid.UUID, payload: out.IdentityIn):
    patient = actions.patient_identity_update(
        actor=request.actor, patient_id=patient_id, changes=payload.dict(exclude_unset=True)
    )
    return out.patient_out(patient, _language(request))


@router.get(
    "/me/record",
    response=OK,
    operation_id="records_get_my_record",
    summary="My record (or a dependant's): allergies, conditions, medicines, immunizations, vitals, recent visits",
    **VIEW,
)
def get_my_record(request: HttpRequest, whose: Query[Whose]):
    summary = queries.my_summary(actor=request.actor, patient_id=whose.patient_id)
    return out.chart_out(summary, _language(request))


@router.get(
    "/me/visits",
    response=OK,
    operation_id="records_list_my_visits",
    summary="My committed visits, newest first",
    **VIEW,
)
def list_my_visits(request: HttpRequest, params: Query[WhosePage]):
    _, page, amendments = queries.my_visits(
        actor=request.actor,
        patient_id=params.patient_id,
        cursor=params.cursor,
        limit=max(1, min(params.limit, 200)),
    )
    language = _language(request)
    return {
        "items": [out.visit_summary_out(v, language, amendments.get(v.pk)) for v in page.items],
        "next_cursor": page.next_cursor,
    }


@router.get(
    "/me/visits/{visit_id}",
    response=OK,
    operation_id="records_get_my_visit",
    summary="One of my visits: diagnoses in plain words, prescriptions, orders and results, referrals, sick leave",
    **VIEW,
)
def get_my_visit(request: HttpRequest, visit_id: uuid.UUID):
    return out.visit_out(queries.my_visit(actor=request.actor, visit_id=visit_id), _language(request))


@router.get(
    "/me/results/{result_id}/file",
    response={200: None, **ERRORS},
    operation_id="records_download_my_result",
    summary="Download a result's report file",
    **VIEW,
)
def download_my_result(request: HttpRequest, result_id: uuid.UUID):
    return _file_response(queries.my_result_file(actor=request.actor, result_id=result_id))


@router.get(
    "/me/record/reads",
    response=OK,
    operation_id="records_list_my_reads",
    summary="Who read my record (or a dependant's): clinic, role and time, newest first",
    **VIEW,
)
def list_my_reads(request: HttpRequest, params: Query[WhosePage]):
    _, page = queries.my_reads(
        actor=request.actor,
        patient_id=params.patient_id,
        cursor=params.cursor,
        limit=max(1, min(params.limit, 200)),
    )
    language = _language(request)
    return {"items": [out.read_out(r, language) for r in page.items], "next_cursor": page.next_cursor}


@router.get(
    "/me/grants",
    response=OK,
    operation_id="records_list_my_grants",
    summary="The clinics my record (or a dependant's) is shared with",
    **VIEW,
)
def list_my_grants(request: HttpRequest, whose: Query[Whose]):
    _, grants = queries.my_grants(actor=request.actor, patient_id=whose.patient_id)
    language = _language(request)
    return {"items": [out.grant_out(g, language) for g in grants]}


@router.post(
    "/me/grants",
    response=CREATED,
    operation_id="records_grant_access",
    summary="Share my record (or a dependant's) with a clinic, for some days or until I stop it",
    **MANAGE,
)
def grant_access(request: HttpRequest, payload: out.GrantIn):
    def run():
        grant = actions.grant_create(
            actor=request.actor, clinic_id=payload.clinic_id, patient_id=payload.patient_id, days=payload.days
        )
        return 201, out.grant_out(grant, _language(request))

    return Status(*once(request, run))


@router.delete(
    "/me/grants/{grant_id}",
    response=OK,
    operation_id="records_revoke_access",
    summary="Stop sharing my record with a clinic",
    **MANAGE,
)
def revoke_access(request: HttpRequest, grant_id: uuid.UUID):
    grant = actions.grant_revoke(actor=request.actor, grant_id=grant_id)
    return out.grant_out(grant, _language(request))


@router.get(
    "/me/visits/{visit_id}/documents",
    response=OK,
    operation_id="records_list_my_visit_documents",
    summary="The ready documents of one of my visits (prescription, referral letter, sick leave, orders)",
    **VIEW,
)
def list_my_visit_documents(request: HttpRequest, visit_id: uuid.UUID):
    return {
        "items": [out.document_out(d) for d in queries.my_documents(actor=request.actor, visit_id=visit_id)]
    }


@router.get(
    "/me/documents/{document_id}/file",
    response={200: None, **ERRORS},
    operation_id="records_download_my_document",
    summary="Download one of my documents (PDF)",
    **VIEW,
)
def download_my_document(request: HttpRequest, document_id: uuid.UUID):
    from shifa.documents.api import pdf_response

    return pdf_response(queries.my_document(actor=request.actor, document_id=document_id))

"""The clinic's side of the record: find patients, open the chart, document visits, commit and amend them,
attach results (EHR-1 … EHR-3, ID-5). Each operation names its permission; the reads are logged."""

import datetime as dt
import uuid

from django.http import FileResponse, HttpRequest
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from shifa.access.declare import operation
from shifa.core.errors import NotFound
from shifa.core.idempotency import once
from shifa.core.schemas import ERRORS

from . import actions, queries
from . import schemas as out
from .models import Order, Prescription, Referral, SickLeave, VisitDiagnosis

router = Router(tags=["records"])
VIEW = operation("records.view_chart")
VITALS = operation("records.record_vitals")
HISTORY = operation("records.record_history")
WRITE = operation("records.document_visit")
COMMIT = operation("records.commit_visit")
RESULTS = operation("records.record_results")
OK = {200: dict, **ERRORS}
CREATED = {201: dict, **ERRORS}
GONE = {204: None, **ERRORS}


def _language(request: HttpRequest) -> str:
    return getattr(request, "LANGUAGE_CODE", "en")


def _visit(request: HttpRequest, visit_id, status: int = 200):
    record = queries.clinic_visit(actor=request.actor, visit_id=visit_id, log=False)
    return Status(status, out.visit_out(record, _language(request)))


class SearchQuery(Schema):
    q: str = ""
    limit: int = 20


@router.get(
    "/clinics/{clinic_id}/patients",
    response=OK,
    operation_id="records_search_patients",
    summary="The clinic's patients by name or phone, or anyone on Shifa by exact national number",
    **VIEW,
)
def search_patients(request: HttpRequest, clinic_id: uuid.UUID, params: Query[SearchQuery]):
    found = queries.patient_search(actor=request.actor, query=params.q, limit=max(1, min(params.limit, 50)))
    language = _language(request)
    return {"items": [out.patient_out(p, language, identity=False) for p in found]}


@router.get(
    "/clinics/{clinic_id}/patients/{patient_id}/chart",
    response=OK,
    operation_id="records_get_chart",
    summary="A patient's chart: identity, allergies, conditions, medicines, immunizations, vitals, visits",
    **VIEW,
)
def get_chart(request: HttpRequest, clinic_id: uuid.UUID, patient_id: uuid.UUID, page: Query[out.PageParams]):
    chart = queries.chart(actor=request.actor, patient_id=patient_id, cursor=page.cursor, limit=page.limit)
    return out.chart_out(chart, _language(request))


class SeriesQuery(Schema):
    code: str


@router.get(
    "/clinics/{clinic_id}/patients/{patient_id}/vitals",
    response=OK,
    operation_id="records_list_vitals",
    summary="One vital sign's readings over time (by LOINC code), oldest first, for a chart",
    **VIEW,
)
def list_vitals(
    request: HttpRequest, clinic_id: uuid.UUID, patient_id: uuid.UUID, params: Query[SeriesQuery]
):
    rows = queries.vital_series(actor=request.actor, patient_id=patient_id, code=params.code)
    language = _language(request)
    return {"items": [out.vital_out(v, language) for v in rows]}


@router.post(
    "/clinics/{clinic_id}/patients/{patient_id}/vitals",
    response=CREATED,
    operation_id="records_record_vitals",
    summary="Record vital signs outside a visit",
    **VITALS,
)
def record_vitals(request: HttpRequest, clinic_id: uuid.UUID, patient_id: uuid.UUID, payload: out.VitalsIn):
    def run():
        rows = actions.vitals_record(
            actor=request.actor, patient_id=patient_id, readings=payload.readings, taken_at=payload.taken_at
        )
        return 201, {"items": [out.vital_out(v, _language(request)) for v in rows]}

    return Status(*once(request, run))


def _fact_route(kind: str, schema, record, summary: str):
    @router.post(
        f"/clinics/{{clinic_id}}/patients/{{patient_id}}/{kind}",
        response=CREATED,
        operation_id=f"records_record_{kind}",
        summary=summary,
        **HISTORY,
    )
    def create(request: HttpRequest, clinic_id: uuid.UUID, patient_id: uuid.UUID, payload: schema):
        def run():
            row = record(actor=request.actor, patient_id=patient_id, **payload.dict())
            return 201, out.FACT_OUT[kind](row, _language(request))

        return Status(*once(request, run))

    @router.patch(
        f"/clinics/{{clinic_id}}/{kind}/{{fact_id}}",
        response=OK,
        operation_id=f"records_set_{kind}_status",
        summary="Mark it as no longer applying, or as entered in error (it stays in the record)",
        **HISTORY,
    )
    def set_status(request: HttpRequest, clinic_id: uuid.UUID, fact_id: uuid.UUID, payload: out.FactStatusIn):
        fact = actions.fact_status_set(actor=request.actor, kind=kind, fact_id=fact_id, status=payload.status)
        return out.FACT_OUT[kind](fact, _language(request))

    create.__name__, set_status.__name__ = f"record_{kind}", f"set_{kind}_status"


_fact_route("allergies", out.AllergyIn, actions.allergy_record, "Record an allergy")
_fact_route("conditions", out.ConditionIn, actions.condition_record, "Record a chronic condition (ICD-9-CM)")
_fact_route(
    "medications", out.MedicationStatementIn, actions.medication_statement_record, "Record a current medicine"
)
_fact_route("immunizations", out.ImmunizationIn, actions.immunization_record, "Record an immunization")


class DayQuery(Schema):
    day: dt.date
    doctor_id: uuid.UUID | None = None


@router.get(
    "/clinics/{clinic_id}/visits",
    response=OK,
    operation_id="records_list_day",
    summary="The day's list: appointments with their visits, and walk-in visits, optionally for one doctor",
    **VIEW,
)
def list_day(request: HttpRequest, clinic_id: uuid.UUID, params: Query[DayQuery]):
    from shifa.tenancy.queries import clinic_doctor

    doctor = None
    if params.doctor_id is not None:
        doctor = clinic_doctor(request.actor.require_clinic(), params.doctor_id)
        if doctor is None:
            raise NotFound()
    rows = queries.doctor_day(actor=request.actor, day=params.day, doctor=doctor)
    language = _language(request)
    return {
        "items": [
            {
                "at": out._z(row["at"]),
                "patient": out.patient_out(row["patient"], language, identity=False),
                "doctor": out._user(row["doctor"]),
                "appointment": {
                    "id": str(row["appointment"].external_id),
                    "status": row["appointment"].status,
                    "visit_type": row["appointment"].visit_type,
                }
                if row["appointment"]
                else None,
                "visit": {
                    "id": str(row["visit"].external_id),
                    "is_committed": row["visit"].is_committed,
                }
                if row["visit"]
                else None,
            }
            for row in rows
        ]
    }


@router.post(
    "/clinics/{clinic_id}/visits",
    response={201: dict, 200: dict, **ERRORS},
    operation_id="records_open_visit",
    summary="Open the visit of an appointment (the same visit if already open), or a walk-in visit",
    **VITALS,
)
def open_visit(request: HttpRequest, clinic_id: uuid.UUID, payload: out.VisitOpenIn):
    def run():
        visit = actions.visit_open(actor=request.actor, **payload.dict())
        record = queries.clinic_visit(actor=request.actor, visit_id=visit.external_id, log=False)
        return 201, out.visit_out(record, _language(request))

    return Status(*once(request, run))


@router.get(
    "/clinics/{clinic_id}/visits/{visit_id}",
    response=OK,
    operation_id="records_get_visit",
    summary="One visit with everything written in it, and its amendments",
    **VIEW,
)
def get_visit(request: HttpRequest, clinic_id: uuid.UUID, visit_id: uuid.UUID):
    record = queries.clinic_visit(actor=request.actor, visit_id=visit_id)
    return out.visit_out(record, _language(request))


@router.patch(
    "/clinics/{clinic_id}/visits/{visit_id}",
    response=OK,
    operation_id="records_update_visit",
    summary="Write the complaint and notes (and, in an amendment, its reason)",
    **WRITE,
)
def update_visit(request: HttpRequest, clinic_id: uuid.UUID, visit_id: uuid.UUID, payload: out.VisitChangeIn):
    changes = payload.dict(exclude_unset=True)
    reason = changes.pop("amendment_reason", None)
    actions.visit_update(actor=request.actor, visit_id=visit_id, changes=changes)
    if reason is not None:
        actions.visit_amendment_reason_set(actor=request.actor, visit_id=visit_id, reason=reason)
    return _visit(request, visit_id)


@router.delete(
    "/clinics/{clinic_id}/visits/{visit_id}",
    response=GONE,
    operation_id="records_discard_visit",
    summary="Throw away a visit opened by mistake (empty), or an amendment in progress",
    **WRITE,
)
def discard_visit(request: HttpRequest, clinic_id: uuid.UUID, visit_id: uuid.UUID):
    actions.visit_discard(actor=request.actor, visit_id=visit_id)
    return Status(204, None)


@router.post(
    "/clinics/{clinic_id}/visits/{visit_id}/triage",
    response=OK,
    operation_id="records_triage_visit",
    summary="Set the visit's triage level",
    **VITALS,
)
def triage_visit(request: HttpRequest, clinic_id: uuid.UUID, visit_id: uuid.UUID, payload: out.TriageIn):
    actions.visit_triage(actor=request.actor, visit_id=visit_id, triage=payload.triage, note=payload.note)
    return _visit(request, visit_id)


@router.post(
    "/clinics/{clinic_id}/visits/{visit_id}/vitals",
    response=CREATED,
    operation_id="records_record_visit_vitals",
    summary="Record vital signs taken in the visit",
    **VITALS,
)
def record_visit_vitals(
    request: HttpRequest, clinic_id: uuid.UUID, visit_id: uuid.UUID, payload: out.VitalsIn
):
    def run():
        actions.vitals_record(
            actor=request.actor, visit_id=visit_id, readings=payload.readings, taken_at=payload.taken_at
        )
        return 201, _visit(request, visit_id).value

    return Status(*once(request, run))


def _part_routes(path: str, noun: str, model, add, summary: str, method: str = "post"):
    """POST (or PUT) …/visits/{visit_id}/<path> to add, DELETE …/<path>/{item_id} to take out again."""

    @getattr(router, method)(
        f"/clinics/{{clinic_id}}/visits/{{visit_id}}/{path}",
        response={201: dict, 200: dict, **ERRORS},
        operation_id=f"records_add_{noun}",
        summary=summary,
        **WRITE,
    )
    def create(request: HttpRequest, clinic_id: uuid.UUID, visit_id: uuid.UUID, payload: add.schema):
        def run():
            add(request.actor, visit_id, payload)
            return 201, _visit(request, visit_id).value

        return Status(*once(request, run))

    @router.delete(
        f"/clinics/{{clinic_id}}/visits/{{visit_id}}/{path}/{{item_id}}",
        response=OK,
        operation_id=f"records_remove_{noun}",
        summary=f"Take a {noun.replace('_', ' ')} out of a visit being written",
        **WRITE,
    )
    def remove(request: HttpRequest, clinic_id: uuid.UUID, visit_id: uuid.UUID, item_id: uuid.UUID):
        actions.visit_part_remove(actor=request.actor, model=model, part_id=item_id, visit_id=visit_id)
        return _visit(request, visit_id)

    create.__name__, remove.__name__ = f"add_{noun}", f"remove_{noun}"


def _adder(schema, call):
    def add(actor, visit_id, payload):
        return call(actor, visit_id, payload)

    add.schema = schema
    return add


_part_routes(
    "diagnoses",
    "diagnosis",
    VisitDiagnosis,
    _adder(out.DiagnosisIn, lambda a, v, p: actions.diagnosis_add(actor=a, visit_id=v, **p.dict())),
    "Add an ICD-9-CM diagnosis (primary or secondary)",
)


@router.patch(
    "/clinics/{clinic_id}/visits/{visit_id}/diagnoses/{item_id}",
    response=OK,
    operation_id="records_correct_diagnosis",
    summary="Correct a diagnosis of a visit being written (its code, rank or plain words)",
    **WRITE,
)
def correct_diagnosis(
    request: HttpRequest,
    clinic_id: uuid.UUID,
    visit_id: uuid.UUID,
    item_id: uuid.UUID,
    payload: out.DiagnosisPatch,
):
    actions.diagnosis_update(
        actor=request.actor, visit_id=visit_id, part_id=item_id, **payload.dict(exclude_unset=True)
    )
    return _visit(request, visit_id)


_part_routes(
    "prescriptions",
    "prescription",
    Prescription,
    _adder(out.PrescriptionIn, lambda a, v, p: actions.prescription_add(actor=a, visit_id=v, data=p.dict())),
    "Add a prescription line (checked against the patient's allergies)",
)
_part_routes(
    "orders",
    "order",
    Order,
    _adder(out.OrderIn, lambda a, v, p: actions.order_add(actor=a, visit_id=v, **p.dict())),
    "Order a lab test or an imaging study",
)
_part_routes(
    "referrals",
    "referral",
    Referral,
    _adder(out.ReferralIn, lambda a, v, p: actions.referral_add(actor=a, visit_id=v, **p.dict())),
    "Refer the patient to a clinic, a doctor or a specialty",
)
_part_routes(
    "sick-leave",
    "sick_leave",
    SickLeave,
    _adder(out.SickLeaveIn, lambda a, v, p: actions.sick_leave_set(actor=a, visit_id=v, **p.dict())),
    "Give (or change) the visit's sick leave",
    method="put",
)


@router.post(
    "/clinics/{clinic_id}/visits/{visit_id}/commit",
    response=OK,
    operation_id="records_commit_visit",
    summary="Commit the visit: from then on it cannot be changed, only amended",
    **COMMIT,
)
def commit_visit(request: HttpRequest, clinic_id: uuid.UUID, visit_id: uuid.UUID):
    actions.visit_commit(actor=request.actor, visit_id=visit_id)
    return _visit(request, visit_id)


@router.post(
    "/clinics/{clinic_id}/visits/{visit_id}/amendments",
    response=CREATED,
    operation_id="records_amend_visit",
    summary="Start an amendment of a committed visit (a copy to correct and commit); the same one while open",
    **COMMIT,
)
def amend_visit(request: HttpRequest, clinic_id: uuid.UUID, visit_id: uuid.UUID, payload: out.AmendIn):
    amendment = actions.visit_amend(actor=request.actor, visit_id=visit_id, reason=payload.reason)
    return _visit(request, amendment.external_id, 201)


@router.post(
    "/clinics/{clinic_id}/orders/{order_id}/results",
    response=CREATED,
    operation_id="records_add_result",
    summary="Attach structured result values and/or a report to an order",
    **RESULTS,
)
def add_result(request: HttpRequest, clinic_id: uuid.UUID, order_id: uuid.UUID, payload: out.ResultIn):
    def run():
        result = actions.result_record(
            actor=request.actor,
            order_id=order_id,
            values=[v.dict() for v in payload.values],
            summary=payload.summary,
            amends_id=payload.amends,
        )
        return 201, out.result_out(result)

    return Status(*once(request, run))


@router.post(
    "/clinics/{clinic_id}/orders/{order_id}/results/file",
    response=CREATED,
    operation_id="records_add_result_file",
    summary="Attach a result report file (PDF, JPEG or PNG, up to 20 MB) to an order",
    **RESULTS,
)
def add_result_file(
    request: HttpRequest,
    clinic_id: uuid.UUID,
    order_id: uuid.UUID,
    file: File[UploadedFile],
    summary: Form[str] = "",
):
    def run():
        result = actions.result_record(actor=request.actor, order_id=order_id, summary=summary, upload=file)
        return 201, out.result_out(result)

    return Status(*once(request, run))


@router.get(
    "/clinics/{clinic_id}/results/{result_id}/file",
    response={200: None, **ERRORS},
    operation_id="records_download_result",
    summary="Download a result's report file",
    **VIEW,
)
def download_result(request: HttpRequest, clinic_id: uuid.UUID, result_id: uuid.UUID):
    result = queries.result_file(actor=request.actor, result_id=result_id)
    return _file_response(result)


def _file_response(result) -> FileResponse:
    response = FileResponse(
        result.file.open("rb"),
        content_type=result.content_type,
        as_attachment=True,
        filename=result.file_name,
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.post(
    "/clinics/{clinic_id}/visits/{visit_id}/documents",
    response={202: dict, **ERRORS},
    operation_id="records_request_document",
    summary="Ask for the committed visit's prescription, referral letter, sick leave or order sheet as a PDF",
    **WRITE,
)
def request_visit_document(
    request: HttpRequest, clinic_id: uuid.UUID, visit_id: uuid.UUID, payload: out.DocumentAskIn
):
    document = actions.visit_document_request(actor=request.actor, visit_id=visit_id, **payload.dict())
    return Status(202, out.document_out(document))


@router.get(
    "/clinics/{clinic_id}/visits/{visit_id}/documents",
    response=OK,
    operation_id="records_list_visit_documents",
    summary="The documents made for a visit (download them from the documents endpoints)",
    **VIEW,
)
def list_visit_documents(request: HttpRequest, clinic_id: uuid.UUID, visit_id: uuid.UUID):
    return {
        "items": [
            out.document_out(d) for d in queries.visit_documents(actor=request.actor, visit_id=visit_id)
        ]
    }

"""The Hakeem sync consoles' API (HK-1, HK-2): the platform's monitor (counts, the records not yet acknowledged,
sending one record or a clinic's failed records again) and a clinic's own view (its records' sync states, its
third-party orders). The monitor shows no patient and nothing clinical: it is a technical view."""

from __future__ import annotations

import datetime as dt
import uuid

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from shifa.access.declare import operation
from shifa.core.schemas import ERRORS, ProblemOut

from . import actions, fhir, policies, queries
from .models import SyncRecord, SyncState, ThirdPartyOrder

router = Router(tags=["hakeem"])
MONITOR = operation("hakeem.monitor")
VIEW = operation("hakeem.view_sync")
WRITE_ERRORS = {**ERRORS, 409: ProblemOut}
STATE = Field(
    None,
    pattern="^(unfinished|all|pending|sending|acknowledged|failed)$",
    description="One state, unfinished (not yet acknowledged) or all",
)


class Named(Schema):
    id: uuid.UUID
    name: str


class CountsOut(Schema):
    pending: int
    sending: int
    acknowledged: int
    failed: int
    total: int


class ClinicCountsOut(Schema):
    clinic: Named
    counts: CountsOut


class SyncCountsOut(Schema):
    counts: CountsOut
    clinics: list[ClinicCountsOut] = Field(..., description="Clinics with records, those with failures first")


class IdentifierOut(Schema):
    system: str = Field(..., examples=["https://shifa.jo/fhir/id/diagnosis"])
    value: str


class RecordOut(Schema):
    id: uuid.UUID
    kind: str = Field(..., examples=["diagnosis"])
    resource_type: str = Field(..., examples=["Condition"])
    identifier: IdentifierOut = Field(..., description="Our identifier of the resource on Hakeem")
    state: str = Field(..., examples=["failed"], description="pending, sending, acknowledged or failed")
    attempts: int = Field(..., description="Failed tries since the last acknowledgement")
    queued_at: dt.datetime
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    acknowledged_at: dt.datetime | None
    last_error: str
    remote_id: str | None = Field(None, examples=["Condition/123"], description="The resource on Hakeem")


class MonitorRecordOut(RecordOut):
    clinic: Named


class MonitorRecordPage(Schema):
    items: list[MonitorRecordOut]
    next_cursor: str | None


class ClinicRecordOut(RecordOut):
    patient: Named
    visit_id: uuid.UUID | None = Field(None, description="For an Encounter: the (original) visit")


class ClinicRecordPage(Schema):
    items: list[ClinicRecordOut]
    next_cursor: str | None


class ClinicRetryOut(Schema):
    clinic: Named
    queued: int = Field(..., description="Failed records made due now; a job sends them")


class MonitorQuery(Schema):
    state: str | None = STATE
    clinic_id: uuid.UUID | None = None
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


class ClinicRecordQuery(Schema):
    patient_id: uuid.UUID | None = None
    visit_id: uuid.UUID | None = None
    state: str | None = STATE
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


class FacilityOut(Schema):
    id: uuid.UUID
    code: str
    name: str


class ThirdPartyOrderOut(Schema):
    id: uuid.UUID
    kind: str = Field(..., examples=["order_task"], description="order_task or prescription_task")
    description: str
    patient: Named
    visit_id: uuid.UUID = Field(..., description="The (original) visit that ordered it")
    facility: FacilityOut
    status: str = Field(
        ..., examples=["in-progress"], description="The FHIR task status the facility reports"
    )
    business_status: str = Field(..., description="The facility's note")
    status_changed_at: dt.datetime | None
    checked_at: dt.datetime | None
    withdrawn: bool = Field(..., description="Taken out by an amendment of the visit")
    ordered_at: dt.datetime


class ThirdPartyOrderPage(Schema):
    items: list[ThirdPartyOrderOut]
    next_cursor: str | None


class OrderQuery(Schema):
    status: str | None = Field(
        None,
        pattern="^(all|open|closed|requested|received|accepted|rejected|in-progress|on-hold|completed|cancelled|failed)$",
        description="A task status, open, closed or all",
    )
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


# --- answers ----------------------------------------------------------------------------------------------------


def _language(request: HttpRequest) -> str:
    return getattr(request, "LANGUAGE_CODE", "en") or "en"


def counts_out(counts: dict[str, int]) -> dict:
    return {**{state: counts.get(state, 0) for state in SyncState.values}, "total": sum(counts.values())}


def record_out(record: SyncRecord) -> dict:
    """What the monitor and a clinic both see of a record (nothing clinical)."""
    return {
        "id": record.external_id,
        "kind": record.kind,
        "resource_type": record.resource_type,
        "identifier": {
            "system": fhir.ID_SYSTEM + actions.IDENTIFIER_KINDS[record.kind],
            "value": str(record.key),
        },
        "state": record.state,
        "attempts": record.attempts,
        "queued_at": record.created_at,
        "last_attempt_at": record.last_attempt_at,
        "next_attempt_at": record.next_attempt_at,
        "acknowledged_at": record.acknowledged_at,
        "last_error": record.last_error,
        "remote_id": record.remote_id or None,
    }


def monitor_record_out(record: SyncRecord, language: str) -> dict:
    clinic = record.clinic
    return {**record_out(record), "clinic": {"id": clinic.external_id, "name": clinic.display_name(language)}}


def clinic_record_out(record: SyncRecord) -> dict:
    return {
        **record_out(record),
        "patient": {"id": record.patient.external_id, "name": record.patient.full_name},
        "visit_id": queries.record_visit_key(record),
    }


def order_out(order: ThirdPartyOrder, language: str) -> dict:
    return {
        "id": order.external_id,
        "kind": order.kind,
        "description": order.description,
        "patient": {"id": order.patient.external_id, "name": order.patient.full_name},
        "visit_id": order.visit.external_id,
        "facility": {
            "id": order.facility.external_id,
            "code": order.facility.code,
            "name": order.facility.display_name(language),
        },
        "status": order.status,
        "business_status": order.business_status,
        "status_changed_at": order.status_changed_at,
        "checked_at": order.checked_at,
        "withdrawn": order.withdrawn,
        "ordered_at": order.created_at,
    }


# --- the platform's monitor -------------------------------------------------------------------------------------


@router.get(
    "/platform/hakeem/sync",
    response={200: SyncCountsOut, **ERRORS},
    operation_id="hakeem_get_sync_counts",
    summary="How many records every clinic owes Hakeem, by state (waiting, being sent, acknowledged, failed)",
    **MONITOR,
)
def get_sync_counts(request: HttpRequest):
    found = queries.monitor_counts(actor=request.actor)
    language = _language(request)
    return {
        "counts": counts_out(found.counts),
        "clinics": [
            {
                "clinic": {"id": row.clinic.external_id, "name": row.clinic.display_name(language)},
                "counts": counts_out(row.counts),
            }
            for row in found.clinics
        ],
    }


@router.get(
    "/platform/hakeem/sync/records",
    response={200: MonitorRecordPage, **ERRORS},
    operation_id="hakeem_list_sync_records",
    summary="Records not yet acknowledged by Hakeem (or in one state), of every clinic or one, "
    "most recently tried first; no patient data",
    **MONITOR,
)
def list_sync_records(request: HttpRequest, params: Query[MonitorQuery]):
    page = queries.monitor_record_list(
        actor=request.actor,
        state=params.state,
        clinic_id=params.clinic_id,
        cursor=params.cursor,
        limit=params.limit,
    )
    language = _language(request)
    return {"items": [monitor_record_out(r, language) for r in page.items], "next_cursor": page.next_cursor}


@router.post(
    "/platform/hakeem/sync/records/{record_id}/retry",
    response={200: MonitorRecordOut, **WRITE_ERRORS},
    operation_id="hakeem_retry_sync_record",
    summary="Send a failed (or waiting) record again now, with whatever else its patient owes; "
    "409 if Hakeem acknowledged it already",
    **MONITOR,
)
def retry_sync_record(request: HttpRequest, record_id: uuid.UUID):
    record = queries.monitor_record(actor=request.actor, record_id=record_id)
    policies.require_retryable(record)
    actions.record_retry(actor=request.actor, record_id=record_id)
    return monitor_record_out(
        queries.monitor_record(actor=request.actor, record_id=record_id), _language(request)
    )


@router.post(
    "/platform/hakeem/sync/clinics/{managed_clinic_id}/retry",
    response={202: ClinicRetryOut, **ERRORS},
    operation_id="hakeem_retry_clinic_sync",
    summary="Make every failed record of a clinic due now; a job sends them, patient by patient",
    **MONITOR,
)
def retry_clinic_sync(request: HttpRequest, managed_clinic_id: uuid.UUID):
    clinic = queries.monitor_clinic(actor=request.actor, clinic_id=managed_clinic_id)
    queued = actions.clinic_retry(actor=request.actor, clinic_id=managed_clinic_id)
    return Status(
        202,
        {
            "clinic": {"id": clinic.external_id, "name": clinic.display_name(_language(request))},
            "queued": queued,
        },
    )


# --- a clinic's own ---------------------------------------------------------------------------------------------


@router.get(
    "/clinics/{clinic_id}/hakeem/records",
    response={200: ClinicRecordPage, **ERRORS},
    operation_id="hakeem_list_clinic_records",
    summary="The clinic's records sent (or to be sent) to Hakeem with their sync state, newest first; "
    "of one patient or one visit",
    **VIEW,
)
def list_clinic_records(request: HttpRequest, clinic_id: uuid.UUID, params: Query[ClinicRecordQuery]):
    page = queries.clinic_record_list(
        actor=request.actor,
        patient_id=params.patient_id,
        visit_id=params.visit_id,
        state=params.state,
        cursor=params.cursor,
        limit=params.limit,
    )
    return {"items": [clinic_record_out(r) for r in page.items], "next_cursor": page.next_cursor}


@router.get(
    "/clinics/{clinic_id}/hakeem/third-party-orders",
    response={200: ThirdPartyOrderPage, **ERRORS},
    operation_id="hakeem_list_third_party_orders",
    summary="The clinic's orders and prescriptions to be fulfilled at Hakeem facilities, with the status each "
    "facility reports, newest first",
    **VIEW,
)
def list_third_party_orders(request: HttpRequest, clinic_id: uuid.UUID, params: Query[OrderQuery]):
    page = queries.third_party_order_list(
        actor=request.actor, status=params.status, cursor=params.cursor, limit=params.limit
    )
    language = _language(request)
    return {"items": [order_out(o, language) for o in page.items], "next_cursor": page.next_cursor}

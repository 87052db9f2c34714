"""Importing a patient's history from Hakeem (HK-3): start one with the patient's consent, see how they went."""

from __future__ import annotations

import uuid

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from shifa.access.declare import operation
from shifa.core import timezones
from shifa.core.idempotency import once
from shifa.core.schemas import ERRORS, ProblemOut
from shifa.integrations.hakeem.models import ImportState

from . import actions, queries, summary

router = Router(tags=["hakeem"])
IMPORT = operation("hakeem.import_history")
_PATH = "/clinics/{clinic_id}/patients/{patient_id}/hakeem-imports"


class ImportIn(Schema):
    consent: bool = Field(
        False,
        description="The patient agreed, in person, to import their history from Hakeem into their record",
    )


def _z(value):
    return timezones.isoformat_z(value) if value else None


def _progress_out(row) -> dict | None:
    """A running import's step (empty while it waits for the worker) and, while filing, resources gone through."""
    shown = summary.progress(row)
    if shown is None:
        return None
    return {"step": shown["step"] or "waiting", "done": shown["value"], "total": shown["max"]}


def import_out(row, *, names: bool) -> dict:
    """One import. ``names``: what was left out is listed by name (for those who may read the chart)."""
    data = row.summary or {}
    failed = row.state == ImportState.FAILED
    return {
        "id": str(row.external_id),
        "state": row.state,
        "consent": row.consent,
        "consented_at": _z(row.consented_at),
        "requested_by": {"id": str(row.requested_by.external_id), "name": row.requested_by.full_name},
        "requested_at": _z(row.created_at),
        "finished_at": _z(row.finished_at),
        "found": data.get("found") if row.state == ImportState.DONE else None,
        "counts": summary.kind_counts(data),
        "left_out": [
            {**entry, "reason_text": summary.reason_text(entry.get("reason", ""))}
            for entry in data.get("left_out") or []
        ]
        if names
        else [],
        "summary": summary.lines(row, names=names),
        "progress": _progress_out(row),
        "error": {"code": data.get("error_code", summary.BROKEN), "detail": row.error} if failed else None,
    }


@router.post(
    _PATH,
    response={202: dict, **ERRORS, 409: ProblemOut},
    operation_id="hakeem_start_history_import",
    summary="Import the patient's history from Hakeem (by national ID, with their consent); runs in the background",
    **IMPORT,
)
def start_import(request: HttpRequest, clinic_id: uuid.UUID, patient_id: uuid.UUID, payload: ImportIn):
    def run():
        row = actions.history_import_start(
            actor=request.actor, patient_id=patient_id, consent=payload.consent
        )
        return 202, import_out(row, names=queries.reads_clinical_content(request.actor))

    return Status(*once(request, run))


@router.get(
    _PATH,
    response={200: dict, **ERRORS},
    operation_id="hakeem_list_history_imports",
    summary="The clinic's latest imports of the patient's history from Hakeem, with how each went",
    **IMPORT,
)
def list_imports(request: HttpRequest, clinic_id: uuid.UUID, patient_id: uuid.UUID):
    _patient, rows = queries.history_imports(actor=request.actor, patient_id=patient_id)
    names = queries.reads_clinical_content(request.actor)
    return {"items": [import_out(r, names=names) for r in rows]}

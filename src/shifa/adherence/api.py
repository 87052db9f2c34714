"""The patient's medication reminders (CP-3): the day's doses, marking them taken or skipped, adherence."""

import datetime as dt
import uuid

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from shifa.access.declare import operation
from shifa.core import timezones
from shifa.core.schemas import ERRORS

from . import actions, queries

router = Router(tags=["medication reminders"])
OWN = operation("adherence.manage_own_doses")


class DayQuery(Schema):
    patient_id: uuid.UUID | None = None
    day: dt.date | None = Field(None, description="Local day; today when left out")


class AnswerIn(Schema):
    status: str = Field(..., pattern="^(taken|skipped)$")


def dose_out(dose, zone: str, language: str) -> dict:
    line = dose.schedule.prescription
    return {
        "id": str(dose.external_id),
        "due_at": timezones.isoformat_z(dose.due_at),
        "local_time": f"{timezones.to_local(dose.due_at, zone):%H:%M}",
        "status": dose.status,
        "medication": {"code": line.medication.code, "name": line.medication.display_name(language)},
        "strength": line.strength,
        "dose": f"{line.dose.normalize():f}",
        "dose_unit": line.dose_unit,
    }


@router.get(
    "/me/doses",
    response={200: dict, **ERRORS},
    operation_id="adherence_list_my_doses",
    summary="My (or a dependant's) doses of one local day, and adherence over the last 30 days",
    **OWN,
)
def list_my_doses(request: HttpRequest, params: Query[DayQuery]):
    patient, zone, day, doses, adherence = queries.my_doses(
        actor=request.actor, patient_id=params.patient_id, day=params.day
    )
    language = getattr(request, "LANGUAGE_CODE", "en")
    return {
        "patient_id": str(patient.external_id),
        "zone": zone,
        "day": day.isoformat(),
        "items": [dose_out(d, zone, language) for d in doses],
        "adherence": {
            "days": 30,
            "taken": adherence.taken,
            "skipped": adherence.skipped,
            "missed": adherence.missed,
            "percent": adherence.percent,
        },
    }


@router.post(
    "/me/doses/{dose_id}/answer",
    response={200: dict, **ERRORS},
    operation_id="adherence_answer_dose",
    summary="Mark a dose taken or skipped (from an hour before its time to two days after)",
    **OWN,
)
def answer_dose(request: HttpRequest, dose_id: uuid.UUID, payload: AnswerIn):
    dose = actions.dose_answer(actor=request.actor, dose_id=dose_id, status=payload.status)
    return dose_out(dose, dose.schedule.zone, getattr(request, "LANGUAGE_CODE", "en"))

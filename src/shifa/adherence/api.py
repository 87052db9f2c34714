"""Medication reminders (CP-3), home readings and their alerts (CP-4), devices (CP-5): the patient's side (doses,
their times, adherence, readings, devices), the device's own ingestion endpoint, and the clinic's (alerts,
a patient's adherence, stopping a prescription)."""

import datetime as dt
import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import AwareDatetime

from shifa.access.declare import operation
from shifa.core import timezones
from shifa.core.errors import NotAuthenticated
from shifa.core.idempotency import once
from shifa.core.schemas import ERRORS

from . import actions, queries

router = Router(tags=["medication reminders"])
OWN = operation("adherence.manage_own_doses")
OWN_VITALS = operation("adherence.record_own_vitals")
VIEW = operation("records.view_chart")
VITALS = operation("records.record_vitals")
COMMIT = operation("records.commit_visit")
OK = {200: dict, **ERRORS}
CREATED = {201: dict, **ERRORS}
GONE = {204: None, **ERRORS}
DEVICE_SECRET = "X-Device-Secret"


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


def _language(request: HttpRequest) -> str:
    return getattr(request, "LANGUAGE_CODE", "en")


def adherence_out(found, language: str) -> dict:
    return {
        "patient_id": str(found.patient.external_id),
        "zone": found.zone,
        "days": 30,
        "taken": found.summary.taken,
        "skipped": found.summary.skipped,
        "missed": found.summary.missed,
        "percent": found.summary.percent,
        "by_day": [
            {
                "day": d.day.isoformat(),
                "taken": d.taken,
                "skipped": d.skipped,
                "missed": d.missed,
                "percent": d.percent,
            }
            for d in found.days
        ],
        "schedules": [schedule_out(s, language) for s in found.schedules],
    }


def schedule_out(plan, language: str) -> dict:
    line = plan.prescription
    return {
        "id": str(plan.external_id),
        "medication": {"code": line.medication.code, "name": line.medication.display_name(language)},
        "strength": line.strength,
        "dose": f"{line.dose.normalize():f}",
        "dose_unit": line.dose_unit,
        "frequency": line.frequency,
        "timing": line.timing,
        "times": plan.times,
        "zone": plan.zone,
        "status": plan.status,
        "clinic": {"id": str(plan.clinic.external_id), "name": plan.clinic.display_name(language)},
    }


class PatientQuery(Schema):
    patient_id: uuid.UUID | None = None


@router.get(
    "/me/adherence",
    response=OK,
    operation_id="adherence_get_my_adherence",
    summary="My (or a dependant's) adherence over 30 days, day by day, and the medicines being reminded",
    **OWN,
)
def get_my_adherence(request: HttpRequest, params: Query[PatientQuery]):
    found = queries.my_adherence(actor=request.actor, patient_id=params.patient_id)
    return adherence_out(found, _language(request))


class TimesIn(Schema):
    times: list[str] = Field(..., max_length=24, examples=[["07:30", "19:30"]])


@router.put(
    "/me/dose-schedules/{schedule_id}",
    response=OK,
    operation_id="adherence_set_my_dose_times",
    summary="Move the times of day of a medicine's reminders, within the prescription",
    **OWN,
)
def set_my_dose_times(request: HttpRequest, schedule_id: uuid.UUID, payload: TimesIn):
    plan = actions.schedule_times_set(actor=request.actor, schedule_id=schedule_id, times=payload.times)
    return schedule_out(plan, _language(request))


def reading_out(row, language: str) -> dict:
    from shifa.records.schemas import vital_out

    return vital_out(row, language)


class ReadingsQuery(Schema):
    patient_id: uuid.UUID | None = None
    code: str = Field(..., max_length=10, description="LOINC code of the vital sign")


class ReadingsIn(Schema):
    patient_id: uuid.UUID | None = None
    readings: dict[str, Any] = Field(
        ..., description="LOINC code → value", examples=[{"8480-6": 128, "8462-4": 82}]
    )
    taken_at: AwareDatetime | None = None


@router.get(
    "/me/readings",
    response=OK,
    operation_id="adherence_list_my_readings",
    summary="One vital sign over time in my (or a dependant's) record, at clinics and at home, oldest first",
    **OWN_VITALS,
)
def list_my_readings(request: HttpRequest, params: Query[ReadingsQuery]):
    patient, rows = queries.my_readings(actor=request.actor, patient_id=params.patient_id, code=params.code)
    language = _language(request)
    return {"patient_id": str(patient.external_id), "items": [reading_out(r, language) for r in rows]}


@router.post(
    "/me/readings",
    response=CREATED,
    operation_id="adherence_record_my_readings",
    summary="Record vital signs taken at home; values outside a care plan's limits alert the care team",
    **OWN_VITALS,
)
def record_my_readings(request: HttpRequest, payload: ReadingsIn):
    def run():
        rows = actions.readings_record(
            actor=request.actor,
            patient_id=payload.patient_id,
            readings=payload.readings,
            taken_at=payload.taken_at,
        )
        return 201, {"items": [reading_out(r, _language(request)) for r in rows]}

    return Status(*once(request, run))


def device_out(device, secret: str | None = None) -> dict:
    data = {
        "id": str(device.external_id),
        "kind": device.kind,
        "name": device.name,
        "status": device.status,
        "patient_id": str(device.patient.external_id),
        "last_seen_at": timezones.isoformat_z(device.last_seen_at) if device.last_seen_at else None,
        "mqtt_topics": {
            "readings": f"devices/{device.external_id}/readings",
            "doses": f"devices/{device.external_id}/doses",
            "replies": f"devices/{device.external_id}/replies",
        },
        "https": {
            "readings": f"/api/v1/devices/{device.external_id}/readings",
            "doses": f"/api/v1/devices/{device.external_id}/doses",
            "header": DEVICE_SECRET,
        },
    }
    if secret is not None:
        data["secret"] = secret
    return data


class DeviceIn(Schema):
    patient_id: uuid.UUID | None = None
    kind: str = Field(..., max_length=12, examples=["bp_cuff"])
    name: str = Field("", max_length=120)


@router.get(
    "/me/devices",
    response=OK,
    operation_id="adherence_list_my_devices",
    summary="My (or a dependant's) devices",
    **OWN_VITALS,
)
def list_my_devices(request: HttpRequest, params: Query[PatientQuery]):
    patient, devices = queries.my_devices(actor=request.actor, patient_id=params.patient_id)
    return {"patient_id": str(patient.external_id), "items": [device_out(d) for d in devices]}


@router.post(
    "/me/devices",
    response=CREATED,
    operation_id="adherence_register_device",
    summary="Register a device; the answer holds its secret, shown only this once",
    **OWN_VITALS,
)
def register_device(request: HttpRequest, payload: DeviceIn):
    device, secret = actions.device_register(actor=request.actor, **payload.dict())
    return Status(201, device_out(device, secret))


@router.delete(
    "/me/devices/{device_id}",
    response=GONE,
    operation_id="adherence_remove_device",
    summary="Remove a device: its secret stops working; what it sent stays in the record",
    **OWN_VITALS,
)
def remove_device(request: HttpRequest, device_id: uuid.UUID):
    actions.device_revoke(actor=request.actor, device_id=device_id)
    return Status(204, None)


def _device_post(channel: str, summary: str):
    @router.post(
        f"/devices/{{device_id}}/{channel}",
        response=CREATED,
        operation_id=f"adherence_device_{channel}",
        summary=summary,
        **operation(public=True, auth=None),
    )
    def ingest(request: HttpRequest, device_id: uuid.UUID):
        device = actions.device_authenticate(device_id, request.headers.get(DEVICE_SECRET, ""))
        if device is None:
            raise NotAuthenticated(code="device_not_recognised")
        payload = actions.device_payload(request.body)
        return Status(201, actions.device_message(device=device, channel=channel, payload=payload))

    return ingest


device_readings = _device_post(
    "readings",
    f"A device files vital signs for its patient (header {DEVICE_SECRET}); the same body as over MQTT",
)
device_doses = _device_post(
    "doses", f"A pill box confirms the doses taken when it was opened (header {DEVICE_SECRET})"
)


# --- the clinic ---------------------------------------------------------------------------------------------------


def alert_out(alert, language: str) -> dict:
    reading = alert.reading
    return {
        "id": str(alert.external_id),
        "patient": {"id": str(alert.patient.external_id), "name": alert.patient.display_name(language)},
        "plan": {"id": str(alert.plan.external_id), "title": alert.plan.title},
        "reading": reading_out(reading, language),
        "flag": alert.flag,
        "low": f"{alert.low.normalize():f}" if alert.low is not None else None,
        "high": f"{alert.high.normalize():f}" if alert.high is not None else None,
        "created_at": timezones.isoformat_z(alert.created_at),
        "acknowledged_at": timezones.isoformat_z(alert.acknowledged_at) if alert.acknowledged_at else None,
    }


class AlertsQuery(Schema):
    all: bool = Field(False, description="Include acknowledged alerts")


@router.get(
    "/clinics/{clinic_id}/alerts",
    response=OK,
    operation_id="adherence_list_alerts",
    summary="Home readings of the clinic's care plan patients outside their limits, newest first",
    **VIEW,
)
def list_alerts(request: HttpRequest, clinic_id: uuid.UUID, params: Query[AlertsQuery]):
    language = _language(request)
    return {
        "items": [
            alert_out(a, language)
            for a in queries.clinic_alerts(actor=request.actor, open_only=not params.all)
        ]
    }


@router.post(
    "/clinics/{clinic_id}/alerts/{alert_id}/acknowledge",
    response=OK,
    operation_id="adherence_acknowledge_alert",
    summary="Mark an alert seen and acted on",
    **VITALS,
)
def acknowledge_alert(request: HttpRequest, clinic_id: uuid.UUID, alert_id: uuid.UUID):
    alert = actions.alert_acknowledge(actor=request.actor, alert_id=alert_id)
    return alert_out(alert, _language(request))


@router.get(
    "/clinics/{clinic_id}/patients/{patient_id}/adherence",
    response=OK,
    operation_id="adherence_get_patient_adherence",
    summary="A patient's medication adherence over 30 days, day by day, and the medicines being reminded",
    **VIEW,
)
def get_patient_adherence(request: HttpRequest, clinic_id: uuid.UUID, patient_id: uuid.UUID):
    found = queries.patient_adherence(actor=request.actor, patient_id=patient_id)
    return adherence_out(found, _language(request))


class StopIn(Schema):
    reason: str = Field("", max_length=300)


@router.post(
    "/clinics/{clinic_id}/prescriptions/{prescription_id}/stop",
    response=OK,
    operation_id="adherence_stop_prescription",
    summary="Stop a committed prescription line: its reminders end and the doses still to come are cancelled",
    **COMMIT,
)
def stop_prescription(
    request: HttpRequest, clinic_id: uuid.UUID, prescription_id: uuid.UUID, payload: StopIn
):
    stopped = actions.prescription_stop(
        actor=request.actor, prescription_id=prescription_id, reason=payload.reason
    )
    return {"stopped": stopped}

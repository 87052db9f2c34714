"""The clinic's opening hours, closures, and its doctors' hours and time off."""

from __future__ import annotations

import datetime as dt
import uuid

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status
from pydantic import AwareDatetime

from shifa.access.declare import operation
from shifa.core.schemas import ERRORS

from . import actions, queries

router = Router(tags=["scheduling"])
CONFIGURE = operation("clinic.configure")


class Interval(Schema):
    start: dt.time = Field(..., examples=["08:30"])
    end: dt.time = Field(..., examples=["13:00"])


class Day(Schema):
    weekday: int = Field(..., ge=0, le=6, description="0 Monday … 6 Sunday")
    intervals: list[Interval] = Field(default_factory=list, max_length=12)


class WeekIn(Schema):
    days: list[Day] = Field(..., max_length=7)


class WeekOut(Schema):
    days: list[Day]


class ClosureIn(Schema):
    starts_on: dt.date
    ends_on: dt.date
    reason: str = Field("", max_length=200)


class ClosureOut(Schema):
    id: uuid.UUID = Field(..., alias="external_id")
    starts_on: dt.date
    ends_on: dt.date
    reason: str


class TimeOffIn(Schema):
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    reason: str = Field("", max_length=200)


class TimeOffOut(Schema):
    id: uuid.UUID = Field(..., alias="external_id")
    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: str


def _week(payload: WeekIn) -> dict[int, list[tuple[dt.time, dt.time]]]:
    return {day.weekday: [(i.start, i.end) for i in day.intervals] for day in payload.days}


def _week_out(week: dict, start: str, end: str) -> dict:
    return {
        "days": [
            {
                "weekday": day,
                "intervals": [{"start": getattr(i, start), "end": getattr(i, end)} for i in intervals],
            }
            for day, intervals in week.items()
        ]
    }


@router.get(
    "/clinics/{clinic_id}/opening-hours",
    response={200: WeekOut, **ERRORS},
    operation_id="scheduling_get_opening_hours",
    summary="The clinic's weekly opening hours (local time; gaps are breaks)",
    **operation("tenancy.view_clinic"),
)
def get_opening_hours(request: HttpRequest, clinic_id: uuid.UUID):
    return _week_out(queries.clinic_week(actor=request.actor), "opens", "closes")


@router.put(
    "/clinics/{clinic_id}/opening-hours",
    response={200: WeekOut, **ERRORS},
    operation_id="scheduling_set_opening_hours",
    summary="Replace the clinic's weekly opening hours",
    **CONFIGURE,
)
def set_opening_hours(request: HttpRequest, clinic_id: uuid.UUID, payload: WeekIn):
    actions.clinic_hours_set(actor=request.actor, week=_week(payload))
    return _week_out(queries.clinic_week(actor=request.actor), "opens", "closes")


@router.get(
    "/clinics/{clinic_id}/closures",
    response={200: list[ClosureOut], **ERRORS},
    operation_id="scheduling_list_closures",
    summary="Days the clinic is closed",
    **operation("tenancy.view_clinic"),
)
def list_closures(request: HttpRequest, clinic_id: uuid.UUID):
    return queries.closure_list(actor=request.actor)


@router.post(
    "/clinics/{clinic_id}/closures",
    response={201: ClosureOut, **ERRORS},
    operation_id="scheduling_add_closure",
    summary="Close the clinic for some days (a holiday)",
    **CONFIGURE,
)
def add_closure(request: HttpRequest, clinic_id: uuid.UUID, payload: ClosureIn):
    return Status(201, actions.closure_add(actor=request.actor, **payload.dict()))


@router.delete(
    "/clinics/{clinic_id}/closures/{closure_id}",
    response={204: None, **ERRORS},
    operation_id="scheduling_remove_closure",
    summary="Remove a closure",
    **CONFIGURE,
)
def remove_closure(request: HttpRequest, clinic_id: uuid.UUID, closure_id: uuid.UUID):
    actions.closure_remove(actor=request.actor, closure_id=closure_id)
    return HttpResponse(status=204)


@router.put(
    "/clinics/{clinic_id}/doctors/{doctor_id}/hours",
    response={200: WeekOut, **ERRORS},
    operation_id="scheduling_set_doctor_hours",
    summary="Replace a doctor's weekly hours here (within the clinic's opening hours)",
    **CONFIGURE,
)
def set_doctor_hours(request: HttpRequest, clinic_id: uuid.UUID, doctor_id: uuid.UUID, payload: WeekIn):
    intervals = actions.doctor_hours_set(actor=request.actor, doctor_id=doctor_id, week=_week(payload))
    return _week_out(queries.by_weekday(intervals), "starts", "ends")


@router.post(
    "/clinics/{clinic_id}/doctors/{doctor_id}/time-off",
    response={201: TimeOffOut, **ERRORS},
    operation_id="scheduling_add_time_off",
    summary="Record a doctor's time off",
    **CONFIGURE,
)
def add_time_off(request: HttpRequest, clinic_id: uuid.UUID, doctor_id: uuid.UUID, payload: TimeOffIn):
    return Status(201, actions.time_off_add(actor=request.actor, doctor_id=doctor_id, **payload.dict()))


def _doctor(request: HttpRequest, doctor_id: uuid.UUID):
    from shifa.core.errors import NotFound
    from shifa.tenancy.queries import clinic_doctor

    doctor = clinic_doctor(request.actor.require_clinic(), doctor_id)
    if doctor is None:
        raise NotFound()
    return doctor


@router.get(
    "/clinics/{clinic_id}/doctors/{doctor_id}/hours",
    response={200: WeekOut, **ERRORS},
    operation_id="scheduling_get_doctor_hours",
    summary="A doctor's weekly hours here (local time)",
    **operation("tenancy.view_clinic"),
)
def get_doctor_hours(request: HttpRequest, clinic_id: uuid.UUID, doctor_id: uuid.UUID):
    week = queries.doctor_week(actor=request.actor, doctor=_doctor(request, doctor_id))
    return _week_out(week, "starts", "ends")


@router.get(
    "/clinics/{clinic_id}/doctors/{doctor_id}/time-off",
    response={200: list[TimeOffOut], **ERRORS},
    operation_id="scheduling_list_time_off",
    summary="A doctor's recorded time off here",
    **operation("tenancy.view_clinic"),
)
def list_time_off(request: HttpRequest, clinic_id: uuid.UUID, doctor_id: uuid.UUID):
    return queries.time_off_list(actor=request.actor, doctor=_doctor(request, doctor_id))


@router.delete(
    "/clinics/{clinic_id}/doctors/{doctor_id}/time-off/{time_off_id}",
    response={204: None, **ERRORS},
    operation_id="scheduling_remove_time_off",
    summary="Remove a doctor's time off",
    **CONFIGURE,
)
def remove_time_off(request: HttpRequest, clinic_id: uuid.UUID, doctor_id: uuid.UUID, time_off_id: uuid.UUID):
    _doctor(request, doctor_id)
    actions.time_off_remove(actor=request.actor, doctor_id=doctor_id, time_off_id=time_off_id)
    return HttpResponse(status=204)

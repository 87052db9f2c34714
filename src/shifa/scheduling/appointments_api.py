"""Free slots, and appointments: the patient's (hold, confirm, move, cancel) and the desk's (book, check in, mark
absent, move, cancel, complete). One booking flow for office, video and home visits (BK-2 … BK-5)."""

from __future__ import annotations

import datetime as dt
import uuid

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import AwareDatetime

from shifa.access.declare import operation
from shifa.core import timezones
from shifa.core.errors import NotFound
from shifa.core.idempotency import once
from shifa.core.schemas import ERRORS

from . import actions, queries
from .models import Appointment, Channel

router = Router(tags=["appointments"])
BOOK = operation("appointments.book")
DESK = operation("scheduling.manage_appointments")


class SlotOut(Schema):
    starts_at: dt.datetime
    ends_at: dt.datetime


class SlotsOut(Schema):
    zone: str = Field(..., examples=["Asia/Amman"])
    visit_type: str
    slots: list[SlotOut]


class SlotQuery(Schema):
    clinic: uuid.UUID
    doctor: uuid.UUID
    visit_type: str = Field("office", pattern="^(office|video|home)$")
    start: dt.date | None = Field(None, description="First local day; today when left out")
    days: int = Field(7, ge=1, le=31)
    latitude: float | None = Field(None, ge=-90, le=90, description="For home visits: where the patient is")
    longitude: float | None = Field(None, ge=-180, le=180)


class HomeIn(Schema):
    latitude: float = Field(..., ge=-90, le=90)
    longitude: float = Field(..., ge=-180, le=180)
    address: str = Field("", max_length=300)


class BookIn(Schema):
    doctor_id: uuid.UUID
    visit_type: str = Field(..., pattern="^(office|video|home)$")
    starts_at: AwareDatetime
    service_id: uuid.UUID | None = None
    reason: str = Field("", max_length=500)
    home: HomeIn | None = Field(None, description="Where the doctor should come, for a home visit")
    insurer: str | None = Field(None, max_length=40, description="Code of the patient's insurer, if any")


class PatientBookIn(BookIn):
    clinic_id: uuid.UUID


class NewPatientIn(Schema):
    full_name: str = Field(..., min_length=2, max_length=200)
    phone: str = Field("", max_length=20)


class DeskBookIn(BookIn):
    patient_id: uuid.UUID | None = Field(None, description="An existing patient; or give new_patient")
    new_patient: NewPatientIn | None = Field(
        None, description="A walk-in or phone patient seen for the first time"
    )


class CancelIn(Schema):
    reason: str = Field("", max_length=300)


class RescheduleIn(Schema):
    starts_at: AwareDatetime


class Named(Schema):
    id: uuid.UUID
    name: str


class Money(Schema):
    amount: str = Field(..., examples=["20.000"])
    currency: str = "JOD"


class HomeOut(Schema):
    latitude: float
    longitude: float
    address: str


class AppointmentOut(Schema):
    id: uuid.UUID
    clinic: Named
    doctor: Named
    patient: Named
    visit_type: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    zone: str
    status: str
    hold_expires_at: dt.datetime | None
    channel: str
    price: Money | None
    reason: str
    home: HomeOut | None
    insurer: str | None
    rescheduled_from: uuid.UUID | None
    is_committed: bool


class AppointmentPage(Schema):
    items: list[AppointmentOut]
    next_cursor: str | None


class PageParams(Schema):
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


class DayQuery(Schema):
    day: dt.date
    doctor_id: uuid.UUID | None = None


def appointment_out(a: Appointment, language: str = "en") -> dict:
    """An appointment as the API writes it (plain JSON: it is also what an idempotent repeat answers)."""
    z = timezones.isoformat_z
    return {
        "id": str(a.external_id),
        "clinic": {"id": str(a.clinic.external_id), "name": a.clinic.display_name(language)},
        "doctor": {"id": str(a.doctor.external_id), "name": a.doctor.full_name},
        "patient": {"id": str(a.patient.external_id), "name": a.patient.full_name},
        "visit_type": a.visit_type,
        "starts_at": z(a.starts_at),
        "ends_at": z(a.ends_at),
        "zone": a.clinic.time_zone,
        "status": a.status,
        "hold_expires_at": z(a.hold_expires_at) if a.hold_expires_at else None,
        "channel": a.channel,
        "price": {"amount": f"{a.price:.3f}", "currency": "JOD"} if a.price is not None else None,
        "reason": a.reason,
        "home": {
            "latitude": float(a.home_latitude),
            "longitude": float(a.home_longitude),
            "address": a.home_address,
        }
        if a.home_latitude is not None
        else None,
        "insurer": a.insurer.code if a.insurer_id else None,
        "rescheduled_from": str(a.rescheduled_from.external_id) if a.rescheduled_from_id else None,
        "is_committed": a.is_committed,
    }


def _language(request: HttpRequest) -> str:
    return getattr(request, "LANGUAGE_CODE", "en")


def _answer(request: HttpRequest, status: int, appointment: Appointment) -> tuple[int, dict]:
    return status, appointment_out(appointment, _language(request))


def _book(request: HttpRequest, payload: BookIn, clinic, patient, channel: str) -> Appointment:
    """The one booking flow, from the patient's app or the desk."""
    data = payload.dict()
    return actions.appointment_book(
        actor=request.actor,
        clinic=clinic,
        patient=patient,
        doctor_id=data["doctor_id"],
        visit_type=data["visit_type"],
        starts_at=data["starts_at"],
        service_id=data["service_id"],
        reason=data["reason"],
        home=data["home"],
        insurer_code=data["insurer"],
        channel=channel,
    )


@router.get(
    "/slots",
    response={200: SlotsOut, **ERRORS},
    operation_id="scheduling_list_slots",
    summary="A doctor's free slots at a clinic for one visit type, day by day in the clinic's time zone",
    **operation(public=True, auth=None),
)
def list_slots(request: HttpRequest, filters: Query[SlotQuery]):
    from shifa.directory.queries import home_visit_area
    from shifa.tenancy.policies import licence_allows_bookings
    from shifa.tenancy.queries import bookable_clinic, clinic_doctor

    clinic = bookable_clinic(filters.clinic)
    doctor = clinic_doctor(clinic, filters.doctor) if clinic else None
    if doctor is None:
        raise NotFound()
    start = filters.start or timezones.to_local(timezones.now(), clinic.time_zone).date()
    travel, found = 0, []
    if filters.visit_type == "home":
        area = (
            home_visit_area(clinic=clinic, lat=filters.latitude, lng=filters.longitude)
            if filters.latitude is not None and filters.longitude is not None
            else None
        )
        travel = area.travel_buffer_minutes if area else None
    if licence_allows_bookings(clinic) and travel is not None:
        found = queries.doctor_slots(
            clinic=clinic,
            doctor=doctor,
            visit_type=filters.visit_type,
            first_day=start,
            last_day=start + dt.timedelta(days=filters.days - 1),
            travel_minutes=travel,
        )
    return {"zone": clinic.time_zone, "visit_type": filters.visit_type, "slots": found}


@router.post(
    "/appointments",
    response={201: AppointmentOut, **ERRORS},
    operation_id="scheduling_create_appointment",
    summary="Hold a slot for a few minutes (then confirm it); send an Idempotency-Key",
    **BOOK,
)
def create_appointment(request: HttpRequest, payload: PatientBookIn):
    from shifa.records.queries import patient_for_user
    from shifa.tenancy.queries import bookable_clinic

    def run():
        clinic = bookable_clinic(payload.clinic_id)
        patient = patient_for_user(request.user)
        if clinic is None or patient is None:
            raise NotFound()
        return _answer(request, 201, _book(request, payload, clinic, patient, Channel.APP))

    return Status(*once(request, run))


@router.get(
    "/me/appointments",
    response={200: AppointmentPage, **ERRORS},
    operation_id="scheduling_list_my_appointments",
    summary="The signed-in patient's appointments, most recently booked first",
    **BOOK,
)
def list_my_appointments(request: HttpRequest, page: Query[PageParams]):
    found = queries.patient_appointments(actor=request.actor, cursor=page.cursor, limit=page.limit)
    language = _language(request)
    return {"items": [appointment_out(a, language) for a in found.items], "next_cursor": found.next_cursor}


@router.post(
    "/appointments/{appointment_id}/confirm",
    response={200: AppointmentOut, **ERRORS},
    operation_id="scheduling_confirm_appointment",
    summary="Confirm a held slot before the hold expires",
    **BOOK,
)
def confirm_appointment(request: HttpRequest, appointment_id: uuid.UUID):
    appointment = actions.appointment_confirm(actor=request.actor, appointment_id=appointment_id)
    return Status(*_answer(request, 200, appointment))


@router.post(
    "/appointments/{appointment_id}/cancel",
    response={200: AppointmentOut, **ERRORS},
    operation_id="scheduling_cancel_my_appointment",
    summary="Cancel one's appointment (up to the clinic's cut-off before it starts)",
    **BOOK,
)
def cancel_my_appointment(request: HttpRequest, appointment_id: uuid.UUID, payload: CancelIn):
    appointment = actions.appointment_cancel(
        actor=request.actor, appointment_id=appointment_id, reason=payload.reason
    )
    return Status(*_answer(request, 200, appointment))


@router.post(
    "/appointments/{appointment_id}/reschedule",
    response={201: AppointmentOut, **ERRORS},
    operation_id="scheduling_reschedule_my_appointment",
    summary="Move one's appointment to another free slot of the same doctor (the answer is the new one)",
    **BOOK,
)
def reschedule_my_appointment(request: HttpRequest, appointment_id: uuid.UUID, payload: RescheduleIn):
    def run():
        appointment = actions.appointment_reschedule(
            actor=request.actor, appointment_id=appointment_id, starts_at=payload.starts_at
        )
        return _answer(request, 201, appointment)

    return Status(*once(request, run))


# --- the desk ---------------------------------------------------------------------------------------------------


@router.get(
    "/clinics/{clinic_id}/appointments",
    response={200: list[AppointmentOut], **ERRORS},
    operation_id="scheduling_list_day",
    summary="The clinic's appointments on one local day, optionally for one doctor",
    **operation("scheduling.view_appointments"),
)
def list_day(request: HttpRequest, clinic_id: uuid.UUID, filters: Query[DayQuery]):
    from shifa.tenancy.queries import clinic_doctor

    doctor = None
    if filters.doctor_id is not None:
        doctor = clinic_doctor(request.actor.require_clinic(), filters.doctor_id)
        if doctor is None:
            raise NotFound()
    language = _language(request)
    return [
        appointment_out(a, language)
        for a in queries.desk_day(actor=request.actor, day=filters.day, doctor=doctor)
    ]


@router.post(
    "/clinics/{clinic_id}/appointments",
    response={201: AppointmentOut, **ERRORS},
    operation_id="scheduling_book_at_desk",
    summary="Book for a patient at the desk (walk-in or phone); send an Idempotency-Key",
    **DESK,
)
def book_at_desk(request: HttpRequest, clinic_id: uuid.UUID, payload: DeskBookIn):
    def run():
        data = payload.dict()
        patient = actions.desk_patient(
            actor=request.actor, patient_id=data["patient_id"], new_patient=data["new_patient"]
        )
        return _answer(
            request, 201, _book(request, payload, request.actor.require_clinic(), patient, Channel.DESK)
        )

    return Status(*once(request, run))


def _desk_step(path: str, operation_id: str, summary: str, action):
    @router.post(
        f"/clinics/{{clinic_id}}/appointments/{{appointment_id}}/{path}",
        response={200: AppointmentOut, **ERRORS},
        operation_id=operation_id,
        summary=summary,
        **DESK,
    )
    def step(request: HttpRequest, clinic_id: uuid.UUID, appointment_id: uuid.UUID):
        return Status(*_answer(request, 200, action(actor=request.actor, appointment_id=appointment_id)))

    step.__name__ = operation_id
    return step


_desk_step("check-in", "scheduling_check_in", "The patient has arrived", actions.appointment_check_in)
_desk_step("no-show", "scheduling_mark_no_show", "The patient did not come", actions.appointment_no_show)
_desk_step(
    "complete",
    "scheduling_complete_appointment",
    "The visit is over: complete and commit the appointment (no changes after)",
    actions.appointment_complete,
)


@router.post(
    "/clinics/{clinic_id}/appointments/{appointment_id}/cancel",
    response={200: AppointmentOut, **ERRORS},
    operation_id="scheduling_cancel_at_desk",
    summary="Cancel an appointment at the desk",
    **DESK,
)
def cancel_at_desk(request: HttpRequest, clinic_id: uuid.UUID, appointment_id: uuid.UUID, payload: CancelIn):
    appointment = actions.appointment_cancel(
        actor=request.actor, appointment_id=appointment_id, reason=payload.reason, at_desk=True
    )
    return Status(*_answer(request, 200, appointment))


@router.post(
    "/clinics/{clinic_id}/appointments/{appointment_id}/reschedule",
    response={201: AppointmentOut, **ERRORS},
    operation_id="scheduling_reschedule_at_desk",
    summary="Move an appointment to another free time of the same doctor (the answer is the new one)",
    **DESK,
)
def reschedule_at_desk(
    request: HttpRequest, clinic_id: uuid.UUID, appointment_id: uuid.UUID, payload: RescheduleIn
):
    def run():
        appointment = actions.appointment_reschedule(
            actor=request.actor, appointment_id=appointment_id, starts_at=payload.starts_at, at_desk=True
        )
        return _answer(request, 201, appointment)

    return Status(*once(request, run))


# --- the waiting list -----------------------------------------------------------------------------------------


class WaitIn(Schema):
    clinic_id: uuid.UUID
    doctor_id: uuid.UUID
    appointment_id: uuid.UUID | None = Field(None, description="Bring this booked appointment forward")
    visit_type: str = Field("office", pattern="^(office|video)$")
    before: AwareDatetime | None = Field(None, description="Without an appointment: any time before this")


class WaitOut(Schema):
    id: uuid.UUID
    clinic_id: uuid.UUID
    doctor_id: uuid.UUID
    visit_type: str
    appointment_id: uuid.UUID | None
    wanted_before: dt.datetime
    status: str
    offer_id: uuid.UUID | None


def wait_out(entry) -> dict:
    return {
        "id": entry.external_id,
        "clinic_id": entry.clinic.external_id,
        "doctor_id": entry.doctor.external_id,
        "visit_type": entry.visit_type,
        "appointment_id": entry.appointment.external_id if entry.appointment_id else None,
        "wanted_before": entry.wanted_before,
        "status": entry.status,
        "offer_id": entry.offer.external_id if entry.offer_id else None,
    }


@router.post(
    "/waitlist",
    response={201: WaitOut, **ERRORS},
    operation_id="scheduling_join_waitlist",
    summary="Wait for an earlier time with a doctor: a freed time is offered (held) to the first who waits",
    **BOOK,
)
def join_waitlist(request: HttpRequest, payload: WaitIn):
    from shifa.tenancy.queries import bookable_clinic

    clinic = bookable_clinic(payload.clinic_id)
    if clinic is None:
        raise NotFound()
    entry = actions.waitlist_join(
        actor=request.actor,
        clinic=clinic,
        doctor_id=payload.doctor_id,
        visit_type=payload.visit_type,
        appointment_id=payload.appointment_id,
        before=payload.before,
    )
    return Status(201, wait_out(entry))


@router.get(
    "/me/waitlist",
    response={200: list[WaitOut], **ERRORS},
    operation_id="scheduling_list_my_waitlist",
    summary="Where the signed-in patient is waiting for an earlier time",
    **BOOK,
)
def list_my_waitlist(request: HttpRequest):
    return [wait_out(e) for e in queries.patient_waitlist(actor=request.actor)]


@router.post(
    "/waitlist/{wait_id}/withdraw",
    response={200: WaitOut, **ERRORS},
    operation_id="scheduling_leave_waitlist",
    summary="Stop waiting for an earlier time",
    **BOOK,
)
def leave_waitlist(request: HttpRequest, wait_id: uuid.UUID):
    return wait_out(actions.waitlist_withdraw(actor=request.actor, entry_id=wait_id))

"""A patient in clinic A's care (an appointment today) and helpers to document visits through the API."""

from __future__ import annotations

import datetime as dt

from shifa.core import timezones
from shifa.scheduling.models import Appointment

from .booking import open_for_booking


def in_care(cast, patient=None, *, clinic=None, doctor=None, hours: int = 1) -> Appointment:
    """A booked appointment of ``patient`` (the cast's patient) at ``clinic`` (A) starting in ``hours``.

    Less than a day ahead means today, on the clinic's clock: late in the evening, when ``hours`` would cross
    the clinic's midnight, the appointment is put as far back as it would have been ahead, so that the doctor's
    day list still holds it."""
    clinic = clinic or cast.clinic_a
    doctor = doctor or (cast.staff_a["doctor"] if clinic == cast.clinic_a else cast.doctor_b)
    now = timezones.now().replace(second=0, microsecond=0)
    starts = now + dt.timedelta(hours=hours)
    if (
        hours < 24
        and timezones.to_local(starts, clinic.time_zone).date()
        != timezones.to_local(now, clinic.time_zone).date()
    ):
        starts = now - dt.timedelta(hours=hours)
    return Appointment.unscoped.create(
        clinic=clinic,
        doctor=doctor,
        patient=patient or cast.patient,
        visit_type="office",
        starts_at=starts,
        ends_at=starts + dt.timedelta(minutes=30),
        status="booked",
        channel="desk",
    )


def base(clinic) -> str:
    return f"/api/v1/clinics/{clinic.external_id}"


def open_visit(api_client, clinic, appointment) -> dict:
    response = api_client.post(f"{base(clinic)}/visits", {"appointment_id": str(appointment.external_id)})
    assert response.status_code == 201, response.content
    return response.json()


def document(
    api_client, clinic, visit_id: str, *, complaint="Headache and fever", notes="Throat red"
) -> dict:
    """Complaint, notes, two diagnoses (hypertension primary, bronchitis secondary) and one prescription."""
    url = f"{base(clinic)}/visits/{visit_id}"
    assert api_client.patch(url, {"complaint": complaint, "notes": notes}).status_code == 200
    assert api_client.post(f"{url}/diagnoses", {"code": "401.9", "rank": "primary"}).status_code == 201
    assert (
        api_client.post(f"{url}/diagnoses", {"code": "466.0", "plain_words": "Chest infection"}).status_code
        == 201
    )
    line = {
        "medication": "amoxicillin",
        "form": "capsule",
        "strength": "500 mg",
        "dose": "1",
        "dose_unit": "capsule",
        "route": "oral",
        "frequency": "three_times_daily",
        "timing": "after_meals",
        "duration_days": 7,
        "instructions": "Finish the whole course",
    }
    response = api_client.post(f"{url}/prescriptions", line)
    assert response.status_code == 201, response.content
    return response.json()


def committed_visit(cast, api, *, notes="Throat red") -> dict:
    open_for_booking(cast)
    appointment = in_care(cast)
    doctor = api(cast.staff_a["doctor"])
    visit = open_visit(doctor, cast.clinic_a, appointment)
    document(doctor, cast.clinic_a, visit["id"], notes=notes)
    response = doctor.post(f"{base(cast.clinic_a)}/visits/{visit['id']}/commit")
    assert response.status_code == 200, response.content
    return response.json()

"""Reads of scheduling, always within the acting clinic."""

from __future__ import annotations

import datetime as dt

from .availability import Rules, Slot, free_slots
from .models import (
    OCCUPYING,
    Appointment,
    AppointmentStatus,
    BookingPolicy,
    Closure,
    DoctorInterval,
    OpeningInterval,
    TimeOff,
)


def by_weekday(intervals) -> dict[int, list]:
    """Intervals grouped by weekday, every day present (an empty list is a closed day)."""
    week: dict[int, list] = {day: [] for day in range(7)}
    for interval in intervals:
        week[interval.weekday].append(interval)
    return week


def clinic_week(*, actor) -> dict[int, list[OpeningInterval]]:
    return by_weekday(OpeningInterval.objects.for_clinic(actor.require_clinic()))


def closure_list(*, actor) -> list[Closure]:
    return list(Closure.objects.for_clinic(actor.require_clinic()).order_by("starts_on"))


def doctor_week(*, actor, doctor) -> dict[int, list[DoctorInterval]]:
    return by_weekday(DoctorInterval.objects.for_clinic(actor.require_clinic()).filter(doctor=doctor))


def time_off_list(*, actor, doctor=None) -> list[TimeOff]:
    qs = TimeOff.objects.for_clinic(actor.require_clinic()).select_related("doctor").order_by("starts_at")
    return list(qs.filter(doctor=doctor) if doctor is not None else qs)


def booking_policy(clinic) -> BookingPolicy:
    """The clinic's booking rules; the defaults (unsaved) when it has set none."""
    return BookingPolicy.objects.for_clinic(clinic).first() or BookingPolicy(clinic=clinic)


def _stretches_by_weekday(rows, start: str, end: str) -> dict[int, list[tuple[dt.time, dt.time]]]:
    week: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for row in rows:
        week.setdefault(row.weekday, []).append((getattr(row, start), getattr(row, end)))
    return week


def occupying(doctor, start: dt.datetime, end: dt.datetime, *, now: dt.datetime, exclude=None):
    """The doctor's appointments (at any clinic: a doctor is in one place at a time) that take time between
    ``start`` and ``end``: booked, checked in, completed, and holds that have not expired."""
    qs = (
        Appointment.unscoped.filter(doctor=doctor, starts_at__lt=end, ends_at__gt=start, status__in=OCCUPYING)
        .exclude(status=AppointmentStatus.HELD, hold_expires_at__lte=now)
        .only("starts_at", "ends_at", "travel_minutes", "visit_type")
    )
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return list(qs)


def doctor_slots(
    *,
    clinic,
    doctor,
    visit_type: str,
    first_day: dt.date,
    last_day: dt.date,
    now: dt.datetime | None = None,
    travel_minutes: int = 0,
    notice: dt.timedelta | None = None,
    step_minutes: int | None = None,
    exclude=None,
) -> list[Slot]:
    """The doctor's free slots at ``clinic`` for a visit type on the clinic's local days ``first_day`` …
    ``last_day``. A home visit keeps ``travel_minutes`` free around every other visit; any visit keeps a home
    visit's own travel time free around it. Nothing when the doctor does not offer the visit type."""
    from shifa.core import timezones
    from shifa.directory.models import DoctorProfile

    now = now or timezones.now()
    profile = DoctorProfile.objects.for_clinic(clinic).filter(doctor=doctor).only("minutes").first()
    minutes = (profile.minutes or {}).get(visit_type) if profile else None
    if not minutes:
        return []
    policy = booking_policy(clinic)
    zone = clinic.time_zone
    window_start = timezones.local_day_bounds(first_day, zone)[0] - dt.timedelta(days=1)
    window_end = timezones.local_day_bounds(last_day, zone)[1] + dt.timedelta(days=1)
    busy = []
    for appointment in occupying(doctor, window_start, window_end, now=now, exclude=exclude):
        gap = dt.timedelta(minutes=max(appointment.travel_minutes, travel_minutes))
        busy.append((appointment.starts_at - gap, appointment.ends_at + gap))
    time_off = TimeOff.objects.for_clinic(clinic).filter(
        doctor=doctor, starts_at__lt=window_end, ends_at__gt=window_start
    )
    closures = Closure.objects.for_clinic(clinic).filter(starts_on__lte=last_day, ends_on__gte=first_day)
    return free_slots(
        now=now,
        first_day=first_day,
        last_day=last_day,
        clinic_week=_stretches_by_weekday(OpeningInterval.objects.for_clinic(clinic), "opens", "closes"),
        doctor_week=_stretches_by_weekday(
            DoctorInterval.objects.for_clinic(clinic).filter(doctor=doctor), "starts", "ends"
        ),
        closures=[(c.starts_on, c.ends_on) for c in closures],
        time_off=[(t.starts_at, t.ends_at) for t in time_off],
        appointments=busy,
        rules=Rules(
            minutes=int(minutes),
            zone=zone,
            step_minutes=step_minutes or policy.step_minutes,
            notice=dt.timedelta(minutes=policy.notice_minutes) if notice is None else notice,
            horizon=dt.timedelta(days=policy.horizon_days),
        ),
    )


def _with_people(qs):
    return qs.select_related("clinic", "doctor", "patient", "service", "insurer", "rescheduled_from")


def patient_appointments(*, actor, cursor: str | None = None, limit: int = 50):
    """The acting patient's appointments at every clinic, most recently booked first (expired holds left out)."""
    from shifa.core.pagination import Page, paginate
    from shifa.records.queries import patient_for_user

    patient = patient_for_user(actor.user)
    if patient is None:
        return Page(items=[], next_cursor=None)
    qs = _with_people(Appointment.unscoped.filter(patient=patient)).exclude(status=AppointmentStatus.EXPIRED)
    return paginate(qs, cursor=cursor, limit=limit, newest_first=True)


def patient_agenda(*, actor, past_limit: int = 50) -> tuple[list[Appointment], list[Appointment]]:
    """The acting patient's appointments as they look for them: those still ahead (held, booked or checked in and
    not yet over), soonest first; then the rest (over, cancelled, missed), latest first, at most ``past_limit``."""
    from django.db.models import Q

    from shifa.core import timezones
    from shifa.records.queries import patient_for_user

    patient = patient_for_user(actor.user)
    if patient is None:
        return [], []
    mine = _with_people(Appointment.unscoped.filter(patient=patient)).exclude(
        status=AppointmentStatus.EXPIRED
    )
    ahead = Q(status__in=OCCUPYING, ends_at__gt=timezones.now())
    upcoming = list(mine.filter(ahead).order_by("starts_at", "pk"))
    past = list(mine.exclude(ahead).order_by("-starts_at", "-pk")[:past_limit])
    return upcoming, past


def desk_day(*, actor, day: dt.date, doctor=None) -> list[Appointment]:
    """The clinic's appointments on one local day, in time order, for the desk calendar."""
    from shifa.core import timezones

    clinic = actor.require_clinic()
    start, end = timezones.local_day_bounds(day, clinic.time_zone)
    qs = _with_people(Appointment.objects.for_clinic(clinic)).filter(starts_at__lt=end, ends_at__gt=start)
    if doctor is not None:
        qs = qs.filter(doctor=doctor)
    return list(qs.exclude(status=AppointmentStatus.EXPIRED).order_by("starts_at", "pk"))


def patient_appointment(*, actor, appointment_id) -> Appointment:
    """One of the acting patient's own appointments; anyone else's does not exist for them."""
    from shifa.core.errors import NotFound
    from shifa.records.queries import patient_for_user

    patient = patient_for_user(actor.user)
    appointment = (
        _with_people(Appointment.unscoped.filter(patient=patient, external_id=appointment_id)).first()
        if patient
        else None
    )
    if appointment is None:
        raise NotFound()
    return appointment


def patient_holding(*, patient, doctor, starts_at: dt.datetime) -> Appointment | None:
    """The patient's own live hold or booking of exactly this slot (a second click on the same slot)."""
    from shifa.core import timezones

    return (
        Appointment.unscoped.filter(patient=patient, doctor=doctor, starts_at=starts_at)
        .filter(status__in=[AppointmentStatus.BOOKED, AppointmentStatus.HELD])
        .exclude(status=AppointmentStatus.HELD, hold_expires_at__lte=timezones.now())
        .first()
    )


def patient_waitlist(*, actor) -> list:
    """The acting patient's waiting-list entries still open (waiting, or offered a time)."""
    from shifa.records.queries import patient_for_user

    from .models import WaitlistEntry, WaitlistStatus

    patient = patient_for_user(actor.user)
    if patient is None:
        return []
    return list(
        WaitlistEntry.unscoped.select_related("clinic", "doctor", "appointment", "offer")
        .filter(patient=patient, status__in=[WaitlistStatus.WAITING, WaitlistStatus.OFFERED])
        .order_by("created_at")
    )

"""Writes of scheduling: the clinic's week, closures, doctors' weeks and time off (each replaces or adds in one
transaction and refuses overlaps with a field error); and appointments: hold, book, confirm, move, cancel, check
in, mark absent, complete."""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from shifa.core import timezones
from shifa.core.errors import (
    EXCLUSION_VIOLATION,
    Conflict,
    FieldError,
    NotFound,
    Problem,
    ValidationFailed,
    sqlstate,
)
from shifa.directory.actions import listing_changed

from . import queries
from .models import (
    Appointment,
    AppointmentStatus,
    Channel,
    Closure,
    DoctorInterval,
    OpeningInterval,
    TimeOff,
    WaitlistEntry,
    WaitlistStatus,
)


def _check_week(week: dict[int, list[tuple[dt.time, dt.time]]], field: str) -> list[FieldError]:
    errors = []
    for weekday, intervals in week.items():
        if weekday not in range(7):
            errors.append(FieldError(field, "invalid_choice", _("Weekdays are 0 (Monday) to 6 (Sunday).")))
            continue
        ordered = sorted(intervals)
        for index, (start, end) in enumerate(ordered):
            if start >= end:
                errors.append(
                    FieldError(f"{field}.{weekday}", "order", _("Each stretch must end after it starts."))
                )
            if index and start < ordered[index - 1][1]:
                errors.append(
                    FieldError(f"{field}.{weekday}", "overlap", _("Stretches of one day must not overlap."))
                )
    return errors


def clinic_hours_set(*, actor, week: dict[int, list[tuple[dt.time, dt.time]]]) -> list[OpeningInterval]:
    """Replace the clinic's weekly opening hours. A day without stretches is closed; gaps are breaks."""
    errors = _check_week(week, "week")
    if errors:
        raise ValidationFailed(errors=errors)
    clinic = actor.require_clinic()
    with transaction.atomic():
        listing_changed(clinic)
        OpeningInterval.objects.for_clinic(clinic).delete()
        return OpeningInterval.objects.for_clinic(clinic).bulk_create(
            [
                OpeningInterval(clinic=clinic, weekday=day, opens=start, closes=end)
                for day, intervals in sorted(week.items())
                for start, end in sorted(intervals)
            ]
        )


def closure_add(*, actor, starts_on: dt.date, ends_on: dt.date, reason: str = "") -> Closure:
    if starts_on > ends_on:
        raise ValidationFailed(
            errors=[FieldError("ends_on", "order", _("The closure must end on or after its first day."))]
        )
    if (ends_on - starts_on).days > 366:
        raise ValidationFailed(
            errors=[FieldError("ends_on", "too_long", _("A closure lasts at most a year."))]
        )
    clinic = actor.require_clinic()
    with transaction.atomic():
        listing_changed(clinic)
        return Closure.objects.for_clinic(clinic).create(
            clinic=clinic, starts_on=starts_on, ends_on=ends_on, reason=reason.strip()[:200]
        )


def closure_remove(*, actor, closure_id) -> None:
    clinic = actor.require_clinic()
    with transaction.atomic():
        deleted, _ = Closure.objects.for_clinic(clinic).filter(external_id=closure_id).delete()
        if not deleted:
            raise NotFound()
        listing_changed(clinic)


def _doctor_of(clinic, doctor_id):
    from shifa.tenancy.queries import clinic_doctor

    doctor = clinic_doctor(clinic, doctor_id)
    if doctor is None:
        raise ValidationFailed(
            errors=[FieldError("doctor", "not_a_doctor", _("Choose a doctor of this clinic."))]
        )
    return doctor


def doctor_hours_set(
    *, actor, doctor_id, week: dict[int, list[tuple[dt.time, dt.time]]]
) -> list[DoctorInterval]:
    """Replace a doctor's weekly schedule here; every stretch must lie within the clinic's opening hours."""
    clinic = actor.require_clinic()
    doctor = _doctor_of(clinic, doctor_id)
    errors = _check_week(week, "week")
    opening: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for interval in OpeningInterval.objects.for_clinic(clinic):
        opening.setdefault(interval.weekday, []).append((interval.opens, interval.closes))
    for day, intervals in week.items():
        for start, end in intervals:
            if not any(o <= start and end <= c for o, c in opening.get(day, [])):
                errors.append(
                    FieldError(
                        f"week.{day}",
                        "outside_opening_hours",
                        _("The doctor's hours must lie within the clinic's opening hours."),
                    )
                )
    if errors:
        raise ValidationFailed(errors=errors)
    with transaction.atomic():
        listing_changed(clinic, doctor)
        DoctorInterval.objects.for_clinic(clinic).filter(doctor=doctor).delete()
        return DoctorInterval.objects.for_clinic(clinic).bulk_create(
            [
                DoctorInterval(clinic=clinic, doctor=doctor, weekday=day, starts=start, ends=end)
                for day, intervals in sorted(week.items())
                for start, end in sorted(intervals)
            ]
        )


def time_off_add(
    *, actor, doctor_id, starts_at: dt.datetime, ends_at: dt.datetime, reason: str = ""
) -> TimeOff:
    clinic = actor.require_clinic()
    doctor = _doctor_of(clinic, doctor_id)
    if starts_at >= ends_at:
        raise ValidationFailed(
            errors=[FieldError("ends_at", "order", _("Time off must end after it starts."))]
        )
    with transaction.atomic():
        listing_changed(clinic, doctor)
        return TimeOff.objects.for_clinic(clinic).create(
            clinic=clinic, doctor=doctor, starts_at=starts_at, ends_at=ends_at, reason=reason.strip()[:200]
        )


def time_off_remove(*, actor, doctor_id, time_off_id) -> None:
    clinic = actor.require_clinic()
    with transaction.atomic():
        entry = (
            TimeOff.objects.for_clinic(clinic)
            .select_related("doctor")
            .filter(external_id=time_off_id, doctor__external_id=doctor_id)
            .first()
        )
        if entry is None:
            raise NotFound()
        listing_changed(clinic, entry.doctor)
        entry.delete()


# --- appointments (BK-3, BK-4, BK-5) ---------------------------------------------------------------------------

#: How many free slots a refusal offers instead of a taken one.
ALTERNATIVES = 5


def _lock_doctor(doctor) -> None:
    """Serialize bookings of one doctor for the rest of the transaction (buffers are re-checked under it; the
    exclusion constraint is the last word on overlaps)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, doctor.pk])


LOCK_NAMESPACE = 7001  # advisory lock class for "a doctor's calendar"


def _expire_holds(doctor, now: dt.datetime) -> None:
    Appointment.unscoped.filter(
        doctor=doctor, status=AppointmentStatus.HELD, hold_expires_at__lte=now
    ).update(status=AppointmentStatus.EXPIRED, updated_at=now)


def _slot_taken(starts_at: dt.datetime, found) -> Conflict:
    """A 409 naming the free slots nearest the one asked for (from ``found``, later ones first)."""
    later = [s for s in found if s.starts_at >= starts_at] + [s for s in found if s.starts_at < starts_at]
    return Conflict(
        _("This time is no longer free. Choose another."),
        code="slot_taken",
        errors=[FieldError("starts_at", "slot_taken", _("This time is no longer free."))],
        extensions={
            "alternatives": [
                {"starts_at": timezones.isoformat_z(s.starts_at), "ends_at": timezones.isoformat_z(s.ends_at)}
                for s in later[:ALTERNATIVES]
            ]
        },
    )


def appointment_book(
    *,
    actor,
    clinic,
    patient,
    doctor_id,
    visit_type: str,
    starts_at: dt.datetime,
    service_id=None,
    reason: str = "",
    home: dict | None = None,
    insurer_code: str | None = None,
    channel: str = Channel.APP,
    rescheduling=None,
    hold_minutes: int | None = None,
) -> Appointment:
    """Book (from the desk) or hold (from the app, for ``hold_minutes`` while the patient confirms or pays) one
    slot of a doctor: one flow for office, video and home visits.

    The slot must be one the availability engine offers (from the desk: any free time on a five-minute grid, no
    notice). Bookings of one doctor are serialized, and the database refuses any overlap whatever happens; the
    loser gets a 409 with the nearest free slots. A home visit needs the patient's place inside one of the
    clinic's service areas.
    """
    from shifa.catalog.models import InsuranceCompany
    from shifa.directory import queries as directory_queries
    from shifa.directory.models import DoctorProfile, InsurancePartner, Service, VisitType
    from shifa.tenancy.policies import licence_allows_bookings

    now = timezones.now()
    if not licence_allows_bookings(clinic):
        raise Conflict(_("This clinic is not taking new bookings at the moment."), code="clinic_not_booking")
    errors: list[FieldError] = []
    doctor = _doctor_of(clinic, doctor_id)
    profile = DoctorProfile.objects.for_clinic(clinic).filter(doctor=doctor).first()
    minutes = (profile.minutes or {}).get(visit_type) if profile else None
    if visit_type not in VisitType.values or not minutes:
        errors.append(
            FieldError("visit_type", "not_offered", _("This doctor does not offer this kind of visit here."))
        )
    if starts_at.tzinfo is None:
        errors.append(FieldError("starts_at", "naive", _("Give the time with its zone.")))
    service = price = None
    if service_id is not None:
        service = Service.objects.for_clinic(clinic).filter(external_id=service_id, is_active=True).first()
        price = (
            directory_queries.price_for(clinic=clinic, service=service, visit_type=visit_type, doctor=doctor)
            if service
            else None
        )
        if price is None:
            errors.append(
                FieldError("service", "not_offered", _("Choose a service the clinic offers for this visit."))
            )
    elif minutes:
        # No service named: the visit is the clinic's usual one for it, at the price the patient was shown.
        quote = directory_queries.estimate(clinic=clinic, doctor=doctor, visit_type=visit_type)
        if quote["service"] is not None:
            service = quote["service"]
            price = directory_queries.price_for(
                clinic=clinic, service=service, visit_type=visit_type, doctor=doctor
            )
    area, place = None, {}
    if visit_type == VisitType.HOME:
        try:
            lat, lng = float(home["latitude"]), float(home["longitude"])
        except (TypeError, KeyError, ValueError):
            errors.append(FieldError("home", "required", _("Give the address where the doctor should come.")))
        else:
            area = directory_queries.home_visit_area(clinic=clinic, lat=lat, lng=lng)
            if area is None:
                errors.append(
                    FieldError(
                        "home",
                        "outside_service_area",
                        _("The clinic does not make home visits at this address."),
                    )
                )
            place = {
                "home_latitude": Decimal(str(round(lat, 6))),
                "home_longitude": Decimal(str(round(lng, 6))),
                "home_address": str(home.get("address", "")).strip()[:300],
            }
    insurer = None
    if insurer_code:
        insurer = InsuranceCompany.objects.filter(code=insurer_code, is_active=True).first()
        accepted = (
            insurer
            and InsurancePartner.objects.for_clinic(clinic).filter(insurer=insurer, is_active=True).exists()
        )
        if not accepted:
            errors.append(
                FieldError("insurer", "not_accepted", _("The clinic does not accept this insurer."))
            )
    if errors:
        raise ValidationFailed(errors=errors)

    starts_at = timezones.require_aware(starts_at)
    travel = area.travel_buffer_minutes if area else 0
    desk = channel == Channel.DESK
    notice = dt.timedelta(0) if desk else None
    step = 5 if desk else None
    policy = queries.booking_policy(clinic)
    ends_at = starts_at + dt.timedelta(minutes=int(minutes))
    day = timezones.to_local(starts_at, clinic.time_zone).date()
    slots = functools.partial(
        queries.doctor_slots,
        clinic=clinic,
        doctor=doctor,
        visit_type=visit_type,
        now=now,
        travel_minutes=travel,
        notice=notice,
        step_minutes=step,
        exclude=rescheduling,
    )

    def taken() -> Conflict:  # offering the nearest free times: that day and the next
        return _slot_taken(starts_at, slots(first_day=day, last_day=day + dt.timedelta(days=1)))

    if queries.occupying(doctor, starts_at, ends_at, now=now, exclude=rescheduling):
        raise taken()  # plainly taken: refused without queueing for the doctor's lock (a rush stays fast)
    with transaction.atomic():
        _lock_doctor(doctor)
        _expire_holds(doctor, now)
        if not any(s.starts_at == starts_at for s in slots(first_day=day, last_day=day)):
            raise taken()
        if rescheduling is not None:
            rescheduling.status = AppointmentStatus.CANCELLED
            rescheduling.cancelled_at = now
            rescheduling.cancelled_by = actor.user
            rescheduling.cancellation_reason = "rescheduled"
            rescheduling.save(
                update_fields=["status", "cancelled_at", "cancelled_by", "cancellation_reason", "updated_at"]
            )
        held = not desk and rescheduling is None
        try:
            with transaction.atomic():
                appointment = Appointment.objects.for_clinic(clinic).create(
                    clinic=clinic,
                    doctor=doctor,
                    patient=patient,
                    service=service,
                    visit_type=visit_type,
                    starts_at=starts_at,
                    ends_at=ends_at,
                    status=AppointmentStatus.HELD if held else AppointmentStatus.BOOKED,
                    hold_expires_at=now + dt.timedelta(minutes=hold_minutes or policy.hold_minutes)
                    if held
                    else None,
                    channel=channel,
                    booked_by=actor.user,
                    price=price.amount if price else None,
                    reason=reason.strip()[:500],
                    service_area=area,
                    travel_minutes=travel,
                    insurer=insurer,
                    rescheduled_from=rescheduling,
                    **place,
                )
                if appointment.status == AppointmentStatus.BOOKED:
                    _booked(appointment)
                listing_changed(clinic, doctor)
                return appointment
        except IntegrityError as exc:
            if sqlstate(exc) != EXCLUSION_VIOLATION:
                raise
            raise taken() from None


def _appointment(queryset, appointment_id) -> Appointment:
    appointment = queryset.select_for_update().filter(external_id=appointment_id).first()
    if appointment is None:
        raise NotFound()
    return appointment


def _own(actor, appointment_id) -> Appointment:
    """The acting patient's own appointment, locked; anyone else's is not found."""
    from shifa.records.queries import patient_for_user

    patient = patient_for_user(actor.user)
    if patient is None:
        raise NotFound()
    return _appointment(Appointment.unscoped.select_related("clinic").filter(patient=patient), appointment_id)


def _at_desk(actor, appointment_id) -> Appointment:
    clinic = actor.require_clinic()
    return _appointment(Appointment.objects.for_clinic(clinic).select_related("clinic"), appointment_id)


def _refuse_unless(appointment: Appointment, *statuses) -> None:
    if appointment.status not in statuses:
        raise Conflict(
            _("This appointment is %(status)s and cannot be changed this way.")
            % {"status": appointment.get_status_display().lower()},
            code="wrong_status",
        )


def appointment_confirm(*, actor, appointment_id) -> Appointment:
    """The patient confirms their hold before it expires: the slot is theirs."""
    now = timezones.now()
    with transaction.atomic():
        appointment = _own(actor, appointment_id)
        if appointment.status == AppointmentStatus.BOOKED:
            return appointment  # a double tap
        _refuse_unless(appointment, AppointmentStatus.HELD)
        if appointment.hold_expires_at <= now:
            appointment.status = AppointmentStatus.EXPIRED
            appointment.save(update_fields=["status", "updated_at"])
            raise Conflict(_("The hold on this time has expired. Choose a time again."), code="hold_expired")
        if appointment.visit_type == "video":
            from shifa.billing.queries import appointment_due

            due = appointment_due(appointment)
            if due is not None and due > 0:
                raise Conflict(_("Pay for the video visit to confirm it."), code="payment_required")
        appointment.status = AppointmentStatus.BOOKED
        appointment.hold_expires_at = None
        appointment.save(update_fields=["status", "hold_expires_at", "updated_at"])
        _booked(appointment)
        _offer_taken(appointment, actor, now)
        return appointment


def hold_paid(*, appointment_pk: int) -> bool:
    """The patient paid for their hold: the slot is theirs. A hold that lapsed meanwhile is booked again if its
    time is still free. Whether the appointment is booked (``False``: the time went to someone else, or the
    appointment was cancelled; the payment is then to be given back)."""
    from shifa.access.policies import Actor

    now = timezones.now()
    with transaction.atomic():
        appointment = (
            Appointment.unscoped.select_for_update(of=("self",))
            .select_related("clinic", "doctor")
            .get(pk=appointment_pk)
        )
        if appointment.status in (AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN):
            return True
        if appointment.status not in (AppointmentStatus.HELD, AppointmentStatus.EXPIRED):
            return False
        if appointment.starts_at <= now:
            return False
        _lock_doctor(appointment.doctor)
        _expire_holds(appointment.doctor, now)  # other lapsed holds must not stand in its way
        try:
            with transaction.atomic():
                Appointment.unscoped.filter(pk=appointment.pk).update(
                    status=AppointmentStatus.BOOKED, hold_expires_at=None, updated_at=now
                )
        except IntegrityError as exc:
            if sqlstate(exc) != EXCLUSION_VIOLATION:
                raise
            return False
        appointment.refresh_from_db()
        _booked(appointment)
        _offer_taken(appointment, Actor(user=appointment.booked_by), now)
        listing_changed(appointment.clinic, appointment.doctor)
        return True


def hold_keep(*, appointment_pk: int, until: dt.datetime, at_most: dt.timedelta) -> dt.datetime | None:
    """Keep a hold while the patient is on the payment page: until ``until``, but never longer than
    ``at_most`` after the hold was made. The hold's new end, or ``None`` when there is no live hold."""
    now = timezones.now()
    with transaction.atomic():
        appointment = Appointment.unscoped.select_for_update().filter(pk=appointment_pk).first()
        if appointment is None or appointment.status != AppointmentStatus.HELD:
            return None
        if appointment.hold_expires_at <= now:
            return None
        end = min(max(appointment.hold_expires_at, until), appointment.created_at + at_most)
        if end > appointment.hold_expires_at:
            appointment.hold_expires_at = end
            appointment.save(update_fields=["hold_expires_at", "updated_at"])
        return appointment.hold_expires_at


def hold_release(*, appointment_pk: int) -> bool:
    """The payment did not happen (the page expired or was abandoned): the held time is free again at once."""
    with transaction.atomic():
        appointment = (
            Appointment.unscoped.select_for_update(of=("self",))
            .select_related("clinic", "doctor")
            .filter(pk=appointment_pk)
        ).first()
        if appointment is None or appointment.status != AppointmentStatus.HELD:
            return False
        appointment.status = AppointmentStatus.EXPIRED
        appointment.save(update_fields=["status", "updated_at"])
        listing_changed(appointment.clinic, appointment.doctor)
        return True


def _cancel(appointment: Appointment, actor, reason: str, now: dt.datetime) -> Appointment:
    listing_changed(appointment.clinic, appointment.doctor)
    appointment.status = AppointmentStatus.CANCELLED
    appointment.cancelled_at = now
    appointment.cancelled_by = actor.user
    appointment.cancellation_reason = reason.strip()[:300]
    appointment.save(
        update_fields=["status", "cancelled_at", "cancelled_by", "cancellation_reason", "updated_at"]
    )
    return appointment


def _still_changeable(appointment: Appointment, now: dt.datetime, at_desk: bool) -> None:
    """The desk may cancel or move an appointment until it ends (a late patient, a call at the last minute); a
    patient only up to the clinic's cut-off before it starts."""
    if at_desk:
        if appointment.ends_at <= now:
            raise Conflict(_("This appointment is already over."), code="already_over")
        return
    if appointment.starts_at <= now:
        raise Conflict(_("This appointment has already started."), code="already_started")
    policy = queries.booking_policy(appointment.clinic)
    if appointment.starts_at - now < dt.timedelta(hours=policy.cancel_hours):
        raise Conflict(
            _("This appointment is less than %(hours)s hours away: call the clinic to change it.")
            % {"hours": policy.cancel_hours},
            code="too_late_to_change",
        )


def appointment_cancel(*, actor, appointment_id, reason: str = "", at_desk: bool = False) -> Appointment:
    """Cancel a held or booked appointment. A patient may do so up to the clinic's cut-off before it starts;
    the desk may until it starts."""
    now = timezones.now()
    with transaction.atomic():
        appointment = _at_desk(actor, appointment_id) if at_desk else _own(actor, appointment_id)
        if appointment.status == AppointmentStatus.CANCELLED:
            return appointment  # a double tap
        _refuse_unless(appointment, AppointmentStatus.HELD, AppointmentStatus.BOOKED)
        if appointment.status == AppointmentStatus.BOOKED:
            _still_changeable(appointment, now, at_desk)
        _cancel(appointment, actor, reason, now)
        _freed(appointment, now)
        from shifa.billing.actions import appointment_cancelled

        appointment_cancelled(appointment=appointment, user=actor.user)
        return appointment


def appointment_reschedule(
    *, actor, appointment_id, starts_at: dt.datetime, at_desk: bool = False
) -> Appointment:
    """Move a booked appointment to another free time of the same doctor: the new one is booked and points at
    the old one, which is cancelled, in one transaction (if the new time is taken, nothing changes)."""
    now = timezones.now()
    with transaction.atomic():
        old = _at_desk(actor, appointment_id) if at_desk else _own(actor, appointment_id)
        _refuse_unless(old, AppointmentStatus.BOOKED)
        _still_changeable(old, now, at_desk)
        home = (
            {"latitude": old.home_latitude, "longitude": old.home_longitude, "address": old.home_address}
            if old.visit_type == "home"
            else None
        )
        new = appointment_book(
            actor=actor,
            clinic=old.clinic,
            patient=old.patient,
            doctor_id=old.doctor.external_id,
            visit_type=old.visit_type,
            starts_at=starts_at,
            service_id=old.service.external_id if old.service_id else None,
            reason=old.reason,
            home=home,
            insurer_code=old.insurer.code if old.insurer_id else None,
            channel=Channel.DESK if at_desk else old.channel,
            rescheduling=old,
        )
        _freed(old, now)
        return new


def appointment_check_in(*, actor, appointment_id) -> Appointment:
    """The patient has arrived (or joined the call): the desk checks them in."""
    with transaction.atomic():
        appointment = _at_desk(actor, appointment_id)
        if appointment.status == AppointmentStatus.CHECKED_IN:
            return appointment
        _refuse_unless(appointment, AppointmentStatus.BOOKED)
        appointment.status = AppointmentStatus.CHECKED_IN
        appointment.checked_in_at = timezones.now()
        appointment.save(update_fields=["status", "checked_in_at", "updated_at"])
        return appointment


def appointment_no_show(*, actor, appointment_id) -> Appointment:
    """The patient did not come: only once the appointment has started."""
    with transaction.atomic():
        appointment = _at_desk(actor, appointment_id)
        if appointment.status == AppointmentStatus.NO_SHOW:
            return appointment
        _refuse_unless(appointment, AppointmentStatus.BOOKED)
        if appointment.starts_at > timezones.now():
            raise Conflict(
                _("A patient can be marked absent only once the appointment has started."), code="not_started"
            )
        appointment.status = AppointmentStatus.NO_SHOW
        appointment.save(update_fields=["status", "updated_at"])
        listing_changed(appointment.clinic, appointment.doctor)
        return appointment


def appointment_complete(*, actor, appointment_id) -> Appointment:
    """The visit is over: the appointment is completed and committed, after which the database refuses any
    change to it (EHR-3); a care plan step it was booked for is done."""
    from shifa.careplans.actions import steps_appointment_completed

    now = timezones.now()
    with transaction.atomic():
        appointment = _at_desk(actor, appointment_id)
        _refuse_unless(appointment, AppointmentStatus.CHECKED_IN)
        appointment.status = AppointmentStatus.COMPLETED
        appointment.is_committed = True
        appointment.committed_at = now
        appointment.committed_by = actor.user
        appointment.save(
            update_fields=["status", "is_committed", "committed_at", "committed_by", "updated_at"]
        )
        steps_appointment_completed(appointment)
        return appointment


def desk_patient(*, actor, patient_id=None, new_patient: dict | None = None):
    """The patient the desk books for: one the clinic already knows (they have an appointment here), or a new
    record for a walk-in or phone patient."""
    from shifa.records.actions import patient_create
    from shifa.records.models import Patient

    clinic = actor.require_clinic()
    if patient_id is not None:
        patient = (
            Patient.objects.filter(external_id=patient_id, appointments__clinic=clinic).distinct().first()
        )
        if patient is None:
            raise ValidationFailed(
                errors=[FieldError("patient_id", "unknown", _("Choose a patient of this clinic."))]
            )
        return patient
    if not new_patient or not str(new_patient.get("full_name", "")).strip():
        raise ValidationFailed(
            errors=[
                FieldError("patient_id", "required", _("Choose a patient, or give the new patient's name."))
            ]
        )
    return patient_create(full_name=new_patient["full_name"], phone=new_patient.get("phone") or "")


# --- telling the patient (BK-7) -----------------------------------------------------------------------------


def _when(appointment: Appointment, language: str) -> dict:
    local = timezones.to_local(appointment.starts_at, appointment.clinic.time_zone)
    return {
        "clinic": appointment.clinic.display_name(language),
        "doctor": appointment.doctor.full_name,
        "day": f"{local:%Y-%m-%d}",
        "time": f"{local:%H:%M}",
        "visit_type": appointment.visit_type,
    }


def _booked(appointment: Appointment) -> None:
    """The appointment is booked: tell the patient, and queue the reminders the clinic sends (24 h and 2 h
    before by default). Within the booking's transaction: a rollback tells and queues nothing."""
    from shifa.notifications.actions import notify

    from .tasks import remind

    user = appointment.patient.user
    if user is not None:
        notify(
            recipient=user,
            kind="appointment.booked",
            data=_when(appointment, user.language or "ar"),
            idempotency_key=f"appointment-booked:{appointment.pk}",
            clinic=appointment.clinic,
            url="/app/appointments",
        )
    now = timezones.now()
    for hours in queries.booking_policy(appointment.clinic).reminder_hours or []:
        at = appointment.starts_at - dt.timedelta(hours=int(hours))
        if at > now:
            remind.configure(schedule_at=at).defer(appointment_id=appointment.pk, hours=int(hours))


def appointment_remind(*, appointment_pk: int, hours: int) -> bool:
    """Send one reminder, if the appointment is still booked; whether it was sent. Safe to run twice."""
    from shifa.notifications.actions import notify

    appointment = (
        Appointment.unscoped.select_related("clinic", "doctor", "patient__user")
        .filter(pk=appointment_pk)
        .first()
    )
    if appointment is None or appointment.status != AppointmentStatus.BOOKED:
        return False
    user = appointment.patient.user
    if user is None or appointment.starts_at <= timezones.now():
        return False
    notify(
        recipient=user,
        kind="appointment.reminder",
        data={**_when(appointment, user.language or "ar"), "hours": hours},
        idempotency_key=f"appointment-reminder:{appointment.pk}:{hours}",
        clinic=appointment.clinic,
        url="/app/appointments",
    )
    return True


# --- the waiting list -----------------------------------------------------------------------------------------


def waitlist_join(
    *, actor, clinic, doctor_id, visit_type: str, appointment_id=None, before: dt.datetime | None = None
) -> WaitlistEntry:
    """The patient waits for an earlier time with a doctor: before their booked appointment (which is then moved
    when they take the offer), or before a given time. Joining twice changes nothing."""
    from shifa.directory.models import DoctorProfile, VisitType
    from shifa.records.queries import patient_for_user

    now = timezones.now()
    patient = patient_for_user(actor.user)
    if patient is None:
        raise NotFound()
    doctor = _doctor_of(clinic, doctor_id)
    appointment = None
    if appointment_id is not None:
        appointment = (
            Appointment.objects.for_clinic(clinic)
            .filter(
                external_id=appointment_id, patient=patient, doctor=doctor, status=AppointmentStatus.BOOKED
            )
            .first()
        )
        if appointment is None:
            raise ValidationFailed(
                errors=[FieldError("appointment_id", "unknown", _("Choose one of your booked appointments."))]
            )
        visit_type, before = appointment.visit_type, appointment.starts_at
    profile = DoctorProfile.objects.for_clinic(clinic).filter(doctor=doctor).first()
    errors = []
    if visit_type == VisitType.HOME or not profile or visit_type not in profile.visit_types:
        errors.append(
            FieldError(
                "visit_type", "not_offered", _("Only visits at the clinic or by video can wait for a time.")
            )
        )
    if before is None or before <= now:
        errors.append(FieldError("before", "invalid", _("Give a time in the future.")))
    if errors:
        raise ValidationFailed(errors=errors)
    with transaction.atomic():
        existing = (
            WaitlistEntry.objects.for_clinic(clinic)
            .select_for_update()
            .filter(
                patient=patient, doctor=doctor, status__in=[WaitlistStatus.WAITING, WaitlistStatus.OFFERED]
            )
            .first()
        )
        if existing is not None:
            return existing
        return WaitlistEntry.objects.for_clinic(clinic).create(
            clinic=clinic,
            doctor=doctor,
            patient=patient,
            visit_type=visit_type,
            appointment=appointment,
            wanted_before=before,
        )


def waitlist_withdraw(*, actor, entry_id) -> WaitlistEntry:
    from shifa.records.queries import patient_for_user

    patient = patient_for_user(actor.user)
    with transaction.atomic():
        entry = (
            WaitlistEntry.unscoped.select_for_update().filter(external_id=entry_id, patient=patient).first()
            if patient
            else None
        )
        if entry is None:
            raise NotFound()
        if entry.status in {WaitlistStatus.WAITING, WaitlistStatus.OFFERED}:
            entry.status = WaitlistStatus.WITHDRAWN
            entry.save(update_fields=["status", "updated_at"])
        return entry


def _freed(appointment: Appointment, now: dt.datetime) -> None:
    """A held or booked time was given up: its own waiting-list entry ends, and the time is offered to the first
    patient waiting for it."""
    WaitlistEntry.objects.for_clinic(appointment.clinic).filter(
        appointment=appointment, status=WaitlistStatus.WAITING
    ).update(status=WaitlistStatus.WITHDRAWN, updated_at=now)
    lapsed = (
        WaitlistEntry.objects.for_clinic(appointment.clinic)
        .filter(offer=appointment, status=WaitlistStatus.OFFERED)
        .first()
    )
    if lapsed is not None:  # the waiting patient turned the offer down: they keep waiting, for other times
        lapsed.status = WaitlistStatus.WAITING
        lapsed.offer = None
        lapsed.passed = [*lapsed.passed, timezones.isoformat_z(appointment.starts_at)]
        lapsed.save(update_fields=["status", "offer", "passed", "updated_at"])
    _offer(appointment.clinic, appointment.doctor, appointment.starts_at, now)


def _offer(clinic, doctor, starts_at: dt.datetime, now: dt.datetime) -> WaitlistEntry | None:
    """Hold the freed time for the first waiting patient it suits, tell them, and come back when the offer ends."""
    from shifa.access.policies import Actor
    from shifa.notifications.actions import notify

    from .tasks import waitlist_offer_ends

    if starts_at <= now:
        return None
    policy = queries.booking_policy(clinic)
    waiting = (
        WaitlistEntry.objects.for_clinic(clinic)
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("patient__user", "appointment__service", "appointment__insurer")
        .filter(doctor=doctor, status=WaitlistStatus.WAITING, wanted_before__gt=starts_at)
        .order_by("created_at", "pk")
    )
    for entry in waiting:
        if timezones.isoformat_z(starts_at) in entry.passed:
            continue
        source = entry.appointment
        try:
            with transaction.atomic():
                hold = appointment_book(
                    actor=Actor(user=None, clinic=clinic, source="waitlist"),
                    clinic=clinic,
                    patient=entry.patient,
                    doctor_id=doctor.external_id,
                    visit_type=entry.visit_type,
                    starts_at=starts_at,
                    service_id=source.service.external_id if source and source.service_id else None,
                    insurer_code=source.insurer.code if source and source.insurer_id else None,
                    reason=source.reason if source else "",
                    channel=Channel.APP,
                    hold_minutes=policy.offer_minutes,
                )
        except Problem:
            continue  # the time does not suit this patient's visit (too short a gap, too soon): the next one
        entry.status = WaitlistStatus.OFFERED
        entry.offer = hold
        entry.save(update_fields=["status", "offer", "updated_at"])
        user = entry.patient.user
        if user is not None:
            language = user.language or "ar"
            notify(
                recipient=user,
                kind="appointment.waitlist_offer",
                data={
                    **_when(hold, language),
                    "until": f"{timezones.to_local(hold.hold_expires_at, clinic.time_zone):%H:%M}",
                },
                idempotency_key=f"waitlist-offer:{hold.pk}",
                clinic=clinic,
                url=f"/app/appointments/{hold.external_id}",
            )
        waitlist_offer_ends.configure(schedule_at=hold.hold_expires_at + dt.timedelta(seconds=1)).defer(
            entry_id=entry.pk
        )
        return entry
    return None


def _offer_taken(appointment: Appointment, actor, now: dt.datetime) -> None:
    """The waiting patient took the freed time: their later appointment is given up (and offered on in turn)."""
    entry = (
        WaitlistEntry.objects.for_clinic(appointment.clinic)
        .select_related("appointment")
        .filter(offer=appointment, status=WaitlistStatus.OFFERED)
        .first()
    )
    if entry is None:
        return
    entry.status = WaitlistStatus.DONE
    entry.save(update_fields=["status", "updated_at"])
    later = entry.appointment
    if later is not None and later.status == AppointmentStatus.BOOKED:
        later = (
            Appointment.objects.for_clinic(later.clinic)
            .select_for_update()
            .select_related("clinic", "doctor")
            .get(pk=later.pk)
        )
        _cancel(later, actor, "moved to an earlier time", now)
        Appointment.objects.for_clinic(appointment.clinic).filter(pk=appointment.pk).update(
            rescheduled_from=later
        )
        _freed(later, now)


def waitlist_offer_end(*, entry_pk: int) -> bool:
    """The offer's time is up: if the patient did not take it, the time goes to the next waiting patient."""
    now = timezones.now()
    with transaction.atomic():
        entry = (
            WaitlistEntry.unscoped.select_for_update()
            .filter(pk=entry_pk, status=WaitlistStatus.OFFERED)
            .first()
        )
        if entry is None or entry.offer is None:
            return False
        offer = (
            Appointment.unscoped.select_for_update().select_related("clinic", "doctor").get(pk=entry.offer_id)
        )
        if offer.status != AppointmentStatus.HELD or offer.hold_expires_at > now:
            return False
        offer.status = AppointmentStatus.EXPIRED
        offer.save(update_fields=["status", "updated_at"])
        _freed(offer, now)
        return True

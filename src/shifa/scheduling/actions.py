"""Writes of scheduling: the clinic's week, closures, doctors' weeks and time off. Each replaces or adds in one
transaction and refuses overlaps with a field error."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils.translation import gettext as _

from shifa.core.errors import FieldError, NotFound, ValidationFailed

from .models import Closure, DoctorInterval, OpeningInterval, TimeOff


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
    return Closure.objects.for_clinic(clinic).create(
        clinic=clinic, starts_on=starts_on, ends_on=ends_on, reason=reason.strip()[:200]
    )


def closure_remove(*, actor, closure_id) -> None:
    deleted, _ = Closure.objects.for_clinic(actor.require_clinic()).filter(external_id=closure_id).delete()
    if not deleted:
        raise NotFound()


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
    return TimeOff.objects.for_clinic(clinic).create(
        clinic=clinic, doctor=doctor, starts_at=starts_at, ends_at=ends_at, reason=reason.strip()[:200]
    )


def time_off_remove(*, actor, doctor_id, time_off_id) -> None:
    deleted, _ = (
        TimeOff.objects.for_clinic(actor.require_clinic())
        .filter(external_id=time_off_id, doctor__external_id=doctor_id)
        .delete()
    )
    if not deleted:
        raise NotFound()

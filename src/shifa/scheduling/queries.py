"""Reads of scheduling, always within the acting clinic."""

from __future__ import annotations

from .models import Closure, DoctorInterval, OpeningInterval, TimeOff


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

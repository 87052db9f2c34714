"""Reads of scheduling, always within the acting clinic."""

from __future__ import annotations

from .models import Closure, DoctorInterval, OpeningInterval, TimeOff


def clinic_week(*, actor) -> dict[int, list[OpeningInterval]]:
    week: dict[int, list[OpeningInterval]] = {day: [] for day in range(7)}
    for interval in OpeningInterval.objects.for_clinic(actor.require_clinic()):
        week[interval.weekday].append(interval)
    return week


def closure_list(*, actor) -> list[Closure]:
    return list(Closure.objects.for_clinic(actor.require_clinic()).order_by("starts_on"))


def doctor_week(*, actor, doctor) -> dict[int, list[DoctorInterval]]:
    week: dict[int, list[DoctorInterval]] = {day: [] for day in range(7)}
    for interval in DoctorInterval.objects.for_clinic(actor.require_clinic()).filter(doctor=doctor):
        week[interval.weekday].append(interval)
    return week


def time_off_list(*, actor, doctor=None) -> list[TimeOff]:
    qs = TimeOff.objects.for_clinic(actor.require_clinic()).select_related("doctor").order_by("starts_at")
    return list(qs.filter(doctor=doctor) if doctor is not None else qs)

"""Reads of medication reminders for the patient: a day's doses and adherence."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q

from shifa.core import timezones

from .models import Dose, DoseStatus


@dataclass(frozen=True)
class Adherence:
    taken: int
    skipped: int
    missed: int

    @property
    def answered_or_missed(self) -> int:
        return self.taken + self.skipped + self.missed

    @property
    def percent(self) -> int | None:
        """Doses taken of those whose time has come and gone (None before any)."""
        total = self.answered_or_missed
        return round(100 * self.taken / total) if total else None


def adherence(patient, *, days: int = 30, now: dt.datetime | None = None) -> Adherence:
    now = now or timezones.now()
    counts = Dose.unscoped.filter(
        patient=patient, due_at__gte=now - dt.timedelta(days=days), due_at__lte=now
    ).aggregate(
        taken=Count("id", filter=Q(status=DoseStatus.TAKEN)),
        skipped=Count("id", filter=Q(status=DoseStatus.SKIPPED)),
        missed=Count("id", filter=Q(status=DoseStatus.MISSED)),
    )
    return Adherence(**counts)


def my_doses(*, actor, patient_id=None, day: dt.date | None = None):
    """One local day of my (or a dependant's) doses, cancelled ones left out, with 30 days' adherence."""
    from shifa.records.policies import own_patient

    from .actions import patient_zone

    patient = own_patient(actor, patient_id)
    zone = patient_zone(patient)
    day = day or timezones.to_local(timezones.now(), zone).date()
    start, end = timezones.local_day_bounds(day, zone)
    doses = list(
        Dose.unscoped.filter(patient=patient, due_at__gte=start, due_at__lt=end)
        .exclude(status=DoseStatus.CANCELLED)
        .select_related("schedule__prescription__medication")
        .order_by("due_at", "id")
    )
    return patient, zone, day, doses, adherence(patient)

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


@dataclass(frozen=True)
class Day:
    day: dt.date
    taken: int
    skipped: int
    missed: int

    @property
    def percent(self) -> int | None:
        total = self.taken + self.skipped + self.missed
        return round(100 * self.taken / total) if total else None


def daily_adherence(patient, *, zone: str, days: int = 30, now: dt.datetime | None = None) -> list[Day]:
    """Day by day (in ``zone``) over the last ``days`` days, today included: doses taken, skipped and missed."""
    from django.db.models.functions import TruncDate

    now = now or timezones.now()
    today = timezones.to_local(now, zone).date()
    first = today - dt.timedelta(days=days - 1)
    start = timezones.local_day_bounds(first, zone)[0]
    rows = (
        Dose.unscoped.filter(patient=patient, due_at__gte=start, due_at__lte=now)
        .annotate(day=TruncDate("due_at", tzinfo=timezones.zone(zone)))
        .values("day")
        .annotate(
            taken=Count("id", filter=Q(status=DoseStatus.TAKEN)),
            skipped=Count("id", filter=Q(status=DoseStatus.SKIPPED)),
            missed=Count("id", filter=Q(status=DoseStatus.MISSED)),
        )
    )
    found = {r["day"]: r for r in rows}
    result = []
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        row = found.get(day, {})
        result.append(Day(day, row.get("taken", 0), row.get("skipped", 0), row.get("missed", 0)))
    return result


@dataclass(frozen=True)
class PatientAdherence:
    patient: object
    zone: str
    summary: Adherence
    days: list[Day]
    schedules: list


def _adherence_of(patient, zone: str, schedules) -> PatientAdherence:
    return PatientAdherence(
        patient=patient,
        zone=zone,
        summary=adherence(patient),
        days=daily_adherence(patient, zone=zone),
        schedules=list(schedules),
    )


def _schedules(patient):
    from .models import DoseSchedule, ScheduleStatus

    return (
        DoseSchedule.unscoped.filter(patient=patient, status=ScheduleStatus.ACTIVE)
        .select_related("prescription__medication", "clinic")
        .order_by("created_at")
    )


def my_adherence(*, actor, patient_id=None) -> PatientAdherence:
    """My (or a dependant's) adherence: 30 days' summary and day by day, and the medicines being reminded."""
    from shifa.records.policies import own_patient

    from .actions import patient_zone

    patient = own_patient(actor, patient_id)
    return _adherence_of(patient, patient_zone(patient), _schedules(patient))


def patient_adherence(*, actor, patient_id) -> PatientAdherence:
    """A patient's adherence for the doctor: doses of every clinic's prescriptions count where the clinic may read
    the whole record; otherwise only the clinic's own prescriptions are listed (the percentages are the patient's).
    """
    from shifa.records.policies import chart_access

    from .actions import patient_zone

    access = chart_access(actor, patient_id)
    schedules = _schedules(access.patient).filter(access.clinics_filter())
    return _adherence_of(access.patient, patient_zone(access.patient), schedules)


def my_readings(*, actor, patient_id=None, code: str, limit: int = 200):
    """One sign over time in my (or a dependant's) record: taken at clinics (committed or outside visits) and at
    home, oldest first."""
    from shifa.records.models import Vital
    from shifa.records.policies import own_patient

    from .models import Reading

    patient = own_patient(actor, patient_id)
    rows = list(
        Vital.unscoped.filter(patient=patient, kind__code=code)
        .filter(Q(visit__isnull=True) | Q(visit__is_committed=True))
        .select_related("kind")
        .order_by("-taken_at")[:limit]
    )
    rows += (
        Reading.objects.filter(patient=patient, kind__code=code)
        .select_related("kind")
        .order_by("-taken_at")[:limit]
    )
    return patient, sorted(rows, key=lambda r: r.taken_at, reverse=True)[:limit][::-1]


def my_devices(*, actor, patient_id=None):
    from shifa.records.policies import own_patient

    from .models import Device

    patient = own_patient(actor, patient_id)
    return patient, list(Device.objects.filter(patient=patient).order_by("status", "-created_at"))


def clinic_alerts(*, actor, open_only: bool = True, limit: int = 200):
    """Alerts raised to the clinic, newest first (only those not yet acknowledged, unless asked)."""
    from .models import Alert

    clinic = actor.require_clinic()
    alerts = Alert.objects.for_clinic(clinic).select_related(
        "patient", "reading__kind", "plan", "acknowledged_by"
    )
    if open_only:
        alerts = alerts.filter(acknowledged_at__isnull=True)
    return list(alerts.order_by("-created_at")[:limit])

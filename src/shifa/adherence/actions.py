"""Writes of medication reminders: schedules made when a visit is committed, replaced by its amendment."""

from __future__ import annotations

from django.db import transaction

from shifa.core import timezones

from . import schedule
from .models import Dose, DoseSchedule, DoseStatus, ScheduleStatus


def patient_zone(patient) -> str:
    """The patient's time zone: their own account's, their guardian's for a dependant, else Amman's."""
    for user in (patient.user, patient.guardian.user if patient.guardian_id else None):
        if user is not None and user.time_zone:
            return user.time_zone
    return timezones.default_zone().key


def schedules_for_visit(visit) -> list[DoseSchedule]:
    """Called in the transaction that commits ``visit``: a schedule for each line of its prescription (lines taken
    when needed have none), and, for an amendment, the earlier version's schedules replaced (future doses
    cancelled)."""
    from shifa.records.models import Prescription, Visit

    now = timezones.now()
    if visit.amends_id:
        versions = Visit.unscoped.filter(pk=visit.amends_id) | Visit.unscoped.filter(
            amends_id=visit.amends_id
        )
        replaced = DoseSchedule.objects.for_clinic(visit.clinic_id).filter(
            prescription__visit__in=versions.exclude(pk=visit.pk), status=ScheduleStatus.ACTIVE
        )
        schedules_end(replaced, status=ScheduleStatus.REPLACED, at=now)
    patient = visit.patient
    zone = patient_zone(patient)
    made = []
    for line in (
        Prescription.objects.for_clinic(visit.clinic_id).filter(visit=visit).order_by("position", "id")
    ):
        if line.frequency in schedule.NO_SCHEDULE:
            continue
        rule = schedule.Line(line.frequency, line.timing, line.duration_days)
        times = schedule.default_times(line.frequency, line.timing)
        start = max(now, visit.started_at)
        due = schedule.dose_times(rule, start=start, zone=zone)
        plan = DoseSchedule.unscoped.create(
            clinic_id=visit.clinic_id,
            patient=patient,
            prescription=line,
            zone=zone,
            times=[t.strftime("%H:%M") for t in times],
        )
        Dose.unscoped.bulk_create(
            Dose(clinic_id=visit.clinic_id, schedule=plan, patient=patient, due_at=at) for at in due
        )
        made.append(plan)
    return made


def schedules_end(schedules, *, status: str, at) -> int:
    """End schedules (stopped or replaced): their doses still to come are cancelled; past ones stay as they were."""
    with transaction.atomic():
        ids = list(schedules.select_for_update().values_list("pk", flat=True))
        Dose.unscoped.filter(schedule_id__in=ids, status=DoseStatus.DUE, due_at__gt=at).update(
            status=DoseStatus.CANCELLED
        )
        return DoseSchedule.unscoped.filter(pk__in=ids).update(status=status, ended_at=at)

"""Writes of medication reminders: schedules made when a visit is committed, replaced by its amendment; due doses
reminded exactly once; unanswered ones marked missed."""

from __future__ import annotations

import datetime as dt

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


#: Doses reminded per transaction: small enough to keep locks short, large enough for 100,000 due in a minute.
DISPATCH_BATCH = 500
#: A dose nobody answered this long after it was due counts as missed.
MISSED_AFTER = dt.timedelta(hours=12)


def _recipient(patient):
    """Who is reminded: the patient's own account, or their guardian's for a dependant (None: no account)."""
    if patient.user_id is not None:
        return patient.user
    return patient.guardian.user if patient.guardian_id and patient.guardian.user_id else None


def doses_dispatch(*, now: dt.datetime | None = None, batch: int = DISPATCH_BATCH) -> int:
    """Remind every dose that is due (oldest first), each exactly once: a batch of due doses is locked (others
    working in parallel skip them), reminded and marked sent in one transaction, and the reminder's idempotency key
    is the dose, so a batch retried after a crash sends nothing twice. Returns how many were reminded."""
    from shifa.notifications.actions import notify

    now = now or timezones.now()
    sent = 0
    while True:
        with transaction.atomic():
            doses = list(
                Dose.unscoped.select_for_update(skip_locked=True, of=("self",))
                .filter(status=DoseStatus.DUE, due_at__lte=now)
                .select_related(
                    "patient__user",
                    "patient__guardian__user",
                    "schedule__prescription__medication",
                    "clinic",
                )
                .order_by("due_at", "id")[:batch]
            )
            if not doses:
                return sent
            for dose in doses:
                recipient = _recipient(dose.patient)
                if recipient is not None:
                    line = dose.schedule.prescription
                    local = timezones.to_local(dose.due_at, dose.schedule.zone)
                    notify(
                        recipient=recipient,
                        kind="dose.due",
                        data={
                            "medication_en": line.medication.name_en,
                            "medication_ar": line.medication.name_ar,
                            "strength": line.strength,
                            "dose": f"{line.dose.normalize():f}",
                            "unit": line.dose_unit,
                            "time": f"{local:%H:%M}",
                            "patient": dose.patient.display_name(recipient.language or "ar"),
                            "for_dependant": dose.patient.user_id is None,
                        },
                        idempotency_key=f"dose:{dose.external_id}",
                        clinic=dose.clinic,
                        url="/app/record",
                    )
            Dose.unscoped.filter(pk__in=[d.pk for d in doses]).update(status=DoseStatus.SENT, sent_at=now)
            sent += len(doses)


def doses_mark_missed(*, now: dt.datetime | None = None) -> int:
    """Doses left unanswered ``MISSED_AFTER`` past their time become missed (adherence counts them)."""
    now = now or timezones.now()
    return Dose.unscoped.filter(
        status__in=[DoseStatus.DUE, DoseStatus.SENT], due_at__lt=now - MISSED_AFTER
    ).update(status=DoseStatus.MISSED)


#: How early a dose may be marked, and how late an answer is still taken.
ANSWER_EARLY = dt.timedelta(hours=1)
ANSWER_LATE = dt.timedelta(hours=48)


def dose_answer(*, actor, dose_id, status: str) -> Dose:
    """The patient (or guardian) marks a dose taken or skipped: from an hour before its time to two days after.
    Answering again (a double tap, or a change of mind) keeps the latest answer."""
    from django.utils.translation import gettext as _

    from shifa.core.errors import Conflict, FieldError, NotFound, ValidationFailed
    from shifa.records.policies import patients_of_user

    if status not in (DoseStatus.TAKEN, DoseStatus.SKIPPED):
        raise ValidationFailed(errors=[FieldError("status", "invalid_choice", _("Choose taken or skipped."))])
    now = timezones.now()
    with transaction.atomic():
        dose = (
            Dose.unscoped.select_for_update()
            .filter(external_id=dose_id, patient__in=patients_of_user(actor.user))
            .first()
        )
        if dose is None:
            raise NotFound()
        if dose.status == DoseStatus.CANCELLED:
            raise Conflict(
                _("This dose was cancelled by a change of the prescription."), code="dose_cancelled"
            )
        if dose.due_at > now + ANSWER_EARLY:
            raise Conflict(_("This dose is not due yet."), code="dose_not_due")
        if dose.due_at < now - ANSWER_LATE:
            raise Conflict(_("This dose is too far in the past to answer."), code="dose_closed")
        dose.status, dose.answered_at = status, now
        dose.save(update_fields=["status", "answered_at", "updated_at"])
        return dose

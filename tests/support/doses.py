"""Medication doses due now, made directly: patients (some of them children reminded through their guardian's
account), each with a committed visit whose prescription lines have an active dose schedule, and doses at the times
asked for. For the dispatch tests, which need many doses and no API round trips."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F

from shifa.access.models import Role
from shifa.adherence.models import Dose, DoseSchedule
from shifa.catalog.models import Medication
from shifa.core import timezones
from shifa.records.models import Patient, Prescription, Visit
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory, UserFactory

ZONE = "Asia/Amman"
#: (medication code, strength, unit, frequency)
LINES = [
    ("amlodipine", "5 mg", "tablet", "once_daily"),
    ("metformin", "500 mg", "tablet", "twice_daily"),
    ("atorvastatin", "20 mg", "tablet", "once_daily"),
    ("omeprazole", "20 mg", "capsule", "once_daily"),
]


@dataclass
class DueDoses:
    clinic: object
    doses: list  # the doses due, ordered as the dispatcher takes them (due time, then id)
    later: list  # one dose per schedule that is not due yet

    def recipient_of(self, dose):
        """The account reminded of ``dose``: the patient's own, or their guardian's."""
        patient = dose.patient
        return patient.user if patient.user_id else patient.guardian.user


def make_due_doses(
    *, patients: int, lines: int, due: list[dt.datetime], every_nth_a_child: int = 5
) -> DueDoses:
    """``patients`` patients, each with ``lines`` prescription lines, each with a dose at every time of ``due``
    (and one a day after the last); one patient in ``every_nth_a_child`` is a child without an account, the
    dependant of the patient made before."""
    clinic = ClinicFactory()
    doctor = UserFactory(full_name="Dr. Reminders")
    MembershipFactory(clinic=clinic, user=doctor, role=Role.objects.get(code="doctor"))
    medications = {m.code: m for m in Medication.objects.filter(code__in=[code for code, *_ in LINES])}
    people = []
    for n in range(patients):
        if n % every_nth_a_child == every_nth_a_child - 1:
            people.append(
                Patient.objects.create(full_name=f"Child {n}", guardian=people[-1], relation="child")
            )
        else:
            user = UserFactory(full_name=f"Patient {n}", language="ar" if n % 2 else "en")
            people.append(PatientFactory(user=user, full_name=f"Patient {n}"))
    started = min(due) - dt.timedelta(days=2)
    visits = Visit.unscoped.bulk_create(
        Visit(
            clinic=clinic,
            patient=patient,
            doctor=doctor,
            created_by=doctor,
            origin="walk_in",
            started_at=started,
        )
        for patient in people
    )
    prescriptions = Prescription.unscoped.bulk_create(
        Prescription(
            clinic=clinic,
            visit=visit,
            medication=medications[code],
            strength=strength,
            dose=Decimal("1"),
            dose_unit=unit,
            frequency=frequency,
            duration_days=30,
            position=position,
        )
        for visit in visits
        for position, (code, strength, unit, frequency) in enumerate(LINES[:lines])
    )
    Visit.unscoped.filter(pk__in=[v.pk for v in visits]).update(
        is_committed=True, committed_at=F("started_at") + dt.timedelta(minutes=20), committed_by=doctor
    )
    by_visit = {v.pk: v.patient for v in visits}
    schedules = DoseSchedule.unscoped.bulk_create(
        DoseSchedule(
            clinic=clinic,
            patient=by_visit[line.visit_id],
            prescription=line,
            zone=ZONE,
            times=sorted({f"{timezones.to_local(at, ZONE):%H:%M}" for at in due}),
        )
        for line in prescriptions
    )
    Dose.unscoped.bulk_create(
        Dose(clinic=clinic, schedule=plan, patient=plan.patient, due_at=at)
        for plan in schedules
        for at in due
    )
    Dose.unscoped.bulk_create(
        Dose(clinic=clinic, schedule=plan, patient=plan.patient, due_at=max(due) + dt.timedelta(days=1))
        for plan in schedules
    )
    doses = list(
        Dose.unscoped.filter(clinic=clinic, due_at__in=due)
        .select_related("patient__user", "patient__guardian__user")
        .order_by("due_at", "id")
    )
    later = list(Dose.unscoped.filter(clinic=clinic).exclude(due_at__in=due))
    return DueDoses(clinic=clinic, doses=doses, later=later)

"""Whose record a clinic may read, and how much of it (ID-5).

* A clinic's clinical staff see a patient only if the patient is the clinic's patient: they have (or had) an
  appointment or a visit there, or they granted the clinic access.
* What the clinic itself wrote is always theirs to read.
* What other clinics wrote is readable only while the patient **has a visit with the clinic** (an appointment
  within a day either side of now that is booked or checked in, a visit being written, or one committed in the
  last day) or while the patient's **grant** to the clinic is in force.
* Secretaries and admins hold no ``records.*`` permission: the routes that return clinical content refuse them
  before any of this runs.
* A patient (or their guardian, for a dependant) sees the whole committed record.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet

from shifa.access.policies import Actor
from shifa.core import timezones
from shifa.core.errors import NotFound

from .models import Grant, Patient

#: How long around an appointment, or after a visit is committed, the clinic counts as caring for the patient.
ENCOUNTER_WINDOW = dt.timedelta(hours=24)


@dataclass(frozen=True)
class ChartAccess:
    """What the acting clinic may read of one patient's record."""

    patient: Patient
    clinic_id: int
    shared: bool  # True: every clinic's content; False: only what this clinic wrote

    def clinics_filter(self, field: str = "clinic_id") -> Q:
        return Q() if self.shared else Q(**{field: self.clinic_id})


def active_grants(at: dt.datetime | None = None) -> Q:
    at = at or timezones.now()
    return Q(revoked_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=at))


def has_grant(patient: Patient, clinic_id: int) -> bool:
    return Grant.objects.filter(active_grants(), patient=patient, clinic_id=clinic_id).exists()


def has_encounter(patient: Patient, clinic_id: int, at: dt.datetime | None = None) -> bool:
    """Whether the patient has a visit with the clinic now (see the module's description)."""
    from shifa.scheduling.models import Appointment, AppointmentStatus

    from .models import Visit

    at = at or timezones.now()
    if (
        Appointment.objects.for_clinic(clinic_id)
        .filter(
            patient=patient,
            status__in=[AppointmentStatus.BOOKED, AppointmentStatus.CHECKED_IN],
            starts_at__gte=at - ENCOUNTER_WINDOW,
            starts_at__lte=at + ENCOUNTER_WINDOW,
        )
        .exists()
    ):
        return True
    return (
        Visit.objects.for_clinic(clinic_id)
        .filter(patient=patient)
        .filter(Q(is_committed=False) | Q(committed_at__gte=at - ENCOUNTER_WINDOW))
        .exists()
    )


def clinic_patients(clinic_id: int) -> QuerySet[Patient]:
    """Patients of the clinic: an appointment or a visit there (ever), or access granted to it. One ``EXISTS`` per
    tie, so that finding one patient costs the same in a clinic with a million appointments."""
    from shifa.scheduling.models import Appointment, AppointmentStatus

    from .models import Visit

    booked = (
        Appointment.objects.for_clinic(clinic_id)
        .filter(patient=OuterRef("pk"))
        .exclude(status__in=[AppointmentStatus.HELD, AppointmentStatus.EXPIRED])
    )
    visited = Visit.objects.for_clinic(clinic_id).filter(patient=OuterRef("pk"))
    granted = Grant.objects.filter(active_grants(), clinic_id=clinic_id, patient=OuterRef("pk"))
    return Patient.objects.filter(Exists(booked) | Exists(visited) | Exists(granted))


def chart_access(actor: Actor, patient_id) -> ChartAccess:
    """The acting clinic's access to a patient's record, or 404 if the patient is not the clinic's patient."""
    clinic = actor.require_clinic()
    patient = clinic_patients(clinic.pk).filter(external_id=patient_id).first()
    if patient is None:
        raise NotFound()
    shared = has_grant(patient, clinic.pk) or has_encounter(patient, clinic.pk)
    return ChartAccess(patient=patient, clinic_id=clinic.pk, shared=shared)


def reads_home_readings(access: ChartAccess) -> bool:
    """Readings the patient takes at home belong to no clinic: a clinic reads them when it may read the whole
    record, or while it follows the patient with an active care plan."""
    from shifa.careplans.models import CarePlan, PlanStatus

    return access.shared or (
        CarePlan.objects.for_clinic(access.clinic_id)
        .filter(patient=access.patient, status=PlanStatus.ACTIVE)
        .exists()
    )


def patients_of_user(user) -> QuerySet[Patient]:
    """The patient a user is, and the dependants they manage."""
    return Patient.objects.filter(Q(user=user) | Q(guardian__user=user))


def own_patient(actor: Actor, patient_id=None) -> Patient:
    """The signed-in patient (``patient_id`` None) or one of their dependants; 404 for anyone else's."""
    if actor.user is None:
        raise NotFound()
    if patient_id is None:
        patient = Patient.objects.filter(user=actor.user).first()
    else:
        patient = patients_of_user(actor.user).filter(external_id=patient_id).first()
    if patient is None:
        raise NotFound()
    return patient


#: The role named in the read log when a reader holds several: the most clinical first.
ROLE_ORDER = ("doctor", "assistant_doctor", "nurse", "clinic_admin", "general_admin", "secretary")


def reading_role(actor: Actor) -> str:
    return next((role for role in ROLE_ORDER if role in actor.roles), next(iter(sorted(actor.roles)), ""))

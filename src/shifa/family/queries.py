"""Reads of Family Doctor: the patient's family doctor, and a doctor's requests and family patients."""

from __future__ import annotations

from django.db.models import QuerySet

from shifa.core.errors import NotFound

from .models import OPEN, FamilyDoctor, FamilyStatus


def _related(qs: QuerySet[FamilyDoctor]) -> QuerySet[FamilyDoctor]:
    return qs.select_related("patient", "doctor", "clinic", "grant", "conversation")


def my_family_doctor(*, actor, patient_id=None) -> FamilyDoctor | None:
    """The patient's family doctor or open request; failing that, the latest one that ended (so that the patient
    sees a decline), or None."""
    from shifa.records.policies import own_patient

    patient = own_patient(actor, patient_id)
    qs = _related(FamilyDoctor.unscoped.filter(patient=patient))
    return qs.filter(status__in=OPEN).first() or qs.order_by("-updated_at", "-pk").first()


def record_shared(relation: FamilyDoctor) -> bool:
    """Whether the doctor's clinic reads the patient's record now through the consent mechanism."""
    from shifa.records.policies import has_grant

    return has_grant(relation.patient, relation.clinic_id)


def _doctor_qs(actor) -> QuerySet[FamilyDoctor]:
    if actor.user is None:
        raise NotFound()
    return _related(FamilyDoctor.objects.for_clinic(actor.require_clinic()).filter(doctor=actor.user))


def doctor_requests(*, actor) -> list[FamilyDoctor]:
    """Requests addressed to the acting doctor at this clinic, oldest first."""
    return list(_doctor_qs(actor).filter(status=FamilyStatus.REQUESTED).order_by("created_at", "pk"))


def doctor_patients(*, actor) -> list[FamilyDoctor]:
    """The acting doctor's family patients at this clinic (paused ones too), by name."""
    return list(
        _doctor_qs(actor)
        .filter(status__in=[FamilyStatus.ACTIVE, FamilyStatus.SUSPENDED])
        .order_by("patient__full_name", "pk")
    )

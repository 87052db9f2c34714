"""Path parameters and bodies of the Family Doctor routes (TM-4: the patient's API and page, the doctor's API and
console page) for the generated route tests (tests/routes.py). Patients who ask hold a real subscription whose plan
includes a family doctor."""

from __future__ import annotations


def _subscribed_patient(user=None):
    """``user``'s own patient (subscribed), or a new subscribed patient with an account of their own."""
    from shifa.records.models import Patient
    from tests.factories import PatientFactory, UserFactory
    from tests.family.support import subscribe

    patient = Patient.objects.filter(user=user).first() if user is not None else None
    patient = patient or PatientFactory(
        user=UserFactory(full_name="Family patient"), full_name="Family patient"
    )
    subscribe(patient)
    return patient


def _doctor_of(clinic, user=None):
    """``user`` if they are a doctor of ``clinic``, else the clinic's doctor (listed on Shifa)."""
    from shifa.tenancy.models import Membership
    from tests.family.support import listed
    from tests.routes import _bookable

    doctor = _bookable(clinic)
    if (
        user is not None
        and Membership.unscoped.filter(clinic=clinic, user=user, role__code="doctor", is_active=True).exists()
    ):
        doctor = user
    return listed(clinic, doctor)


def _request(clinic, doctor, patient=None):
    from shifa.family.models import FamilyDoctor

    patient = patient or _subscribed_patient()
    FamilyDoctor.unscoped.filter(patient=patient, status__in=["requested", "active", "suspended"]).update(
        status="ended"
    )
    return FamilyDoctor.unscoped.create(
        clinic=clinic, patient=patient, doctor=doctor, requested_by=patient.user or doctor
    )


def _family(t) -> str:
    return str(_request(t.clinic, _doctor_of(t.clinic, t.user)).external_id)


def _ask_body(user) -> dict:
    from tests.routes import _clinic_of

    clinic = _clinic_of(None)
    doctor = _doctor_of(clinic)
    _subscribed_patient(user)
    return {"clinic_id": str(clinic.external_id), "doctor_id": str(doctor.external_id)}


def _end_body(user) -> dict:
    from tests.routes import _clinic_of

    patient = _subscribed_patient(user)
    clinic = _clinic_of(None)
    _request(clinic, _doctor_of(clinic), patient)
    return {}


def _end_form(user) -> dict:
    _end_body(user)
    return {"step": "end"}


def _accept_form(user) -> dict:
    from tests.routes import _clinic_of

    clinic = _clinic_of(user)
    return {"step": "accept", "family_id": str(_request(clinic, _doctor_of(clinic, user)).external_id)}


PROVIDERS = {"family_id": _family}
NEEDS_ROUTE: set = set()

BODIES: dict = {
    ("POST", "/api/v1/me/family-doctor"): _ask_body,
    ("POST", "/api/v1/me/family-doctor/end"): _end_body,
    ("POST", "/api/v1/clinics/{clinic_id}/family-doctor/requests/{family_id}/decline"): {"reason": "Full"},
    ("POST", "/app/family-doctor"): _end_form,
    ("POST", "/clinic/{clinic_id}/family-doctor"): _accept_form,
}
QUERIES: dict = {}

"""Building blocks of insurance tests (also used by the generated route tests): a clinic's terms with an insurer,
and invoices of insured visits."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from shifa.access.policies import Actor
from shifa.core import timezones


def insurer(code: str = "jic"):
    from shifa.catalog.actions import reference_list_load
    from shifa.catalog.models import InsuranceCompany

    if not InsuranceCompany.objects.filter(code=code).exists():
        reference_list_load("insurers")
    return InsuranceCompany.objects.get(code=code)


def service(clinic, name_en: str = "Consultation", name_ar: str = "كشف"):
    from shifa.directory.models import Service

    found = Service.unscoped.filter(clinic=clinic, name_en=name_en).first()
    return found or Service.unscoped.create(clinic=clinic, name_en=name_en, name_ar=name_ar)


def terms(clinic, *, code: str = "jic", copay: str = "20", pre_approval: bool = False, covers=None):
    """The clinic accepts the insurer: the patient pays ``copay`` %, for ``covers`` (services; None: all)."""
    from shifa.directory.models import InsurancePartner

    partner, _created = InsurancePartner.unscoped.update_or_create(
        clinic=clinic,
        insurer=insurer(code),
        defaults={"copay_percent": Decimal(copay), "pre_approval_required": pre_approval, "is_active": True},
    )
    partner.covered_services.set(covers or [])
    return partner


def staff(clinic, role: str = "secretary"):
    """A member of ``clinic`` in ``role`` (made when there is none)."""
    from shifa.access.models import Role
    from shifa.tenancy.models import Membership
    from tests.factories import MembershipFactory, UserFactory

    membership = (
        Membership.unscoped.filter(clinic=clinic, role__code=role, is_active=True)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    if membership is None:
        membership = MembershipFactory(
            clinic=clinic,
            user=UserFactory(full_name=f"{role} of {clinic.name_en}"),
            role=Role.objects.get(code=role),
        )
    return membership.user


def actor_of(user, clinic) -> Actor:
    from shifa.access.policies import clinic_roles

    return Actor(user=user, clinic=clinic, roles=clinic_roles(user, clinic))


def insured_invoice(
    clinic,
    *,
    patient=None,
    price: str = "30.000",
    code: str | None = "jic",
    with_service=True,
    discount: str | None = None,
):
    """An invoice of a visit earlier today at ``clinic`` by a patient insured with ``code`` (None: no insurer),
    charging ``price`` (less ``discount``)."""
    from shifa.billing import actions as billing_actions
    from shifa.records.models import Patient
    from shifa.scheduling.models import Appointment

    doctor = _visits_doctor(clinic)
    patient = patient or Patient.objects.create(full_name="Insured patient", full_name_ar="مريض مؤمّن")
    starts = _free_earlier(doctor, minutes=10)
    appointment = Appointment.unscoped.create(
        clinic=clinic,
        doctor=doctor,
        patient=patient,
        service=service(clinic) if with_service else None,
        visit_type="office",
        starts_at=starts,
        ends_at=starts + dt.timedelta(minutes=10),
        status="booked",
        channel="desk",
        price=Decimal(price),
        insurer=insurer(code) if code else None,
    )
    desk = actor_of(staff(clinic, "secretary"), clinic)
    invoice = billing_actions.invoice_open(
        actor=desk,
        patient_id=patient.external_id,
        lines=[{"description": "Consultation", "amount": price}],
        appointment_id=appointment.external_id,
    )
    if discount:
        billing_actions.entry_post(
            actor=desk, invoice_id=invoice.external_id, kind="discount", amount=discount
        )
    return invoice


def covered_invoice(clinic, **kwargs):
    """An insured invoice with its insurer's share posted (the clinic accepting the insurer at 20% co-pay)."""
    from shifa.insurance.actions import apply_coverage

    if not clinic_accepts(clinic, kwargs.get("code", "jic")):
        terms(clinic, code=kwargs.get("code", "jic"))
    invoice = insured_invoice(clinic, **kwargs)
    coverage = apply_coverage(actor=actor_of(staff(clinic, "secretary"), clinic), invoice=invoice)
    assert coverage is not None and coverage.status == "posted"
    return invoice, coverage


def clinic_accepts(clinic, code: str) -> bool:
    from shifa.directory.models import InsurancePartner

    return InsurancePartner.unscoped.filter(clinic=clinic, insurer__code=code, is_active=True).exists()


def today(clinic) -> dt.date:
    return timezones.to_local(timezones.now(), clinic.time_zone).date()


def _free_earlier(doctor, *, minutes: int) -> dt.datetime:
    """The latest ``minutes``-long time before now that the doctor's other appointments leave free."""
    from shifa.scheduling.models import OCCUPYING, Appointment

    length = dt.timedelta(minutes=minutes)
    starts = timezones.now().replace(second=0, microsecond=0) - length
    busy = Appointment.unscoped.filter(doctor=doctor, status__in=[s.value for s in OCCUPYING])
    while True:
        clash = busy.filter(starts_at__lt=starts + length, ends_at__gt=starts).order_by("starts_at").first()
        if clash is None:
            return starts
        starts = clash.starts_at.replace(second=0, microsecond=0) - length


def _visits_doctor(clinic):
    """A doctor of ``clinic`` who sees only these insured visits (so that they never crowd another test's doctor)."""
    from shifa.access.models import Role
    from shifa.tenancy.models import Membership
    from tests.factories import MembershipFactory, UserFactory

    name = f"Insured visits doctor of {clinic.name_en}"
    membership = (
        Membership.unscoped.filter(clinic=clinic, user__full_name=name).select_related("user").first()
    )
    if membership is None:
        membership = MembershipFactory(
            clinic=clinic, user=UserFactory(full_name=name), role=Role.objects.get(code="doctor")
        )
    return membership.user

"""Reads of the directory: a clinic's services and the price that applies."""

from __future__ import annotations

from django.db.models import Prefetch

from .models import Price, Service


def service_list(*, actor, include_retired: bool = False) -> list[Service]:
    clinic = actor.require_clinic()
    qs = Service.objects.for_clinic(clinic).prefetch_related(
        Prefetch(
            "prices",
            queryset=Price.objects.for_clinic(clinic).select_related("doctor").order_by("visit_type"),
        )
    )
    return list(qs if include_retired else qs.filter(is_active=True))


def price_for(*, clinic, service, visit_type: str, doctor=None):
    """The doctor's own price for this visit type if there is one, else the clinic's; None if not offered."""
    prices = Price.objects.for_clinic(clinic).filter(service=service, visit_type=visit_type)
    own = prices.filter(doctor=doctor).first() if doctor is not None else None
    return own or prices.filter(doctor__isnull=True).first()


def service_area_list(*, actor):
    from .models import ServiceArea

    return list(
        ServiceArea.objects.for_clinic(actor.require_clinic()).filter(is_active=True).order_by("name")
    )


def home_visit_area(*, clinic, lat: float, lng: float):
    """The clinic's home-visit area covering the point, if any (the booking issue calls this)."""
    from . import geometry
    from .models import ServiceArea

    for area in ServiceArea.objects.for_clinic(clinic).filter(is_active=True).order_by("pk"):
        if geometry.contains(area, lat, lng):
            return area
    return None


def insurance_partner_list(*, actor):
    from .models import InsurancePartner

    return list(
        InsurancePartner.objects.for_clinic(actor.require_clinic())
        .select_related("insurer")
        .prefetch_related("covered_services")
        .order_by("insurer__name_en")
    )


def clinic_photo_list(*, clinic):
    from .models import ClinicPhoto

    return list(ClinicPhoto.objects.for_clinic(clinic).order_by("position", "pk"))


def clinic_photo_file(*, photo_id):
    """A clinic photo's file for anyone (photos are shown to patients), while the clinic is active."""
    from django.core.files.storage import default_storage

    from shifa.core.errors import NotFound
    from shifa.tenancy.models import ClinicStatus

    from .models import ClinicPhoto

    photo = (
        ClinicPhoto.unscoped.filter(external_id=photo_id, clinic__status=ClinicStatus.ACTIVE)
        .only("image")
        .first()
    )
    if photo is None:
        raise NotFound()
    return default_storage.open(photo.image, "rb")


def clinic_profile(*, clinic):
    from .models import ClinicProfile

    return ClinicProfile.objects.for_clinic(clinic).first()


def doctor_profile(*, clinic, doctor):
    """How ``doctor`` is presented at ``clinic``, with specialties, or None before it is first written."""
    from .models import DoctorProfile

    return (
        DoctorProfile.objects.for_clinic(clinic).filter(doctor=doctor).prefetch_related("specialties").first()
    )


def clinic_doctors(*, actor) -> list[dict]:
    """Every active doctor and assistant doctor of the acting clinic with their profile here (or None)."""
    from shifa.access import catalog
    from shifa.accounts.models import User

    from .models import DoctorProfile

    clinic = actor.require_clinic()
    doctors = (
        User.objects.filter(
            memberships__clinic=clinic,
            memberships__role__code__in=[catalog.DOCTOR, catalog.ASSISTANT_DOCTOR],
            memberships__is_active=True,
        )
        .distinct()
        .order_by("full_name", "pk")
    )
    profiles = {
        p.doctor_id: p
        for p in DoctorProfile.objects.for_clinic(clinic)
        .prefetch_related("specialties")
        .filter(doctor__in=doctors)
    }
    return [{"doctor": d, "profile": profiles.get(d.pk)} for d in doctors]

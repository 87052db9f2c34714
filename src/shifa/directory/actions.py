"""Writes of the directory: services and their prices."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.translation import gettext as _

from shifa.access import catalog
from shifa.core.errors import FieldError, NotFound, ValidationFailed

from .models import Price, Service, VisitType

MAX_PRICE = Decimal("100000.000")


def _amount(raw, field: str) -> tuple[Decimal | None, FieldError | None]:
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        return None, FieldError(field, "invalid", _("Enter an amount in JOD, e.g. 25.500."))
    if not value.is_finite() or value < 0 or value > MAX_PRICE:
        return None, FieldError(field, "out_of_range", _("Enter an amount from 0 to 100000 JOD."))
    if value != value.quantize(Decimal("0.001")):
        return None, FieldError(field, "too_precise", _("JOD have three decimal places at most."))
    return value.quantize(Decimal("0.001")), None


def service_save(
    *, actor, name_ar: str, name_en: str, prices: list[dict], service_id=None, is_active: bool = True
) -> Service:
    """Create or change a service with all its prices (replaced whole). Each price has a visit type, an amount
    and, for a doctor's own price, the doctor."""
    from shifa.accounts.models import User
    from shifa.tenancy.models import Membership

    clinic = actor.require_clinic()
    errors = []
    if not name_ar.strip():
        errors.append(FieldError("name_ar", "required", _("This field is required.")))
    if not name_en.strip():
        errors.append(FieldError("name_en", "required", _("This field is required.")))
    rows, seen = [], set()
    doctors = {}
    for index, price in enumerate(prices):
        field = f"prices.{index}"
        visit_type = price.get("visit_type")
        if visit_type not in VisitType.values:
            errors.append(
                FieldError(f"{field}.visit_type", "invalid_choice", _("Choose office, video or home."))
            )
            continue
        amount, error = _amount(price.get("amount"), f"{field}.amount")
        if error:
            errors.append(error)
            continue
        doctor = None
        if price.get("doctor_id"):
            key = str(price["doctor_id"])
            doctor = doctors.get(key) or User.objects.filter(external_id=key).first()
            if (
                doctor is None
                or not Membership.objects.for_clinic(clinic)
                .filter(
                    user=doctor, role__code__in=[catalog.DOCTOR, catalog.ASSISTANT_DOCTOR], is_active=True
                )
                .exists()
            ):
                errors.append(
                    FieldError(f"{field}.doctor_id", "not_a_doctor", _("Choose a doctor of this clinic."))
                )
                continue
            doctors[key] = doctor
        identity = (visit_type, doctor.pk if doctor else None)
        if identity in seen:
            errors.append(FieldError(field, "duplicate", _("One price per visit type (and doctor).")))
            continue
        seen.add(identity)
        rows.append((visit_type, doctor, amount))
    if errors:
        raise ValidationFailed(errors=errors)
    with transaction.atomic():
        if service_id is None:
            service = Service.objects.for_clinic(clinic).create(
                clinic=clinic, name_ar=name_ar.strip(), name_en=name_en.strip(), is_active=is_active
            )
        else:
            service = (
                Service.objects.for_clinic(clinic).select_for_update().filter(external_id=service_id).first()
            )
            if service is None:
                raise NotFound()
            service.name_ar, service.name_en, service.is_active = name_ar.strip(), name_en.strip(), is_active
            service.save(update_fields=["name_ar", "name_en", "is_active", "updated_at"])
            Price.objects.for_clinic(clinic).filter(service=service).delete()
        Price.objects.for_clinic(clinic).bulk_create(
            [Price(clinic=clinic, service=service, visit_type=v, doctor=d, amount=a) for v, d, a in rows]
        )
    return service

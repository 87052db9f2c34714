"""Writes of the tenancy domain (the full onboarding flow comes with CL-7)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from shifa.access.models import Role
from shifa.core.errors import Conflict, FieldError, ValidationFailed
from shifa.core.timezones import is_valid_zone

from .models import Clinic, ClinicStatus, Institution, Membership


def institution_create(*, owner, name_en: str, name_ar: str) -> Institution:
    """Create an institution owned by its General Admin."""
    return Institution.objects.create(owner=owner, name_en=name_en.strip(), name_ar=name_ar.strip())


def clinic_create(
    *,
    institution: Institution,
    slug: str,
    name_en: str,
    name_ar: str,
    city: str,
    time_zone: str = "Asia/Amman",
    status: str = ClinicStatus.PENDING,
) -> Clinic:
    if not is_valid_zone(time_zone):
        raise ValidationFailed(errors=[FieldError("time_zone", "invalid_choice", _("Unknown time zone."))])
    try:
        with transaction.atomic():
            return Clinic.objects.create(
                institution=institution,
                slug=slug,
                name_en=name_en.strip(),
                name_ar=name_ar.strip(),
                city=city,
                time_zone=time_zone,
                status=status,
            )
    except IntegrityError as exc:
        raise Conflict(_("A clinic with this short name already exists."), code="clinic_exists") from exc


def membership_grant(*, clinic: Clinic, user, role_code: str) -> Membership:
    """Give ``user`` a staff role in ``clinic`` (idempotent: an existing membership is reactivated)."""
    role = Role.objects.filter(code=role_code, kind="staff").first()
    if role is None:
        raise ValidationFailed(errors=[FieldError("role", "invalid_choice", _("Unknown staff role."))])
    with transaction.atomic():
        membership, created = (
            Membership.objects.for_clinic(clinic)
            .select_for_update()
            .get_or_create(clinic=clinic, user=user, role=role)
        )
        if not created and not membership.is_active:
            membership.is_active = True
            membership.save(update_fields=["is_active", "updated_at"])
    return membership

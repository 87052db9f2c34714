"""Which clinics, institutions and memberships an actor may see."""

from __future__ import annotations

from django.db.models import QuerySet

from shifa.access.policies import Actor
from shifa.core.errors import Forbidden

from .models import Clinic, Membership


def visible_memberships(actor: Actor) -> QuerySet[Membership]:
    """Memberships of the actor's acting clinic (never another clinic's)."""
    return Membership.objects.for_clinic(actor.require_clinic())


def visible_clinics_for_platform(actor: Actor) -> QuerySet[Clinic]:
    if not actor.is_platform_admin:
        raise Forbidden()
    return Clinic.objects.all()


EXPIRING_WITHIN_DAYS = 30


def licence_state(licence, today=None) -> str:
    """active, expiring (within 30 days), expired or suspended."""
    import datetime as dt

    from shifa.core import timezones

    from .models import LicenceState

    today = today or timezones.now().date()
    if licence is None:
        return LicenceState.EXPIRED
    if licence.suspended_at is not None:
        return LicenceState.SUSPENDED
    if licence.ends_on < today:
        return LicenceState.EXPIRED
    if licence.ends_on - today <= dt.timedelta(days=EXPIRING_WITHIN_DAYS):
        return LicenceState.EXPIRING
    return LicenceState.ACTIVE


def licence_allows_bookings(clinic, today=None) -> bool:
    """Whether the clinic may take new bookings: its licence is active or expiring. An expired or suspended
    licence stops new bookings only; existing records stay visible."""
    from .models import Licence, LicenceState

    licence = Licence.objects.for_clinic(clinic).first()
    return licence_state(licence, today) in {LicenceState.ACTIVE, LicenceState.EXPIRING}

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

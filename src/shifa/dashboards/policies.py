"""Which dashboard blocks an actor may see. Each block needs the permission of the screens its figures come from:
a clinic's appointments, no-shows and waiting times need ``scheduling.view_appointments``, its revenue
``billing.view``; the platform's bookings, video minutes and Treat Me Now waits need ``platform.view_clinics``, its
revenue ``billing.revenue`` (the platform sees sums only). The clinic may adjust its roles; the blocks follow."""

from __future__ import annotations

from shifa.access.policies import Actor, effective_grants
from shifa.core.errors import Forbidden

#: block → the permission it needs, in the clinic console.
CLINIC_BLOCKS = {
    "appointments": "scheduling.view_appointments",
    "no_shows": "scheduling.view_appointments",
    "waits": "scheduling.view_appointments",
    "revenue": "billing.view",
}

#: block → the permission it needs, in the platform console.
PLATFORM_BLOCKS = {
    "bookings": "platform.view_clinics",
    "video": "platform.view_clinics",
    "urgent": "platform.view_clinics",
    "revenue": "billing.revenue",
}


def _granted(actor: Actor, permissions: set[str]) -> frozenset[str]:
    """The permissions among ``permissions`` the actor holds (in the acting clinic, or the platform's defaults):
    one query for all of them."""
    if actor.user is None or not actor.roles:
        return frozenset()
    return frozenset(
        effective_grants(actor.clinic)
        .filter(role__code__in=actor.roles, permission__codename__in=permissions)
        .values_list("permission__codename", flat=True)
    )


def clinic_blocks(actor: Actor) -> frozenset[str]:
    """The clinic dashboard's blocks the actor may see in the acting clinic."""
    actor.require_clinic()
    granted = _granted(actor, set(CLINIC_BLOCKS.values()))
    return frozenset(block for block, permission in CLINIC_BLOCKS.items() if permission in granted)


def platform_blocks(actor: Actor) -> frozenset[str]:
    """The platform dashboard's blocks the actor may see (platform admins only)."""
    if not actor.is_platform_admin:
        raise Forbidden()
    granted = _granted(actor, set(PLATFORM_BLOCKS.values()))
    return frozenset(block for block, permission in PLATFORM_BLOCKS.items() if permission in granted)


def require_clinic_block(actor: Actor, block: str):
    """The acting clinic, when the actor may see ``block`` of its dashboard; 403 otherwise."""
    clinic = actor.require_clinic()
    if block not in clinic_blocks(actor):
        raise Forbidden()
    return clinic


def require_platform_block(actor: Actor, block: str) -> None:
    if block not in platform_blocks(actor):
        raise Forbidden()

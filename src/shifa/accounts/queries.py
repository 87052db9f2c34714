"""Reads of the accounts domain."""

from __future__ import annotations

from collections import defaultdict

from django.utils.translation import get_language

from shifa.access.policies import Actor, user_roles
from shifa.tenancy.models import Membership
from shifa.tenancy.queries import clinics_of_user


def me_get(*, actor: Actor) -> dict:
    """The signed-in user with every role they hold and the clinics they can act for."""
    user = actor.user
    roles_by_clinic: dict[int, set[str]] = defaultdict(set)
    for clinic_id, code in Membership.unscoped.filter(user=user, is_active=True).values_list(
        "clinic_id", "role__code"
    ):
        roles_by_clinic[clinic_id].add(code)
    language = get_language() or "ar"
    clinics = []
    for clinic in clinics_of_user(user):
        roles = set(roles_by_clinic.get(clinic.pk, set()))
        if clinic.institution.owner_id == user.pk:
            roles.add("general_admin")
        clinics.append(
            {"id": clinic.external_id, "name": clinic.display_name(language), "roles": sorted(roles)}
        )
    return {
        "user": user,
        "roles": sorted(user_roles(user)),
        "is_platform_admin": user.is_platform_admin,
        "clinics": clinics,
    }


def identity_list(*, user) -> list:
    from .models import ExternalIdentity

    return list(ExternalIdentity.objects.filter(user=user).order_by("created_at"))


def second_factor_marker(user) -> str | None:
    """What a web session that passed the second factor remembers: the id of the authenticator app it used.
    Removing or replacing the app changes it, which closes the consoles to every older session."""
    from .models import TotpDevice

    device_id = (
        TotpDevice.objects.filter(user=user, confirmed_at__isnull=False)
        .values_list("external_id", flat=True)
        .first()
    )
    return str(device_id) if device_id else None


def session_passed_second_factor(session, user) -> bool:
    """Whether this web session passed the second factor with the user's current authenticator app."""
    from .actions import SESSION_MFA_PASSED

    marker = session.get(SESSION_MFA_PASSED) if session is not None else None
    return bool(marker) and marker == second_factor_marker(user)


def has_authenticator(user) -> bool:
    """Asked of the database (not of a cached relation), for pages that change it in the same request."""
    return second_factor_marker(user) is not None


def is_staff(user) -> bool:
    """Whether the user works in a clinic or runs the platform (and so must use a second factor)."""
    from shifa.access import catalog

    return bool(set(user_roles(user)) & {*catalog.STAFF_ROLES, catalog.PLATFORM_ADMIN})


def email_in_use(email: str) -> bool:
    from .emails import email_key
    from .models import User

    key = email_key(email)
    return bool(key) and User.objects.filter(email=key).exists()

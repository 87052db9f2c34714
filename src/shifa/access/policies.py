"""Who may do what. ``authorize`` is the one enforcement point used by pages, the API and WebSocket consumers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from shifa.core.errors import Forbidden, NotAuthenticated, NotFound

from . import catalog
from .models import ApiResource, ClinicRolePermission, PermissionScope, RolePermission

if TYPE_CHECKING:
    from shifa.accounts.models import User
    from shifa.tenancy.models import Clinic


@dataclass(frozen=True)
class Actor:
    """Who is acting, and for which clinic. Every action and query takes one."""

    user: User | None
    clinic: Clinic | None = None
    roles: frozenset[str] = field(default_factory=frozenset)
    source: str = "request"

    @property
    def is_authenticated(self) -> bool:
        return self.user is not None

    @property
    def is_platform_admin(self) -> bool:
        return self.user is not None and self.user.is_platform_admin

    def require_clinic(self) -> Clinic:
        if self.clinic is None:
            raise Forbidden(code="clinic_required")
        return self.clinic


def user_roles(user: User) -> frozenset[str]:
    """Every role the user holds anywhere (for permissions whose scope is the user, not a clinic)."""
    from shifa.records.models import Patient
    from shifa.tenancy.models import Institution, Membership

    roles = set(
        Membership.unscoped.filter(user=user, is_active=True).values_list("role__code", flat=True).distinct()
    )
    if Institution.objects.filter(owner=user).exists():
        roles.add(catalog.GENERAL_ADMIN)
    if Patient.objects.filter(user=user).exists():
        roles.add(catalog.PATIENT)
    if user.is_platform_admin:
        roles.add(catalog.PLATFORM_ADMIN)
    return frozenset(roles)


def clinic_roles(user: User, clinic: Clinic) -> frozenset[str]:
    """The roles the user holds in ``clinic`` (a General Admin holds theirs in every clinic they own)."""
    from shifa.tenancy.models import Membership

    roles = set(
        Membership.objects.for_clinic(clinic)
        .filter(user=user, is_active=True)
        .values_list("role__code", flat=True)
    )
    if clinic.institution.owner_id == user.pk:
        roles.add(catalog.GENERAL_ADMIN)
    return frozenset(roles)


def effective_grants(clinic: Clinic | None):
    """RolePermission rows in force: the clinic's adjustment where there is one, else the platform default."""
    qs = RolePermission.objects.select_related("role", "permission")
    if clinic is None:
        return qs.filter(granted_by_default=True)
    adjusted = ClinicRolePermission.objects.for_clinic(clinic).filter(role_permission=OuterRef("pk"))
    return qs.annotate(
        on=Exists(adjusted.filter(granted=True)), off=Exists(adjusted.filter(granted=False))
    ).filter(Q(on=True) | Q(granted_by_default=True, off=False))


def has_permission(roles: frozenset[str], permission: str, clinic: Clinic | None = None) -> bool:
    if not roles:
        return False
    return effective_grants(clinic).filter(role__code__in=roles, permission__codename=permission).exists()


def _find_clinic(value: Any) -> Clinic:
    from shifa.tenancy.models import Clinic

    try:
        external_id = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise NotFound() from None
    clinic = Clinic.objects.select_related("institution").filter(external_id=external_id).first()
    if clinic is None:
        raise NotFound()
    return clinic


def _require_second_factor(user: User, permission, mfa: bool) -> None:
    """Staff work (clinic console, staff API, platform console) needs a sign-in that passed TOTP (ID-6)."""
    if mfa or not catalog.needs_second_factor(permission.codename, permission.scope):
        return
    if not user.has_mfa:
        raise Forbidden(
            _("Set up an authenticator app to open the clinic and platform consoles."),
            code="mfa_enrolment_required",
        )
    raise Forbidden(_("Sign in again with your authenticator code."), code="mfa_required")


def authorize(
    user: User | None, method: str, path: str, params: dict[str, Any], *, mfa: bool = False
) -> Actor:
    """Decide whether ``user`` may call ``method path``; return the actor or raise a Problem.

    * no api_resources row → 403 for everyone, platform admins included (default deny);
    * public row → allowed;
    * otherwise the caller must be signed in and hold the row's permission: in the clinic named by the
      route's ``clinic_id`` (someone with no role there gets 404: another clinic's existence is not theirs
      to learn), on the platform, or as a signed-in user;
    * staff and platform permissions also need ``mfa``: a session or token that passed the second factor.
    """
    resource = ApiResource.objects.select_related("permission").filter(method=method, path=path).first()
    if resource is None:
        raise Forbidden(code="route_not_registered")
    if resource.is_public:
        return Actor(user=user if user is not None and user.is_active else None, source="public")
    if user is None or not user.is_active:
        raise NotAuthenticated()
    permission = resource.permission
    if permission.scope == PermissionScope.PLATFORM:
        roles = frozenset({catalog.PLATFORM_ADMIN}) if user.is_platform_admin else frozenset()
        if not has_permission(roles, permission.codename):
            raise Forbidden()
        _require_second_factor(user, permission, mfa)
        return Actor(user=user, roles=roles)
    if permission.scope == PermissionScope.CLINIC:
        if "clinic_id" not in params:
            raise Forbidden(code="clinic_required")
        clinic = _find_clinic(params["clinic_id"])
        roles = clinic_roles(user, clinic)
        if not roles:
            raise NotFound()
        if not has_permission(roles, permission.codename, clinic):
            raise Forbidden()
        _require_second_factor(user, permission, mfa)
        return Actor(user=user, clinic=clinic, roles=roles)
    roles = user_roles(user)
    if permission.codename in catalog.BASELINE_PERMISSIONS:
        return Actor(user=user, roles=roles)
    if not has_permission(roles, permission.codename):
        raise Forbidden()
    _require_second_factor(user, permission, mfa)
    return Actor(user=user, roles=roles)

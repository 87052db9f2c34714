"""Reads of the access domain."""

from __future__ import annotations

from django.db.models import Exists, OuterRef
from django.utils.translation import gettext

from . import catalog
from .models import ClinicRolePermission, PermissionScope, RolePermission
from .policies import Actor


def clinic_roles_list(*, actor: Actor) -> list[dict]:
    """Each staff role with every clinic permission the platform allows it, whether it is on in this clinic, and
    whether the actor may change it."""
    clinic = actor.require_clinic()
    adjustments = ClinicRolePermission.objects.for_clinic(clinic).filter(role_permission=OuterRef("pk"))
    rows = (
        RolePermission.objects.filter(role__kind="staff", permission__scope=PermissionScope.CLINIC)
        .select_related("role", "permission")
        .annotate(on=Exists(adjustments.filter(granted=True)), off=Exists(adjustments.filter(granted=False)))
        .order_by("role__code", "permission__codename")
    )
    roles: dict[str, dict] = {}
    for rp in rows:
        entry = roles.setdefault(
            rp.role.code,
            {"code": rp.role.code, "name": {"ar": rp.role.name_ar, "en": rp.role.name_en}, "permissions": []},
        )
        entry["permissions"].append(
            {
                "permission": rp.permission.codename,
                "description": gettext(rp.permission.description),
                "granted": rp.on or (rp.granted_by_default and not rp.off),
                "granted_by_default": rp.granted_by_default,
                "locked": (rp.role.code, rp.permission.codename) in catalog.LOCKED_GRANTS
                or catalog.rank({rp.role.code}) >= catalog.rank(actor.roles),
            }
        )
    order = {code: i for i, code in enumerate(catalog.STAFF_ROLES)}
    return sorted(roles.values(), key=lambda r: order.get(r["code"], 99))

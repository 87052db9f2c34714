"""Writes of the access domain: seeding roles, permissions and api_resources from code; clinic adjustments."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from shifa.audit.context import audit_context
from shifa.core.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed

from . import catalog
from .models import ApiResource, ClinicRolePermission, Permission, PermissionScope, Role, RolePermission
from .policies import Actor
from .public_routes import PUBLIC_ROUTES

logger = logging.getLogger(__name__)


class RouteDeclarationError(RuntimeError):
    """A route declares something the access rules do not allow (unknown permission, unlisted public route)."""


@transaction.atomic
def sync_catalog() -> None:
    """Make roles, permissions and role limits in the database equal to ``catalog``."""
    roles = {}
    for spec in catalog.ROLES:
        role, _created = Role.objects.update_or_create(
            code=spec.code, defaults={"kind": spec.kind, "name_en": spec.name_en, "name_ar": spec.name_ar}
        )
        roles[spec.code] = role
    Role.objects.exclude(code__in=roles).delete()
    permissions = {}
    for spec in catalog.PERMISSIONS:
        with translation.override(None):  # store the source text; it is translated when shown
            description = str(spec.description)
        perm, _created = Permission.objects.update_or_create(
            codename=spec.codename, defaults={"scope": spec.scope, "description": description}
        )
        permissions[spec.codename] = perm
    wanted = set()
    for role_code, grants in catalog.ROLE_PERMISSIONS.items():
        for codename, default in grants.items():
            if codename not in permissions:
                raise RouteDeclarationError(f"role {role_code} lists unknown permission {codename}")
            RolePermission.objects.update_or_create(
                role=roles[role_code],
                permission=permissions[codename],
                defaults={"granted_by_default": default},
            )
            wanted.add((role_code, codename))
    for rp in RolePermission.objects.select_related("role", "permission"):
        if (rp.role.code, rp.permission.codename) not in wanted:
            rp.delete()
    Permission.objects.exclude(codename__in=permissions).delete()


@transaction.atomic
def sync_resources() -> int:
    """Make ``api_resources`` equal to the routes declared in code; return how many rows there are.

    A route that declares nothing gets no row and is therefore refused. A route declared public must also be
    in the checked-in allowlist; one that names an unknown permission stops the sync. It runs at every migrate
    (each start): rows are added, changed and removed in a few statements, only where code and table differ.
    """
    from .registry import all_routes

    permissions = {p.codename: p for p in Permission.objects.all()}
    wanted: dict[tuple[str, str], dict] = {}
    for spec in all_routes():
        if spec.public:
            if (spec.method, spec.path) not in PUBLIC_ROUTES:
                raise RouteDeclarationError(
                    f"{spec.method} {spec.path} is declared public but is not in access/public_routes.py"
                )
            wanted[(spec.method, spec.path)] = {
                "name": spec.name,
                "kind": spec.kind,
                "permission_id": None,
                "is_public": True,
            }
        elif spec.permission:
            if spec.permission not in permissions:
                raise RouteDeclarationError(
                    f"{spec.method} {spec.path} needs unknown permission {spec.permission}"
                )
            wanted[(spec.method, spec.path)] = {
                "name": spec.name,
                "kind": spec.kind,
                "permission_id": permissions[spec.permission].pk,
                "is_public": False,
            }
        else:
            logger.warning(
                "route %s %s declares no permission: it is refused to everyone", spec.method, spec.path
            )
    existing = {(r.method, r.path): r for r in ApiResource.objects.select_for_update()}
    added, changed = [], []
    for (method, path), values in wanted.items():
        row = existing.get((method, path))
        if row is None:
            added.append(ApiResource(method=method, path=path, **values))
        elif any(getattr(row, field) != value for field, value in values.items()):
            for field, value in values.items():
                setattr(row, field, value)
            row.updated_at = timezone.now()
            changed.append(row)
    ApiResource.objects.bulk_update(changed, ["name", "kind", "permission", "is_public", "updated_at"])
    ApiResource.objects.bulk_create(added)
    ApiResource.objects.filter(pk__in=[r.pk for key, r in existing.items() if key not in wanted]).delete()
    return len(wanted)


def sync_on_migrate(sender, using=None, **kwargs) -> None:
    """post_migrate hook: seed the access tables from code, as the system."""
    with audit_context(source="migrate"):
        sync_catalog()
        sync_resources()


def role_permission_set(
    *, actor: Actor, role_code: str, codename: str, granted: bool
) -> ClinicRolePermission:
    """Switch a clinic permission on or off for a role in the actor's clinic, within the platform's limit.

    Only permissions that apply within a clinic can be adjusted, and only for roles ranked below the actor's own
    (a clinic admin cannot touch the general admin or other clinic admins).
    """
    clinic = actor.require_clinic()
    role = Role.objects.filter(code=role_code, kind="staff").first()
    if role is None:
        raise NotFound(_("No such role."))
    if catalog.rank({role_code}) >= catalog.rank(actor.roles):
        raise Forbidden(_("You cannot change the permissions of this role."), code="role_not_below_yours")
    with transaction.atomic():
        rp = (
            RolePermission.objects.select_related("role", "permission")
            .filter(role=role, permission__codename=codename, permission__scope=PermissionScope.CLINIC)
            .first()
        )
        if rp is None:
            raise ValidationFailed(
                errors=[
                    FieldError(
                        "permission",
                        "beyond_platform_limit",
                        _("The platform does not allow this role to hold this permission in a clinic."),
                    )
                ]
            )
        if not granted and (role_code, codename) in catalog.LOCKED_GRANTS:
            raise Conflict(_("This permission cannot be taken from this role."), code="locked_permission")
        adjustment, _created = (
            ClinicRolePermission.objects.for_clinic(clinic)
            .select_for_update()
            .get_or_create(clinic=clinic, role_permission=rp, defaults={"granted": granted})
        )
        if adjustment.granted != granted:
            adjustment.granted = granted
            adjustment.save(update_fields=["granted", "updated_at"])
        return adjustment

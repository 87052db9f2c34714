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


def _sync_rows(model, key: tuple[str, ...], wanted: dict[tuple, dict]) -> tuple[dict[tuple, object], list]:
    """Make the rows of ``model`` named by ``wanted`` (their key's values → their other fields' values) hold those
    values: the missing ones are added and only those that differ are changed, in a statement each. Returns the
    wanted rows by key, and the rows ``wanted`` does not name, for the caller to delete in an order its foreign
    keys allow. These syncs run at every migrate, that is at each start."""
    existing = {tuple(getattr(row, field) for field in key): row for row in model.objects.select_for_update()}
    added, changed = [], []
    for values_of_key, values in wanted.items():
        row = existing.get(values_of_key)
        if row is None:
            row = model(**dict(zip(key, values_of_key, strict=True)), **values)
            added.append(row)
            existing[values_of_key] = row
        elif any(getattr(row, field) != value for field, value in values.items()):
            for field, value in values.items():
                setattr(row, field, value)
            row.updated_at = timezone.now()
            changed.append(row)
    fields = sorted({field for values in wanted.values() for field in values})
    model.objects.bulk_update(changed, [*fields, "updated_at"])
    model.objects.bulk_create(added)
    stale = [row for values_of_key, row in existing.items() if values_of_key not in wanted]
    return {values_of_key: existing[values_of_key] for values_of_key in wanted}, stale


def _delete(model, rows: list) -> None:
    model.objects.filter(pk__in=[row.pk for row in rows]).delete()


@transaction.atomic
def sync_catalog() -> None:
    """Make roles, permissions and role limits in the database equal to ``catalog``."""
    roles, stale_roles = _sync_rows(
        Role,
        ("code",),
        {
            (spec.code,): {"kind": spec.kind, "name_en": spec.name_en, "name_ar": spec.name_ar}
            for spec in catalog.ROLES
        },
    )
    with translation.override(None):  # store the source text; it is translated when shown
        declared = {
            (spec.codename,): {"scope": spec.scope, "description": str(spec.description)}
            for spec in catalog.PERMISSIONS
        }
    permissions, stale_permissions = _sync_rows(Permission, ("codename",), declared)
    grants = {}
    for role_code, granted in catalog.ROLE_PERMISSIONS.items():
        for codename, default in granted.items():
            if (codename,) not in permissions:
                raise RouteDeclarationError(f"role {role_code} lists unknown permission {codename}")
            key = (roles[(role_code,)].pk, permissions[(codename,)].pk)
            grants[key] = {"granted_by_default": default}
    _grants, stale_grants = _sync_rows(RolePermission, ("role_id", "permission_id"), grants)
    _delete(RolePermission, stale_grants)
    _delete(Role, stale_roles)
    _delete(Permission, stale_permissions)


@transaction.atomic
def sync_resources() -> int:
    """Make ``api_resources`` equal to the routes declared in code; return how many rows there are.

    A route that declares nothing gets no row and is therefore refused. A route declared public must also be
    in the checked-in allowlist; one that names an unknown permission stops the sync.
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
            permission_id, public = None, True
        elif spec.permission:
            if spec.permission not in permissions:
                raise RouteDeclarationError(
                    f"{spec.method} {spec.path} needs unknown permission {spec.permission}"
                )
            permission_id, public = permissions[spec.permission].pk, False
        else:
            logger.warning(
                "route %s %s declares no permission: it is refused to everyone", spec.method, spec.path
            )
            continue
        wanted[(spec.method, spec.path)] = {
            "name": spec.name,
            "kind": spec.kind,
            "permission_id": permission_id,
            "is_public": public,
        }
    _resources, stale = _sync_rows(ApiResource, ("method", "path"), wanted)
    _delete(ApiResource, stale)
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

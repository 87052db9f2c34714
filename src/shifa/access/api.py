from __future__ import annotations

import uuid

from django.http import HttpRequest
from ninja import Path, Router

from shifa.core.schemas import ERRORS

from . import actions, queries
from .declare import operation
from .schemas import GrantIn, RoleList, RolePermissionOut

router = Router(tags=["access"])


@router.get(
    "/clinics/{clinic_id}/roles",
    response={200: RoleList, **ERRORS},
    operation_id="access_list_roles",
    summary="The clinic's staff roles with their permissions",
    **operation("access.view_roles"),
)
def list_roles(request: HttpRequest, clinic_id: uuid.UUID):
    return {"items": queries.clinic_roles_list(actor=request.actor)}


@router.put(
    "/clinics/{clinic_id}/roles/{role}/permissions/{permission}",
    response={200: RolePermissionOut, **ERRORS, 409: ERRORS[400]},
    operation_id="access_set_role_permission",
    summary="Switch a permission on or off for a role in this clinic (within the platform's limit)",
    **operation("access.manage_roles"),
)
def set_role_permission(
    request: HttpRequest,
    clinic_id: uuid.UUID,
    role: str = Path(..., max_length=40),
    permission: str = Path(..., max_length=80),
    payload: GrantIn = ...,
):
    actions.role_permission_set(
        actor=request.actor, role_code=role, codename=permission, granted=payload.granted
    )
    entry = next(
        p
        for r in queries.clinic_roles_list(actor=request.actor)
        if r["code"] == role
        for p in r["permissions"]
        if p["permission"] == permission
    )
    return entry

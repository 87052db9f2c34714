from __future__ import annotations

import uuid

from django.http import HttpRequest
from ninja import Field as F
from ninja import Query, Router, Schema

from shifa.access.declare import operation
from shifa.core.schemas import ERRORS

from . import queries
from .models import ClinicStatus
from .schemas import ClinicOut, ClinicPage, MembershipOut, MembershipPage

router = Router(tags=["clinics"])


class PageParams(Schema):
    cursor: str | None = None
    limit: int = F(50, ge=1, le=200)


class MemberFilter(PageParams):
    role: str | None = F(None, max_length=40)


class ClinicFilter(PageParams):
    status: ClinicStatus | None = None


@router.get(
    "/clinics/{clinic_id}",
    response={200: ClinicOut, **ERRORS},
    operation_id="tenancy_get_clinic",
    summary="The acting clinic's profile",
    **operation("tenancy.view_clinic"),
)
def get_clinic(request: HttpRequest, clinic_id: uuid.UUID):
    return ClinicOut.from_model(queries.clinic_get(actor=request.actor))


@router.get(
    "/clinics/{clinic_id}/members",
    response={200: MembershipPage, **ERRORS},
    operation_id="tenancy_list_members",
    summary="The clinic's staff and their roles",
    **operation("tenancy.view_members"),
)
def list_members(request: HttpRequest, clinic_id: uuid.UUID, filters: Query[MemberFilter]):
    page = queries.membership_list(
        actor=request.actor, role=filters.role, cursor=filters.cursor, limit=filters.limit
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/clinics/{clinic_id}/members/{membership_id}",
    response={200: MembershipOut, **ERRORS},
    operation_id="tenancy_get_member",
    summary="One staff membership of the clinic",
    **operation("tenancy.view_members"),
)
def get_member(request: HttpRequest, clinic_id: uuid.UUID, membership_id: uuid.UUID):
    return queries.membership_get(actor=request.actor, membership_id=membership_id)


@router.get(
    "/platform/clinics",
    response={200: ClinicPage, **ERRORS},
    operation_id="tenancy_list_platform_clinics",
    summary="Every clinic on the platform (platform console)",
    **operation("platform.view_clinics"),
)
def list_platform_clinics(request: HttpRequest, filters: Query[ClinicFilter]):
    page = queries.clinic_list_for_platform(
        actor=request.actor, status=filters.status, cursor=filters.cursor, limit=filters.limit
    )
    return {"items": [ClinicOut.from_model(c) for c in page.items], "next_cursor": page.next_cursor}

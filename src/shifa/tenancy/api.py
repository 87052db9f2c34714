from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from ninja import Field as F
from ninja import File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from shifa.access.declare import operation
from shifa.core.schemas import ERRORS, ProblemOut

from . import actions, queries
from .models import ApplicationStatus, ClinicStatus
from .schemas import (
    ApplicationIn,
    ApplicationOut,
    ApplicationPage,
    ApplicationReceiptOut,
    ApproveIn,
    ClinicOut,
    ClinicPage,
    InvitationAcceptIn,
    InvitationAcceptOut,
    InvitationIn,
    InvitationOut,
    InvitationPage,
    LicenceOut,
    MembershipOut,
    MembershipPage,
    PlanIn,
    PlanOut,
    ReasonIn,
    RenewIn,
)

router = Router(tags=["clinics"])


class PageParams(Schema):
    cursor: str | None = None
    limit: int = F(50, ge=1, le=200)


class MemberFilter(PageParams):
    role: str | None = F(None, max_length=40)


class ClinicFilter(PageParams):
    status: ClinicStatus | None = None


class ApplicationFilter(PageParams):
    status: ApplicationStatus | None = None


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


class MembershipChangeIn(Schema):
    role: str | None = F(None, max_length=40)
    is_active: bool | None = None


@router.patch(
    "/clinics/{clinic_id}/members/{membership_id}",
    response={200: MembershipOut, **ERRORS, 409: ProblemOut},
    operation_id="tenancy_change_member",
    summary="Change a staff member's role, or switch the membership off or on",
    **operation("tenancy.manage_members"),
)
def change_member(
    request: HttpRequest, clinic_id: uuid.UUID, membership_id: uuid.UUID, payload: MembershipChangeIn
):
    return actions.membership_change(
        actor=request.actor, membership_id=membership_id, role_code=payload.role, is_active=payload.is_active
    )


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


@router.get(
    "/clinics/{clinic_id}/invitations",
    response={200: InvitationPage, **ERRORS},
    operation_id="tenancy_list_invitations",
    summary="Invitations sent by the clinic, newest first",
    **operation("tenancy.manage_invitations"),
)
def list_invitations(request: HttpRequest, clinic_id: uuid.UUID, filters: Query[PageParams]):
    page = queries.invitation_list(actor=request.actor, cursor=filters.cursor, limit=filters.limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post(
    "/clinics/{clinic_id}/invitations",
    response={201: InvitationOut, **ERRORS, 409: ProblemOut, 503: ProblemOut},
    operation_id="tenancy_create_invitation",
    summary="Invite someone by email to the clinic with a staff role (the link expires and works once)",
    **operation("tenancy.manage_invitations"),
)
def create_invitation(request: HttpRequest, clinic_id: uuid.UUID, payload: InvitationIn):
    return Status(
        201, actions.invitation_invite(actor=request.actor, email=payload.email, role_code=payload.role)
    )


@router.delete(
    "/clinics/{clinic_id}/invitations/{invitation_id}",
    response={204: None, **ERRORS},
    operation_id="tenancy_revoke_invitation",
    summary="Withdraw an invitation that has not been accepted",
    **operation("tenancy.manage_invitations"),
)
def revoke_invitation(request: HttpRequest, clinic_id: uuid.UUID, invitation_id: uuid.UUID):
    actions.invitation_revoke(actor=request.actor, invitation_id=invitation_id)
    return HttpResponse(status=204)


@router.post(
    "/invitations/accept",
    response={200: InvitationAcceptOut, **ERRORS, 409: ProblemOut},
    operation_id="tenancy_accept_invitation",
    summary="Accept an invitation as the signed-in user, or create the invited account",
    **operation(public=True, auth=None),
)
def accept_invitation(request: HttpRequest, payload: InvitationAcceptIn):
    invitation, account = actions.invitation_accept(
        token=payload.token,
        user=request.actor.user,
        full_name=payload.full_name,
        password=payload.password,
        language=payload.language,
    )
    return {
        "clinic": ClinicOut.from_model(invitation.clinic),
        "role": invitation.role.code,
        "needs_authenticator": not account.has_mfa,
    }


@router.post(
    "/clinic-applications",
    response={201: ApplicationReceiptOut, **ERRORS},
    operation_id="tenancy_apply",
    summary="A clinic applies to join Shifa (multipart form with its licence documents: PDF, PNG or JPEG)",
    **operation(public=True, auth=None),
)
def apply(request: HttpRequest, payload: Form[ApplicationIn], documents: File[list[UploadedFile]] = None):
    application = actions.application_submit(**payload.dict(), documents=list(documents or []))
    return Status(201, application)


PLATFORM = operation("platform.manage_clinics")


@router.get(
    "/platform/clinic-applications",
    response={200: ApplicationPage, **ERRORS},
    operation_id="tenancy_list_applications",
    summary="Clinic applications, newest first",
    **PLATFORM,
)
def list_applications(request: HttpRequest, filters: Query[ApplicationFilter]):
    page = queries.application_list(status=filters.status, cursor=filters.cursor, limit=filters.limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post(
    "/platform/clinic-applications/{application_id}/approve",
    response={200: ApplicationOut, **ERRORS, 409: ProblemOut, 503: ProblemOut},
    operation_id="tenancy_approve_application",
    summary="Approve: create the clinic, issue its licence and invite its General Admin",
    **PLATFORM,
)
def approve_application(request: HttpRequest, application_id: uuid.UUID, payload: ApproveIn):
    return actions.application_approve(
        actor=request.actor,
        application_id=application_id,
        plan_code=payload.plan,
        months=payload.months,
        seats=payload.seats,
    )


@router.post(
    "/platform/clinic-applications/{application_id}/reject",
    response={200: ApplicationOut, **ERRORS, 409: ProblemOut, 503: ProblemOut},
    operation_id="tenancy_reject_application",
    summary="Reject with a reason the applicant receives",
    **PLATFORM,
)
def reject_application(request: HttpRequest, application_id: uuid.UUID, payload: ReasonIn):
    return actions.application_reject(
        actor=request.actor, application_id=application_id, reason=payload.reason
    )


def _licence_out(licence) -> dict:
    from .policies import licence_state

    return {
        "external_id": licence.external_id,
        "plan": licence.plan.code,
        "seats": licence.seats,
        "starts_on": licence.starts_on,
        "ends_on": licence.ends_on,
        "state": licence_state(licence),
        "suspension_reason": licence.suspension_reason,
    }


@router.post(
    "/platform/licences/{licence_id}/suspend",
    response={200: LicenceOut, **ERRORS},
    operation_id="tenancy_suspend_licence",
    summary="Suspend a clinic's licence (new bookings stop; records stay visible)",
    **PLATFORM,
)
def suspend_licence(request: HttpRequest, licence_id: uuid.UUID, payload: ReasonIn):
    licence = actions.licence_suspend(actor=request.actor, licence_id=licence_id, reason=payload.reason)
    return _licence_out(licence)


@router.post(
    "/platform/licences/{licence_id}/renew",
    response={200: LicenceOut, **ERRORS},
    operation_id="tenancy_renew_licence",
    summary="Extend a licence (and lift a suspension)",
    **PLATFORM,
)
def renew_licence(request: HttpRequest, licence_id: uuid.UUID, payload: RenewIn):
    return _licence_out(
        actions.licence_renew(actor=request.actor, licence_id=licence_id, months=payload.months)
    )


@router.get(
    "/platform/plans",
    response={200: list[PlanOut], **ERRORS},
    operation_id="tenancy_list_plans",
    summary="Subscription plans, retired ones included",
    **PLATFORM,
)
def list_plans(request: HttpRequest):
    return queries.plan_list(include_retired=True)


@router.put(
    "/platform/plans/{code}",
    response={200: PlanOut, **ERRORS},
    operation_id="tenancy_save_plan",
    summary="Create or change a subscription plan",
    **PLATFORM,
)
def save_plan(request: HttpRequest, code: str, payload: PlanIn):
    data = payload.dict()
    data["code"] = code
    return actions.plan_save(**data)

from __future__ import annotations

import datetime as dt
import uuid

from ninja import Field, Schema

from shifa.core.schemas import BilingualText


class ClinicOut(Schema):
    id: uuid.UUID
    slug: str
    name: BilingualText
    city: str
    zone: str
    status: str
    institution: BilingualText

    @staticmethod
    def from_model(clinic) -> dict:
        return {
            "id": clinic.external_id,
            "slug": clinic.slug,
            "name": {"ar": clinic.name_ar, "en": clinic.name_en},
            "city": clinic.city,
            "zone": clinic.time_zone,
            "status": clinic.status,
            "institution": {"ar": clinic.institution.name_ar, "en": clinic.institution.name_en},
        }


class MemberUser(Schema):
    id: uuid.UUID = Field(..., alias="external_id")
    full_name: str
    email: str


class MembershipOut(Schema):
    id: uuid.UUID = Field(..., alias="external_id")
    user: MemberUser
    role: str = Field(..., alias="role.code")
    is_active: bool
    created_at: dt.datetime


class MembershipPage(Schema):
    items: list[MembershipOut]
    next_cursor: str | None


class ClinicPage(Schema):
    items: list[ClinicOut]
    next_cursor: str | None


class InvitationIn(Schema):
    email: str = Field(..., min_length=3, max_length=254)
    role: str = Field(..., min_length=1, max_length=40)


class InvitationOut(Schema):
    id: uuid.UUID = Field(..., alias="external_id")
    email: str
    role: str = Field(..., alias="role.code")
    expires_at: dt.datetime
    accepted_at: dt.datetime | None
    revoked_at: dt.datetime | None
    created_at: dt.datetime


class InvitationPage(Schema):
    items: list[InvitationOut]
    next_cursor: str | None


class InvitationAcceptIn(Schema):
    token: str = Field(..., min_length=10, max_length=200)
    full_name: str = Field("", max_length=200, description="For a new account")
    password: str = Field("", max_length=256, description="For a new account")
    language: str = Field("ar", pattern="^(ar|en)$")


class InvitationAcceptOut(Schema):
    clinic: ClinicOut
    role: str
    needs_authenticator: bool


class ApplicationIn(Schema):
    institution_name_en: str = Field(..., max_length=200)
    institution_name_ar: str = Field(..., max_length=200)
    clinic_name_en: str = Field(..., max_length=200)
    clinic_name_ar: str = Field(..., max_length=200)
    slug: str = Field(
        "", max_length=80, description="Short name for addresses; made from the English name if empty"
    )
    city: str = Field(..., max_length=100)
    moh_licence_number: str = Field(..., max_length=60)
    contact_name: str = Field(..., max_length=200)
    contact_email: str = Field(..., max_length=254)
    contact_phone: str = Field(..., max_length=32)


class ApplicationDocumentOut(Schema):
    name: str
    size: int
    content_type: str
    sha256: str


class ApplicationOut(Schema):
    id: uuid.UUID = Field(..., alias="external_id")
    status: str
    institution_name_en: str
    institution_name_ar: str
    clinic_name_en: str
    clinic_name_ar: str
    slug: str
    city: str
    moh_licence_number: str
    contact_name: str
    contact_email: str
    contact_phone: str
    documents: list[ApplicationDocumentOut]
    decision_reason: str
    created_at: dt.datetime
    decided_at: dt.datetime | None


class ApplicationReceiptOut(Schema):
    id: uuid.UUID = Field(..., alias="external_id")
    status: str


class ApplicationPage(Schema):
    items: list[ApplicationOut]
    next_cursor: str | None


class ApproveIn(Schema):
    plan: str = Field(..., max_length=40)
    months: int = Field(12, ge=1, le=60)
    seats: int | None = Field(None, ge=1, le=10000)


class ReasonIn(Schema):
    reason: str = Field(..., min_length=1, max_length=500)


class RenewIn(Schema):
    months: int = Field(..., ge=1, le=60)


class LicenceOut(Schema):
    id: uuid.UUID = Field(..., alias="external_id")
    plan: str
    seats: int
    starts_on: dt.date
    ends_on: dt.date
    state: str
    suspension_reason: str


class PlanIn(Schema):
    code: str = Field(..., min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")
    name_en: str = Field(..., max_length=100)
    name_ar: str = Field(..., max_length=100)
    price: str = Field(..., max_length=20, description='JOD with three decimals, as a string: "25.000"')
    period: str
    seats: int = Field(..., ge=1, le=10000)
    entitlements: dict = Field(default_factory=dict)
    is_active: bool = True


class PlanOut(Schema):
    code: str
    name_en: str
    name_ar: str
    price: str
    period: str
    seats: int
    entitlements: dict
    is_active: bool

    @staticmethod
    def resolve_price(plan) -> str:
        return f"{plan.price:.3f}"

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

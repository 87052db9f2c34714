from __future__ import annotations

import datetime as dt
import uuid

from ninja import Field, Schema


class TokenIn(Schema):
    email: str = Field(..., min_length=3, max_length=254)
    password: str = Field(..., min_length=1, max_length=256)
    name: str = Field("", max_length=100, description="A label for this sign-in, e.g. the device name")


class UserOut(Schema):
    id: uuid.UUID = Field(..., alias="external_id")
    email: str
    full_name: str
    phone: str
    language: str
    time_zone: str


class TokenOut(Schema):
    token: str
    token_type: str = "Bearer"
    expires_at: dt.datetime
    user: UserOut


class ClinicRef(Schema):
    id: uuid.UUID
    name: str
    roles: list[str]


class MeOut(Schema):
    user: UserOut
    roles: list[str]
    is_platform_admin: bool
    clinics: list[ClinicRef]

from __future__ import annotations

from ninja import Field, Schema

from shifa.core.schemas import BilingualText


class RolePermissionOut(Schema):
    permission: str
    description: str
    granted: bool
    granted_by_default: bool
    locked: bool = Field(..., description="True when the caller cannot change this grant")


class RoleOut(Schema):
    code: str
    name: BilingualText
    permissions: list[RolePermissionOut]


class RoleList(Schema):
    items: list[RoleOut]


class GrantIn(Schema):
    granted: bool

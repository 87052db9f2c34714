from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from pydantic import field_validator

from shifa.access.declare import operation
from shifa.core.schemas import ERRORS

from . import queries

router = Router(tags=["audit"])


class AuditFilter(Schema):
    table: str | None = Field(None, max_length=100)
    entity_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None
    clinic_id: uuid.UUID | None = None
    request_id: str | None = Field(None, max_length=128)
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    cursor: str | None = Field(None, max_length=500, description="Opaque position from next_cursor")
    limit: int = Field(50, ge=1, le=200)

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(_("Give the time with its zone, e.g. 2026-11-25T08:00:00Z."))
        return value


class AuditEventOut(Schema):
    occurred_at: dt.datetime
    table: str
    entity_id: uuid.UUID | None = Field(None, description="Public id of the changed row")
    operation: str
    before: dict[str, Any] | None = Field(None, description="The row before; references are public ids")
    after: dict[str, Any] | None = Field(None, description="The row after; references are public ids")
    changed_fields: list[str]
    actor: uuid.UUID | None = Field(None, description="Public id of the user who made the change")
    clinic: uuid.UUID | None = Field(None, description="Public id of the clinic the change belongs to")
    request_id: str
    source: str = Field(..., description="request, api, page, job:<name>, demo, migrate or database")


class AuditPage(Schema):
    items: list[AuditEventOut]
    next_cursor: str | None


@router.get(
    "/platform/audit-events",
    response={200: AuditPage, **ERRORS},
    operation_id="audit_list_events",
    summary="Search the audit log (newest first)",
    **operation("platform.view_audit"),
)
def list_events(request: HttpRequest, filters: Query[AuditFilter]):
    page = queries.audit_event_list(actor=request.actor, **filters.dict())
    return {"items": queries.present_events(page.items), "next_cursor": page.next_cursor}

"""The audit log for the platform console (EHR-4, PL-2): searchable by entity, actor, clinic and time."""

from __future__ import annotations

import datetime as dt
import uuid

from shifa.access.policies import Actor
from shifa.core.errors import Forbidden
from shifa.core.pagination import Page, paginate

from .models import AuditEvent


def audit_event_list(
    *,
    actor: Actor,
    table: str | None = None,
    entity_id: uuid.UUID | None = None,
    actor_id: uuid.UUID | None = None,
    clinic_id: uuid.UUID | None = None,
    request_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """Newest first. ``actor_id`` and ``clinic_id`` are public ids; unknown ones simply match nothing."""
    from shifa.accounts.models import User
    from shifa.tenancy.models import Clinic

    if not actor.is_platform_admin:
        raise Forbidden()
    qs = AuditEvent.objects.all()
    if table:
        qs = qs.filter(table_name=table)
    if entity_id:
        qs = qs.filter(entity_external_id=entity_id)
    if actor_id:
        qs = qs.filter(actor_id__in=User.objects.filter(external_id=actor_id).values("pk"))
    if clinic_id:
        qs = qs.filter(clinic_id__in=Clinic.objects.filter(external_id=clinic_id).values("pk"))
    if request_id:
        qs = qs.filter(request_id=request_id)
    if since:
        qs = qs.filter(occurred_at__gte=since)
    if until:
        qs = qs.filter(occurred_at__lt=until)
    return paginate(qs, cursor=cursor, limit=limit, newest_first=True)

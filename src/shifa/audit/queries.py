"""The audit log for the platform console (EHR-4, PL-2): searchable by entity, actor, clinic and time."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from typing import Any

from django.apps import apps

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


def _models_by_table() -> dict[str, type]:
    return {m._meta.db_table: m for m in apps.get_models()}


def _public_references(model) -> dict[str, tuple[str, type]]:
    """column → (field name, target model) for each foreign key of ``model`` to a model with a public id."""
    references = {}
    for field in model._meta.concrete_fields:
        target = field.related_model if field.is_relation else None
        if target is not None and any(f.name == "external_id" for f in target._meta.fields):
            references[field.column] = (field.name, target)
    return references


def present_events(events: list[AuditEvent]) -> list[dict[str, Any]]:
    """Audit rows as the API shows them: integer keys never leave the database, so every foreign key in
    ``before``/``after`` becomes the public id of the row it names (``clinic_id: 12`` → ``clinic: <uuid>``), the
    row's own ``id`` is dropped (``entity_id`` is its public id), and the actor and clinic are public ids too.
    One query per referenced model, whatever the page size."""
    from shifa.accounts.models import User
    from shifa.tenancy.models import Clinic

    tables = _models_by_table()
    wanted: dict[type, set[int]] = defaultdict(set)
    for event in events:
        model = tables.get(event.table_name)
        references = _public_references(model) if model else {}
        for row in (event.before, event.after):
            for column, (_name, target) in references.items():
                if row and isinstance(row.get(column), int):
                    wanted[target].add(row[column])
        if event.actor_id:
            wanted[User].add(event.actor_id)
        if event.clinic_id:
            wanted[Clinic].add(event.clinic_id)
    public = {
        target: dict(target._base_manager.filter(pk__in=ids).values_list("pk", "external_id"))
        for target, ids in wanted.items()
    }

    def rewrite(row: dict | None, references: dict) -> dict | None:
        if row is None:
            return None
        shown = {}
        for key, value in row.items():
            if key == "id":
                continue
            if key in references:
                name, target = references[key]
                shown[name] = public[target].get(value) if value is not None else None
            elif key.endswith("_id") and isinstance(value, int):
                continue  # a reference without a public id: not shown
            else:
                shown[key] = value
        return shown

    presented = []
    for event in events:
        model = tables.get(event.table_name)
        references = _public_references(model) if model else {}
        presented.append(
            {
                "occurred_at": event.occurred_at,
                "table": event.table_name,
                "entity_id": event.entity_external_id,
                "operation": event.operation,
                "before": rewrite(event.before, references),
                "after": rewrite(event.after, references),
                "changed_fields": [references.get(f, (f,))[0] for f in (event.changed_fields or [])],
                "actor": public.get(User, {}).get(event.actor_id),
                "clinic": public.get(Clinic, {}).get(event.clinic_id),
                "request_id": event.request_id,
                "source": event.source,
            }
        )
    return presented

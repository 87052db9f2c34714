"""Attaches the database triggers to every concrete domain model, so that no table is forgotten:

* ``audit`` and ``audit_truncate`` on every model of a Shifa app (except the audit table itself);
* ``protect_committed`` and ``commit_needs_time`` on every ``Committable`` model.
"""

from __future__ import annotations

import pgtrigger
from django.apps import apps

from shifa.core.models import Committable, audit_triggers, committed_guard_triggers

#: The audit table and the read log themselves (append-only logs of their own), and read models: derived data rebuilt from audited tables, whose changes would only
#: repeat what the audit log already says (and at a rate of one row per booking per listing).
EXCLUDED = {"audit.AuditEvent", "audit.RecordRead", "directory.DoctorListing"}


def is_domain_model(model) -> bool:
    module = model.__module__
    return (
        not model._meta.abstract
        and not model._meta.proxy
        and model._meta.managed
        and (module.startswith("shifa.") or module.startswith("tests.testapp"))
        and model._meta.label not in EXCLUDED
    )


def domain_models() -> list:
    return [m for m in apps.get_models() if is_domain_model(m)]


def register_all() -> None:
    for model in domain_models():
        names = {t.name for t in getattr(model._meta, "triggers", [])}
        wanted = audit_triggers()
        if issubclass(model, Committable):
            wanted += committed_guard_triggers()
        for trigger in wanted:
            if trigger.name not in names:
                pgtrigger.register(trigger)(model)

"""Base models shared by every domain.

* ``BaseModel``: integer primary key kept inside the database, a UUID ``external_id`` for the outside world,
  created/updated timestamps, and the audit trigger (every insert, update and delete leaves an audit row).
Both get their database triggers from ``shifa.audit.triggers`` (attached to every concrete domain model).

* ``Committable``: EHR-3. Once ``is_committed`` is true the database rejects UPDATE and DELETE of the row;
  corrections are new rows whose ``amends`` points at the original.
"""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .errors import COMMITTED_SQLSTATE


def audit_trigger() -> pgtrigger.Trigger:
    """The row trigger that writes every change of a table to ``audit_event`` (see ``shifa.audit``)."""
    return pgtrigger.Trigger(
        name="audit",
        when=pgtrigger.After,
        operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete,
        func=(
            "PERFORM shifa_audit_write(TG_TABLE_NAME, TG_OP, "
            "CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END, "
            "CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END); RETURN NULL;"
        ),
    )


def committed_guard_triggers() -> list[pgtrigger.Trigger]:
    """Reject UPDATE and DELETE of a committed row, and a commit without its time, whatever sends the statement."""
    guard = pgtrigger.Trigger(
        name="protect_committed",
        when=pgtrigger.Before,
        operation=pgtrigger.Update | pgtrigger.Delete,
        condition=pgtrigger.Q(old__is_committed=True),
        func=(
            "RAISE EXCEPTION 'committed row of % cannot be changed (%)', TG_TABLE_NAME, TG_OP "
            f"USING ERRCODE = '{COMMITTED_SQLSTATE}', HINT = 'Append an amendment instead.'; RETURN NULL;"
        ),
    )
    commit_time = pgtrigger.Trigger(
        name="commit_needs_time",
        when=pgtrigger.Before,
        operation=pgtrigger.Insert | pgtrigger.Update,
        condition=pgtrigger.Q(new__is_committed=True, new__committed_at__isnull=True),
        func="RAISE EXCEPTION 'a committed row of % needs committed_at', TG_TABLE_NAME USING ERRCODE = '23514';",
    )
    return [guard, commit_time]


class BaseModel(models.Model):
    external_id = models.UUIDField(_("id"), default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.external_id}>"


class Committable(models.Model):
    """Mixin for records that become immutable once committed (EHR-3)."""

    is_committed = models.BooleanField(_("committed"), default=False)
    committed_at = models.DateTimeField(_("committed at"), null=True, blank=True)
    committed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("committed by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    amends = models.ForeignKey(
        "self",
        verbose_name=_("amends"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="amendments",
    )

    class Meta:
        abstract = True

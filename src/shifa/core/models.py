"""Base models shared by every domain.

* ``BaseModel``: integer primary key kept inside the database, a UUID ``external_id`` for the outside world,
  created/updated timestamps, and the audit trigger (every insert, update and delete leaves an audit row).
Both get their database triggers from ``shifa.audit.triggers`` (attached to every concrete domain model).

* ``Committable``: EHR-3. Once ``is_committed`` is true the database rejects UPDATE and DELETE of the row;
  corrections are new rows whose ``amends`` points at the original.
"""

from __future__ import annotations

import json
import uuid

import pgtrigger
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _

from .fields import EncryptedTextField


class SharedFunctionTrigger(pgtrigger.Trigger):
    """A trigger that executes one shared PL/pgSQL function, created by the audit app's migration.

    django-pgtrigger's own per-table function starts by consulting the session setting ``pgtrigger.ignore``, so any
    SQL session could switch a trigger off with ``set_config``. The audit and the commit guard must hold against
    that, so their triggers execute our functions, which have no such switch. (pgtrigger still manages the
    triggers' life cycle in migrations.)
    """

    def __init__(self, *, function: str, arguments: tuple[str, ...] = (), **kwargs) -> None:
        self.function = function
        self.arguments = arguments
        super().__init__(func="RETURN NULL;", **kwargs)

    def render_execute(self, model) -> str:
        quoted = ", ".join("'" + argument.replace("'", "''") + "'" for argument in self.arguments)
        return f"{self.function}({quoted})"


def audit_triggers() -> list[pgtrigger.Trigger]:
    """Every insert, update and delete of a row, and every TRUNCATE of the table, is written to ``audit_event``."""
    return [
        SharedFunctionTrigger(
            name="audit",
            when=pgtrigger.After,
            operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete,
            function="shifa_audit_row",
        ),
        SharedFunctionTrigger(
            name="audit_truncate",
            level=pgtrigger.Statement,
            when=pgtrigger.After,
            operation=pgtrigger.Truncate,
            function="shifa_audit_truncate",
        ),
    ]


def committed_guard_triggers() -> list[pgtrigger.Trigger]:
    """Reject UPDATE and DELETE of a committed row, and a commit without its time, whatever sends the statement."""
    return [
        SharedFunctionTrigger(
            name="protect_committed",
            when=pgtrigger.Before,
            operation=pgtrigger.Update | pgtrigger.Delete,
            condition=pgtrigger.Q(old__is_committed=True),
            function="shifa_reject_committed_change",
        ),
        SharedFunctionTrigger(
            name="commit_needs_time",
            when=pgtrigger.Before,
            operation=pgtrigger.Insert | pgtrigger.Update,
            condition=pgtrigger.Q(new__is_committed=True, new__committed_at__isnull=True),
            function="shifa_reject_commit_without_time",
        ),
    ]


def under_committed_triggers(parent_table: str, parent_column: str) -> list[pgtrigger.Trigger]:
    """For a row that belongs to a ``Committable`` parent (a diagnosis in a visit): reject inserting, changing or
    deleting it once the parent is committed. The function waits for a commit in progress (it share-locks the
    parent), so a row cannot slip in beside a concurrent commit."""
    return [
        SharedFunctionTrigger(
            name="under_committed",
            when=pgtrigger.Before,
            operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete,
            function="shifa_reject_change_under_committed",
            arguments=(parent_table, parent_column),
        )
    ]


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


class NamedInTwoLanguages:
    """For models with ``name_ar`` and ``name_en``: the name to show in the reader's language."""

    def display_name(self, language: str) -> str:
        return self.name_ar if language == "ar" else self.name_en


class IdempotentRequest(BaseModel):
    """The first answer to a request sent with an ``Idempotency-Key`` (API.md): a repeat gets it back instead
    of doing the work twice. Kept per user; only successful answers are kept, so a failed request may be retried
    with the same key."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body")
    status_code = models.PositiveSmallIntegerField(null=True)
    #: The answer as JSON, encrypted: answers may carry clinical content (shifa.core.keys).
    sealed_response = EncryptedTextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="core_idempotency_once_per_key")]

    def __str__(self) -> str:
        return self.key

    @property
    def response(self):
        return json.loads(self.sealed_response) if self.sealed_response else None

    @response.setter
    def response(self, value) -> None:
        self.sealed_response = json.dumps(value, cls=DjangoJSONEncoder)


class DataKey(BaseModel):
    """A data key for field encryption, wrapped by a master key of the key provider (``shifa.core.keys``)."""

    master_key_id = models.CharField(max_length=64)
    wrapped = models.BinaryField()
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "core_data_key"

    def __str__(self) -> str:
        return f"data key {self.pk} (under {self.master_key_id})"

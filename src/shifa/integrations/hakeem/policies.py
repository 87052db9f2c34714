"""Who sees what of the Hakeem sync (HK-1, HK-2).

A clinic sees its own outbox and third-party orders, with its patients' names (``hakeem.view_sync``). The platform
sees every clinic's outbox as a technical monitor (``hakeem.monitor``): clinic, kind of record, FHIR resource, our
identifier, attempts, errors and Hakeem's id, never a patient's name or anything clinical; the queries it calls
load neither."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from shifa.access.policies import Actor, has_permission
from shifa.core import timezones
from shifa.core.errors import Conflict, Forbidden

from .models import SyncRecord, SyncState, ThirdPartyOrder

#: What the platform may send again: a failed record, or one still waiting (e.g. its job was lost). An
#: acknowledged record is not resent (an amendment queues it again); one being sent is left to its sender unless
#: the sender is long gone (``actions.SENDING_STALE_AFTER``).
RETRYABLE_STATES = (SyncState.FAILED, SyncState.PENDING)


def clinic_records(actor: Actor) -> QuerySet[SyncRecord]:
    """The acting clinic's outbox."""
    return SyncRecord.objects.for_clinic(actor.require_clinic())


def clinic_third_party_orders(actor: Actor) -> QuerySet[ThirdPartyOrder]:
    """The acting clinic's orders fulfilled at Hakeem facilities."""
    return ThirdPartyOrder.objects.for_clinic(actor.require_clinic())


def may_view_sync(actor: Actor) -> bool:
    """Whether the actor may see how the acting clinic's records are doing on Hakeem (e.g. on a visit's page)."""
    return actor.clinic is not None and has_permission(actor.roles, "hakeem.view_sync", actor.clinic)


def monitored_records(actor: Actor) -> QuerySet[SyncRecord]:
    """Every clinic's outbox, for the platform's monitor. The caller must not load the patient."""
    if not actor.is_platform_admin:
        raise Forbidden()
    return SyncRecord.unscoped.all()


def may_retry(record: SyncRecord) -> bool:
    """Whether the platform may send ``record`` again now."""
    from .actions import SENDING_STALE_AFTER

    if record.state == SyncState.SENDING:
        return (
            record.last_attempt_at is None or record.last_attempt_at < timezones.now() - SENDING_STALE_AFTER
        )
    return record.state in RETRYABLE_STATES


def require_retryable(record: SyncRecord) -> None:
    """409 unless the platform may send ``record`` again now."""
    if may_retry(record):
        return
    if record.state == SyncState.ACKNOWLEDGED:
        raise Conflict(
            _("Hakeem has already acknowledged this record; it is sent again only when it changes."),
            code="already_acknowledged",
        )
    raise Conflict(_("This record is being sent right now. Try again in a few minutes."), code="being_sent")

"""Path parameters of the Hakeem sync consoles' routes for the generated route tests (tests/routes.py): the
platform's monitor (a failed record to send again; a clinic's failed records, by ``managed_clinic_id``) and the
clinic's sync states and third-party orders (only ``clinic_id``)."""

from __future__ import annotations

import datetime as dt


def failed_record(clinic, patient=None, *, error: str = "Hakeem answered 503: Service Unavailable"):
    """A failed outbox row of ``clinic``: the Patient resource of a (new) patient, tried once."""
    from shifa.core import timezones
    from shifa.integrations.hakeem.models import Kind, SyncRecord, SyncState
    from shifa.records.models import Patient

    patient = patient or Patient.objects.create(full_name="Synced patient")
    now = timezones.now()
    record, _created = SyncRecord.unscoped.update_or_create(
        clinic=clinic,
        kind=Kind.PATIENT,
        key=patient.external_id,
        defaults={
            "patient": patient,
            "resource_type": "Patient",
            "state": SyncState.FAILED,
            "attempts": 1,
            "last_attempt_at": now,
            "next_attempt_at": now + dt.timedelta(seconds=30),
            "last_error": error,
        },
    )
    return record


def _record(t) -> str:
    return str(failed_record(t.clinic).external_id)


PROVIDERS: dict = {"record_id": _record}
NEEDS_ROUTE: set = set()
BODIES: dict = {}
QUERIES: dict = {}

"""Reads of history imports from Hakeem (HK-3), scoped to the acting clinic and to patients it cares for."""

from __future__ import annotations

import datetime as dt

from shifa.access.policies import Actor, has_permission
from shifa.core import timezones
from shifa.core.errors import NotFound
from shifa.integrations.hakeem.models import HistoryImport, ImportState
from shifa.records import policies
from shifa.records.models import Patient


def history_imports(*, actor: Actor, patient_id, limit: int = 10) -> tuple[Patient, list[HistoryImport]]:
    """The patient (404 unless the clinic cares for them) and the clinic's latest imports of their history."""
    access = policies.chart_access(actor, patient_id)
    rows = (
        HistoryImport.objects.for_clinic(access.clinic_id)
        .filter(patient=access.patient)
        .select_related("requested_by")
        .order_by("-created_at", "-id")[: max(1, min(limit, 50))]
    )
    return access.patient, list(rows)


def reads_clinical_content(actor: Actor) -> bool:
    """Whether the summary may name what was left out (medicines, diagnoses): for those who may read the chart;
    the others (a clinic admin) see the counts."""
    return has_permission(actor.roles, "records.view_chart", actor.clinic)


#: A failed import may be tried again on the consent the patient gave for it for this long; later, ask them again.
RETRY_CONSENT_FOR = dt.timedelta(hours=12)


def history_import_get(*, actor: Actor, patient_id, import_id) -> tuple[Patient, HistoryImport]:
    """The patient and one of the clinic's imports of their history (404 unless the clinic cares for the patient
    and the import is its own)."""
    access = policies.chart_access(actor, patient_id)
    row = (
        HistoryImport.objects.for_clinic(access.clinic_id)
        .filter(patient=access.patient, external_id=import_id)
        .select_related("requested_by")
        .first()
    )
    if row is None:
        raise NotFound()
    return access.patient, row


def may_retry(row: HistoryImport) -> bool:
    """Whether a failed import may be started again on the consent given for it (given recently enough)."""
    return row.state == ImportState.FAILED and row.consented_at >= timezones.now() - RETRY_CONSENT_FOR

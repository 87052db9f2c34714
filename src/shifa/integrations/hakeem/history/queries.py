"""Reads of history imports from Hakeem (HK-3), scoped to the acting clinic and to patients it cares for."""

from __future__ import annotations

from shifa.access.policies import Actor, has_permission
from shifa.integrations.hakeem.models import HistoryImport
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

"""Path parameters and bodies of the routes of history imports from Hakeem (HK-3) for the generated route tests
(tests/routes.py): the API (start an import, list them) and the chart's "Hakeem history" page. An import needs the
patient's national ID, so the patient of these routes gets one."""

from __future__ import annotations

import random

from shifa.access.registry import RouteSpec

_API = "/api/v1/clinics/{clinic_id}/patients/{patient_id}/hakeem-imports"
_PAGE = "/clinic/{clinic_id}/patients/{patient_id}/hakeem"


def give_national_id(patient) -> None:
    """A national number nobody else on the platform has, for ``patient``."""
    from shifa.records.actions import national_id_index
    from shifa.records.models import Patient

    while True:
        value = f"9{random.randrange(10**9):09d}"
        if not Patient.objects.filter(national_id_index=national_id_index(value)).exists():
            break
    patient.national_id = value
    patient.national_id_index = national_id_index(value)
    patient.save(update_fields=["national_id", "national_id_index", "updated_at"])


def _patient(t, spec: RouteSpec) -> str:
    """The patient of tests/routes.py; on the import routes, with a national ID (so that an import can start)."""
    from shifa.records.models import Patient
    from tests.routes import _record_patient

    patient_id = _record_patient(t, spec)
    if spec.path in (_API, _PAGE):
        patient = Patient.objects.get(external_id=patient_id)
        if not patient.national_id:
            give_national_id(patient)
    return patient_id


PROVIDERS: dict = {"patient_id": _patient}
NEEDS_ROUTE: set = {"patient_id"}
BODIES: dict = {
    ("POST", _API): {"consent": True},
    ("POST", _PAGE): {"consent": "on", "back": "page"},
}
QUERIES: dict = {}

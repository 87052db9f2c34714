"""Path parameters and bodies of the routes of history imports from Hakeem (HK-3) for the generated route tests
(tests/routes.py): the API (start an import, list them), the chart's "Hakeem history" page, one import's progress
and trying a failed one again. An import needs the patient's national ID, so the patient of these routes gets one."""

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
    if spec.path in (_API, _PAGE) or spec.path.startswith(f"{_PAGE}/imports/"):
        patient = Patient.objects.get(external_id=patient_id)
        if not patient.national_id:
            give_national_id(patient)
    return patient_id


def failed_import(clinic, patient, *, by=None):
    """An import of ``patient``'s history by ``clinic`` that failed just now (Hakeem could not be reached): one
    that may be tried again on the consent given for it."""
    from shifa.core import timezones
    from shifa.integrations.hakeem.history import summary
    from shifa.integrations.hakeem.models import HistoryImport, ImportState
    from shifa.tenancy.models import Membership

    if by is None:
        by = Membership.unscoped.filter(clinic=clinic).select_related("user").first().user
    now = timezones.now()
    return HistoryImport.unscoped.create(
        clinic=clinic,
        patient=patient,
        requested_by=by,
        consent="in_person",
        consented_at=now,
        state=ImportState.FAILED,
        summary={"error_code": summary.UNAVAILABLE},
        error="Hakeem answered 503: Service Unavailable",
        finished_at=now,
    )


def _import(t) -> str:
    """A failed import of the route's patient (with a national ID) by the target clinic."""
    from tests.routes import _patient_in_care

    patient = _patient_in_care(t)
    if not patient.national_id:
        give_national_id(patient)
    return str(failed_import(t.clinic, patient).external_id)


PROVIDERS: dict = {"patient_id": _patient, "import_id": _import}
NEEDS_ROUTE: set = {"patient_id"}
BODIES: dict = {
    ("POST", _API): {"consent": True},
    ("POST", _PAGE): {"consent": "on", "back": "page"},
}
QUERIES: dict = {}

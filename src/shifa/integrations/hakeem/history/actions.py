"""Importing a patient's history from Hakeem (HK-3): starting an import with the patient's consent, and the job
that files what Hakeem holds into the record.

Filing. Every row gets ``hakeem_ref`` (``<Type>/<id>`` of the Hakeem resource), ``recorded_by`` = who started
the import and ``clinic`` = the importing clinic; rows are created here, not through the record actions, so the
sync hooks never queue them back to Hakeem (no ``SyncRecord``). Each resource is filed in its own transaction
with the patient row locked, so that two imports running at once cannot file the same thing twice.

Not filed twice — a resource is "already in the record" when
- a row imported from it exists (same patient and ``hakeem_ref``, whichever clinic imported it: the record is
  one across the platform); or
- the record holds the same fact, recorded by any clinic: an active chronic condition with the same ICD-9-CM
  code (a resolved one when Hakeem's is resolved too); an allergy to the same medicine or substance; an active
  current medicine of the same catalog medicine (any, when Hakeem's is no longer taken); the same vaccine given
  the same day; a reading of the same sign taken at the same moment with the same value. Facts entered in error
  do not count. The summary gives only counts of these, never what another clinic wrote.
- Resources carrying one of our own identifiers (``fhir.ID_SYSTEM``) came from Shifa: counted, never imported.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils.translation import gettext as _

from shifa.audit.context import audit_context
from shifa.core import timezones
from shifa.core.errors import Conflict, FieldError, Problem
from shifa.integrations.hakeem import client as hakeem
from shifa.integrations.hakeem import fhir
from shifa.integrations.hakeem.models import HistoryImport, ImportState, ImportStep
from shifa.records import policies
from shifa.records.models import (
    Allergy,
    Condition,
    FactStatus,
    Immunization,
    MedicationStatement,
    Patient,
    Vital,
)

# ``tasks``: procrastinate's autodiscovery imports ``<app>.tasks`` (``shifa.integrations.hakeem.tasks``), not this
# sub-package's; importing the job here registers it wherever an import can be started.
from . import queries, reading, tasks
from . import summary as words

logger = logging.getLogger(__name__)

#: The patient agreed in person, to the clinic's staff member who starts the import.
IN_PERSON = "in_person"
#: An import still "running" this long after it started has lost its job (a worker that died): another may start.
STALE_AFTER = dt.timedelta(minutes=30)
#: At most this many resources of one patient's history are read in one import.
RESOURCE_LIMIT = 5000
#: At most this many left-out resources are listed by name in the summary (all are counted).
LEFT_OUT_LIMIT = 200
#: While filing, the count of resources gone through is written about this many times (not once per resource).
PROGRESS_WRITES = 20


class ConsentMissing(Problem):
    status = 400
    code = "consent_required"


def history_import_start(*, actor, patient_id, consent: bool) -> HistoryImport:
    """With the patient's consent (given in person, confirmed by the staff member), import their history from
    Hakeem into their record: 400 without consent, 409 without a national ID; the clinic must be caring for the
    patient (404 otherwise). A second start while one runs for the patient at this clinic returns that one."""
    access = policies.chart_access(actor, patient_id)
    if consent is not True:
        raise ConsentMissing(
            _("The patient's consent is needed to import their history from Hakeem."),
            errors=[
                FieldError(
                    "consent",
                    "required",
                    _("Confirm that the patient agreed to import their history from Hakeem."),
                )
            ],
        )
    _require_national_id(access.patient)
    return _start(actor, access, consented_at=timezones.now())


def history_import_retry(*, actor, patient_id, import_id) -> HistoryImport:
    """Start again an import of the acting clinic that failed, on the consent the patient gave for it (given less
    than ``queries.RETRY_CONSENT_FOR`` ago; 409 after that, or when it did not fail: start a new one with their consent).
    404 unless the clinic cares for the patient and the import is its own."""
    access = policies.chart_access(actor, patient_id)
    _patient, failed = queries.history_import_get(actor=actor, patient_id=patient_id, import_id=import_id)
    if failed.state != ImportState.FAILED:
        raise Conflict(_("Only an import that failed can be tried again."), code="import_not_failed")
    if not queries.may_retry(failed):
        raise Conflict(
            _("The patient agreed to that import a while ago: ask them again, and start a new import."),
            code="consent_expired",
        )
    _require_national_id(access.patient)
    return _start(actor, access, consented_at=failed.consented_at)


def _require_national_id(patient: Patient) -> None:
    if not patient.national_id:
        raise Conflict(
            _(
                "This patient has no national ID on Shifa, and Hakeem finds patients by national ID. Add it to "
                "their record first."
            ),
            code="no_national_id",
        )


def _start(actor, access, *, consented_at) -> HistoryImport:
    """Create the running import and defer its job, unless one runs already for the patient (see above)."""
    patient = access.patient
    now = timezones.now()
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        running = (
            HistoryImport.unscoped.select_for_update()
            .filter(patient=patient, state=ImportState.RUNNING)
            .first()
        )
        if running is not None:
            if running.created_at < now - STALE_AFTER:
                _finish(running, ImportState.FAILED, {"error_code": words.STALLED}, "no answer from the job")
            elif running.clinic_id == access.clinic_id:
                return running
            else:
                raise Conflict(
                    _(
                        "This patient's history is being imported from Hakeem right now. Try again in a few minutes."
                    ),
                    code="import_running",
                )
        started = HistoryImport.unscoped.create(
            clinic_id=access.clinic_id,
            patient=patient,
            requested_by=actor.user,
            consent=IN_PERSON,
            consented_at=consented_at,
            state=ImportState.RUNNING,
        )
        tasks.history_import.defer(import_id=started.pk)
        return started


def _finish(row: HistoryImport, state: str, summary: dict, error: str = "") -> HistoryImport:
    """Write how the import ended, unless it ended already (marked stalled meanwhile)."""
    with transaction.atomic():
        current = HistoryImport.unscoped.select_for_update().get(pk=row.pk)
        if current.state != ImportState.RUNNING:
            return current
        current.state = state
        current.summary = summary
        current.error = error[:4000]
        current.finished_at = timezones.now()
        current.save(update_fields=["state", "summary", "error", "finished_at", "updated_at"])
        return current


def _progress(row: HistoryImport, step: str, done: int = 0, total: int = 0) -> None:
    """Say how far the running import is (the chart shows it); nothing once it has ended."""
    HistoryImport.unscoped.filter(pk=row.pk, state=ImportState.RUNNING).update(
        step=step, done=done, total=total, updated_at=timezones.now()
    )


def history_import_run(*, import_id: int) -> HistoryImport | None:
    """The job's body: find the patient on Hakeem by national ID, read their history and file it. Safe to run
    again (a finished import is left as it is; what was filed is found already there)."""
    row = HistoryImport.unscoped.select_related("patient", "clinic").filter(pk=import_id).first()
    if row is None or row.state != ImportState.RUNNING:
        return row
    with audit_context(actor_id=row.requested_by_id, clinic_id=row.clinic_id):
        try:
            return _import(row)
        except hakeem.Unavailable as exc:
            logger.warning("hakeem: history import %s failed: %s", row.pk, exc)
            return _finish(row, ImportState.FAILED, {"error_code": words.UNAVAILABLE}, str(exc))
        except hakeem.Rejected as exc:
            logger.warning("hakeem: history import %s refused: %s", row.pk, exc)
            return _finish(row, ImportState.FAILED, {"error_code": words.REJECTED}, str(exc))
        except Exception as exc:
            logger.exception("hakeem: history import %s broke", row.pk)
            return _finish(row, ImportState.FAILED, {"error_code": words.BROKEN}, exc.__class__.__name__)


def _history(row: HistoryImport, national_id: str) -> tuple[list[str], list[dict], bool]:
    """The ids of the patients Hakeem holds under the national ID, everything about them, and whether that was
    more than one import can read."""
    client = hakeem.HakeemClient()
    _progress(row, ImportStep.FINDING)
    found = client.search("Patient", {"identifier": f"{fhir.NATIONAL_ID_SYSTEM}|{national_id}"})
    ids = sorted({p["id"] for p in found if p.get("id") and reading.has_national_id(p, national_id)})
    if ids:
        _progress(row, ImportStep.READING)
    resources, truncated = [], False
    for patient_id in ids:
        # ``$everything`` through ``search``: the same GET, and the Bundle's ``next`` pages are followed.
        page = client.search(f"Patient/{patient_id}/$everything", {}, limit=RESOURCE_LIMIT)
        truncated |= len(page) >= RESOURCE_LIMIT
        resources.extend(page)
    return ids, resources, truncated


def _import(row: HistoryImport) -> HistoryImport:
    national_id = row.patient.national_id
    ids, resources, truncated = _history(row, national_id) if national_id else ([], [], False)
    if not ids:
        return _finish(row, ImportState.DONE, {"found": False})
    medications = {reading.ref_of(r): r for r in resources if r.get("resourceType") == "Medication"}
    catalog = reading.Catalog()
    zone = row.clinic.time_zone
    items, seen = [], set()
    for resource in resources:
        ref = reading.ref_of(resource)
        if ref in seen or not reading.about(resource, set(ids)):
            continue
        seen.add(ref)
        item = reading.interpret(resource, catalog, zone, medications=medications)
        if item is not None:
            items.append(item)
    items.sort(key=lambda i: reading.KINDS.index(i.kind))
    kinds = {k: {"filed": 0, "already_there": 0, "from_shifa": 0, "skipped": 0} for k in reading.KINDS}
    left_out = []
    total = len(items)
    every = max(1, -(-total // PROGRESS_WRITES))
    _progress(row, ImportStep.FILING, 0, total)
    for done, item in enumerate(items, start=1):
        counts = kinds[item.kind]
        if item.from_shifa:
            counts["from_shifa"] += 1
        elif item.skip:
            counts["skipped"] += 1
            if len(left_out) < LEFT_OUT_LIMIT:
                left_out.append({"kind": item.kind, "ref": item.ref, "name": item.name, "reason": item.skip})
        else:
            filed, there = _file(row, item)
            counts["filed"] += filed
            counts["already_there"] += there
        if done % every == 0 and done < total:
            _progress(row, ImportStep.FILING, done, total)
    summary = {
        "found": True,
        "patients": [f"Patient/{i}" for i in ids],
        "kinds": kinds,
        "left_out": left_out,
        "truncated": truncated,
    }
    return _finish(row, ImportState.DONE, summary)


# --- filing --------------------------------------------------------------------------------------------------------


def _file(row: HistoryImport, item: reading.Item) -> tuple[int, int]:
    """File one resource's rows, the patient locked; returns (rows filed, rows already in the record)."""
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=row.patient_id).first()
        return FILERS[item.kind](row, item)


def _common(row: HistoryImport, ref: str) -> dict:
    return {
        "clinic_id": row.clinic_id,
        "patient_id": row.patient_id,
        "recorded_by_id": row.requested_by_id,
        "hakeem_ref": ref,
    }


def _facts(model, row: HistoryImport):
    return model.unscoped.filter(patient_id=row.patient_id)


def _imported(model, row: HistoryImport, ref: str) -> bool:
    return _facts(model, row).filter(hakeem_ref=ref).exists()


def _same_or_covering(facts, status: str) -> bool:
    """An active fact covers Hakeem's whatever its status; a resolved one covers only a resolved one."""
    facts = facts.exclude(status=FactStatus.ENTERED_IN_ERROR)
    return (facts if status == FactStatus.RESOLVED else facts.filter(status=FactStatus.ACTIVE)).exists()


def _file_condition(row: HistoryImport, item: reading.Item) -> tuple[int, int]:
    values = item.rows[0]
    if _imported(Condition, row, item.ref) or _same_or_covering(
        _facts(Condition, row).filter(diagnosis=values["diagnosis"]), values["status"]
    ):
        return 0, 1
    Condition.unscoped.create(**_common(row, item.ref), **values)
    return 1, 0


def _file_allergy(row: HistoryImport, item: reading.Item) -> tuple[int, int]:
    values = item.rows[0]
    same = _facts(Allergy, row).exclude(status=FactStatus.ENTERED_IN_ERROR)
    if values["medication"] is not None:
        same = same.filter(medication=values["medication"])
    else:
        same = same.filter(medication__isnull=True, substance__iexact=values["substance"])
    if _imported(Allergy, row, item.ref) or same.exists():
        return 0, 1
    Allergy.unscoped.create(**_common(row, item.ref), **values)
    return 1, 0


def _file_medication(row: HistoryImport, item: reading.Item) -> tuple[int, int]:
    values = item.rows[0]
    if _imported(MedicationStatement, row, item.ref) or _same_or_covering(
        _facts(MedicationStatement, row).filter(medication=values["medication"]), values["status"]
    ):
        return 0, 1
    MedicationStatement.unscoped.create(**_common(row, item.ref), **values)
    return 1, 0


def _file_immunization(row: HistoryImport, item: reading.Item) -> tuple[int, int]:
    values = item.rows[0]
    same = (
        _facts(Immunization, row)
        .exclude(status=FactStatus.ENTERED_IN_ERROR)
        .filter(vaccine=values["vaccine"], given_on=values["given_on"])
    )
    if _imported(Immunization, row, item.ref) or same.exists():
        return 0, 1
    Immunization.unscoped.create(**_common(row, item.ref), **values)
    return 1, 0


def _file_vitals(row: HistoryImport, item: reading.Item) -> tuple[int, int]:
    filed = there = 0
    for values in item.rows:
        readings = Vital.unscoped.filter(patient_id=row.patient_id, kind=values["kind"])
        if (
            readings.filter(hakeem_ref=item.ref).exists()
            or readings.filter(taken_at=values["taken_at"], value=values["value"]).exists()
        ):
            there += 1
            continue
        Vital.unscoped.create(**_common(row, item.ref), visit=None, **values)
        filed += 1
    return filed, there


FILERS = {
    reading.CONDITIONS: _file_condition,
    reading.ALLERGIES: _file_allergy,
    reading.MEDICATIONS: _file_medication,
    reading.IMMUNIZATIONS: _file_immunization,
    reading.VITALS: _file_vitals,
}

"""Writes of reference data."""

from __future__ import annotations

import csv
from pathlib import Path

from django.db import models, transaction

from .models import (
    Diagnosis,
    Facility,
    ImagingStudy,
    InsuranceCompany,
    LabTest,
    Medication,
    Specialty,
    Vaccine,
    VaccineDose,
    VitalSignType,
    display_code,
)

DATA = Path(__file__).resolve().parent / "data"
ICD9_FILE = DATA / "icd9cm_v32_diagnoses.csv"
#: The lists shipped as ``data/<name>.csv``, each keyed by ``code``.
SHIPPED_LISTS = {
    "insurers": InsuranceCompany,
    "specialties": Specialty,
    "medications": Medication,
    "vaccines": Vaccine,
    "vital_signs": VitalSignType,
    "lab_tests": LabTest,
    "imaging_studies": ImagingStudy,
    "facilities": Facility,
}


def reference_data_ensure() -> dict[str, int]:
    """Load the reference data shipped with Shifa when the database lacks it (every start; cheap when present)."""
    from shifa.audit.context import audit_context

    with audit_context(source="reference-data"):
        if Diagnosis.objects.count() < ICD9_CODES:
            icd9_load()
        counts = {"diagnoses": Diagnosis.objects.count()}
        for name, model in SHIPPED_LISTS.items():
            reference_list_load(name)
            counts[name] = model.objects.count()
        vaccine_schedule_load()
    return counts


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _typed(model, row: dict[str, str]) -> dict:
    """A CSV row as field values: lists are written ``a;b;c``, an empty cell of a nullable field is NULL."""
    values = {}
    for name, text in row.items():
        field = model._meta.get_field(name)
        text = text.strip()
        if isinstance(field, models.JSONField):
            values[name] = [part.strip() for part in text.split(";") if part.strip()]
        elif text == "" and field.null:
            values[name] = None
        else:
            values[name] = text
    return values


def _add_missing(model, path: Path) -> dict[str, int]:
    """Add the rows of a shipped CSV (one column per field, keyed by ``code``) that the table lacks; rows already
    there are left as the platform edited them."""
    rows = _csv_rows(path)
    known = set(model.objects.values_list("code", flat=True))
    new = [model(**_typed(model, row)) for row in rows if row["code"] not in known]
    model.objects.bulk_create(new)
    return {"created": len(new), "total": len(rows)}


def vaccine_schedule_load(path: Path = DATA / "vaccine_schedule.csv") -> dict[str, int]:
    """Add the doses of the national schedule the table lacks, keyed by vaccine and dose number."""
    vaccines = {v.code: v for v in Vaccine.objects.all()}
    known = set(VaccineDose.objects.values_list("vaccine__code", "dose"))
    rows = _csv_rows(path)
    new = [
        VaccineDose(
            vaccine=vaccines[row["vaccine"]],
            dose=int(row["dose"]),
            age_days=int(row["age_days"]),
            label_en=row["label_en"],
            label_ar=row["label_ar"],
        )
        for row in rows
        if (row["vaccine"], int(row["dose"])) not in known and row["vaccine"] in vaccines
    ]
    VaccineDose.objects.bulk_create(new)
    return {"created": len(new), "total": len(rows)}


def reference_list_load(name: str) -> dict[str, int]:
    """Add the missing rows of one shipped list (``insurers``, ``specialties``, ``medications`` …)."""
    return _add_missing(SHIPPED_LISTS[name], DATA / f"{name}.csv")


ICD9_CODES = 14567


def icd9_load(path: Path = ICD9_FILE) -> dict[str, int]:
    """Load the ICD-9-CM diagnosis codes: new codes are added, changed descriptions updated, nothing else
    touched. Running it again changes nothing."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = {row["code"].strip(): row for row in csv.DictReader(handle)}
    existing = {d.code: d for d in Diagnosis.objects.all()}
    created, updated = [], []
    for code, row in rows.items():
        title, short = row["long_description"].strip(), row["short_description"].strip()
        current = existing.get(code)
        if current is None:
            created.append(
                Diagnosis(code=code, display_code=display_code(code), title=title, short_title=short)
            )
        elif (current.title, current.short_title) != (title, short):
            current.title, current.short_title = title, short
            updated.append(current)
    with transaction.atomic():
        Diagnosis.objects.bulk_create(created, batch_size=2000)
        Diagnosis.objects.bulk_update(updated, ["title", "short_title", "updated_at"], batch_size=2000)
    return {"created": len(created), "updated": len(updated), "total": len(rows)}


def reference_entry_save(*, spec, entry_id=None, values: dict):
    """Add an entry to a reference list, or change one (platform console). ``values`` holds the list's editable
    fields; the model's own validation (choices, lengths, uniqueness, constraints) decides what is accepted.
    Entries are never deleted — records refer to them — they are taken out of use instead."""
    from django.core.exceptions import ValidationError
    from django.utils.translation import gettext as _

    from shifa.core.errors import FieldError, NotFound, ValidationFailed

    with transaction.atomic():
        if entry_id is None:
            entry = spec.model()
        else:
            entry = spec.model.objects.select_for_update().filter(external_id=entry_id).first()
            if entry is None:
                raise NotFound(detail=_("This entry does not exist."))
        for field in spec.fields:
            if field in values:
                setattr(entry, field, values[field])
        if isinstance(entry, Diagnosis):
            entry.code = entry.code.strip().upper().replace(".", "")
            entry.display_code = display_code(entry.code)
        try:
            entry.full_clean()
        except ValidationError as exc:
            general = [m for f, ms in exc.message_dict.items() if f not in spec.fields for m in ms]
            raise ValidationFailed(
                detail=" ".join(general) or None,
                errors=[
                    FieldError(field, "invalid", message)
                    for field, messages in exc.message_dict.items()
                    if field in spec.fields
                    for message in messages
                ],
            ) from None
        entry.save()
    return entry

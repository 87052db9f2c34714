"""Writes of reference data."""

from __future__ import annotations

import csv
from pathlib import Path

from django.db import transaction

from .models import Diagnosis, display_code

DATA = Path(__file__).resolve().parent / "data"
ICD9_FILE = DATA / "icd9cm_v32_diagnoses.csv"


def reference_data_ensure() -> dict[str, int]:
    """Load the reference data shipped with Shifa when the database lacks it (every start; cheap when present)."""
    from shifa.audit.context import audit_context

    from .models import InsuranceCompany

    with audit_context(source="reference-data"):
        if Diagnosis.objects.count() < ICD9_CODES:
            icd9_load()
        insurers_load()
        specialties_load()
    return {"diagnoses": Diagnosis.objects.count(), "insurers": InsuranceCompany.objects.count()}


def _add_missing(model, path: Path) -> dict[str, int]:
    """Add the rows of a shipped CSV (one column per field, keyed by ``code``) that the table lacks; rows already
    there are left as the platform edited them."""
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    known = set(model.objects.values_list("code", flat=True))
    new = [model(**row) for row in rows if row["code"] not in known]
    model.objects.bulk_create(new)
    return {"created": len(new), "total": len(rows)}


def specialties_load(path: Path = DATA / "specialties.csv") -> dict[str, int]:
    from .models import Specialty

    return _add_missing(Specialty, path)


def insurers_load(path: Path = DATA / "insurers.csv") -> dict[str, int]:
    from .models import InsuranceCompany

    return _add_missing(InsuranceCompany, path)


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

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


def specialties_load(path: Path = DATA / "specialties.csv") -> dict[str, int]:
    """Add the shipped specialties that are missing (names edited in the platform console are kept)."""
    from .models import Specialty

    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    known = set(Specialty.objects.values_list("code", flat=True))
    new = [
        Specialty(code=r["code"], name_en=r["name_en"], name_ar=r["name_ar"])
        for r in rows
        if r["code"] not in known
    ]
    Specialty.objects.bulk_create(new)
    return {"created": len(new), "total": len(rows)}


def insurers_load(path: Path = DATA / "insurers.csv") -> dict[str, int]:
    """Add the shipped insurers that are missing (names edited in the platform console are kept)."""
    from .models import InsuranceCompany

    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    known = set(InsuranceCompany.objects.values_list("code", flat=True))
    new = [
        InsuranceCompany(code=r["code"], kind=r["kind"], name_en=r["name_en"], name_ar=r["name_ar"])
        for r in rows
        if r["code"] not in known
    ]
    InsuranceCompany.objects.bulk_create(new)
    return {"created": len(new), "total": len(rows)}


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

"""The reference lists the platform edits: what each one shows, searches and lets an admin change.

One declaration per list serves the platform console's screens, the editing action and the read API alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from . import models


@dataclass(frozen=True)
class ReferenceList:
    slug: str
    model: type
    title: Promise
    #: Fields shown as the list's columns (the first links to the entry).
    columns: tuple[str, ...]
    #: Fields a search looks in (case-insensitive, any part).
    search: tuple[str, ...]
    #: Fields the platform admin edits.
    fields: tuple[str, ...]
    order: tuple[str, ...] = ("pk",)

    def label(self, field: str) -> str:
        return str(self.model._meta.get_field(field).verbose_name)


_NAMES = ("name_en", "name_ar")

LISTS: dict[str, ReferenceList] = {
    spec.slug: spec
    for spec in (
        ReferenceList(
            "diagnoses",
            models.Diagnosis,
            _("Diagnosis codes (ICD-9-CM)"),
            columns=("display_code", "title", "is_active"),
            search=("code", "display_code", "title"),
            fields=("code", "title", "short_title", "is_active"),
            order=("code",),
        ),
        ReferenceList(
            "specialties",
            models.Specialty,
            _("Specialties"),
            columns=("name_en", "name_ar", "is_active"),
            search=("code", *_NAMES),
            fields=("code", *_NAMES, "is_active"),
        ),
        ReferenceList(
            "medications",
            models.Medication,
            _("Medications"),
            columns=("name_en", "name_ar", "atc_code", "brands", "is_active"),
            search=("code", *_NAMES, "atc_code", "brands"),
            fields=("code", *_NAMES, "atc_code", "brands", "forms", "strengths", "is_active"),
            order=("name_en",),
        ),
        ReferenceList(
            "vaccines",
            models.Vaccine,
            _("Vaccines"),
            columns=("name_en", "name_ar", "cvx", "is_active"),
            search=("code", *_NAMES, "cvx"),
            fields=("code", *_NAMES, "cvx", "is_active"),
        ),
        ReferenceList(
            "immunization-schedule",
            models.VaccineDose,
            _("Immunization schedule"),
            columns=("label_en", "label_ar", "vaccine", "dose"),
            search=("label_en", "label_ar", "vaccine__name_en", "vaccine__name_ar"),
            fields=("vaccine", "dose", "age_days", "label_en", "label_ar"),
            order=("age_days", "vaccine__code", "dose"),
        ),
        ReferenceList(
            "vital-signs",
            models.VitalSignType,
            _("Vital signs"),
            columns=("name_en", "name_ar", "code", "unit", "normal_low", "normal_high", "is_active"),
            search=("code", *_NAMES, "unit"),
            fields=(
                "code",
                *_NAMES,
                "unit",
                "normal_low",
                "normal_high",
                "lowest",
                "highest",
                "decimals",
                "position",
                "is_active",
            ),
            order=("position", "code"),
        ),
        ReferenceList(
            "lab-tests",
            models.LabTest,
            _("Lab tests"),
            columns=("name_en", "name_ar", "code", "category", "unit", "is_active"),
            search=("code", *_NAMES),
            fields=("code", *_NAMES, "category", "specimen", "unit", "is_active"),
            order=("category", "name_en"),
        ),
        ReferenceList(
            "imaging-studies",
            models.ImagingStudy,
            _("Imaging studies"),
            columns=("name_en", "name_ar", "modality", "loinc", "is_active"),
            search=("code", *_NAMES, "loinc"),
            fields=("code", "modality", *_NAMES, "loinc", "is_active"),
            order=("modality", "name_en"),
        ),
        ReferenceList(
            "facilities",
            models.Facility,
            _("Hakeem facilities"),
            columns=("name_en", "name_ar", "kind", "city", "is_active"),
            search=("code", *_NAMES, "city"),
            fields=("code", "kind", *_NAMES, "city", "is_active"),
            order=("kind", "name_en"),
        ),
        ReferenceList(
            "insurers",
            models.InsuranceCompany,
            _("Insurance companies"),
            columns=("name_en", "name_ar", "kind", "is_active"),
            search=("code", *_NAMES),
            fields=("code", "kind", *_NAMES, "is_active"),
        ),
    )
}

"""Reference data shared by every clinic, edited only in the platform console (CL-6)."""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils.translation import gettext_lazy as _

from shifa.core.models import BaseModel


def display_code(code: str) -> str:
    """CMS writes codes without the dot: ``25000`` → ``250.00``, ``V1043`` → ``V10.43``, ``E8000`` → ``E800.0``."""
    head = 4 if code.startswith("E") else 3
    return code if len(code) <= head else f"{code[:head]}.{code[head:]}"


class Diagnosis(BaseModel):
    """An ICD-9-CM diagnosis code (CMS version 32)."""

    code = models.CharField(
        _("code"), max_length=6, unique=True, help_text=_("As CMS writes it, without the dot")
    )
    display_code = models.CharField(_("code"), max_length=7, unique=True)
    title = models.CharField(_("description"), max_length=300)
    short_title = models.CharField(_("short description"), max_length=60)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("diagnosis code")
        verbose_name_plural = _("diagnosis codes")
        indexes = [GinIndex(fields=["title"], opclasses=["gin_trgm_ops"], name="catalog_dx_title_trgm")]

    def __str__(self) -> str:
        return f"{self.display_code} {self.title}"


class InsurerKind(models.TextChoices):
    INSURER = "insurer", _("Insurance company")
    TPA = "tpa", _("Claims administrator (TPA)")


class InsuranceCompany(BaseModel):
    """An insurer (or claims administrator) active in Jordan."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=InsurerKind.choices)
    name_en = models.CharField(_("name (English)"), max_length=200)
    name_ar = models.CharField(_("name (Arabic)"), max_length=200)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("insurance company")
        verbose_name_plural = _("insurance companies")

    def display_name(self, language: str) -> str:
        return self.name_ar if language == "ar" else self.name_en


class Specialty(BaseModel):
    """A medical specialty doctors are listed and found by."""

    code = models.SlugField(_("code"), max_length=60, unique=True)
    name_en = models.CharField(_("name (English)"), max_length=120)
    name_ar = models.CharField(_("name (Arabic)"), max_length=120)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("specialty")
        verbose_name_plural = _("specialties")

    def display_name(self, language: str) -> str:
        return self.name_ar if language == "ar" else self.name_en

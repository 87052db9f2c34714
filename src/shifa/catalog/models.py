"""Reference data shared by every clinic, edited only in the platform console (CL-6)."""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from shifa.core.models import BaseModel, NamedInTwoLanguages


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


class FacilityKind(models.TextChoices):
    HOSPITAL = "hospital", _("Hospital")
    HEALTH_CENTRE = "health_centre", _("Health centre")
    LABORATORY = "laboratory", _("Laboratory")
    IMAGING = "imaging", _("Imaging centre")


class Facility(NamedInTwoLanguages, BaseModel):
    """A public facility on Hakeem that can fulfil our clinics' third-party orders (lab tests, imaging,
    prescriptions). [U] ``code`` is ours until the EHS interface agreement gives Hakeem's facility codes."""

    code = models.SlugField(_("code"), max_length=60, unique=True)
    kind = models.CharField(_("kind"), max_length=14, choices=FacilityKind.choices)
    name_en = models.CharField(_("name (English)"), max_length=200)
    name_ar = models.CharField(_("name (Arabic)"), max_length=200)
    city = models.CharField(_("city"), max_length=60, blank=True)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("Hakeem facility")
        verbose_name_plural = _("Hakeem facilities")

    def __str__(self) -> str:
        return self.name_en


class InsurerKind(models.TextChoices):
    INSURER = "insurer", _("Insurance company")
    TPA = "tpa", _("Claims administrator (TPA)")


class InsuranceCompany(NamedInTwoLanguages, BaseModel):
    """An insurer (or claims administrator) active in Jordan."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=InsurerKind.choices)
    name_en = models.CharField(_("name (English)"), max_length=200)
    name_ar = models.CharField(_("name (Arabic)"), max_length=200)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("insurance company")
        verbose_name_plural = _("insurance companies")


class Specialty(NamedInTwoLanguages, BaseModel):
    """A medical specialty doctors are listed and found by."""

    code = models.SlugField(_("code"), max_length=60, unique=True)
    name_en = models.CharField(_("name (English)"), max_length=120)
    name_ar = models.CharField(_("name (Arabic)"), max_length=120)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("specialty")
        verbose_name_plural = _("specialties")


class DosageForm(models.TextChoices):
    TABLET = "tablet", _("Tablet")
    CAPSULE = "capsule", _("Capsule")
    CHEWABLE_TABLET = "chewable_tablet", _("Chewable tablet")
    EFFERVESCENT_TABLET = "effervescent_tablet", _("Effervescent tablet")
    ORAL_SOLUTION = "oral_solution", _("Oral solution")
    SYRUP = "syrup", _("Syrup")
    ORAL_SUSPENSION = "oral_suspension", _("Oral suspension")
    ORAL_DROPS = "oral_drops", _("Oral drops")
    SACHET = "sachet", _("Sachet")
    INJECTION = "injection", _("Injection")
    INFUSION = "infusion", _("Infusion")
    CREAM = "cream", _("Cream")
    OINTMENT = "ointment", _("Ointment")
    GEL = "gel", _("Gel")
    LOTION = "lotion", _("Lotion")
    EYE_DROPS = "eye_drops", _("Eye drops")
    EYE_OINTMENT = "eye_ointment", _("Eye ointment")
    EAR_DROPS = "ear_drops", _("Ear drops")
    NASAL_SPRAY = "nasal_spray", _("Nasal spray")
    NASAL_DROPS = "nasal_drops", _("Nasal drops")
    INHALER = "inhaler", _("Inhaler")
    NEBULISER_SOLUTION = "nebuliser_solution", _("Nebuliser solution")
    SUPPOSITORY = "suppository", _("Suppository")
    VAGINAL_CREAM = "vaginal_cream", _("Vaginal cream")
    PESSARY = "pessary", _("Pessary")
    PATCH = "patch", _("Patch")
    MOUTHWASH = "mouthwash", _("Mouthwash")
    SHAMPOO = "shampoo", _("Shampoo")
    LOZENGE = "lozenge", _("Lozenge")
    SPRAY = "spray", _("Spray")


class Medication(NamedInTwoLanguages, BaseModel):
    """A generic medicine (or a fixed combination) with the brands, forms and strengths it is sold in."""

    code = models.SlugField(_("code"), max_length=80, unique=True)
    name_en = models.CharField(_("generic name (English)"), max_length=200)
    name_ar = models.CharField(_("generic name (Arabic)"), max_length=200)
    atc_code = models.CharField(
        _("ATC code"),
        max_length=7,
        blank=True,
        validators=[RegexValidator(r"^[A-Z]\d\d[A-Z][A-Z]\d\d$", _("An ATC code looks like J01CA04."))],
    )
    brands = models.JSONField(_("brand names"), default=list, blank=True)
    forms = models.JSONField(_("dosage forms"), default=list)
    strengths = models.JSONField(_("strengths"), default=list)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("medication")
        verbose_name_plural = _("medications")

    def clean(self) -> None:
        errors = {}
        for name in ("brands", "forms", "strengths"):
            value = getattr(self, name)
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                errors[name] = _("Give a list of names.")
        if "forms" not in errors:
            unknown = sorted(set(self.forms) - set(DosageForm.values))
            if unknown:
                errors["forms"] = _("Unknown dosage form: %(forms)s.") % {"forms": ", ".join(unknown)}
            elif not self.forms:
                errors["forms"] = _("Give at least one dosage form.")
        if "strengths" not in errors and not self.strengths:
            errors["strengths"] = _("Give at least one strength.")
        if errors:
            raise ValidationError(errors)


class Vaccine(NamedInTwoLanguages, BaseModel):
    code = models.SlugField(_("code"), max_length=40, unique=True)
    name_en = models.CharField(_("name (English)"), max_length=200)
    name_ar = models.CharField(_("name (Arabic)"), max_length=200)
    cvx = models.CharField(_("CVX code"), max_length=4, blank=True)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("vaccine")
        verbose_name_plural = _("vaccines")

    def __str__(self) -> str:
        return self.name_en


class VaccineDose(BaseModel):
    """One dose of Jordan's national immunization schedule: which vaccine, which dose, at what age."""

    vaccine = models.ForeignKey(Vaccine, on_delete=models.PROTECT, related_name="schedule")
    dose = models.PositiveSmallIntegerField(_("dose"))
    age_days = models.PositiveIntegerField(_("age (days)"))
    label_en = models.CharField(_("age (English)"), max_length=100)
    label_ar = models.CharField(_("age (Arabic)"), max_length=100)

    class Meta:
        verbose_name = _("scheduled dose")
        verbose_name_plural = _("immunization schedule")
        ordering = ["age_days", "vaccine__code", "dose"]
        constraints = [
            models.UniqueConstraint(fields=["vaccine", "dose"], name="catalog_vaccine_dose_unique")
        ]


class VitalSignType(NamedInTwoLanguages, BaseModel):
    """A vital sign measured at the clinic or at home: its LOINC code, UCUM unit and adult normal range."""

    code = models.CharField(_("LOINC code"), max_length=10, unique=True)
    name_en = models.CharField(_("name (English)"), max_length=120)
    name_ar = models.CharField(_("name (Arabic)"), max_length=120)
    unit = models.CharField(_("unit (UCUM)"), max_length=20, blank=True)
    normal_low = models.DecimalField(_("normal from"), max_digits=8, decimal_places=2, null=True, blank=True)
    normal_high = models.DecimalField(
        _("normal up to"), max_digits=8, decimal_places=2, null=True, blank=True
    )
    lowest = models.DecimalField(
        _("lowest value accepted"), max_digits=8, decimal_places=2, help_text=_("Below it, a typing mistake")
    )
    highest = models.DecimalField(
        _("highest value accepted"), max_digits=8, decimal_places=2, help_text=_("Above it, a typing mistake")
    )
    decimals = models.PositiveSmallIntegerField(_("decimal places"), default=0)
    position = models.PositiveSmallIntegerField(_("position in lists"), default=0)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("vital sign")
        verbose_name_plural = _("vital signs")
        ordering = ["position", "code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(lowest__lt=models.F("highest")),
                name="catalog_vital_bounds_ordered",
                violation_error_message=_("The lowest value accepted must be below the highest."),
            ),
        ]

    def flag_for(self, value) -> str:
        """``low`` or ``high`` for a reading outside the normal range, else empty."""
        if self.normal_low is not None and value < self.normal_low:
            return "low"
        if self.normal_high is not None and value > self.normal_high:
            return "high"
        return ""

    def clean(self) -> None:
        low, high = self.normal_low, self.normal_high
        if low is not None and high is not None and low > high:
            raise ValidationError(
                {"normal_high": _("The normal range must end at or above where it starts.")}
            )
        bounded = self.lowest is not None and self.highest is not None
        for name in ("normal_low", "normal_high"):
            value = getattr(self, name)
            if bounded and value is not None and not self.lowest <= value <= self.highest:
                raise ValidationError({name: _("The normal range must lie within the values accepted.")})


class LabCategory(models.TextChoices):
    HAEMATOLOGY = "haematology", _("Haematology")
    CHEMISTRY = "chemistry", _("Chemistry")
    ENDOCRINE = "endocrine", _("Hormones")
    CARDIAC = "cardiac", _("Cardiac markers")
    COAGULATION = "coagulation", _("Coagulation")
    URINE = "urine", _("Urine")
    MICROBIOLOGY = "microbiology", _("Microbiology")
    SEROLOGY = "serology", _("Serology")
    TUMOUR_MARKERS = "tumour_markers", _("Tumour markers")
    IMMUNOLOGY = "immunology", _("Immunology")
    OTHER = "other", _("Other")


class Specimen(models.TextChoices):
    BLOOD = "blood", _("Blood")
    SERUM = "serum", _("Serum")
    PLASMA = "plasma", _("Plasma")
    URINE = "urine", _("Urine")
    STOOL = "stool", _("Stool")
    SWAB = "swab", _("Swab")
    SEMEN = "semen", _("Semen")
    OTHER = "other", _("Other")


class LabTest(NamedInTwoLanguages, BaseModel):
    code = models.CharField(_("LOINC code"), max_length=10, unique=True)
    name_en = models.CharField(_("name (English)"), max_length=200)
    name_ar = models.CharField(_("name (Arabic)"), max_length=200)
    category = models.CharField(_("category"), max_length=20, choices=LabCategory.choices)
    specimen = models.CharField(_("specimen"), max_length=10, choices=Specimen.choices)
    unit = models.CharField(_("unit (UCUM)"), max_length=20, blank=True)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("lab test")
        verbose_name_plural = _("lab tests")


class Modality(models.TextChoices):
    XR = "XR", _("X-ray")
    US = "US", _("Ultrasound")
    CT = "CT", _("CT")
    MR = "MR", _("MRI")
    MG = "MG", _("Mammography")
    DXA = "DXA", _("Bone density (DEXA)")
    RF = "RF", _("Fluoroscopy")
    NM = "NM", _("Nuclear medicine")
    PX = "PX", _("Dental panoramic")


class ImagingStudy(NamedInTwoLanguages, BaseModel):
    code = models.SlugField(_("code"), max_length=60, unique=True)
    modality = models.CharField(_("modality"), max_length=3, choices=Modality.choices)
    name_en = models.CharField(_("name (English)"), max_length=200)
    name_ar = models.CharField(_("name (Arabic)"), max_length=200)
    loinc = models.CharField(_("LOINC code"), max_length=10, blank=True)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("imaging study")
        verbose_name_plural = _("imaging studies")

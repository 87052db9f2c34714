"""The patient record (EHR-1 … EHR-3): one patient across the platform, their standing facts (allergies, chronic
conditions, current medicines, immunizations, vitals) and the visits each clinic documents.

A visit and everything written in it (diagnoses, prescriptions, orders, referrals, sick leave, vitals taken in it)
becomes immutable at the database when the visit is committed: the visit by its own guard trigger, the rows under
it by ``reject_change_under_committed`` (see ``shifa.core.models``). Corrections are amendments: a new visit that
``amends`` the original, committed in its turn. Results of orders arrive later and are written once, never
changed (a correction is a new result that amends the earlier one).

Free text (complaint, notes, instructions, reasons) and the national ID are encrypted by the application
(``shifa.core.fields.EncryptedTextField``); the national ID is found through its blind index.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from shifa.core.fields import EncryptedTextField
from shifa.core.models import BaseModel, Committable, under_committed_triggers
from shifa.tenancy.models import TenantModel


class Sex(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    UNKNOWN = "unknown", _("Unknown")


class BloodGroup(models.TextChoices):
    UNKNOWN = "", _("Unknown")
    A_POS = "A+", "A+"
    A_NEG = "A-", "A-"
    B_POS = "B+", "B+"
    B_NEG = "B-", "B-"
    AB_POS = "AB+", "AB+"
    AB_NEG = "AB-", "AB-"
    O_POS = "O+", "O+"
    O_NEG = "O-", "O-"


class Relation(models.TextChoices):
    CHILD = "child", _("Child")
    PARENT = "parent", _("Parent")
    SPOUSE = "spouse", _("Spouse")
    OTHER = "other", _("Other family member")


class Patient(BaseModel):
    """One patient across the platform; linked to the user who signs in as that patient, if any. A dependant
    (a child, an elderly parent) has no sign-in of their own: their ``guardian`` manages their record."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="patient"
    )
    full_name = models.CharField(_("full name"), max_length=200)
    full_name_ar = models.CharField(_("full name (Arabic)"), max_length=200, blank=True)
    date_of_birth = models.DateField(_("date of birth"), null=True, blank=True)
    sex = models.CharField(_("sex"), max_length=8, choices=Sex.choices, default=Sex.UNKNOWN)
    phone = models.CharField(_("phone number"), max_length=16, blank=True)
    national_id = EncryptedTextField(_("national ID"), blank=True)
    national_id_index = models.CharField(max_length=64, blank=True, editable=False)
    blood_group = models.CharField(
        _("blood group"), max_length=3, choices=BloodGroup.choices, blank=True, default=BloodGroup.UNKNOWN
    )
    guardian = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="dependants",
        verbose_name=_("guardian"),
    )
    relation = models.CharField(
        _("relation to the guardian"), max_length=8, choices=Relation.choices, blank=True
    )

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        constraints = [
            models.UniqueConstraint(
                fields=["national_id_index"],
                condition=~Q(national_id_index=""),
                name="records_one_patient_per_national_id",
                violation_error_message=_("A patient with this national ID is already registered."),
            ),
            models.CheckConstraint(
                condition=Q(guardian__isnull=True) | Q(user__isnull=True),
                name="records_dependant_has_no_sign_in",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name

    def display_name(self, language: str) -> str:
        return self.full_name_ar if language == "ar" and self.full_name_ar else self.full_name


class Severity(models.TextChoices):
    MILD = "mild", _("Mild")
    MODERATE = "moderate", _("Moderate")
    SEVERE = "severe", _("Severe")


class FactStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    RESOLVED = "resolved", _("No longer applies")
    ENTERED_IN_ERROR = "error", _("Entered in error")


class PatientFact(TenantModel):
    """A standing fact of the patient's record, recorded by a clinic (the ``clinic``) and shared like the rest."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="+", verbose_name=_("patient")
    )
    status = models.CharField(
        _("status"), max_length=8, choices=FactStatus.choices, default=FactStatus.ACTIVE
    )
    note = EncryptedTextField(_("note"), blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("recorded by")
    )
    #: Filed from the patient's history on Hakeem (HK-3): the Hakeem resource it came from (``Type/id``).
    hakeem_ref = models.CharField(_("imported from Hakeem"), max_length=200, blank=True, editable=False)

    class Meta(TenantModel.Meta):
        abstract = True


class Allergy(PatientFact):
    """An allergy or intolerance. ``medication`` (or its ATC group) is what prescriptions are checked against;
    ``substance`` names what is not in the catalog (foods, latex, a class of medicines)."""

    medication = models.ForeignKey(
        "catalog.Medication",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("medication"),
    )
    substance = models.CharField(_("substance"), max_length=200, blank=True)
    reaction = models.CharField(_("reaction"), max_length=200, blank=True)
    severity = models.CharField(
        _("severity"), max_length=8, choices=Severity.choices, default=Severity.MODERATE
    )

    class Meta(PatientFact.Meta):
        verbose_name = _("allergy")
        verbose_name_plural = _("allergies")
        constraints = [
            models.CheckConstraint(
                condition=Q(medication__isnull=False) | ~Q(substance=""),
                name="records_allergy_names_something",
                violation_error_message=_("Name the medication or the substance."),
            )
        ]


class Condition(PatientFact):
    """A chronic condition (diabetes, hypertension …) coded in ICD-9-CM."""

    diagnosis = models.ForeignKey(
        "catalog.Diagnosis", on_delete=models.PROTECT, related_name="+", verbose_name=_("diagnosis")
    )
    since = models.DateField(_("since"), null=True, blank=True)

    class Meta(PatientFact.Meta):
        verbose_name = _("chronic condition")
        verbose_name_plural = _("chronic conditions")


class MedicationStatement(PatientFact):
    """A medicine the patient takes that was not prescribed in a Shifa visit (prescribed elsewhere, long-term)."""

    medication = models.ForeignKey(
        "catalog.Medication", on_delete=models.PROTECT, related_name="+", verbose_name=_("medication")
    )
    dosage = models.CharField(_("dosage"), max_length=200, blank=True)
    since = models.DateField(_("since"), null=True, blank=True)

    class Meta(PatientFact.Meta):
        verbose_name = _("current medication")
        verbose_name_plural = _("current medications")


class Immunization(PatientFact):
    vaccine = models.ForeignKey(
        "catalog.Vaccine", on_delete=models.PROTECT, related_name="+", verbose_name=_("vaccine")
    )
    dose = models.PositiveSmallIntegerField(_("dose"), null=True, blank=True)
    given_on = models.DateField(_("given on"))
    lot = models.CharField(_("lot number"), max_length=40, blank=True)

    class Meta(PatientFact.Meta):
        verbose_name = _("immunization")
        verbose_name_plural = _("immunizations")


class Origin(models.TextChoices):
    APPOINTMENT = "appointment", _("Appointment")
    WALK_IN = "walk_in", _("Walk-in")


class Triage(models.TextChoices):
    NONE = "", _("Not triaged")
    EMERGENCY = "emergency", _("Emergency")
    URGENT = "urgent", _("Urgent")
    SEMI_URGENT = "semi_urgent", _("Less urgent")
    ROUTINE = "routine", _("Not urgent")


class Visit(TenantModel, Committable):
    """A documented encounter of a patient with a doctor of a clinic, from an appointment or a walk-in.

    Drafted by the doctor or an assistant doctor (nurses add vitals and triage); only a doctor commits. An
    amendment is a visit whose ``amends`` is the original: it starts as a copy, is corrected and committed, and is
    shown together with the original."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="visits", verbose_name=_("patient")
    )
    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("doctor")
    )
    appointment = models.ForeignKey(
        "scheduling.Appointment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="visits",
        verbose_name=_("appointment"),
    )
    origin = models.CharField(_("origin"), max_length=12, choices=Origin.choices)
    started_at = models.DateTimeField(_("started"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("opened by")
    )
    complaint = EncryptedTextField(_("complaint"), blank=True)
    notes = EncryptedTextField(_("notes"), blank=True)
    triage = models.CharField(_("triage"), max_length=12, choices=Triage.choices, blank=True)
    triage_note = EncryptedTextField(_("triage note"), blank=True)
    amendment_reason = EncryptedTextField(_("reason for the amendment"), blank=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        indexes = [
            models.Index(fields=["patient", "started_at"], name="records_visit_patient_idx"),
            models.Index(fields=["clinic", "doctor", "started_at"], name="records_visit_doctor_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["appointment"],
                condition=Q(amends__isnull=True),
                name="records_one_visit_per_appointment",
                violation_error_message=_("This appointment already has a visit."),
            ),
            models.UniqueConstraint(
                fields=["amends"],
                condition=Q(is_committed=False),
                name="records_one_open_amendment",
                violation_error_message=_("This visit already has an amendment in progress."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient} {self.started_at:%Y-%m-%d}"


class VisitPart(TenantModel):
    """A row written in a visit; immutable once the visit is committed."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="+", verbose_name=_("visit"))
    #: The row of the original visit this one was copied from (through every amendment): one diagnosis, line or
    #: order keeps one identity on Hakeem however often the visit is corrected. Empty: the row is its own origin.
    lineage = models.UUIDField(null=True, blank=True, editable=False)

    class Meta(TenantModel.Meta):
        abstract = True
        triggers = under_committed_triggers("records_visit", "visit_id")


class Rank(models.TextChoices):
    PRIMARY = "primary", _("Primary")
    SECONDARY = "secondary", _("Secondary")


class VisitDiagnosis(VisitPart):
    visit = models.ForeignKey(
        Visit, on_delete=models.CASCADE, related_name="diagnoses", verbose_name=_("visit")
    )
    diagnosis = models.ForeignKey(
        "catalog.Diagnosis", on_delete=models.PROTECT, related_name="+", verbose_name=_("diagnosis")
    )
    rank = models.CharField(_("rank"), max_length=9, choices=Rank.choices, default=Rank.SECONDARY)
    plain_words = EncryptedTextField(_("in plain words for the patient"), blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta(VisitPart.Meta):
        verbose_name = _("diagnosis")
        verbose_name_plural = _("diagnoses")
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["visit", "diagnosis"],
                name="records_diagnosis_once_per_visit",
                violation_error_message=_("This diagnosis is already in the visit."),
            ),
            models.UniqueConstraint(
                fields=["visit"],
                condition=Q(rank="primary"),
                name="records_one_primary_diagnosis",
                violation_error_message=_("The visit already has a primary diagnosis."),
            ),
        ]


class DoseUnit(models.TextChoices):
    TABLET = "tablet", _("tablet")
    CAPSULE = "capsule", _("capsule")
    ML = "mL", _("mL")
    MG = "mg", _("mg")
    DROP = "drop", _("drop")
    PUFF = "puff", _("puff")
    SACHET = "sachet", _("sachet")
    SUPPOSITORY = "suppository", _("suppository")
    UNIT = "unit", _("unit")
    APPLICATION = "application", _("application")
    PATCH = "patch", _("patch")


class Route(models.TextChoices):
    ORAL = "oral", _("By mouth")
    SUBLINGUAL = "sublingual", _("Under the tongue")
    TOPICAL = "topical", _("On the skin")
    INHALED = "inhaled", _("Inhaled")
    NASAL = "nasal", _("In the nose")
    EYE = "eye", _("In the eye")
    EAR = "ear", _("In the ear")
    RECTAL = "rectal", _("Rectal")
    VAGINAL = "vaginal", _("Vaginal")
    SUBCUTANEOUS = "subcutaneous", _("Injection under the skin")
    INTRAMUSCULAR = "intramuscular", _("Injection into a muscle")
    INTRAVENOUS = "intravenous", _("Into a vein")


class Frequency(models.TextChoices):
    """How often a dose is taken; the reminder schedule (CP-3) is built from it."""

    ONCE_DAILY = "once_daily", _("Once a day")
    TWICE_DAILY = "twice_daily", _("Twice a day")
    THREE_TIMES_DAILY = "three_times_daily", _("Three times a day")
    FOUR_TIMES_DAILY = "four_times_daily", _("Four times a day")
    EVERY_4_HOURS = "every_4_hours", _("Every 4 hours")
    EVERY_6_HOURS = "every_6_hours", _("Every 6 hours")
    EVERY_8_HOURS = "every_8_hours", _("Every 8 hours")
    EVERY_12_HOURS = "every_12_hours", _("Every 12 hours")
    AT_BEDTIME = "at_bedtime", _("At bedtime")
    ONCE_WEEKLY = "once_weekly", _("Once a week")
    ONCE = "once", _("Once only")
    AS_NEEDED = "as_needed", _("When needed")


class MealTiming(models.TextChoices):
    ANY = "", _("Any time")
    BEFORE = "before_meals", _("Before meals")
    WITH = "with_meals", _("With meals")
    AFTER = "after_meals", _("After meals")
    EMPTY_STOMACH = "empty_stomach", _("On an empty stomach")


class Prescription(VisitPart):
    """One line of the visit's prescription."""

    visit = models.ForeignKey(
        Visit, on_delete=models.CASCADE, related_name="prescriptions", verbose_name=_("visit")
    )
    medication = models.ForeignKey(
        "catalog.Medication", on_delete=models.PROTECT, related_name="+", verbose_name=_("medication")
    )
    form = models.CharField(_("form"), max_length=30, blank=True)
    strength = models.CharField(_("strength"), max_length=60)
    dose = models.DecimalField(
        _("dose"), max_digits=7, decimal_places=2, validators=[MinValueValidator(0), MaxValueValidator(10000)]
    )
    dose_unit = models.CharField(_("unit"), max_length=12, choices=DoseUnit.choices)
    route = models.CharField(_("route"), max_length=14, choices=Route.choices, default=Route.ORAL)
    frequency = models.CharField(_("frequency"), max_length=20, choices=Frequency.choices)
    timing = models.CharField(_("with meals"), max_length=14, choices=MealTiming.choices, blank=True)
    duration_days = models.PositiveSmallIntegerField(
        _("duration (days)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
    )
    instructions = EncryptedTextField(_("instructions"), blank=True)
    allergy_warnings = models.JSONField(_("allergy warnings"), default=list, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    #: A third-party order (HK-1): fulfilled at this Hakeem facility instead of by the patient's choice.
    facility = models.ForeignKey(
        "catalog.Facility",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("fulfilled at (Hakeem)"),
    )

    class Meta(VisitPart.Meta):
        verbose_name = _("prescription line")
        verbose_name_plural = _("prescription lines")
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(dose__gt=0), name="records_dose_positive"),
        ]


class OrderKind(models.TextChoices):
    LAB = "lab", _("Lab test")
    IMAGING = "imaging", _("Imaging")


class Urgency(models.TextChoices):
    ROUTINE = "routine", _("Routine")
    URGENT = "urgent", _("Urgent")


class Order(VisitPart):
    """A lab test or imaging study ordered in the visit; results are attached later (``OrderResult``)."""

    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="orders", verbose_name=_("visit"))
    kind = models.CharField(_("kind"), max_length=8, choices=OrderKind.choices)
    lab_test = models.ForeignKey(
        "catalog.LabTest",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("test"),
    )
    imaging = models.ForeignKey(
        "catalog.ImagingStudy",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("imaging study"),
    )
    urgency = models.CharField(_("urgency"), max_length=8, choices=Urgency.choices, default=Urgency.ROUTINE)
    note = EncryptedTextField(_("note"), blank=True)
    #: A third-party order (HK-1): fulfilled at this Hakeem facility instead of by the patient's choice.
    facility = models.ForeignKey(
        "catalog.Facility",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("fulfilled at (Hakeem)"),
    )

    class Meta(VisitPart.Meta):
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="lab", lab_test__isnull=False, imaging__isnull=True))
                | Q(kind="imaging", imaging__isnull=False, lab_test__isnull=True),
                name="records_order_names_one_test",
            ),
        ]


class OrderResult(TenantModel, Committable):
    """A result of an order: structured values and/or a report file. Written once (committed on creation); a
    correction is a new result that ``amends`` it."""

    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="results", verbose_name=_("order")
    )
    values = models.JSONField(_("values"), default=list, blank=True)
    summary = EncryptedTextField(_("report"), blank=True)
    file = models.FileField(_("file"), upload_to="results/%Y/%m/", blank=True)
    file_name = models.CharField(_("file name"), max_length=200, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    reported_at = models.DateTimeField(_("reported"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("recorded by")
    )

    class Meta(TenantModel.Meta):
        verbose_name = _("result")
        verbose_name_plural = _("results")
        ordering = ["reported_at", "id"]


class Referral(VisitPart):
    visit = models.ForeignKey(
        Visit, on_delete=models.CASCADE, related_name="referrals", verbose_name=_("visit")
    )
    to_clinic = models.ForeignKey(
        "tenancy.Clinic",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("to clinic"),
    )
    to_doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("to doctor"),
    )
    specialty = models.ForeignKey(
        "catalog.Specialty",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("specialty"),
    )
    urgency = models.CharField(_("urgency"), max_length=8, choices=Urgency.choices, default=Urgency.ROUTINE)
    reason = EncryptedTextField(_("reason"))

    class Meta(VisitPart.Meta):
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(to_clinic__isnull=False)
                | Q(to_doctor__isnull=False)
                | Q(specialty__isnull=False),
                name="records_referral_has_target",
            ),
        ]


class SickLeave(VisitPart):
    visit = models.OneToOneField(
        Visit, on_delete=models.CASCADE, related_name="sick_leave", verbose_name=_("visit")
    )
    starts_on = models.DateField(_("from"))
    days = models.PositiveSmallIntegerField(
        _("days"), validators=[MinValueValidator(1), MaxValueValidator(90)]
    )
    note = EncryptedTextField(_("note"), blank=True)

    class Meta(VisitPart.Meta):
        verbose_name = _("sick leave")
        verbose_name_plural = _("sick leaves")
        constraints = [
            models.CheckConstraint(condition=Q(days__gte=1, days__lte=90), name="records_sick_leave_days"),
        ]


class Vital(TenantModel):
    """A measurement of a vital sign (LOINC-coded, UCUM unit), taken in a visit or on its own."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="+", verbose_name=_("patient")
    )
    visit = models.ForeignKey(
        Visit, null=True, blank=True, on_delete=models.CASCADE, related_name="vitals", verbose_name=_("visit")
    )
    kind = models.ForeignKey(
        "catalog.VitalSignType", on_delete=models.PROTECT, related_name="+", verbose_name=_("vital sign")
    )
    value = models.DecimalField(_("value"), max_digits=8, decimal_places=2)
    taken_at = models.DateTimeField(_("taken"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("recorded by")
    )
    #: Filed from the patient's history on Hakeem (HK-3): the Hakeem resource it came from (``Type/id``).
    hakeem_ref = models.CharField(_("imported from Hakeem"), max_length=200, blank=True, editable=False)

    class Meta(TenantModel.Meta):
        verbose_name = _("vital sign reading")
        verbose_name_plural = _("vital sign readings")
        indexes = [models.Index(fields=["patient", "kind", "taken_at"], name="records_vital_patient_idx")]
        triggers = under_committed_triggers("records_visit", "visit_id")


class Grant(BaseModel):
    """The patient lets a clinic read their whole record (ID-5), until revoked or expired."""

    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, related_name="grants", verbose_name=_("patient")
    )
    clinic = models.ForeignKey(
        "tenancy.Clinic", on_delete=models.PROTECT, related_name="+", verbose_name=_("clinic")
    )
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("granted by")
    )
    expires_at = models.DateTimeField(_("until"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("access grant")
        verbose_name_plural = _("access grants")
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "clinic"],
                condition=Q(revoked_at__isnull=True),
                name="records_one_open_grant_per_clinic",
            )
        ]

"""Writes of the patient record: identity and dependants, sharing, standing facts, and visits from opening to
commit and amendment (EHR-1 … EHR-3, ID-5).

Every visit write locks the visit row first and refuses a committed visit with a clear 409; the database refuses
it anyway (``under_committed`` triggers), so a bug here cannot change a committed record.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _

from shifa.accounts.actions import normalize_phone
from shifa.core import keys, timezones, units
from shifa.core.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from shifa.core.uploads import sniff_content_type

from . import policies
from .models import (
    Allergy,
    Condition,
    DoseUnit,
    FactStatus,
    Frequency,
    Grant,
    Immunization,
    MealTiming,
    MedicationStatement,
    Order,
    OrderKind,
    OrderResult,
    Origin,
    Patient,
    Prescription,
    Rank,
    Referral,
    Relation,
    Route,
    Severity,
    Sex,
    SickLeave,
    Triage,
    Urgency,
    Visit,
    VisitDiagnosis,
    Vital,
)

NATIONAL_ID = re.compile(r"^\d{10}$")
_ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def _choice(field: str, value: str, choices) -> str:
    if value not in choices.values:
        raise ValidationFailed.on(field, "invalid_choice", _("Choose one of the values offered."))
    return value


# --- identity ----------------------------------------------------------------------------------------------------


def normalize_national_id(raw: str) -> str:
    """A Jordanian national number: ten digits (Arabic-Indic digits and spaces accepted)."""
    value = "".join((raw or "").translate(_ARABIC_DIGITS).split())
    if value and not NATIONAL_ID.match(value):
        raise ValidationFailed.on(
            "national_id", "invalid_national_id", _("A national number has ten digits.")
        )
    return value


def national_id_index(value: str) -> str:
    return keys.blind_index("national_id", value) if value else ""


def _set_national_id(patient: Patient, raw: str) -> None:
    value = normalize_national_id(raw)
    patient.national_id = value
    patient.national_id_index = national_id_index(value)


def _save_patient(patient: Patient, **kwargs) -> Patient:
    try:
        with transaction.atomic():
            patient.save(**kwargs)
    except IntegrityError as exc:
        if "records_one_patient_per_national_id" in str(exc):
            raise ValidationFailed.on(
                "national_id",
                "national_id_taken",
                _("A patient with this national ID is already registered."),
            ) from None
        raise
    return patient


def patient_create(
    *,
    full_name: str,
    full_name_ar: str = "",
    user=None,
    date_of_birth: dt.date | None = None,
    sex: str = Sex.UNKNOWN,
    phone: str = "",
    national_id: str = "",
    guardian: Patient | None = None,
    relation: str = "",
) -> Patient:
    patient = Patient(
        user=user,
        full_name=full_name.strip(),
        full_name_ar=full_name_ar.strip(),
        date_of_birth=date_of_birth,
        sex=sex,
        phone=normalize_phone(phone),
        guardian=guardian,
        relation=relation,
    )
    _set_national_id(patient, national_id)
    return _save_patient(patient)


def _check_person(*, full_name: str, date_of_birth: dt.date | None, sex: str) -> None:
    errors = []
    if len(full_name.strip()) < 2:
        errors.append(FieldError("full_name", "required", _("Give the full name.")))
    if date_of_birth is not None and date_of_birth > timezones.now().date():
        errors.append(
            FieldError("date_of_birth", "in_future", _("The date of birth cannot be in the future."))
        )
    if sex not in Sex.values:
        errors.append(FieldError("sex", "invalid_choice", _("Choose one of the values offered.")))
    if errors:
        raise ValidationFailed(errors=errors)


def dependant_add(
    *,
    actor,
    full_name: str,
    full_name_ar: str = "",
    date_of_birth: dt.date,
    sex: str,
    relation: str,
    national_id: str = "",
) -> Patient:
    """A child or an elderly parent whose record the signed-in patient manages."""
    guardian = policies.own_patient(actor)
    _check_person(full_name=full_name, date_of_birth=date_of_birth, sex=sex)
    _choice("relation", relation, Relation)
    if guardian.guardian_id is not None:
        raise Forbidden(_("A dependant cannot manage dependants."), code="dependant_of_dependant")
    return patient_create(
        full_name=full_name,
        full_name_ar=full_name_ar,
        date_of_birth=date_of_birth,
        sex=sex,
        national_id=national_id,
        guardian=guardian,
        relation=relation,
    )


def patient_identity_update(*, actor, patient_id=None, changes: dict) -> Patient:
    """The patient (or guardian) corrects identity details: names, birth date, sex, national ID, blood group."""
    from .models import BloodGroup

    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=policies.own_patient(actor, patient_id).pk)
        merged = {
            "full_name": changes.get("full_name", patient.full_name),
            "date_of_birth": changes.get("date_of_birth", patient.date_of_birth),
            "sex": changes.get("sex", patient.sex),
        }
        _check_person(**merged)
        patient.full_name = merged["full_name"].strip()
        patient.date_of_birth = merged["date_of_birth"]
        patient.sex = merged["sex"]
        if "full_name_ar" in changes:
            patient.full_name_ar = changes["full_name_ar"].strip()
        if "blood_group" in changes:
            patient.blood_group = _choice("blood_group", changes["blood_group"], BloodGroup)
        if "national_id" in changes:
            _set_national_id(patient, changes["national_id"])
        _save_patient(patient)
        from shifa.integrations.hakeem.actions import patient_queue

        patient_queue(patient)  # Hakeem's copy of the patient is corrected too
        return patient


# --- sharing (ID-5) ----------------------------------------------------------------------------------------------

GRANT_DAYS_MAX = 365


def grant_create(*, actor, clinic_id, patient_id=None, days: int | None = None) -> Grant:
    """The patient lets a clinic read their whole record (for ``days``, or until revoked)."""
    from shifa.tenancy.models import Clinic, ClinicStatus

    patient = policies.own_patient(actor, patient_id)
    clinic = Clinic.objects.filter(external_id=clinic_id, status=ClinicStatus.ACTIVE).first()
    if clinic is None:
        raise ValidationFailed.on("clinic_id", "unknown", _("Choose a clinic on Shifa."))
    if days is not None and not 1 <= days <= GRANT_DAYS_MAX:
        raise ValidationFailed.on("days", "out_of_range", _("Share for 1 to 365 days, or until you stop it."))
    expires = timezones.now() + dt.timedelta(days=days) if days else None
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        current = Grant.objects.filter(patient=patient, clinic=clinic, revoked_at__isnull=True).first()
        if current is not None:
            current.expires_at = expires
            current.granted_by = actor.user
            current.save(update_fields=["expires_at", "granted_by", "updated_at"])
            return current
        return Grant.objects.create(patient=patient, clinic=clinic, granted_by=actor.user, expires_at=expires)


def grant_revoke(*, actor, grant_id) -> Grant:
    with transaction.atomic():
        grant = (
            Grant.objects.select_for_update()
            .filter(external_id=grant_id, patient__in=policies.patients_of_user(actor.user))
            .first()
        )
        if grant is None:
            raise NotFound()
        if grant.revoked_at is None:
            grant.revoked_at = timezones.now()
            grant.save(update_fields=["revoked_at", "updated_at"])
        return grant


# --- standing facts ----------------------------------------------------------------------------------------------


def _medication(code_or_id, field: str = "medication"):
    from shifa.catalog.models import Medication

    found = Medication.objects.filter(is_active=True)
    match = _by_code_or_id(found, code_or_id)
    if match is None:
        raise ValidationFailed.on(field, "unknown", _("Choose a medication from the list."))
    return match


def _by_code_or_id(qs, value, code_field: str = "code"):
    if value in (None, ""):
        return None
    try:
        return qs.filter(external_id=uuid.UUID(str(value))).first()
    except ValueError:
        return qs.filter(**{code_field: str(value)}).first()


def _diagnosis(code: str, field: str = "code"):
    from shifa.catalog.models import Diagnosis

    value = str(code or "").strip().upper().replace(".", "")
    found = Diagnosis.objects.filter(is_active=True, code=value).first() if value else None
    if found is None:
        raise ValidationFailed.on(field, "unknown", _("Choose an ICD-9-CM code from the list."))
    return found


def _fact_create(model, access: policies.ChartAccess, actor, note: str, **fields):
    """A standing fact of the patient's record, recorded by the acting clinic."""
    return model.unscoped.create(
        clinic_id=access.clinic_id,
        patient=access.patient,
        note=note.strip(),
        recorded_by=actor.user,
        **fields,
    )


def allergy_record(
    *,
    actor,
    patient_id,
    medication=None,
    substance: str = "",
    reaction: str = "",
    severity: str,
    note: str = "",
) -> Allergy:
    access = policies.chart_access(actor, patient_id)
    _choice("severity", severity, Severity)
    med = _medication(medication) if medication else None
    substance = substance.strip()
    if med is None and not substance:
        raise ValidationFailed.on("substance", "required", _("Name the medication or the substance."))
    return _fact_create(
        Allergy,
        access,
        actor,
        note,
        medication=med,
        substance=substance,
        reaction=reaction.strip(),
        severity=severity,
    )


def condition_record(
    *, actor, patient_id, code: str, since: dt.date | None = None, note: str = ""
) -> Condition:
    access = policies.chart_access(actor, patient_id)
    diagnosis = _diagnosis(code)
    if since is not None and since > timezones.now().date():
        raise ValidationFailed.on("since", "in_future", _("The date cannot be in the future."))
    with transaction.atomic():
        fact = _fact_create(Condition, access, actor, note, diagnosis=diagnosis, since=since)
        from shifa.integrations.hakeem.actions import condition_queue

        condition_queue(fact)
        return fact


def medication_statement_record(
    *, actor, patient_id, medication, dosage: str = "", since: dt.date | None = None, note: str = ""
) -> MedicationStatement:
    access = policies.chart_access(actor, patient_id)
    return _fact_create(
        MedicationStatement,
        access,
        actor,
        note,
        medication=_medication(medication),
        dosage=dosage.strip(),
        since=since,
    )


def immunization_record(
    *, actor, patient_id, vaccine, given_on: dt.date, dose: int | None = None, lot: str = "", note: str = ""
) -> Immunization:
    from shifa.catalog.models import Vaccine

    access = policies.chart_access(actor, patient_id)
    found = _by_code_or_id(Vaccine.objects.filter(is_active=True), vaccine)
    if found is None:
        raise ValidationFailed.on("vaccine", "unknown", _("Choose a vaccine from the list."))
    if given_on > timezones.now().date():
        raise ValidationFailed.on("given_on", "in_future", _("The date cannot be in the future."))
    born = access.patient.date_of_birth
    if born is not None and given_on < born:
        raise ValidationFailed.on(
            "given_on", "before_birth", _("The date cannot be before the patient was born.")
        )
    return _fact_create(
        Immunization, access, actor, note, vaccine=found, given_on=given_on, dose=dose, lot=lot.strip()
    )


FACT_MODELS = {
    "allergies": Allergy,
    "conditions": Condition,
    "medications": MedicationStatement,
    "immunizations": Immunization,
}


def fact_status_set(*, actor, kind: str, fact_id, status: str) -> object:
    """Mark a fact the clinic recorded as no longer applying, or as entered in error (facts are never deleted)."""
    model = FACT_MODELS.get(kind)
    if model is None:
        raise NotFound()
    _choice("status", status, FactStatus)
    with transaction.atomic():
        fact = (
            model.objects.for_clinic(actor.require_clinic())
            .select_for_update()
            .filter(external_id=fact_id)
            .first()
        )
        if fact is None:
            raise NotFound()
        fact.status = status
        fact.save(update_fields=["status", "updated_at"])
        if isinstance(fact, Condition):
            from shifa.integrations.hakeem.actions import condition_queue

            condition_queue(fact)
        return fact


# --- visits ------------------------------------------------------------------------------------------------------


def _clinic_doctor(actor, doctor_id):
    from shifa.tenancy.queries import clinic_doctor

    doctor = clinic_doctor(actor.require_clinic(), doctor_id) if doctor_id else None
    if doctor is None:
        raise ValidationFailed.on("doctor_id", "unknown", _("Choose a doctor of this clinic."))
    return doctor


def visit_open(*, actor, appointment_id=None, patient_id=None, doctor_id=None) -> Visit:
    """Open a visit from an appointment of the clinic (checking the patient in if the desk has not), or for a
    walk-in patient of the clinic. Opening the same appointment twice gives the same visit."""
    from shifa.scheduling.actions import appointment_check_in
    from shifa.scheduling.models import Appointment, AppointmentStatus

    clinic = actor.require_clinic()
    if (appointment_id is None) == (patient_id is None):
        raise ValidationFailed.on(
            "appointment_id", "required", _("Choose an appointment, or a patient for a walk-in visit.")
        )
    with transaction.atomic():
        if appointment_id is not None:
            appointment = (
                Appointment.objects.for_clinic(clinic)
                .select_for_update()
                .filter(external_id=appointment_id)
                .first()
            )
            if appointment is None:
                raise ValidationFailed.on(
                    "appointment_id", "unknown", _("Choose an appointment of this clinic.")
                )
            existing = (
                Visit.objects.for_clinic(clinic).filter(appointment=appointment, amends__isnull=True).first()
            )
            if existing is not None:
                return existing
            if appointment.status == AppointmentStatus.BOOKED:
                appointment_check_in(actor=actor, appointment_id=appointment.external_id)
            elif appointment.status != AppointmentStatus.CHECKED_IN:
                raise Conflict(
                    _("This appointment is %(status)s: a visit cannot be opened from it.")
                    % {"status": appointment.get_status_display().lower()},
                    code="wrong_status",
                )
            return Visit.unscoped.create(
                clinic=clinic,
                patient=appointment.patient,
                doctor=appointment.doctor,
                appointment=appointment,
                origin=Origin.APPOINTMENT,
                started_at=timezones.now(),
                created_by=actor.user,
            )
        patient = policies.clinic_patients(clinic.pk).filter(external_id=patient_id).first()
        if patient is None:
            raise ValidationFailed.on("patient_id", "unknown", _("Choose a patient of this clinic."))
        doctor = _clinic_doctor(
            actor, doctor_id or (actor.user.external_id if "doctor" in actor.roles else None)
        )
        return Visit.unscoped.create(
            clinic=clinic,
            patient=patient,
            doctor=doctor,
            origin=Origin.WALK_IN,
            started_at=timezones.now(),
            created_by=actor.user,
        )


def _draft(actor, visit_id) -> Visit:
    """The acting clinic's visit, locked for writing; 409 once committed."""
    visit = (
        Visit.objects.for_clinic(actor.require_clinic())
        .select_for_update()
        .select_related("patient")
        .filter(external_id=visit_id)
        .first()
    )
    if visit is None:
        raise NotFound()
    if visit.is_committed:
        raise Conflict(
            _("This visit is committed and cannot be changed; amend it instead."), code="record_committed"
        )
    return visit


def _part_add(actor, visit_id, model, **fields):
    """A row written in a visit being written (the visit locked, 409 once committed)."""
    with transaction.atomic():
        visit = _draft(actor, visit_id)
        return model.unscoped.create(clinic_id=visit.clinic_id, visit=visit, **fields)


TEXT_LIMIT = 20000


def _text(field: str, value: str, limit: int = TEXT_LIMIT) -> str:
    value = (value or "").strip()
    if len(value) > limit:
        raise ValidationFailed.on(
            field, "too_long", _("Write at most %(limit)d characters.") % {"limit": limit}
        )
    return value


def visit_update(*, actor, visit_id, changes: dict) -> Visit:
    """The doctor's (or assistant doctor's) writing: complaint and notes."""
    with transaction.atomic():
        visit = _draft(actor, visit_id)
        fields = []
        for name in ("complaint", "notes"):
            if name in changes:
                setattr(visit, name, _text(name, changes[name]))
                fields.append(name)
        if fields:
            visit.save(update_fields=[*fields, "updated_at"])
        return visit


def visit_triage(*, actor, visit_id, triage: str, note: str = "") -> Visit:
    with transaction.atomic():
        visit = _draft(actor, visit_id)
        visit.triage = _choice("triage", triage, Triage)
        visit.triage_note = _text("note", note, 2000)
        visit.save(update_fields=["triage", "triage_note", "updated_at"])
        return visit


def _decimal(field: str, value) -> Decimal:
    try:
        number = Decimal(str(value).strip().translate(_ARABIC_DIGITS))
    except (InvalidOperation, ValueError):
        raise ValidationFailed.on(field, "invalid_number", _("Enter a number.")) from None
    if not number.is_finite():
        raise ValidationFailed.on(field, "invalid_number", _("Enter a number."))
    return number


def vital_values(readings, taken_at: dt.datetime | None = None) -> tuple[list, dt.datetime]:
    """Check measurements given by LOINC code (``{"8480-6": 120, …}``): each a number the sign can be (outside that,
    a typing mistake, refused with the field named), taken no later than now. Returns (sign, value) pairs."""
    from shifa.catalog.models import VitalSignType

    if not readings or not isinstance(readings, dict):
        raise ValidationFailed.on("readings", "required", _("Enter at least one measurement."))
    now = timezones.now()
    taken_at = taken_at or now
    if taken_at > now + dt.timedelta(minutes=5):
        raise ValidationFailed.on("taken_at", "in_future", _("The time cannot be in the future."))
    kinds = {
        k.code: k for k in VitalSignType.objects.filter(is_active=True, code__in=[str(c) for c in readings])
    }
    errors, rows = [], []
    for code, raw in readings.items():
        field = f"readings.{code}"
        kind = kinds.get(code)
        if kind is None:
            errors.append(FieldError(field, "unknown", _("Unknown vital sign.")))
            continue
        try:
            value = _decimal(field, raw)
        except ValidationFailed as exc:
            errors.extend(exc.errors)
            continue
        if not kind.lowest <= value <= kind.highest:
            errors.append(
                FieldError(
                    field,
                    "out_of_range",
                    _("%(name)s must be between %(low)s and %(high)s %(unit)s.")
                    % {
                        "name": kind.display_name(get_language()),
                        "low": f"{kind.lowest.normalize():f}",
                        "high": f"{kind.highest.normalize():f}",
                        "unit": units.symbol(kind.unit),
                    },
                )
            )
            continue
        rows.append((kind, round(value, kind.decimals)))
    if errors:
        raise ValidationFailed(errors=errors)
    return rows, taken_at


def vitals_record(
    *, actor, visit_id=None, patient_id=None, readings: dict, taken_at: dt.datetime | None = None
):
    """Vital signs by LOINC code, in a visit or on their own (``vital_values`` checks them)."""
    rows, taken_at = vital_values(readings, taken_at)
    with transaction.atomic():
        if visit_id is not None:
            visit = _draft(actor, visit_id)
            patient, clinic_id = visit.patient, visit.clinic_id
        else:
            access = policies.chart_access(actor, patient_id)
            visit, patient, clinic_id = None, access.patient, access.clinic_id
        vitals = [
            Vital.unscoped.create(
                clinic_id=clinic_id,
                patient=patient,
                visit=visit,
                kind=kind,
                value=value,
                taken_at=taken_at,
                recorded_by=actor.user,
            )
            for kind, value in rows
        ]
        if visit is None:  # final at once; a visit's vitals go to Hakeem when it is committed
            from shifa.integrations.hakeem.actions import vitals_queue

            vitals_queue(vitals)
        return vitals


def diagnosis_add(
    *, actor, visit_id, code: str, rank: str = Rank.SECONDARY, plain_words: str = ""
) -> VisitDiagnosis:
    """Add an ICD-9-CM diagnosis; a new primary diagnosis makes the earlier primary one secondary."""
    _choice("rank", rank, Rank)
    diagnosis = _diagnosis(code)
    with transaction.atomic():
        visit = _draft(actor, visit_id)
        existing = VisitDiagnosis.objects.for_clinic(visit.clinic_id).filter(visit=visit)
        if existing.filter(diagnosis=diagnosis).exists():
            raise ValidationFailed.on("code", "duplicate", _("This diagnosis is already in the visit."))
        if rank == Rank.PRIMARY:
            existing.filter(rank=Rank.PRIMARY).update(rank=Rank.SECONDARY)
        elif not existing.exists():
            rank = Rank.PRIMARY  # the first diagnosis is the primary one unless the doctor says otherwise
        return VisitDiagnosis.unscoped.create(
            clinic_id=visit.clinic_id,
            visit=visit,
            diagnosis=diagnosis,
            rank=rank,
            plain_words=_text("plain_words", plain_words, 500),
            position=existing.count(),
        )


def diagnosis_update(
    *,
    actor,
    visit_id,
    part_id,
    code: str | None = None,
    rank: str | None = None,
    plain_words: str | None = None,
) -> VisitDiagnosis:
    """Correct a diagnosis of a visit being written (in an amendment, most often): its code, rank or plain words.
    It stays the same diagnosis: on Hakeem the same Condition is updated. Making it primary makes the earlier
    primary one secondary; the primary one cannot simply be demoted (make another one primary instead)."""
    with transaction.atomic():
        part = _part(actor, VisitDiagnosis, part_id)
        if str(part.visit.external_id) != str(visit_id):
            raise NotFound()
        visit = _draft(actor, visit_id)
        part = VisitDiagnosis.objects.for_clinic(visit.clinic_id).select_for_update().get(pk=part.pk)
        siblings = VisitDiagnosis.objects.for_clinic(visit.clinic_id).filter(visit=visit).exclude(pk=part.pk)
        if code is not None:
            diagnosis = _diagnosis(code)
            if siblings.filter(diagnosis=diagnosis).exists():
                raise ValidationFailed.on("code", "duplicate", _("This diagnosis is already in the visit."))
            part.diagnosis = diagnosis
        if rank is not None:
            _choice("rank", rank, Rank)
            if rank == Rank.SECONDARY and part.rank == Rank.PRIMARY:
                raise ValidationFailed.on(
                    "rank", "primary_needed", _("Make another diagnosis primary instead.")
                )
            if rank == Rank.PRIMARY:
                siblings.filter(rank=Rank.PRIMARY).update(rank=Rank.SECONDARY)
            part.rank = rank
        if plain_words is not None:
            part.plain_words = _text("plain_words", plain_words, 500)
        part.save()
        return part


def _part(actor, model, part_id):
    part = (
        model.objects.for_clinic(actor.require_clinic())
        .select_related("visit")
        .filter(external_id=part_id)
        .first()
    )
    if part is None:
        raise NotFound()
    return part


def visit_part_remove(*, actor, model, part_id, visit_id=None) -> None:
    """Take a diagnosis, prescription line, order, referral or sick leave out of a visit being written."""
    with transaction.atomic():
        part = _part(actor, model, part_id)
        if visit_id is not None and str(part.visit.external_id) != str(visit_id):
            raise NotFound()
        _draft(actor, part.visit.external_id)
        if model is Order and OrderResult.objects.for_clinic(part.clinic_id).filter(order=part).exists():
            raise Conflict(_("This order has results and cannot be removed."), code="has_results")
        was_primary = model is VisitDiagnosis and part.rank == Rank.PRIMARY
        part.delete()
        if was_primary:
            following = (
                VisitDiagnosis.objects.for_clinic(part.clinic_id).filter(visit_id=part.visit_id).first()
            )
            if following is not None:
                following.rank = Rank.PRIMARY
                following.save(update_fields=["rank", "updated_at"])


#: Medicines that cross-react in allergy, by ATC prefix: an allergy to one warns for every other of the class.
#: Deliberately narrow (the classes where cross-reactions are well known), so that warnings stay worth reading.
ALLERGY_CLASSES = {
    "J01C": gettext_lazy("penicillins"),
    "J01D": gettext_lazy("cephalosporins and other beta-lactams"),
    "J01E": gettext_lazy("sulfonamides"),
    "J01FA": gettext_lazy("macrolides"),
    "J01MA": gettext_lazy("fluoroquinolones"),
    "J01AA": gettext_lazy("tetracyclines"),
    "M01A": gettext_lazy("anti-inflammatory painkillers (NSAIDs)"),
    "N02BA": gettext_lazy("anti-inflammatory painkillers (NSAIDs)"),
    "N03AF": gettext_lazy("carbamazepine and related anticonvulsants"),
}


def _allergy_class(atc: str):
    for prefix, name in ALLERGY_CLASSES.items():
        if atc.startswith(prefix):
            return name
    return None


def allergy_warnings(patient: Patient, medication) -> list[str]:
    """Active allergies that concern ``medication``: the same medicine, a combination that contains it, a medicine
    of the same cross-reacting class (penicillins, NSAIDs …), or a substance named in its names."""
    warnings = []
    names = {medication.name_en.lower(), medication.name_ar, *(b.lower() for b in medication.brands)}
    own_class = _allergy_class(medication.atc_code)
    for allergy in Allergy.unscoped.filter(patient=patient, status=FactStatus.ACTIVE).select_related(
        "medication"
    ):
        other = allergy.medication
        substance = allergy.substance.strip().lower()
        if other is not None and other.pk == medication.pk:
            why = _("Allergic to %(name)s") % {"name": other.name_en}
        elif other is not None and (
            other.name_en.lower() in medication.name_en.lower()
            or medication.name_en.lower() in other.name_en.lower()
        ):
            why = _("Allergic to %(name)s, which this medicine contains") % {"name": other.name_en}
        elif other is not None and own_class is not None and _allergy_class(other.atc_code) == own_class:
            why = _("Allergic to %(name)s, of the same class (%(class)s)") % {
                "name": other.name_en,
                "class": own_class,
            }
        elif substance and any(substance in name or name in substance for name in names if name):
            why = _("Allergic to %(name)s") % {"name": allergy.substance}
        else:
            continue
        if allergy.reaction:
            why += f" ({allergy.reaction})"
        warnings.append(why)
    return warnings


def prescription_add(*, actor, visit_id, data: dict) -> Prescription:
    """One structured line: medication from the catalog, strength, dose and unit, route, frequency, meal timing,
    duration and instructions; checked against the patient's allergies (warnings kept on the line)."""
    medication = _medication(data.get("medication"))
    errors = []
    strength = (data.get("strength") or "").strip()
    if not strength:
        errors.append(FieldError("strength", "required", _("Give the strength.")))
    elif medication.strengths and strength not in medication.strengths and len(strength) > 60:
        errors.append(FieldError("strength", "too_long", _("Write at most 60 characters.")))
    form = (data.get("form") or "").strip()
    if form and form not in medication.forms:
        errors.append(FieldError("form", "invalid_choice", _("Choose a form this medication comes in.")))
    try:
        dose = _decimal("dose", data.get("dose"))
        if not Decimal(0) < dose <= Decimal(10000) or dose != round(dose, 2):
            errors.append(
                FieldError("dose", "out_of_range", _("Give a dose above 0 with at most two decimals."))
            )
    except ValidationFailed as exc:
        errors.extend(exc.errors)
        dose = None
    for field, choices in (
        ("dose_unit", DoseUnit),
        ("route", Route),
        ("frequency", Frequency),
        ("timing", MealTiming),
    ):
        if (data.get(field) or "") not in choices.values:
            errors.append(FieldError(field, "invalid_choice", _("Choose one of the values offered.")))
    duration = data.get("duration_days")
    if duration is not None and not (isinstance(duration, int) and 1 <= duration <= 3650):
        errors.append(FieldError("duration_days", "out_of_range", _("Give 1 to 3650 days.")))
    if duration is None and data.get("frequency") not in (Frequency.AS_NEEDED, Frequency.ONCE):
        errors.append(FieldError("duration_days", "required", _("Give how many days it is taken.")))
    try:
        facility = _facility(data.get("facility"))
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    if errors:
        raise ValidationFailed(errors=errors)
    with transaction.atomic():
        visit = _draft(actor, visit_id)
        lines = Prescription.objects.for_clinic(visit.clinic_id).filter(visit=visit)
        return Prescription.unscoped.create(
            clinic_id=visit.clinic_id,
            visit=visit,
            medication=medication,
            form=form,
            strength=strength,
            dose=dose,
            dose_unit=data["dose_unit"],
            route=data.get("route") or Route.ORAL,
            frequency=data["frequency"],
            timing=data.get("timing") or "",
            duration_days=duration,
            instructions=_text("instructions", data.get("instructions") or "", 1000),
            allergy_warnings=allergy_warnings(visit.patient, medication),
            position=lines.count(),
            facility=facility,
        )


def _facility(code_or_id):
    """A Hakeem facility to fulfil a third-party order (HK-1), or ``None``."""
    from shifa.catalog.models import Facility

    if not code_or_id:
        return None
    found = _by_code_or_id(Facility.objects.filter(is_active=True), code_or_id)
    if found is None:
        raise ValidationFailed.on("facility", "unknown", _("Choose a Hakeem facility from the list."))
    return found


def order_add(
    *,
    actor,
    visit_id,
    kind: str,
    test=None,
    urgency: str = Urgency.ROUTINE,
    note: str = "",
    facility=None,
) -> Order:
    """Order a lab test or imaging study; with a ``facility``, a third-party order fulfilled at that Hakeem
    facility."""
    from shifa.catalog.models import ImagingStudy, LabTest

    _choice("kind", kind, OrderKind)
    _choice("urgency", urgency, Urgency)
    if kind == OrderKind.LAB:
        lab = _by_code_or_id(LabTest.objects.filter(is_active=True), test)
        imaging = None
        if lab is None:
            raise ValidationFailed.on("test", "unknown", _("Choose a lab test from the list."))
    else:
        lab = None
        imaging = _by_code_or_id(ImagingStudy.objects.filter(is_active=True), test)
        if imaging is None:
            raise ValidationFailed.on("test", "unknown", _("Choose an imaging study from the list."))
    return _part_add(
        actor,
        visit_id,
        Order,
        kind=kind,
        lab_test=lab,
        imaging=imaging,
        urgency=urgency,
        note=_text("note", note, 1000),
        facility=_facility(facility),
    )


def referral_add(
    *,
    actor,
    visit_id,
    reason: str,
    to_clinic_id=None,
    to_doctor_id=None,
    specialty=None,
    urgency: str = Urgency.ROUTINE,
) -> Referral:
    from shifa.catalog.models import Specialty
    from shifa.tenancy.models import Clinic, ClinicStatus

    _choice("urgency", urgency, Urgency)
    reason = _text("reason", reason, 2000)
    if not reason:
        raise ValidationFailed.on("reason", "required", _("Say why the patient is referred."))
    clinic = doctor = found_specialty = None
    if to_clinic_id:
        clinic = Clinic.objects.filter(external_id=to_clinic_id, status=ClinicStatus.ACTIVE).first()
        if clinic is None:
            raise ValidationFailed.on("to_clinic_id", "unknown", _("Choose a clinic on Shifa."))
    if to_doctor_id:
        from shifa.accounts.models import User
        from shifa.tenancy.models import Membership

        doctors = Membership.unscoped.filter(is_active=True, role__code="doctor")
        if clinic is not None:
            doctors = doctors.filter(clinic=clinic)
        doctor = User.objects.filter(external_id=to_doctor_id, pk__in=doctors.values("user_id")).first()
        if doctor is None:
            raise ValidationFailed.on("to_doctor_id", "unknown", _("Choose a doctor on Shifa."))
    if specialty:
        found_specialty = _by_code_or_id(Specialty.objects.all(), specialty)
        if found_specialty is None:
            raise ValidationFailed.on("specialty", "unknown", _("Choose a specialty from the list."))
    if clinic is None and doctor is None and found_specialty is None:
        raise ValidationFailed.on("to_clinic_id", "required", _("Choose a clinic, a doctor or a specialty."))
    return _part_add(
        actor,
        visit_id,
        Referral,
        to_clinic=clinic,
        to_doctor=doctor,
        specialty=found_specialty,
        urgency=urgency,
        reason=reason,
    )


def sick_leave_set(*, actor, visit_id, starts_on: dt.date, days: int, note: str = "") -> SickLeave:
    if not 1 <= days <= 90:
        raise ValidationFailed.on("days", "out_of_range", _("Give 1 to 90 days."))
    with transaction.atomic():
        visit = _draft(actor, visit_id)
        local_start = timezones.to_local(visit.started_at, visit.clinic.time_zone).date()
        if starts_on < local_start - dt.timedelta(days=3):
            raise ValidationFailed.on(
                "starts_on", "too_early", _("Sick leave can start at most three days before the visit.")
            )
        leave = SickLeave.objects.for_clinic(visit.clinic_id).filter(visit=visit).first()
        if leave is None:
            return SickLeave.unscoped.create(
                clinic_id=visit.clinic_id,
                visit=visit,
                starts_on=starts_on,
                days=days,
                note=_text("note", note, 1000),
            )
        leave.starts_on, leave.days, leave.note = starts_on, days, _text("note", note, 1000)
        leave.save(update_fields=["starts_on", "days", "note", "updated_at"])
        return leave


def visit_commit(*, actor, visit_id) -> Visit:
    """The doctor commits the visit: from now on the database refuses any change to it and to what it holds.
    It needs a primary diagnosis (and an amendment, its reason). The appointment it came from is completed."""
    from shifa.scheduling.actions import appointment_complete
    from shifa.scheduling.models import AppointmentStatus

    if "doctor" not in actor.roles:
        raise Forbidden(_("Only a doctor can commit a visit."), code="doctor_required")
    with transaction.atomic():
        visit = (
            Visit.objects.for_clinic(actor.require_clinic())
            .select_for_update()
            .filter(external_id=visit_id)
            .first()
        )
        if visit is None:
            raise NotFound()
        if visit.is_committed:
            return visit  # a double tap
        errors = []
        if (
            not VisitDiagnosis.objects.for_clinic(visit.clinic_id)
            .filter(visit=visit, rank=Rank.PRIMARY)
            .exists()
        ):
            errors.append(
                FieldError("diagnoses", "required", _("Add the primary diagnosis before committing."))
            )
        if visit.amends_id and not visit.amendment_reason:
            errors.append(FieldError("amendment_reason", "required", _("Say why the visit is amended.")))
        if errors:
            raise ValidationFailed(errors=errors)
        now = timezones.now()
        visit.is_committed = True
        visit.committed_at = now
        visit.committed_by = actor.user
        visit.save(update_fields=["is_committed", "committed_at", "committed_by", "updated_at"])
        from shifa.adherence.actions import schedules_for_visit

        schedules_for_visit(visit)  # the medication reminders of its prescription (CP-3)
        from shifa.integrations.hakeem.actions import visit_queue

        visit_queue(visit)  # owed to Hakeem, the national record (HK-1)
        appointment = visit.appointment
        if (
            visit.amends_id is None
            and appointment is not None
            and appointment.status == AppointmentStatus.CHECKED_IN
        ):
            appointment_complete(actor=actor, appointment_id=appointment.external_id)
        return visit


def visit_amend(*, actor, visit_id, reason: str) -> Visit:
    """Start an amendment of a committed visit: a new visit that ``amends`` the original (the original of the
    original, for a second correction), holding a copy of the latest committed version to correct."""
    reason = _text("reason", reason, 2000)
    if not reason:
        raise ValidationFailed.on("reason", "required", _("Say why the visit is amended."))
    with transaction.atomic():
        visit = (
            Visit.objects.for_clinic(actor.require_clinic())
            .select_for_update()
            .filter(external_id=visit_id)
            .first()
        )
        if visit is None:
            raise NotFound()
        if not visit.is_committed:
            raise Conflict(_("This visit is not committed yet: change it directly."), code="not_committed")
        original = visit.amends or visit
        open_amendment = (
            Visit.objects.for_clinic(visit.clinic_id).filter(amends=original, is_committed=False).first()
        )
        if open_amendment is not None:
            return open_amendment
        latest = (
            Visit.objects.for_clinic(visit.clinic_id)
            .filter(amends=original, is_committed=True)
            .order_by("-committed_at")
            .first()
            or original
        )
        return _copy_visit(actor, latest, original, reason)


def _copy_visit(actor, source: Visit, original: Visit, reason: str) -> Visit:
    clinic_id = source.clinic_id
    copy = Visit.unscoped.create(
        clinic_id=clinic_id,
        patient_id=source.patient_id,
        doctor_id=source.doctor_id,
        appointment_id=source.appointment_id,
        origin=source.origin,
        started_at=source.started_at,
        created_by=actor.user,
        complaint=source.complaint,
        notes=source.notes,
        triage=source.triage,
        triage_note=source.triage_note,
        amends=original,
        amendment_reason=reason,
    )
    for model in (VisitDiagnosis, Prescription, Order, Referral, SickLeave):
        for row in model.objects.for_clinic(clinic_id).filter(visit=source).order_by("id"):
            row.lineage = row.lineage or row.external_id  # the same diagnosis, line or order, corrected
            row.pk = None
            row.id = None
            row.external_id = uuid.uuid4()
            row.visit = copy
            row._state.adding = True
            row.save()
    return copy


def visit_discard(*, actor, visit_id) -> None:
    """Throw away a visit that was never committed and holds nothing clinical yet (opened by mistake), or an
    amendment in progress."""
    with transaction.atomic():
        visit = _draft(actor, visit_id)
        if visit.amends_id is None and (
            visit.complaint
            or visit.notes
            or any(
                model.objects.for_clinic(visit.clinic_id).filter(visit=visit).exists()
                for model in (VisitDiagnosis, Prescription, Order, Referral, SickLeave, Vital)
            )
        ):
            raise Conflict(
                _("This visit already holds clinical content: commit it, or remove what it holds first."),
                code="visit_not_empty",
            )
        for model in (VisitDiagnosis, Prescription, Order, Referral, SickLeave, Vital):
            model.objects.for_clinic(visit.clinic_id).filter(visit=visit).delete()
        visit.delete()


def visit_amendment_reason_set(*, actor, visit_id, reason: str) -> Visit:
    with transaction.atomic():
        visit = _draft(actor, visit_id)
        if visit.amends_id is None:
            raise Conflict(_("Only an amendment has a reason."), code="not_an_amendment")
        visit.amendment_reason = _text("amendment_reason", reason, 2000)
        visit.save(update_fields=["amendment_reason", "updated_at"])
        return visit


RESULT_FILE_TYPES = {"application/pdf", "image/jpeg", "image/png"}
RESULT_FILE_MAX = 20 * 1024 * 1024


def result_record(
    *, actor, order_id, values: list[dict] | None = None, summary: str = "", upload=None, amends_id=None
) -> OrderResult:
    """Attach a result to an order (any time after it was made): structured values and/or a report file. A result
    is written once; a correction is a new result that amends it."""
    order = _part(actor, Order, order_id)
    clean = _result_values(values or [])
    summary = _text("summary", summary, 10000)
    if not clean and not summary and upload is None:
        raise ValidationFailed.on("values", "required", _("Enter values, a report or a file."))
    if upload is not None:
        kind = sniff_content_type(upload)
        if kind not in RESULT_FILE_TYPES:
            raise ValidationFailed.on("file", "unsupported_type", _("Attach a PDF, JPEG or PNG file."))
        if upload.size > RESULT_FILE_MAX:
            raise ValidationFailed.on("file", "too_large", _("Attach a file of at most 20 MB."))
    with transaction.atomic():
        amends = None
        if amends_id is not None:
            amends = (
                OrderResult.objects.for_clinic(order.clinic_id)
                .filter(external_id=amends_id, order=order)
                .first()
            )
            if amends is None:
                raise ValidationFailed.on("amends", "unknown", _("Choose a result of this order."))
        now = timezones.now()
        result = OrderResult(
            clinic_id=order.clinic_id,
            order=order,
            values=clean,
            summary=summary,
            reported_at=now,
            recorded_by=actor.user,
            amends=amends,
            is_committed=True,
            committed_at=now,
            committed_by=actor.user,
        )
        if upload is not None:
            result.file_name = (upload.name or "result")[-200:]
            result.content_type = sniff_content_type(upload)
            result.file.save(f"{uuid.uuid4().hex}", upload, save=False)
        result.save()
        return result


def _result_values(values: list[dict]) -> list[dict]:
    clean, errors = [], []
    if len(values) > 100:
        raise ValidationFailed.on("values", "too_many", _("Enter at most 100 values."))
    for i, item in enumerate(values):
        name = str(item.get("name") or "").strip()[:120]
        raw = str(item.get("value") if item.get("value") is not None else "").strip()[:60]
        if not name:
            errors.append(FieldError(f"values.{i}.name", "required", _("Name the value.")))
        if not raw:
            errors.append(FieldError(f"values.{i}.value", "required", _("Enter the value.")))
        entry = {"name": name, "value": raw, "unit": str(item.get("unit") or "").strip()[:20]}
        for bound in ("low", "high"):
            if item.get(bound) not in (None, ""):
                try:
                    entry[bound] = str(_decimal(f"values.{i}.{bound}", item[bound]))
                except ValidationFailed as exc:
                    errors.extend(exc.errors)
        code = str(item.get("code") or "").strip()[:10]
        if code:
            entry["code"] = code
        entry["flag"] = _flag(entry)
        clean.append(entry)
    if errors:
        raise ValidationFailed(errors=errors)
    return clean


def _flag(entry: dict) -> str:
    try:
        value = Decimal(entry["value"])
    except (InvalidOperation, ValueError):
        return ""
    if "low" in entry and value < Decimal(entry["low"]):
        return "low"
    if "high" in entry and value > Decimal(entry["high"]):
        return "high"
    return "normal" if ("low" in entry or "high" in entry) else ""


def visit_document_request(*, actor, visit_id, kind: str, language: str, referral_id=None):
    """Ask for a committed visit's prescription, referral letter, sick leave or order sheet as a PDF (rendered in
    the background). Asking again for the same one returns the document already made or being made."""
    from shifa.documents.actions import document_request
    from shifa.documents.models import Document, DocumentStatus

    from . import documents

    if kind not in documents.KINDS:
        raise ValidationFailed.on("kind", "invalid_choice", _("Choose one of the values offered."))
    if language not in {"ar", "en"}:
        raise ValidationFailed.on("language", "invalid_choice", _("Choose Arabic or English."))
    visit = (
        Visit.objects.for_clinic(actor.require_clinic())
        .select_related("patient")
        .filter(external_id=visit_id)
        .first()
    )
    if visit is None:
        raise NotFound()
    if not visit.is_committed:
        raise Conflict(_("Commit the visit before printing its documents."), code="not_committed")
    clinic_id = visit.clinic_id
    holds = {
        documents.PRESCRIPTION: Prescription.objects.for_clinic(clinic_id).filter(visit=visit),
        documents.REFERRAL: Referral.objects.for_clinic(clinic_id).filter(visit=visit),
        documents.SICK_LEAVE: SickLeave.objects.for_clinic(clinic_id).filter(visit=visit),
        documents.LAB_ORDER: Order.objects.for_clinic(clinic_id).filter(visit=visit),
    }[kind]
    context = {"visit": str(visit.external_id)}
    if kind == documents.REFERRAL and referral_id is not None:
        referral = holds.filter(external_id=referral_id).first()
        if referral is None:
            raise ValidationFailed.on("referral_id", "unknown", _("Choose a referral of this visit."))
        context["referral"] = str(referral.external_id)
    elif not holds.exists():
        raise ValidationFailed.on(
            "kind", "nothing_to_print", _("This visit has nothing to put in this document.")
        )
    with transaction.atomic():
        Visit.objects.for_clinic(clinic_id).select_for_update().filter(
            pk=visit.pk
        ).first()  # one request at a time
        existing = (
            Document.objects.for_clinic(clinic_id)
            .filter(subject=visit.external_id, kind=kind, language=language, context=context)
            .exclude(status=DocumentStatus.FAILED)
            .order_by("-id")
            .first()
        )
        if existing is not None:
            return existing
        from django.utils import translation

        with translation.override(language):
            title = documents.title_for(kind, visit.patient.display_name(language))
        return document_request(
            actor=actor,
            kind=kind,
            title=title,
            language=language,
            context=context,
            subject=visit.external_id,
            clinical=True,
        )

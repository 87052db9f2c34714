"""Reads of the patient record, for the clinic (scoped by ``policies.chart_access`` and logged in the read log)
and for the patient (their own record and their dependants', committed content only)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import (
    DateTimeField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Coalesce

from shifa.access.policies import Actor
from shifa.audit.models import ReadScope, RecordRead
from shifa.core import timezones
from shifa.core.errors import NotFound
from shifa.core.pagination import Page, check_limit, decode_cursor, encode_cursor

from . import policies
from .models import (
    Allergy,
    Condition,
    FactStatus,
    Grant,
    Immunization,
    MedicationStatement,
    Order,
    OrderResult,
    Patient,
    Prescription,
    Referral,
    SickLeave,
    Visit,
    VisitDiagnosis,
    Vital,
)


def patient_for_user(user) -> Patient | None:
    """The patient a signed-in user is, if any."""
    return Patient.objects.filter(user=user).first()


def _log(actor: Actor, patient: Patient, scope: str, subject=None) -> None:
    from shifa.audit.actions import record_read

    record_read(actor=actor, patient=patient, scope=scope, subject=subject, role=policies.reading_role(actor))


# --- finding patients -------------------------------------------------------------------------------------------


def patient_search(*, actor: Actor, query: str, limit: int = 20) -> list[Patient]:
    """The clinic's patients by name or phone; or anyone on the platform by exact national number (blind index),
    so that a walk-in patient already on Shifa is not registered twice."""
    from .actions import national_id_index, normalize_national_id

    query = " ".join((query or "").split())
    if len(query) < 2:
        return []
    clinic = actor.require_clinic()
    digits = query.replace(" ", "")
    try:
        national = normalize_national_id(digits) if digits.isdigit() and len(digits) == 10 else ""
    except Exception:
        national = ""
    mine = policies.clinic_patients(clinic.pk)
    found = Q(full_name__icontains=query) | Q(full_name_ar__icontains=query)
    if digits.lstrip("+").isdigit():
        found |= Q(phone__endswith=digits.lstrip("+").lstrip("0"))
    results = list(mine.filter(found).order_by("full_name", "id")[:limit])
    if national:
        match = Patient.objects.filter(national_id_index=national_id_index(national)).first()
        if match is not None and match not in results:
            results.insert(0, match)
    return results[:limit]


# --- the chart -------------------------------------------------------------------------------------------------


@dataclass
class Chart:
    patient: Patient
    shared: bool
    allergies: list[Allergy]
    conditions: list[Condition]
    medications: list[MedicationStatement]
    current_prescriptions: list[Prescription]
    immunizations: list[Immunization]
    latest_vitals: list  # Vital, or adherence.Reading taken at home
    timeline: Page
    amendments: dict[int, list[Visit]] = field(default_factory=dict)


def _visible_visits(access: policies.ChartAccess) -> QuerySet[Visit]:
    """The visits the clinic may read: its own (drafts included) and, when shared, other clinics' committed ones."""
    own = Q(clinic_id=access.clinic_id)
    others = Q(is_committed=True) & ~own
    allowed = own | others if access.shared else own
    return Visit.unscoped.filter(allowed, patient=access.patient)


def _facts(model, access: policies.ChartAccess):
    return (
        model.unscoped.filter(access.clinics_filter(), patient=access.patient)
        .exclude(status=FactStatus.ENTERED_IN_ERROR)
        .select_related("clinic")
        .order_by("-created_at")
    )


_DIAGNOSES = Prefetch(
    "diagnoses", queryset=VisitDiagnosis.unscoped.select_related("diagnosis").order_by("position", "id")
)


def timeline_page(visits: QuerySet[Visit], *, cursor: str | None, limit: int) -> Page:
    """Original visits, newest first, with their diagnoses; keyset on (started_at, id)."""
    check_limit(limit)
    qs = visits.filter(amends__isnull=True).select_related("clinic", "doctor").prefetch_related(_DIAGNOSES)
    qs = qs.order_by("-started_at", "-id")
    if cursor:
        position = decode_cursor(cursor)
        try:
            at = dt.datetime.fromisoformat(position["at"])
            after = int(position["id"])
        except (KeyError, TypeError, ValueError):
            from django.utils.translation import gettext as _

            from shifa.core.errors import FieldError, ValidationFailed

            raise ValidationFailed(
                errors=[FieldError("cursor", "invalid", _("This cursor is not valid."))]
            ) from None
        qs = qs.filter(Q(started_at__lt=at) | Q(started_at=at, id__lt=after))
    rows = list(qs[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor({"at": last.started_at.isoformat(), "id": last.pk})
    return Page(items=rows[:limit], next_cursor=next_cursor)


def _amendments_of(visits: QuerySet[Visit], originals: list[Visit]) -> dict[int, list[Visit]]:
    found: dict[int, list[Visit]] = {}
    rows = (
        visits.filter(amends_id__in=[v.pk for v in originals])
        .prefetch_related(_DIAGNOSES)
        .order_by("committed_at", "id")
    )
    for row in rows:
        found.setdefault(row.amends_id, []).append(row)
    return found


def current_prescriptions(
    patient: Patient, clinics: Q, *, at: dt.datetime | None = None
) -> list[Prescription]:
    """Lines of committed visits still running (a line without a duration counts for 30 days), from the latest
    committed version of each visit. Filtered in SQL: the cost follows the patient's running lines, not their
    history."""
    at = at or timezones.now()
    days = Coalesce("duration_days", Value(30))
    ends = ExpressionWrapper(
        F("visit__started_at")
        + Func(days, template="make_interval(days => %(expressions)s)", output_field=DurationField()),
        output_field=DateTimeField(),
    )
    # an original whose correction is committed, or an amendment followed by a later committed one
    corrected = Exists(Visit.unscoped.filter(amends_id=OuterRef("visit_id"), is_committed=True))
    overtaken = Exists(
        Visit.unscoped.filter(
            amends_id=OuterRef("visit__amends_id"),
            is_committed=True,
            committed_at__gt=OuterRef("visit__committed_at"),
        )
    )
    return list(
        Prescription.unscoped.filter(clinics, visit__patient=patient, visit__is_committed=True)
        .annotate(ends=ends)
        .filter(ends__gte=at)
        .exclude(corrected)
        .exclude(overtaken)
        .select_related("medication", "visit")
        .defer("visit__complaint", "visit__notes", "visit__triage_note", "visit__amendment_reason")
        .order_by("-visit__started_at", "position", "id")
    )


def visit_allergies(*, actor: Actor, visit: Visit) -> list[Allergy]:
    """The patient's active allergies as the acting clinic may see them, for the banner of the visit screen."""
    access = policies.chart_access(actor, visit.patient.external_id)
    return list(_facts(Allergy, access).filter(status=FactStatus.ACTIVE).select_related("medication"))


def latest_vitals(patient: Patient, clinics: Q, *, home: bool = False) -> list:
    """The latest reading of each vital sign: taken at the clinics ``clinics`` selects, and with ``home`` also at
    home (``adherence.Reading``, which has a ``source``), whichever is newer."""
    from shifa.adherence.models import Reading

    def latest(rows):
        return (
            rows.select_related("kind")
            .order_by("kind__position", "kind_id", "-taken_at")
            .distinct("kind__position", "kind_id")
        )

    found = {v.kind_id: v for v in latest(Vital.unscoped.filter(clinics, patient=patient))}
    if home:
        for reading in latest(Reading.objects.filter(patient=patient)):
            clinic = found.get(reading.kind_id)
            if clinic is None or reading.taken_at > clinic.taken_at:
                found[reading.kind_id] = reading
    return sorted(found.values(), key=lambda v: (v.kind.position, v.kind_id))


def chart(*, actor: Actor, patient_id, cursor: str | None = None, limit: int = 30) -> Chart:
    """The patient's chart as the acting clinic may see it; the read is logged."""
    access = policies.chart_access(actor, patient_id)
    visits = _visible_visits(access)
    clinics = access.clinics_filter()
    page = timeline_page(visits, cursor=cursor, limit=limit)
    result = Chart(
        patient=access.patient,
        shared=access.shared,
        allergies=list(_facts(Allergy, access).select_related("medication")),
        conditions=list(_facts(Condition, access).select_related("diagnosis")),
        medications=list(_facts(MedicationStatement, access).select_related("medication")),
        current_prescriptions=current_prescriptions(access.patient, clinics),
        immunizations=list(_facts(Immunization, access).select_related("vaccine")),
        latest_vitals=latest_vitals(access.patient, clinics, home=policies.reads_home_readings(access)),
        timeline=page,
        amendments=_amendments_of(visits, page.items),
    )
    _log(actor, access.patient, ReadScope.CHART)
    return result


def vital_series(*, actor: Actor, patient_id, code: str, limit: int = 200) -> list:
    """One sign's latest readings, oldest first: taken at clinics the reader may see, and at home (``source``
    "patient" or "device") where ``reads_home_readings`` allows."""
    from shifa.adherence.models import Reading

    access = policies.chart_access(actor, patient_id)
    rows = list(
        Vital.unscoped.filter(access.clinics_filter(), patient=access.patient, kind__code=code)
        .select_related("kind")
        .order_by("-taken_at")[:limit]
    )
    if policies.reads_home_readings(access):
        rows += (
            Reading.objects.filter(patient=access.patient, kind__code=code)
            .select_related("kind")
            .order_by("-taken_at")[:limit]
        )
        rows = sorted(rows, key=lambda r: r.taken_at, reverse=True)[:limit]
    _log(actor, access.patient, ReadScope.CHART)
    return rows[::-1]


# --- one visit ---------------------------------------------------------------------------------------------------


@dataclass
class VisitRecord:
    visit: Visit
    diagnoses: list[VisitDiagnosis]
    prescriptions: list[Prescription]
    orders: list[Order]
    results: dict[int, list[OrderResult]]
    referrals: list[Referral]
    sick_leave: SickLeave | None
    vitals: list[Vital]
    original: Visit | None
    amendments: list[Visit]


def visit_record(visit: Visit, *, versions: QuerySet[Visit]) -> VisitRecord:
    """Everything written in ``visit``; ``versions`` are the visits the reader may see (for the amendments)."""
    clinic_id = visit.clinic_id
    orders = list(
        Order.objects.for_clinic(clinic_id)
        .filter(visit=visit)
        .select_related("lab_test", "imaging", "facility")
    )
    root = visit.amends_id or visit.pk
    # Results arrive on the order they were made for; an amendment copies the orders, so the results of the same
    # test ordered in any version of the visit are shown with each version.
    lineage = Visit.unscoped.filter(Q(pk=root) | Q(amends_id=root), clinic_id=clinic_id).values("id")
    by_test: dict[tuple, list[OrderResult]] = {}
    for row in (
        OrderResult.objects.for_clinic(clinic_id)
        .filter(order__visit_id__in=lineage)
        .select_related("amends", "order")
        .order_by("reported_at", "id")
    ):
        by_test.setdefault((row.order.kind, row.order.lab_test_id, row.order.imaging_id), []).append(row)
    results = {o.pk: by_test.get((o.kind, o.lab_test_id, o.imaging_id), []) for o in orders}
    return VisitRecord(
        visit=visit,
        diagnoses=list(
            VisitDiagnosis.objects.for_clinic(clinic_id).filter(visit=visit).select_related("diagnosis")
        ),
        prescriptions=list(
            Prescription.objects.for_clinic(clinic_id)
            .filter(visit=visit)
            .select_related("medication", "facility")
        ),
        orders=orders,
        results=results,
        referrals=list(
            Referral.objects.for_clinic(clinic_id)
            .filter(visit=visit)
            .select_related("to_clinic", "to_doctor", "specialty")
        ),
        sick_leave=SickLeave.objects.for_clinic(clinic_id).filter(visit=visit).first(),
        vitals=list(Vital.objects.for_clinic(clinic_id).filter(visit=visit).select_related("kind")),
        original=visit.amends,
        amendments=list(versions.filter(amends_id=root).exclude(pk=visit.pk).order_by("created_at", "id")),
    )


def _visit_query() -> QuerySet[Visit]:
    return Visit.unscoped.select_related(
        "clinic", "doctor", "patient", "appointment", "amends", "committed_by", "created_by"
    )


def clinic_visit(*, actor: Actor, visit_id, log: bool = True) -> VisitRecord:
    """One visit as the acting clinic may see it (its own, or another clinic's committed one when shared)."""
    clinic = actor.require_clinic()
    visit = _visit_query().filter(external_id=visit_id).first()
    if visit is None:
        raise NotFound()
    if visit.clinic_id != clinic.pk:
        access = policies.chart_access(actor, visit.patient.external_id)
        if not access.shared or not visit.is_committed:
            raise NotFound()
    else:
        access = policies.ChartAccess(patient=visit.patient, clinic_id=clinic.pk, shared=False)
        if policies.has_grant(visit.patient, clinic.pk) or policies.has_encounter(visit.patient, clinic.pk):
            access = policies.ChartAccess(patient=visit.patient, clinic_id=clinic.pk, shared=True)
    record = visit_record(visit, versions=_visible_visits(access))
    if log:
        _log(actor, visit.patient, ReadScope.VISIT, visit.external_id)
    return record


def own_visit(*, actor: Actor, visit_id) -> Visit:
    """The acting clinic's own visit (for writes and documents), or 404."""
    visit = _visit_query().filter(clinic=actor.require_clinic(), external_id=visit_id).first()
    if visit is None:
        raise NotFound()
    return visit


def result_file(*, actor: Actor, result_id) -> OrderResult:
    clinic = actor.require_clinic()
    result = (
        OrderResult.unscoped.select_related("order__visit__patient").filter(external_id=result_id).first()
    )
    if result is None or not result.file:
        raise NotFound()
    visit = result.order.visit
    if result.clinic_id != clinic.pk:
        access = policies.chart_access(actor, visit.patient.external_id)
        if not access.shared:
            raise NotFound()
    _log(actor, visit.patient, ReadScope.RESULT, result.external_id)
    return result


def doctor_day(*, actor: Actor, day: dt.date, doctor=None) -> list[dict]:
    """The doctor's day: appointments of the local day (held and expired left out) with the visit each has, and
    walk-in visits opened that day."""
    from shifa.scheduling.models import Appointment, AppointmentStatus

    clinic = actor.require_clinic()
    start, end = timezones.local_day_bounds(day, clinic.time_zone)
    appointments = (
        Appointment.objects.for_clinic(clinic)
        .filter(starts_at__gte=start, starts_at__lt=end)
        .exclude(status__in=[AppointmentStatus.HELD, AppointmentStatus.EXPIRED])
        .select_related("patient", "doctor")
        .order_by("starts_at")
    )
    walk_ins = (
        Visit.objects.for_clinic(clinic)
        .filter(origin="walk_in", started_at__gte=start, started_at__lt=end, amends__isnull=True)
        .select_related("patient", "doctor")
    )
    if doctor is not None:
        appointments = appointments.filter(doctor=doctor)
        walk_ins = walk_ins.filter(doctor=doctor)
    visits = {
        v.appointment_id: v
        for v in Visit.objects.for_clinic(clinic).filter(
            appointment__in=[a.pk for a in appointments], amends__isnull=True
        )
    }
    rows = [
        {
            "at": a.starts_at,
            "appointment": a,
            "visit": visits.get(a.pk),
            "patient": a.patient,
            "doctor": a.doctor,
        }
        for a in appointments
    ]
    rows += [
        {"at": v.started_at, "appointment": None, "visit": v, "patient": v.patient, "doctor": v.doctor}
        for v in walk_ins
    ]
    return sorted(rows, key=lambda row: row["at"])


# --- the patient's own record (EHR-6) -------------------------------------------------------------------------------


def my_patients(*, actor: Actor) -> list[Patient]:
    """The signed-in patient first, then their dependants."""
    return sorted(
        policies.patients_of_user(actor.user).select_related("guardian"),
        key=lambda p: (p.guardian_id is not None, p.full_name.lower(), p.pk),
    )


def my_visits(
    *, actor: Actor, patient_id=None, cursor: str | None = None, limit: int = 30
) -> tuple[Patient, Page, dict[int, list[Visit]]]:
    """My committed visits, newest first, and each one's committed amendments (by the original's pk)."""
    patient = policies.own_patient(actor, patient_id)
    visits = Visit.unscoped.filter(patient=patient, is_committed=True)
    page = timeline_page(visits, cursor=cursor, limit=limit)
    return patient, page, _amendments_of(visits, page.items)


def latest_version(visit: Visit) -> Visit:
    """The latest committed amendment of an original visit, or the visit itself."""
    return (
        Visit.unscoped.filter(amends=visit, is_committed=True).order_by("-committed_at", "-id").first()
        or visit
    )


def my_visit(*, actor: Actor, visit_id) -> VisitRecord:
    visit = _visit_query().filter(external_id=visit_id, is_committed=True).first()
    if visit is None or not policies.patients_of_user(actor.user).filter(pk=visit.patient_id).exists():
        raise NotFound()
    return visit_record(visit, versions=Visit.unscoped.filter(patient=visit.patient, is_committed=True))


def my_summary(*, actor: Actor, patient_id=None) -> Chart:
    """The patient's own standing facts and running prescriptions (every clinic's)."""
    patient = policies.own_patient(actor, patient_id)
    everything = policies.ChartAccess(patient=patient, clinic_id=0, shared=True)
    visits = Visit.unscoped.filter(patient=patient, is_committed=True)
    page = timeline_page(visits, cursor=None, limit=5)
    return Chart(
        patient=patient,
        shared=True,
        allergies=list(_facts(Allergy, everything).select_related("medication")),
        conditions=list(_facts(Condition, everything).select_related("diagnosis")),
        medications=list(_facts(MedicationStatement, everything).select_related("medication")),
        current_prescriptions=current_prescriptions(patient, Q()),
        immunizations=list(_facts(Immunization, everything).select_related("vaccine")),
        latest_vitals=latest_vitals(patient, Q(), home=True),
        timeline=page,
        amendments=_amendments_of(visits, page.items),
    )


def my_result_file(*, actor: Actor, result_id) -> OrderResult:
    result = (
        OrderResult.unscoped.select_related("order__visit")
        .filter(external_id=result_id, order__visit__is_committed=True)
        .first()
    )
    if result is None or not result.file:
        raise NotFound()
    if not policies.patients_of_user(actor.user).filter(pk=result.order.visit.patient_id).exists():
        raise NotFound()
    return result


def my_reads(
    *, actor: Actor, patient_id=None, cursor: str | None = None, limit: int = 50
) -> tuple[Patient, Page]:
    """Who read the record: clinic, role and time, newest first."""
    from shifa.core.pagination import paginate

    patient = policies.own_patient(actor, patient_id)
    reads = RecordRead.objects.filter(patient=patient).select_related("clinic", "reader")
    return patient, paginate(reads, cursor=cursor, limit=limit, newest_first=True)


def my_grants(*, actor: Actor, patient_id=None) -> tuple[Patient, list[Grant]]:
    patient = policies.own_patient(actor, patient_id)
    grants = (
        Grant.objects.filter(policies.active_grants(), patient=patient)
        .select_related("clinic")
        .order_by("-created_at")
    )
    return patient, list(grants)


def visit_documents(*, actor: Actor, visit_id) -> list:
    """The documents made for one of the clinic's visits, newest first."""
    from shifa.documents.models import Document

    visit = own_visit(actor=actor, visit_id=visit_id)
    return list(
        Document.objects.for_clinic(visit.clinic_id).filter(subject=visit.external_id).order_by("-id")
    )


def my_documents(*, actor: Actor, visit_id) -> list:
    """The ready documents of one of my committed visits."""
    from shifa.documents.models import Document, DocumentStatus

    from .documents import KINDS

    visit = Visit.unscoped.filter(external_id=visit_id, is_committed=True).first()
    if visit is None or not policies.patients_of_user(actor.user).filter(pk=visit.patient_id).exists():
        raise NotFound()
    return list(
        Document.unscoped.filter(
            clinic_id=visit.clinic_id, subject=visit.external_id, kind__in=KINDS, status=DocumentStatus.READY
        ).order_by("-id")
    )


def my_document(*, actor: Actor, document_id):
    from shifa.documents.models import Document

    from .documents import KINDS

    document = Document.unscoped.filter(external_id=document_id, kind__in=KINDS).first()
    if document is None or document.subject is None:
        raise NotFound()
    visit = Visit.unscoped.filter(external_id=document.subject, clinic_id=document.clinic_id).first()
    if visit is None or not policies.patients_of_user(actor.user).filter(pk=visit.patient_id).exists():
        raise NotFound()
    return document

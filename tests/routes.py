"""Turns every registered route into a concrete request, so that tests can be generated over all of them."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from decimal import Decimal

from shifa.access.registry import RouteSpec, all_routes

PARAM = re.compile(r"{(\w+)}")


@dataclass
class Target:
    clinic: object  # the clinic whose ids fill the path
    membership: object  # a membership of that clinic
    user: object = None  # who will call (objects of their own, e.g. a linked identity, are made for them)


def _member(t: Target) -> str:
    """A membership of the target clinic in a junior role, not the caller's own (their own may not be changed)."""
    from shifa.tenancy.models import Membership

    own = t.user is not None and t.membership is not None and t.membership.user_id == t.user.pk
    if not own:
        return str(t.membership.external_id)  # e.g. another clinic's membership, for the isolation tests
    junior = Membership.unscoped.filter(clinic=t.clinic, role__code="nurse").exclude(user=t.user).first()
    return str((junior or t.membership).external_id)


def _identity(t: Target) -> str:
    from shifa.accounts.models import ExternalIdentity

    if t.user is None:
        return str(uuid.uuid4())
    identity = ExternalIdentity.objects.create(user=t.user, provider="google", subject=uuid.uuid4().hex)
    return str(identity.external_id)


def _notification(t: Target) -> str:
    from shifa.notifications.models import Notification

    if t.user is None:
        return str(uuid.uuid4())
    n = Notification.objects.create(
        recipient=t.user,
        kind="security.password_changed",
        category="transactional",
        idempotency_key=uuid.uuid4().hex,
        language="en",
        title="t",
        body="b",
    )
    return str(n.external_id)


def _push_subscription(t: Target) -> str:
    from shifa.notifications.models import PushSubscription

    if t.user is None:
        return str(uuid.uuid4())
    sub = PushSubscription.objects.create(
        user=t.user, endpoint=f"https://push.example.jo/{uuid.uuid4().hex}", p256dh="x" * 87, auth="y" * 22
    )
    return str(sub.external_id)


def _document(t: Target, spec: RouteSpec) -> str:
    """A ready letter of the target clinic; for the patient's routes, a ready prescription of their own visit."""
    from django.core.files.base import ContentFile

    from shifa.core import timezones
    from shifa.documents.models import Document

    author = t.user or (t.membership.user if t.membership is not None else None)
    if author is None:
        return str(uuid.uuid4())
    kind, subject, context = "letter", None, {}
    if _for_patient(spec):
        from shifa.records.models import Visit

        visit = Visit.unscoped.get(
            external_id=_visit(t, RouteSpec("GET", "/api/v1/me/x", "", "api", None, False))
        )
        kind, subject, context = "prescription", visit.external_id, {"visit": str(visit.external_id)}
        author = visit.doctor
    document = Document(
        clinic=t.clinic,
        kind=kind,
        subject=subject,
        context=context,
        title="Letter",
        language="en",
        created_by=author,
        status="ready",
        ready_at=timezones.now(),
    )
    document.file.save("x.pdf", ContentFile(b"%PDF-1.4 test"), save=False)
    Document.unscoped.bulk_create([document])
    return str(document.external_id)


def _plan():
    from shifa.tenancy.models import Plan

    plan, _ = Plan.objects.get_or_create(
        code="basic",
        defaults={
            "name_en": "Basic",
            "name_ar": "أساسية",
            "price": "25.000",
            "period": "monthly",
            "seats": 10,
        },
    )
    return plan


def _application(t: Target) -> str:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from shifa.tenancy.models import ClinicApplication

    _plan()
    suffix = uuid.uuid4().hex[:8]
    path = default_storage.save(f"applications/{suffix}/1.pdf", ContentFile(b"%PDF-1.4 licence"))
    application = ClinicApplication.objects.create(
        documents=[
            {"name": "licence.pdf", "path": path, "size": 16, "content_type": "application/pdf", "sha256": ""}
        ],
        institution_name_en="Group",
        institution_name_ar="مجموعة",
        clinic_name_en="New",
        clinic_name_ar="جديدة",
        slug=f"new-{suffix}",
        city="Amman",
        moh_licence_number="MOH-1",
        contact_name="Contact",
        contact_email=f"{suffix}@example.jo",
        contact_phone="+962791234567",
    )
    return str(application.external_id)


def _licence(t: Target) -> str:
    import datetime as dt

    from shifa.tenancy.models import Licence

    licence, _ = Licence.unscoped.get_or_create(
        clinic=t.clinic,
        defaults={
            "plan": _plan(),
            "seats": 10,
            "starts_on": dt.date(2026, 1, 1),
            "ends_on": dt.date(2027, 1, 1),
        },
    )
    return str(licence.external_id)


def _closure(t: Target) -> str:
    import datetime as dt

    from shifa.scheduling.models import Closure

    closure = Closure.unscoped.create(
        clinic=t.clinic, starts_on=dt.date(2026, 12, 25), ends_on=dt.date(2026, 12, 25)
    )
    return str(closure.external_id)


def _doctor(t: Target) -> str:
    import datetime as dt

    from shifa.scheduling.models import OpeningInterval
    from shifa.tenancy.models import Membership

    if not OpeningInterval.unscoped.filter(clinic=t.clinic).exists():
        OpeningInterval.unscoped.create(clinic=t.clinic, weekday=0, opens=dt.time(8), closes=dt.time(16))
    membership = (
        Membership.unscoped.filter(clinic=t.clinic, role__code="doctor")
        .select_related("user")
        .order_by("pk")
        .first()
    )
    if membership is None:
        return str(uuid.uuid4())
    from shifa.directory.models import DoctorProfile

    DoctorProfile.unscoped.get_or_create(
        clinic=t.clinic, doctor=membership.user, defaults={"gender": "female", "minutes": {"office": 20}}
    )
    return str(membership.user.external_id)


def _time_off(t: Target) -> str:
    import datetime as dt

    from shifa.accounts.models import User
    from shifa.scheduling.models import TimeOff

    doctor = User.objects.filter(external_id=_doctor(t)).first()
    if doctor is None:
        return str(uuid.uuid4())
    entry = TimeOff.unscoped.create(
        clinic=t.clinic,
        doctor=doctor,
        starts_at=dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC),
        ends_at=dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC),
    )
    return str(entry.external_id)


def _service(t: Target) -> str:
    from shifa.directory.models import Service

    service = Service.unscoped.create(clinic=t.clinic, name_ar="كشف", name_en="Consultation")
    return str(service.external_id)


def _invitation(t: Target) -> str:
    import datetime as dt

    from shifa.access.models import Role
    from shifa.core import timezones
    from shifa.tenancy.models import Invitation

    inviter = t.membership.user if t.membership is not None else t.user
    invitation = Invitation.unscoped.create(
        clinic=t.clinic,
        email=f"{uuid.uuid4().hex[:8]}@example.jo",
        role=Role.objects.get(code="nurse"),
        token_digest=uuid.uuid4().hex,
        expires_at=timezones.now() + dt.timedelta(days=1),
        invited_by=inviter,
    )
    return str(invitation.external_id)


def _bookable(clinic):
    """Make ``clinic`` take bookings: a licence, open every day, a doctor offering 30-minute office visits at
    any time. The doctor."""
    import datetime as dt

    from shifa.core import timezones
    from shifa.directory.models import DoctorProfile
    from shifa.scheduling.models import DoctorInterval, OpeningInterval
    from shifa.tenancy.models import Licence, Membership

    today = timezones.now().date()
    Licence.unscoped.get_or_create(
        clinic=clinic,
        defaults={
            "plan": _plan(),
            "seats": 10,
            "starts_on": today - dt.timedelta(days=30),
            "ends_on": today + dt.timedelta(days=365),
        },
    )
    membership = (
        Membership.unscoped.filter(clinic=clinic, role__code="doctor")
        .select_related("user")
        .order_by("pk")
        .first()
    )
    doctor = membership.user
    if not OpeningInterval.unscoped.filter(clinic=clinic, weekday=6, opens=dt.time(0)).exists():
        OpeningInterval.unscoped.filter(clinic=clinic).delete()
        DoctorInterval.unscoped.filter(clinic=clinic).delete()
        for day in range(7):
            OpeningInterval.unscoped.create(
                clinic=clinic, weekday=day, opens=dt.time(0), closes=dt.time(23, 30)
            )
            DoctorInterval.unscoped.create(
                clinic=clinic, doctor=doctor, weekday=day, starts=dt.time(0), ends=dt.time(23, 30)
            )
    DoctorProfile.unscoped.update_or_create(
        clinic=clinic, doctor=doctor, defaults={"gender": "female", "minutes": {"office": 30, "video": 30}}
    )
    return doctor


def _at(days: int) -> str:
    """10:00 UTC (13:00 in Amman), ``days`` days from now: a time on every test clinic's grid."""
    import datetime as dt

    from shifa.core import timezones

    day = timezones.now().date() + dt.timedelta(days=days)
    return timezones.isoformat_z(dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC))


def _appointment(t: Target, spec: RouteSpec) -> str:
    """An appointment of the target clinic in the state the route acts on: held to confirm, started to mark
    absent, checked in to complete, booked two days ahead otherwise; the caller's own if they are a patient."""
    import datetime as dt

    from shifa.core import timezones
    from shifa.records.models import Patient
    from shifa.scheduling.models import Appointment

    doctor = _bookable(t.clinic)
    patient = Patient.objects.filter(user=t.user).first() if t.user else None
    patient = patient or Patient.objects.create(full_name="Walk-in patient")
    now = timezones.now()
    taken = Appointment.unscoped.filter(doctor=doctor).count()  # one URL per call: keep them apart
    starts = dt.datetime.fromisoformat(_at(2)) + dt.timedelta(hours=taken)
    status, hold = "booked", None
    price = None
    if spec.path.endswith("/confirm"):
        status, hold = "held", now + dt.timedelta(minutes=10)
    elif spec.path.endswith("/checkout"):  # a priced hold, to pay
        status, hold, price = "held", now + dt.timedelta(minutes=10), Decimal("20.000")
    elif spec.path.endswith("/no-show"):
        starts = now - dt.timedelta(minutes=5 + 60 * taken)
    elif spec.path.endswith("/complete"):
        status = "checked_in"
    elif spec.path.endswith(("/rating", "/rate")):
        status = "completed"
    appointment = Appointment.unscoped.create(
        clinic=t.clinic,
        doctor=doctor,
        patient=patient,
        visit_type="office",
        starts_at=starts,
        ends_at=starts + dt.timedelta(minutes=30),
        status=status,
        hold_expires_at=hold,
        channel="app",
        price=price,
    )
    return str(appointment.external_id)


def _rating(t: Target) -> str:
    from shifa.directory.models import Rating
    from shifa.scheduling.models import Appointment

    fake = RouteSpec(method="POST", path="/rating", name="", kind="api", permission=None, public=False)
    appointment = Appointment.unscoped.get(external_id=_appointment(t, fake))
    rating = Rating.unscoped.create(
        clinic=t.clinic,
        appointment=appointment,
        doctor=appointment.doctor,
        patient=appointment.patient,
        stars=4,
    )
    return str(rating.external_id)


def _wait(t: Target) -> str:
    import datetime as dt

    from shifa.records.models import Patient
    from shifa.scheduling.models import WaitlistEntry

    doctor = _bookable(t.clinic)
    patient = (Patient.objects.filter(user=t.user).first() if t.user else None) or Patient.objects.create(
        full_name="Waiting patient"
    )
    entry = WaitlistEntry.unscoped.create(
        clinic=t.clinic,
        doctor=doctor,
        patient=patient,
        visit_type="office",
        wanted_before=dt.datetime.fromisoformat(_at(9)),
    )
    return str(entry.external_id)


def _clinic_of(user):
    from shifa.tenancy.models import Clinic, Membership

    membership = Membership.unscoped.filter(user=user).select_related("clinic").first() if user else None
    return membership.clinic if membership else Clinic.objects.get(slug="clinic-a")


def _patient_booking(user) -> dict:
    clinic = _clinic_of(None)
    doctor = _bookable(clinic)
    return {
        "clinic_id": str(clinic.external_id),
        "doctor_id": str(doctor.external_id),
        "visit_type": "office",
        "starts_at": _at(5),
    }


def _desk_form(user) -> dict:
    import datetime as dt

    doctor = _bookable(_clinic_of(user))
    when = dt.datetime.fromisoformat(_at(4)).astimezone(dt.timezone(dt.timedelta(hours=3)))  # Amman
    return {
        "day": when.date().isoformat(),
        "book-doctor": str(doctor.external_id),
        "book-visit_type": "office",
        "book-time": f"{when:%H:%M}",
        "book-full_name": "Walk-in patient",
    }


def _app_booking(user) -> dict:
    body = _patient_booking(user)
    return {
        "clinic": body["clinic_id"],
        "doctor": body["doctor_id"],
        "visit_type": "office",
        "starts_at": _at(5),
    }


def _desk_booking(user) -> dict:
    doctor = _bookable(_clinic_of(user))
    return {
        "doctor_id": str(doctor.external_id),
        "visit_type": "office",
        "starts_at": _at(4),
        "new_patient": {"full_name": "Walk-in patient", "phone": "0791234567"},
    }


# --- the clinical record --------------------------------------------------------------------------------------------


def _for_patient(spec: RouteSpec) -> bool:
    """Routes of the patient's own record (API under /me, pages under /app)."""
    return spec.path.startswith(("/api/v1/me/", "/app/"))


def _record_patient(t: Target, spec: RouteSpec) -> str:
    """The caller's own patient for /me routes; otherwise a patient with an appointment at the target clinic
    today (so the clinic is caring for them)."""
    patient = _patient_in_care(t)
    if _for_patient(spec) and t.user is not None:
        from shifa.records.models import Patient

        own = Patient.objects.filter(user=t.user).first()
        return str((own or patient).external_id)
    return str(patient.external_id)


def _patient_in_care(t: Target):
    import datetime as dt

    from shifa.core import timezones
    from shifa.records.models import Patient
    from shifa.scheduling.models import Appointment

    cached = getattr(t, "record_patient", None)
    if cached is not None:
        return cached
    doctor = _bookable(t.clinic)
    patient = Patient.objects.create(full_name="Chart patient")
    taken = Appointment.unscoped.filter(doctor=doctor).count()
    starts = timezones.now().replace(microsecond=0) + dt.timedelta(hours=1 + taken)
    Appointment.unscoped.create(
        clinic=t.clinic,
        doctor=doctor,
        patient=patient,
        visit_type="office",
        starts_at=starts,
        ends_at=starts + dt.timedelta(minutes=30),
        status="booked",
        channel="desk",
    )
    t.record_patient = patient
    return patient


def _visit(t: Target, spec: RouteSpec) -> str:
    """A visit of the target clinic in the state the route acts on: committed for amendments (and for reads),
    with a primary diagnosis to commit, empty to discard, a draft to write in."""
    from shifa.catalog.models import Diagnosis
    from shifa.core import timezones
    from shifa.records.models import Visit, VisitDiagnosis

    if _for_patient(spec) and t.user is not None:
        from shifa.records.models import Patient

        t.record_patient = Patient.objects.filter(user=t.user).first() or getattr(t, "record_patient", None)
    patient = _patient_in_care(t)
    doctor = _bookable(t.clinic)
    visit = Visit.unscoped.create(
        clinic=t.clinic,
        patient=patient,
        doctor=doctor,
        origin="walk_in",
        started_at=timezones.now(),
        created_by=doctor,
        complaint="Cough for three days",
    )
    path = spec.path
    if not path.endswith("/{visit_id}") or spec.method != "DELETE":
        diagnosis = Diagnosis.objects.get(code="4019")
        VisitDiagnosis.unscoped.create(clinic=t.clinic, visit=visit, diagnosis=diagnosis, rank="primary")
    else:
        Visit.unscoped.filter(pk=visit.pk).update(complaint="")
    if path.endswith("/documents") and spec.method == "POST":
        _paracetamol(t, visit)
    if path.endswith(("/amendments", "/documents")) or _for_patient(spec):
        now = timezones.now()
        Visit.unscoped.filter(pk=visit.pk).update(is_committed=True, committed_at=now, committed_by=doctor)
    t.record_visit = visit
    return str(visit.external_id)


def _paracetamol(t: Target, visit):
    """A prescription line in a visit being written: paracetamol every 8 hours for 3 days."""
    from shifa.catalog.models import Medication
    from shifa.records.models import Prescription

    return Prescription.unscoped.create(
        clinic=t.clinic,
        visit=visit,
        medication=Medication.objects.get(code="paracetamol"),
        strength="500 mg",
        dose=1,
        dose_unit="tablet",
        frequency="every_8_hours",
        duration_days=3,
    )


def _visit_item(t: Target, spec: RouteSpec) -> str:
    """The row of the visit filled in just before (a diagnosis, prescription line, order, referral or sick leave)."""
    import datetime as dt

    from shifa.catalog.models import Diagnosis, LabTest, Medication
    from shifa.records.models import Order, Prescription, Referral, SickLeave, VisitDiagnosis

    visit = getattr(t, "record_visit", None)
    if visit is None:
        return str(uuid.uuid4())
    common = {"clinic": t.clinic, "visit": visit}
    if "/diagnoses/" in spec.path:
        row = VisitDiagnosis.unscoped.create(
            **common, diagnosis=Diagnosis.objects.get(code="4660"), rank="secondary"
        )
    elif "/prescriptions/" in spec.path:
        row = Prescription.unscoped.create(
            **common,
            medication=Medication.objects.get(code="amoxicillin"),
            strength="500 mg",
            dose=1,
            dose_unit="capsule",
            frequency="three_times_daily",
            duration_days=7,
        )
    elif "/orders/" in spec.path:
        row = Order.unscoped.create(**common, kind="lab", lab_test=LabTest.objects.get(code="718-7"))
    elif "/referrals/" in spec.path:
        row = Referral.unscoped.create(**common, to_clinic=t.clinic, reason="Second opinion")
    else:
        row = SickLeave.unscoped.create(**common, starts_on=dt.date.today(), days=2)
    return str(row.external_id)


def _order(t: Target) -> str:
    from shifa.catalog.models import LabTest
    from shifa.records.models import Order

    fake = RouteSpec(method="GET", path="/x", name="", kind="api", permission=None, public=False)
    _visit(t, fake)
    order = Order.unscoped.create(
        clinic=t.clinic, visit=t.record_visit, kind="lab", lab_test=LabTest.objects.get(code="718-7")
    )
    return str(order.external_id)


def _result(t: Target, spec: RouteSpec) -> str:
    from django.core.files.base import ContentFile

    from shifa.core import timezones
    from shifa.records.models import Order, OrderResult

    if _for_patient(spec) and t.user is not None:
        from shifa.records.models import Patient, Visit

        own = Patient.objects.filter(user=t.user).first()
        if own is not None:
            t.record_patient = own
    order = Order.unscoped.get(external_id=_order(t))
    if _for_patient(spec):
        from shifa.records.models import Visit

        now = timezones.now()
        Visit.unscoped.filter(pk=order.visit_id).update(is_committed=True, committed_at=now)
    now = timezones.now()
    result = OrderResult(
        clinic=t.clinic,
        order=order,
        summary="Normal",
        reported_at=now,
        recorded_by=order.visit.doctor,
        is_committed=True,
        committed_at=now,
        file_name="report.pdf",
        content_type="application/pdf",
    )
    result.file.save("report.pdf", ContentFile(b"%PDF-1.4 result"), save=False)
    result.save()
    return str(result.external_id)


def _fact(t: Target, spec: RouteSpec) -> str:
    import datetime as dt

    from shifa.catalog.models import Diagnosis, Medication, Vaccine
    from shifa.records.models import Allergy, Condition, Immunization, MedicationStatement

    patient = _patient_in_care(t)
    recorder = _bookable(t.clinic)
    common = {"clinic": t.clinic, "patient": patient, "recorded_by": recorder}
    if "/allergies/" in spec.path:
        row = Allergy.unscoped.create(**common, substance="Peanuts")
    elif "/conditions/" in spec.path:
        row = Condition.unscoped.create(**common, diagnosis=Diagnosis.objects.get(code="25000"))
    elif "/medications/" in spec.path:
        row = MedicationStatement.unscoped.create(
            **common, medication=Medication.objects.get(code="metformin")
        )
    else:
        row = Immunization.unscoped.create(
            **common, vaccine=Vaccine.objects.order_by("pk").first(), given_on=dt.date(2020, 1, 1)
        )
    return str(row.external_id)


def _grant(t: Target) -> str:
    from shifa.records.models import Grant, Patient

    patient = (Patient.objects.filter(user=t.user).first() if t.user else None) or Patient.objects.create(
        full_name="Sharing patient"
    )
    grant = Grant.objects.create(patient=patient, clinic=t.clinic, granted_by=t.user or _bookable(t.clinic))
    return str(grant.external_id)


def _pdf_upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("report.pdf", b"%PDF-1.4 report", content_type="application/pdf")


def _vaccine_code() -> str:
    from shifa.catalog.models import Vaccine

    return Vaccine.objects.order_by("pk").first().code


def _dose(t: Target) -> str:
    """A dose due now of the caller's own prescription line (of a committed visit, with its schedule)."""
    from tests.routes_care import dose_row

    return str(dose_row(t).external_id)


def _share_body(user) -> dict:
    return {"clinic_id": str(_clinic_of(None).external_id), "days": 30}


def _visit_open_body(user) -> dict:
    from shifa.records.models import Patient

    clinic = _clinic_of(user)
    target = Target(clinic, None)
    _patient_in_care(target)
    body = {"patient_id": str(target.record_patient.external_id)}
    doctor = _bookable(clinic)
    body["doctor_id"] = str(doctor.external_id)
    assert Patient.objects.filter(pk=target.record_patient.pk).exists()
    return body


def params_of(spec: RouteSpec) -> list[str]:
    return PARAM.findall(spec.path)


#: How to fill each path parameter from a Target. A new parameter name must be added here (the tests fail
#: until it is), so that no route escapes the generated isolation and permission tests.
PROVIDERS = {
    "clinic_id": lambda t: str(t.clinic.external_id),
    "membership_id": lambda t: _member(t),
    "role": lambda t: "secretary",
    "permission": lambda t: "tenancy.view_members",
    "identity_id": _identity,
    "invitation_id": _invitation,
    "notification_id": _notification,
    "document_id": _document,
    "application_id": _application,
    "licence_id": _licence,
    "code": lambda t: _plan().code,
    "number": lambda t: "1",
    "closure_id": _closure,
    "managed_clinic_id": lambda t: _licence(t) and str(t.clinic.external_id),
    "kind": lambda t: "specialties",
    "photo_id": lambda t: _photo(t),
    "entry_id": lambda t: _specialty(),
    "doctor_id": _doctor,
    "time_off_id": _time_off,
    "appointment_id": _appointment,
    "listed_clinic_id": lambda t: str(t.clinic.external_id),
    "rating_id": lambda t: _rating(t),
    "wait_id": lambda t: _wait(t),
    "patient_id": _record_patient,
    "visit_id": _visit,
    "item_id": _visit_item,
    "order_id": _order,
    "result_id": _result,
    "fact_id": _fact,
    "grant_id": _grant,
    "dose_id": _dose,
    "service_id": _service,
    "subscription_id": _push_subscription,
    "provider": lambda t: "google",
    "key": lambda t: "not-a-valid-key",
    "uid": lambda t: "MQ",
    "token": lambda t: "not-a-valid-token",
}

#: A body that passes validation for each operation that takes one (so that "allowed" means a 2xx answer).
_VITALS = {"readings": {"8480-6": 120, "8462-4": 80}}
_CLINIC_PAGE_BODIES = {
    ("POST", "/clinic/{clinic_id}/visits/open"): _visit_open_body,
    ("POST", "/clinic/{clinic_id}/visits/{visit_id}/write"): {
        "step": "notes",
        "complaint": "Cough",
        "notes": "Clear",
    },
    ("POST", "/clinic/{clinic_id}/visits/{visit_id}/vitals"): {"step": "vitals", "v_8480-6": "120"},
    ("POST", "/clinic/{clinic_id}/visits/{visit_id}/commit"): {"step": "commit"},
    ("POST", "/clinic/{clinic_id}/orders/{order_id}/result"): {"name": "Haemoglobin", "value": "13.5"},
}
_STATUS = {"status": "resolved"}
BODIES = {
    ("POST", "/api/v1/clinics/{clinic_id}/visits"): _visit_open_body,
    ("PATCH", "/api/v1/clinics/{clinic_id}/visits/{visit_id}"): {
        "complaint": "Cough",
        "notes": "Chest clear",
    },
    ("POST", "/api/v1/clinics/{clinic_id}/visits/{visit_id}/triage"): {"triage": "routine"},
    ("POST", "/api/v1/clinics/{clinic_id}/visits/{visit_id}/vitals"): _VITALS,
    ("POST", "/api/v1/clinics/{clinic_id}/patients/{patient_id}/vitals"): _VITALS,
    ("POST", "/api/v1/clinics/{clinic_id}/visits/{visit_id}/diagnoses"): {"code": "466.0"},
    ("PATCH", "/api/v1/clinics/{clinic_id}/visits/{visit_id}/diagnoses/{item_id}"): {
        "plain_words": "Chest cold"
    },
    ("POST", "/api/v1/clinics/{clinic_id}/visits/{visit_id}/prescriptions"): {
        "medication": "paracetamol",
        "strength": "500 mg",
        "dose": "1",
        "dose_unit": "tablet",
        "frequency": "every_8_hours",
        "duration_days": 3,
    },
    ("POST", "/api/v1/clinics/{clinic_id}/visits/{visit_id}/orders"): {"kind": "lab", "test": "718-7"},
    ("POST", "/api/v1/clinics/{clinic_id}/visits/{visit_id}/referrals"): {
        "specialty": "cardiology",
        "reason": "Murmur",
    },
    ("PUT", "/api/v1/clinics/{clinic_id}/visits/{visit_id}/sick-leave"): {
        "starts_on": "2026-12-01",
        "days": 2,
    },
    ("POST", "/api/v1/clinics/{clinic_id}/visits/{visit_id}/amendments"): {"reason": "Wrong side"},
    ("POST", "/api/v1/clinics/{clinic_id}/orders/{order_id}/results"): {
        "values": [{"name": "Haemoglobin", "value": "13.5", "unit": "g/dL", "low": "12", "high": "16"}]
    },
    ("POST", "/api/v1/clinics/{clinic_id}/patients/{patient_id}/allergies"): {"substance": "Peanuts"},
    ("POST", "/api/v1/clinics/{clinic_id}/patients/{patient_id}/conditions"): {"code": "250.00"},
    ("POST", "/api/v1/clinics/{clinic_id}/patients/{patient_id}/medications"): {"medication": "metformin"},
    ("POST", "/api/v1/clinics/{clinic_id}/patients/{patient_id}/immunizations"): lambda user: {
        "vaccine": _vaccine_code(),
        "given_on": "2020-01-01",
    },
    ("PATCH", "/api/v1/clinics/{clinic_id}/allergies/{fact_id}"): _STATUS,
    ("PATCH", "/api/v1/clinics/{clinic_id}/conditions/{fact_id}"): _STATUS,
    ("PATCH", "/api/v1/clinics/{clinic_id}/medications/{fact_id}"): _STATUS,
    ("PATCH", "/api/v1/clinics/{clinic_id}/immunizations/{fact_id}"): _STATUS,
    ("POST", "/api/v1/me/dependants"): {
        "full_name": "Child of patient",
        "date_of_birth": "2020-05-01",
        "sex": "female",
        "relation": "child",
    },
    ("PATCH", "/api/v1/me/patients/{patient_id}"): {"blood_group": "O+"},
    ("POST", "/api/v1/me/grants"): _share_body,
    ("POST", "/api/v1/me/doses/{dose_id}/answer"): {"status": "taken"},
    ("POST", "/api/v1/clinics/{clinic_id}/visits/{visit_id}/documents"): {
        "kind": "prescription",
        "language": "ar",
    },
    ("POST", "/api/v1/clinics/{clinic_id}/orders/{order_id}/results/file"): lambda user: {
        "file": _pdf_upload(),
        "summary": "Report attached",
    },
    ("POST", "/api/v1/auth/tokens"): {"email": "nobody@example.jo", "password": "x"},
    ("PUT", "/api/v1/clinics/{clinic_id}/roles/{role}/permissions/{permission}"): {"granted": True},
    ("POST", "/api/v1/clinics/{clinic_id}/invitations"): lambda user: {
        "email": f"{uuid.uuid4().hex[:8]}@example.jo",
        "role": "nurse",
    },
    ("POST", "/api/v1/me/identities"): lambda user: _link_body(),
    ("POST", "/clinic/{clinic_id}/invitations"): lambda user: {
        "email": f"{uuid.uuid4().hex[:8]}@example.jo",
        "role": "nurse",
    },
    ("POST", "/accounts/security"): {"step": "start"},
    ("PATCH", "/api/v1/clinics/{clinic_id}/members/{membership_id}"): {"is_active": True},
    ("POST", "/clinic/{clinic_id}/settings/hours"): {"day_0": "08:00-13:00, 14:00-17:00"},
    ("POST", "/api/v1/appointments"): lambda user: _patient_booking(user),
    ("POST", "/api/v1/clinics/{clinic_id}/appointments"): lambda user: _desk_booking(user),
    ("POST", "/api/v1/appointments/{appointment_id}/reschedule"): lambda user: {"starts_at": _at(3)},
    ("POST", "/api/v1/appointments/{appointment_id}/rating"): {"stars": 5, "comment": "Kind and careful"},
    ("POST", "/api/v1/waitlist"): lambda user: {
        "clinic_id": _patient_booking(user)["clinic_id"],
        "doctor_id": _patient_booking(user)["doctor_id"],
        "before": _at(6),
    },
    ("POST", "/api/v1/platform/ratings/{rating_id}/review"): {"decision": "publish"},
    ("POST", "/api/v1/clinics/{clinic_id}/appointments/{appointment_id}/reschedule"): lambda user: {
        "starts_at": _at(3)
    },
    ("POST", "/clinic/{clinic_id}/desk/book"): lambda user: _desk_form(user),
    ("POST", "/app/book"): lambda user: _app_booking(user),
    ("POST", "/app/appointments/{appointment_id}/step"): {"step": "confirm"},
    ("POST", "/app/appointments/{appointment_id}/rate"): {"stars": "5", "comment": "Very kind"},
    ("POST", "/platform/ratings/{rating_id}"): {"decision": "publish"},
    ("POST", "/clinic/{clinic_id}/desk/{appointment_id}"): {"step": "check_in"},
    ("POST", "/clinic/{clinic_id}/settings/closures"): {
        "closure-starts_on": "2026-12-25",
        "closure-ends_on": "2026-12-26",
        "closure-reason": "Christmas",
    },
    ("POST", "/clinic/{clinic_id}/staff/{membership_id}"): {"active": "on"},
    ("POST", "/clinic/{clinic_id}/roles/{role}/{permission}"): {"granted": "on"},
    ("POST", "/clinic/{clinic_id}/doctors/{doctor_id}"): lambda user: _doctor_form(),
    ("POST", "/clinic/{clinic_id}/doctors/{doctor_id}/hours"): {"hours-day_0": "09:00-12:00"},
    ("POST", "/clinic/{clinic_id}/doctors/{doctor_id}/time-off"): {
        "off-starts_at": "2026-12-01T08:00",
        "off-ends_at": "2026-12-01T12:00",
        "off-reason": "Conference",
    },
    ("POST", "/clinic/{clinic_id}/settings/services"): {
        "name_ar": "كشف",
        "name_en": "Consultation",
        "office": "20",
    },
    ("POST", "/clinic/{clinic_id}/settings/areas"): {
        "name": "Amman",
        "center_lat": "31.95",
        "center_lng": "35.91",
        "radius_km": "10",
        "travel_buffer_minutes": "30",
    },
    ("POST", "/clinic/{clinic_id}/settings/insurance"): lambda user: {
        **{k: v for k, v in _partner_body().items() if k != "pre_approval_required"},
        "pre_approval_required": "on",
    },
    ("POST", "/api/v1/clinics/{clinic_id}/service-areas"): {
        "name": "Amman",
        "shape": "radius",
        "center_lat": 31.95,
        "center_lng": 35.91,
        "radius_km": 10,
    },
    ("PUT", "/api/v1/clinics/{clinic_id}/insurance-partners"): lambda user: _partner_body(),
    ("PUT", "/api/v1/clinics/{clinic_id}/doctors/{doctor_id}/profile"): lambda user: _profile_body(),
    ("PUT", "/api/v1/clinics/{clinic_id}/profile"): {
        "address_ar": "شارع مكة، عمّان",
        "address_en": "Mecca Street, Amman",
        "latitude": 31.97,
        "longitude": 35.85,
        "languages": ["ar", "en"],
        "facilities": ["parking"],
    },
    ("POST", "/api/v1/clinics/{clinic_id}/services"): {
        "name_ar": "كشف",
        "name_en": "Consultation",
        "prices": [{"visit_type": "office", "amount": "20.000"}],
    },
    ("PUT", "/api/v1/clinics/{clinic_id}/services/{service_id}"): {
        "name_ar": "كشف",
        "name_en": "Consultation",
        "prices": [{"visit_type": "video", "amount": "15.500"}],
    },
    ("PUT", "/api/v1/clinics/{clinic_id}/opening-hours"): {
        "days": [{"weekday": 0, "intervals": [{"start": "08:00", "end": "16:00"}]}]
    },
    ("POST", "/api/v1/clinics/{clinic_id}/closures"): {"starts_on": "2026-12-25", "ends_on": "2026-12-25"},
    ("PUT", "/api/v1/clinics/{clinic_id}/doctors/{doctor_id}/hours"): {
        "days": [{"weekday": 0, "intervals": [{"start": "09:00", "end": "12:00"}]}]
    },
    ("POST", "/api/v1/clinics/{clinic_id}/doctors/{doctor_id}/time-off"): {
        "starts_at": "2026-12-01T08:00:00Z",
        "ends_at": "2026-12-02T08:00:00Z",
    },
    ("POST", "/clinic/{clinic_id}/settings/photos"): lambda user: _photo_upload(user),
    ("POST", "/clinic/{clinic_id}/settings/profile"): {
        "address_ar": "شارع مكة، عمّان",
        "address_en": "Mecca Street, Amman",
        "latitude": "31.97",
        "longitude": "35.85",
        "languages": ["ar", "en"],
        "facilities": ["parking"],
    },
    ("POST", "/platform/reference/{kind}/new"): lambda user: _specialty_form(user),
    ("POST", "/platform/reference/{kind}/{entry_id}"): lambda user: _specialty_form(user),
    ("POST", "/platform/clinics/{managed_clinic_id}"): {"step": "renew", "renew-months": "1"},
    ("POST", "/platform/plans/new"): lambda user: {
        "code": f"p-{uuid.uuid4().hex[:8]}",
        "name_en": "Starter",
        "name_ar": "البداية",
        "price": "10.000",
        "period": "monthly",
        "seats": "3",
        "entitlements": ["video_visits"],
        "is_active": "on",
    },
    ("POST", "/platform/plans/{code}"): {
        "name_en": "Basic",
        "name_ar": "أساسية",
        "price": "25.000",
        "period": "monthly",
        "seats": "10",
    },
    ("POST", "/platform/applications/{application_id}"): {"step": "approve", "plan": "basic", "months": 12},
    ("POST", "/api/v1/platform/clinic-applications/{application_id}/approve"): {
        "plan": "basic",
        "months": 12,
    },
    ("POST", "/api/v1/platform/clinic-applications/{application_id}/reject"): {
        "reason": "Licence unreadable"
    },
    ("POST", "/api/v1/platform/licences/{licence_id}/suspend"): {"reason": "Unpaid"},
    ("POST", "/api/v1/platform/licences/{licence_id}/renew"): {"months": 1},
    ("PUT", "/api/v1/platform/plans/{code}"): {
        "code": "basic",
        "name_en": "Basic",
        "name_ar": "أساسية",
        "price": "25.000",
        "period": "monthly",
        "seats": 10,
    },
    ("POST", "/api/v1/clinics/{clinic_id}/documents"): {
        "kind": "letter",
        "title": "Referral",
        "language": "en",
        "context": {"recipient": "Dr. Rana", "body": "Please see this patient."},
    },
    ("POST", "/api/v1/me/push-subscriptions"): lambda user: {
        "endpoint": f"https://push.example.jo/{uuid.uuid4().hex}",
        "keys": {"p256dh": "B" * 87, "auth": "a" * 22},
    },
    ("POST", "/api/v1/me/authenticator/confirm"): lambda user: {"code": _enrolment_code(user)},
    ("POST", "/api/v1/me/recovery-codes"): lambda user: {"code": _recovery_code(user)},
    ("POST", "/api/v1/me/authenticator/remove"): lambda user: {"code": _recovery_code(user)},
}


def png_bytes(size=(40, 30), color=(200, 30, 30)) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def _photo(t: Target) -> str:
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from shifa.directory.models import ClinicPhoto

    path = default_storage.save(f"clinic-photos/{uuid.uuid4()}.jpg", ContentFile(png_bytes()))
    photo = ClinicPhoto.unscoped.create(clinic=t.clinic, image=path, width=40, height=30)
    return str(photo.external_id)


def _photo_upload(user) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return {"image": SimpleUploadedFile("front.png", png_bytes(), "image/png"), "caption_en": "Entrance"}


def _specialty() -> str:
    from shifa.catalog.actions import reference_list_load
    from shifa.catalog.models import Specialty

    reference_list_load("specialties")
    return str(Specialty.objects.order_by("pk").first().external_id)


def _specialty_form(user) -> dict:
    return {
        "code": f"s-{uuid.uuid4().hex[:8]}",
        "name_en": "Sleep medicine",
        "name_ar": "طب النوم",
        "is_active": "on",
    }


def _link_body() -> dict:
    from shifa.accounts.actions import provider_nonce_issue

    nonce = provider_nonce_issue()["nonce"]
    token = _oidc().id_token(email=f"{uuid.uuid4().hex[:8]}@gmail.com", nonce=nonce)
    return {"provider": "google", "id_token": token, "nonce": nonce}


def _partner_body() -> dict:
    from shifa.catalog.actions import reference_list_load

    reference_list_load("insurers")
    return {"insurer": "jic", "copay_percent": "20", "pre_approval_required": True}


def _doctor_form() -> dict:
    body = _profile_body()
    return {
        "gender": body["gender"],
        "specialties": body["specialties"],
        "languages": body["languages"],
        **{k: str(v) for k, v in body["minutes"].items()},
    }


def _profile_body() -> dict:
    from shifa.catalog.actions import reference_list_load

    reference_list_load("specialties")
    return {
        "gender": "female",
        "specialties": ["pediatrics"],
        "languages": ["ar", "en"],
        "minutes": {"office": 20},
    }


def _oidc():
    from tests.support.oidc import KeyServer

    return KeyServer.instance


def _enrolment_code(user) -> str:
    import pyotp

    from shifa.accounts.actions import totp_begin

    if user is None:
        return "000000"
    return pyotp.TOTP(totp_begin(user=user)["secret"]).now()


def _recovery_code(user) -> str:
    from shifa.accounts.actions import totp_confirm

    if user is None:
        return "000000"
    return totp_confirm(user=user, code=_enrolment_code(user))[0]


#: A query string for operations that need one to answer 2xx.
#: Providers that make an object in the state the route acts on, so they are told the route too.
NEEDS_ROUTE = {"appointment_id", "patient_id", "visit_id", "item_id", "result_id", "fact_id", "document_id"}

QUERIES = {
    ("GET", "/api/v1/clinics/{clinic_id}/appointments"): "?day=2026-12-01",
    (
        "GET",
        "/api/v1/slots",
    ): "?clinic=00000000-0000-0000-0000-000000000000&doctor=00000000-0000-0000-0000-000000000000",
    ("GET", "/api/v1/reference/diagnoses"): "?q=250",
    ("GET", "/api/v1/clinics/{clinic_id}/visits"): "?day=2026-12-01",
    ("GET", "/api/v1/clinics/{clinic_id}/patients/{patient_id}/vitals"): "?code=8480-6",
    ("GET", "/api/v1/clinics/{clinic_id}/patients"): "?q=Chart",
    ("GET", "/api/v1/clinics/{clinic_id}/service-areas/coverage"): "?lat=31.95&lng=35.91",
}


def url_for(spec: RouteSpec, target: Target, **overrides) -> str:
    def fill(match):
        name = match.group(1)
        if name in overrides:
            return str(overrides[name])
        provider = PROVIDERS[name]
        return provider(target, spec) if name in NEEDS_ROUTE else provider(target)

    return PARAM.sub(fill, spec.path) + QUERIES.get((spec.method, spec.path), "")


def http_routes() -> list[RouteSpec]:
    return [r for r in all_routes() if r.kind in {"api", "page"}]


def route_id(spec: RouteSpec) -> str:
    return f"{spec.method} {spec.path}"


def call(spec: RouteSpec, url: str, user=None, *, mfa: bool = True):
    """Call a route as ``user``: API routes with a bearer token, pages with a signed-in session (one that
    passed the second factor unless ``mfa`` is false)."""
    import json

    from django.test import Client

    from tests.conftest import ApiClient, sign_in_page

    client = Client()
    extra = {}
    if user is not None:
        if spec.kind == "api":
            extra["HTTP_AUTHORIZATION"] = f"Bearer {ApiClient(user, mfa=mfa).token()}"
        else:
            sign_in_page(client, user, mfa=mfa)
    fn = getattr(client, spec.method.lower())
    if spec.method in {"POST", "PUT", "PATCH"}:
        body = BODIES.get((spec.method, spec.path), {})
        body = body(user) if callable(body) else body
        if spec.kind == "page" or any(hasattr(v, "read") for v in body.values()):  # forms and files
            return fn(url, body, **extra)
        return fn(url, json.dumps(body), content_type="application/json", **extra)
    return fn(url, **extra)


# Route data of the patient's record pages lives beside them (kept apart so that the two sets can grow separately).
# … and so do those of care plans, reminders, home readings and devices.
from tests import routes_care, routes_care_pages  # noqa: E402
from tests.routes_my_record import BODIES as _MY_RECORD_BODIES  # noqa: E402
from tests.routes_my_record import QUERIES as _MY_RECORD_QUERIES  # noqa: E402

BODIES.update(_CLINIC_PAGE_BODIES)
BODIES.update(_MY_RECORD_BODIES)
BODIES.update(routes_care.BODIES)
BODIES.update(routes_care_pages.BODIES)
QUERIES.update(_MY_RECORD_QUERIES)
QUERIES.update(routes_care.QUERIES)
QUERIES.update(routes_care_pages.QUERIES)
PROVIDERS.update(routes_care.PROVIDERS)
NEEDS_ROUTE |= routes_care.NEEDS_ROUTE

# … and those of telehealth: the API and WebSockets, the call screens, the urgent-care and messaging pages.
from tests import routes_call_pages, routes_telehealth, routes_telehealth_pages  # noqa: E402

for _module in (routes_telehealth, routes_call_pages, routes_telehealth_pages):
    BODIES.update(_module.BODIES)
    QUERIES.update(_module.QUERIES)
    PROVIDERS.update(_module.PROVIDERS)
    NEEDS_ROUTE |= _module.NEEDS_ROUTE

# … and those of the local simulators of outside services (PayTabs).
from tests import routes_simulators  # noqa: E402

BODIES.update(routes_simulators.BODIES)
QUERIES.update(routes_simulators.QUERIES)
PROVIDERS.update(routes_simulators.PROVIDERS)
NEEDS_ROUTE |= routes_simulators.NEEDS_ROUTE

# … and those of billing: the desk's invoices and receipts, the patient's invoices, the platform's revenue.
from tests import routes_billing  # noqa: E402

BODIES.update(routes_billing.BODIES)
QUERIES.update(routes_billing.QUERIES)
PROVIDERS.update(routes_billing.PROVIDERS)
NEEDS_ROUTE |= routes_billing.NEEDS_ROUTE

# … and those of online payments (PayTabs): checkout, a payment's status, refunds to the card.
from tests import routes_payments  # noqa: E402

BODIES.update(routes_payments.BODIES)
QUERIES.update(routes_payments.QUERIES)
PROVIDERS.update(routes_payments.PROVIDERS)
NEEDS_ROUTE |= routes_payments.NEEDS_ROUTE

# … and those of patients' subscriptions (the API, the patient and platform pages, the Google Play simulator).
from tests import routes_subscriptions  # noqa: E402

BODIES.update(routes_subscriptions.BODIES)
QUERIES.update(routes_subscriptions.QUERIES)
PROVIDERS.update(routes_subscriptions.PROVIDERS)
NEEDS_ROUTE |= routes_subscriptions.NEEDS_ROUTE

# … and those of insurance (insurer's shares, pre-approvals, claims) and Family Doctor.
from tests import routes_family, routes_insurance  # noqa: E402

for _module in (routes_insurance, routes_family):
    BODIES.update(_module.BODIES)
    QUERIES.update(_module.QUERIES)
    PROVIDERS.update(_module.PROVIDERS)
    NEEDS_ROUTE |= _module.NEEDS_ROUTE

# … and those of Hakeem: the sync monitor, the clinic's sync states and third-party orders, history imports.
from tests import routes_hakeem, routes_hakeem_history  # noqa: E402

for _module in (routes_hakeem, routes_hakeem_history):
    BODIES.update(_module.BODIES)
    QUERIES.update(_module.QUERIES)
    PROVIDERS.update(_module.PROVIDERS)
    NEEDS_ROUTE |= _module.NEEDS_ROUTE

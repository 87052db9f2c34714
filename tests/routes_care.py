"""Path parameters, bodies and query strings for the routes of care plans, reminders, home readings, alerts and
devices (CP-1 … CP-5), for the generated route tests (see tests/routes.py)."""

from __future__ import annotations

import datetime as dt
import uuid

LAB = {"kind": "task", "task": "lab", "title": "HbA1c", "first_in_days": 90, "window_days": 14}


def _own_or_in_care(t, spec):
    from shifa.records.models import Patient
    from tests.routes import _for_patient, _patient_in_care

    if _for_patient(spec) and t.user is not None:
        own = Patient.objects.filter(user=t.user).first()
        if own is not None:
            return own
    return _patient_in_care(t)


def dose_row(t, spec=None):
    """A dose due now of a committed prescription line (with its schedule) of the caller's own record, or of a
    patient in the target clinic's care."""
    from shifa.adherence.models import Dose, DoseSchedule
    from shifa.core import timezones
    from shifa.records.models import Patient, Visit
    from tests.routes import _bookable, _paracetamol, _patient_in_care

    patient = (Patient.objects.filter(user=t.user).first() if t.user else None) or _patient_in_care(t)
    doctor = _bookable(t.clinic)
    now = timezones.now()
    visit = Visit.unscoped.create(
        clinic=t.clinic, patient=patient, doctor=doctor, origin="walk_in", started_at=now, created_by=doctor
    )
    line = _paracetamol(t, visit)
    Visit.unscoped.filter(pk=visit.pk).update(is_committed=True, committed_at=now, committed_by=doctor)
    plan = DoseSchedule.unscoped.create(
        clinic=t.clinic,
        patient=patient,
        prescription=line,
        zone="Asia/Amman",
        times=["06:00", "14:00", "22:00"],
    )
    return Dose.unscoped.create(clinic=t.clinic, schedule=plan, patient=patient, due_at=now)


def _schedule(t) -> str:
    return str(dose_row(t).schedule.external_id)


def _prescription(t) -> str:
    return str(dose_row(t).schedule.prescription.external_id)


def _template(t) -> str:
    from shifa.careplans.models import CarePlanTemplate
    from tests.routes import _bookable

    doctor = _bookable(t.clinic)
    row = CarePlanTemplate.unscoped.create(
        clinic=t.clinic, name=f"Template {uuid.uuid4().hex[:8]}", items=[LAB], created_by=doctor
    )
    return str(row.external_id)


def _care_plan(t, spec):
    """An active plan of the target clinic (for /me routes, of the caller's own record): an appointment three
    days from now and a task due today."""
    from shifa.careplans.models import CarePlan, CareStep
    from shifa.core import timezones
    from tests.routes import _bookable

    cached = getattr(t, "care_plan", None)
    if cached is not None:
        return cached
    patient = _own_or_in_care(t, spec)
    doctor = _bookable(t.clinic)
    today = timezones.to_local(timezones.now(), t.clinic.time_zone).date()
    plan = CarePlan.unscoped.create(
        clinic=t.clinic,
        patient=patient,
        doctor=doctor,
        title="Rehabilitation",
        starts_on=today,
        created_by=doctor,
    )
    common = {"clinic": t.clinic, "plan": plan, "of": 1, "number": 1}
    CareStep.unscoped.create(
        **common,
        item=0,
        kind="visit",
        title="Session",
        visit_type="office",
        due_on=today + dt.timedelta(days=3),
    )
    CareStep.unscoped.create(**common, item=1, kind="task", task="other", title="Walk", due_on=today)
    t.care_plan = plan
    return plan


def _plan_id(t, spec) -> str:
    return str(_care_plan(t, spec).external_id)


def _step_id(t, spec) -> str:
    from shifa.careplans.models import CareStep

    plan = _care_plan(t, spec)
    kind = "visit" if spec.path.endswith("/book") else "task"
    return str(CareStep.unscoped.get(plan=plan, kind=kind).external_id)


def _alert(t) -> str:
    from shifa.adherence.models import Alert, Reading
    from shifa.catalog.models import VitalSignType
    from shifa.core import timezones

    fake = type("Spec", (), {"path": "/x"})()
    plan = _care_plan(t, fake)
    reading = Reading.objects.create(
        patient=plan.patient,
        kind=VitalSignType.objects.get(code="8480-6"),
        value=180,
        taken_at=timezones.now(),
        flag="high",
        source="patient",
        recorded_by=plan.doctor,
    )
    alert = Alert.unscoped.create(
        clinic=t.clinic, patient=plan.patient, reading=reading, plan=plan, flag="high", high=120
    )
    return str(alert.external_id)


def _device(t, spec) -> str:
    from shifa.adherence.actions import _secret_hash
    from shifa.adherence.models import Device

    patient = _own_or_in_care(t, spec)
    device = Device.objects.create(
        patient=patient,
        kind="bp_cuff",
        name="Cuff",
        secret_hash=_secret_hash(uuid.uuid4().hex),
        registered_by=t.user or patient.user or _any_user(),
    )
    return str(device.external_id)


def _any_user():
    from shifa.accounts.models import User

    return User.objects.order_by("pk").first()


def _template_body(user) -> dict:
    return {"name": f"Template {uuid.uuid4().hex[:8]}", "items": [LAB]}


def _plan_body(user) -> dict:
    from tests.routes import _bookable, _clinic_of

    return {"title": "Follow-up", "items": [LAB], "doctor_id": str(_bookable(_clinic_of(user)).external_id)}


def _book_body(user) -> dict:
    """13:00 at the clinic three days from the clinic's today: the day of the plan's appointment step."""
    from shifa.core import timezones
    from tests.routes import _clinic_of

    clinic = _clinic_of(None)
    today = timezones.to_local(timezones.now(), clinic.time_zone).date()
    starts = timezones.local_datetime(today + dt.timedelta(days=3), dt.time(13), clinic.time_zone)
    return {"starts_at": timezones.isoformat_z(starts)}


PROVIDERS = {
    "schedule_id": lambda t: _schedule(t),
    "prescription_id": lambda t: _prescription(t),
    "template_id": lambda t: _template(t),
    "plan_id": _plan_id,
    "step_id": _step_id,
    "alert_id": lambda t: _alert(t),
    "device_id": _device,
}
NEEDS_ROUTE = {"plan_id", "step_id", "device_id"}

BODIES: dict = {
    ("POST", "/api/v1/clinics/{clinic_id}/care-plan-templates"): _template_body,
    ("PUT", "/api/v1/clinics/{clinic_id}/care-plan-templates/{template_id}"): _template_body,
    ("POST", "/api/v1/clinics/{clinic_id}/patients/{patient_id}/care-plans"): _plan_body,
    ("POST", "/api/v1/me/care-plans/{plan_id}/steps/{step_id}/book"): _book_body,
    ("POST", "/api/v1/me/readings"): {"readings": {"8480-6": 120, "8462-4": 80}},
    ("POST", "/api/v1/me/devices"): {"kind": "bp_cuff", "name": "Cuff"},
    ("PUT", "/api/v1/me/dose-schedules/{schedule_id}"): {"times": ["07:00", "15:00", "23:00"]},
}
QUERIES: dict = {
    ("GET", "/api/v1/me/readings"): "?code=8480-6",
}

"""Bodies and query strings that make the care pages (the patient's ``/app/plans``, ``/app/medicines``,
``/app/readings`` and the clinic's plans, templates and alerts) answer 2xx in the generated route tests (see
tests/routes.py)."""

from __future__ import annotations


def _book_form(user) -> dict:
    """A time of the plan's doctor on the day of the appointment step the caller's plan was just given (see
    ``tests.routes_care._care_plan``): 10:00 at the clinic, on the clinic's calendar."""
    import datetime as dt

    from shifa.careplans.models import CareStep
    from shifa.core import timezones
    from tests.routes import _at

    step = (
        CareStep.unscoped.filter(plan__patient__user=user, kind="visit", status="open")
        .select_related("plan__clinic")
        .order_by("-created_at")
        .first()
        if user is not None
        else None
    )
    if step is None:  # a caller without a plan of their own is refused before the form is read
        return {"starts_at": _at(3)}
    starts = timezones.local_datetime(step.due_on, dt.time(10), step.plan.clinic.time_zone)
    return {"starts_at": timezones.isoformat_z(starts)}


BODIES: dict = {
    ("POST", "/app/plans/{plan_id}/steps/{step_id}/book"): _book_form,
    ("POST", "/app/plans/{plan_id}/steps/{step_id}/done"): {},
    ("POST", "/app/medicines/doses/{dose_id}"): {"status": "taken"},
    # The schedule of tests.routes_care.dose_row: paracetamol every 8 hours at 06:00, 14:00 and 22:00.
    ("POST", "/app/medicines/{schedule_id}/times"): {"time_0": "07:00", "time_1": "15:00", "time_2": "23:00"},
    ("POST", "/app/readings/record"): {"sign": "bp", "systolic": "120", "diastolic": "80"},
    ("POST", "/app/readings/devices"): {"kind": "bp_cuff", "name": "Cuff"},
    ("POST", "/app/readings/devices/{device_id}/remove"): {},
}
QUERIES: dict = {}


# --- the clinic's care pages (clinic_care_views) -------------------------------------------------------------------

_LAB_ROW = {
    "item-0-what": "task:lab",
    "item-0-title": "HbA1c",
    "item-0-first_in_days": "90",
    "item-0-window_days": "14",
}


def _clinic_template_form(user) -> dict:
    import uuid

    return {"name": f"Template {uuid.uuid4().hex[:8]}", **_LAB_ROW}


BODIES.update(
    {
        ("POST", "/clinic/{clinic_id}/patients/{patient_id}/plans/new"): {"title": "Follow-up", **_LAB_ROW},
        ("POST", "/clinic/{clinic_id}/plans/{plan_id}/stop"): {"reason": "Goal reached"},
        ("POST", "/clinic/{clinic_id}/plan-templates/new"): _clinic_template_form,
        ("POST", "/clinic/{clinic_id}/plan-templates/{template_id}"): _clinic_template_form,
        ("POST", "/clinic/{clinic_id}/plan-templates/{template_id}/retire"): {},
        ("POST", "/clinic/{clinic_id}/alerts/{alert_id}/acknowledge"): {},
        ("POST", "/clinic/{clinic_id}/prescriptions/{prescription_id}/stop"): {"reason": "Rash"},
    }
)

"""Care plans (CP-1, CP-2): the clinic's templates and plans, and the patient's side — plans with progress, booking
an appointment step, marking a task done."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import AwareDatetime

from shifa.access.declare import operation
from shifa.core import timezones
from shifa.core.idempotency import once
from shifa.core.schemas import ERRORS

from . import actions, queries
from .models import CarePlan, CarePlanTemplate

router = Router(tags=["care plans"])
VIEW = operation("records.view_chart")
MANAGE = operation("careplans.manage")
OWN = operation("careplans.follow_own")
OK = {200: dict, **ERRORS}
CREATED = {201: dict, **ERRORS}
GONE = {204: None, **ERRORS}

ITEMS_HELP = (
    "Series of appointments and tasks: kind (visit|task), title, count, every_days, first_in_days, window_days; "
    "a visit's visit_type (office|video|home) and service_id; a task's task (vital|lab|other) and vital_code (LOINC)"
)
ITEMS_EXAMPLE = [
    {"kind": "visit", "title": "Physiotherapy session", "count": 10, "every_days": 7, "first_in_days": 7},
    {
        "kind": "task",
        "task": "vital",
        "vital_code": "8480-6",
        "title": "Blood pressure",
        "count": 30,
        "every_days": 1,
    },
    {"kind": "task", "task": "lab", "title": "HbA1c", "first_in_days": 90, "window_days": 14},
]


def _language(request: HttpRequest) -> str:
    return getattr(request, "LANGUAGE_CODE", "en")


def template_out(template: CarePlanTemplate) -> dict:
    return {
        "id": str(template.external_id),
        "name": template.name,
        "goal": template.goal,
        "items": template.items,
        "updated_at": timezones.isoformat_z(template.updated_at),
    }


def progress_out(progress: queries.Progress) -> dict:
    return {
        "done": progress.done,
        "missed": progress.missed,
        "open": progress.open,
        "total": progress.total,
        "percent": progress.percent,
    }


def plan_summary(plan: CarePlan, progress: queries.Progress, language: str) -> dict:
    return {
        "id": str(plan.external_id),
        "title": plan.title,
        "status": plan.status,
        "starts_on": plan.starts_on.isoformat(),
        "clinic": {"id": str(plan.clinic.external_id), "name": plan.clinic.display_name(language)},
        "doctor": {"id": str(plan.doctor.external_id), "name": plan.doctor.full_name},
        "patient": {"id": str(plan.patient.external_id), "name": plan.patient.display_name(language)},
        "progress": progress_out(progress),
    }


def step_out(view: queries.StepView, language: str) -> dict:
    step = view.step
    appointment = step.appointment if step.appointment_id else None
    return {
        "id": str(step.external_id),
        "kind": step.kind,
        "task": step.task or None,
        "title": step.title,
        "number": step.number,
        "of": step.of,
        "due_on": step.due_on.isoformat(),
        "first_day": view.first_day.isoformat(),
        "last_day": view.last_day.isoformat(),
        "state": view.state,
        "visit_type": step.visit_type or None,
        "vital_code": step.vital_kind.code if step.vital_kind_id else None,
        "appointment": (
            {
                "id": str(appointment.external_id),
                "status": appointment.status,
                "starts_at": timezones.isoformat_z(appointment.starts_at),
            }
            if appointment
            else None
        ),
        "done_at": timezones.isoformat_z(step.done_at) if step.done_at else None,
        "can_book": view.bookable,
        "can_mark_done": view.can_mark_done,
    }


def plan_out(view: queries.PlanView, language: str) -> dict:
    plan = view.plan
    return {
        **plan_summary(plan, view.progress, language),
        "goal": plan.goal,
        "thresholds": plan.thresholds,
        "items": plan.items,
        "visit_id": str(plan.visit.external_id) if plan.visit_id else None,
        "ended_at": timezones.isoformat_z(plan.ended_at) if plan.ended_at else None,
        "end_reason": plan.end_reason,
        "steps": [step_out(s, language) for s in view.steps],
    }


class TemplateIn(Schema):
    name: str = Field(..., max_length=200)
    goal: str = Field("", max_length=2000)
    items: list[dict[str, Any]] = Field(..., description=ITEMS_HELP, examples=[ITEMS_EXAMPLE])


class PlanIn(Schema):
    template_id: uuid.UUID | None = None
    title: str = Field("", max_length=200, description="Required unless a template gives it")
    goal: str = Field("", max_length=2000)
    items: list[dict[str, Any]] | None = Field(
        None, description=ITEMS_HELP + "; the template's when left out", examples=[ITEMS_EXAMPLE]
    )
    starts_on: dt.date | None = Field(None, description="The clinic's today when left out")
    doctor_id: uuid.UUID | None = Field(None, description="The acting doctor when left out")
    visit_id: uuid.UUID | None = Field(None, description="The visit the plan was made in")
    thresholds: dict[str, dict[str, Any]] | None = Field(
        None, description="The plan's own alert limits by LOINC code", examples=[{"8480-6": {"high": 140}}]
    )


class StopIn(Schema):
    reason: str = Field("", max_length=300)


class PlansQuery(Schema):
    patient_id: uuid.UUID | None = None
    status: str | None = Field(None, pattern="^(active|completed|stopped)$")


class MyPlansQuery(Schema):
    patient_id: uuid.UUID | None = None


class BookStepIn(Schema):
    starts_at: AwareDatetime


# --- the clinic ---------------------------------------------------------------------------------------------------


@router.get(
    "/clinics/{clinic_id}/care-plan-templates",
    response=OK,
    operation_id="careplans_list_templates",
    summary="The clinic's care plan templates",
    **VIEW,
)
def list_templates(request: HttpRequest, clinic_id: uuid.UUID):
    return {"items": [template_out(t) for t in queries.templates(actor=request.actor)]}


@router.post(
    "/clinics/{clinic_id}/care-plan-templates",
    response=CREATED,
    operation_id="careplans_create_template",
    summary="Add a care plan template",
    **MANAGE,
)
def create_template(request: HttpRequest, clinic_id: uuid.UUID, payload: TemplateIn):
    def run():
        return 201, template_out(actions.template_save(actor=request.actor, **payload.dict()))

    return Status(*once(request, run))


@router.put(
    "/clinics/{clinic_id}/care-plan-templates/{template_id}",
    response=OK,
    operation_id="careplans_update_template",
    summary="Change a care plan template (plans already made from it stay as they are)",
    **MANAGE,
)
def update_template(request: HttpRequest, clinic_id: uuid.UUID, template_id: uuid.UUID, payload: TemplateIn):
    return template_out(actions.template_save(actor=request.actor, template_id=template_id, **payload.dict()))


@router.delete(
    "/clinics/{clinic_id}/care-plan-templates/{template_id}",
    response=GONE,
    operation_id="careplans_retire_template",
    summary="Take a care plan template out of use",
    **MANAGE,
)
def retire_template(request: HttpRequest, clinic_id: uuid.UUID, template_id: uuid.UUID):
    actions.template_retire(actor=request.actor, template_id=template_id)
    return Status(204, None)


@router.get(
    "/clinics/{clinic_id}/care-plans",
    response=OK,
    operation_id="careplans_list_plans",
    summary="The clinic's care plans (of one patient, or all), active ones first, with progress",
    **VIEW,
)
def list_plans(request: HttpRequest, clinic_id: uuid.UUID, params: Query[PlansQuery]):
    found = queries.clinic_plans(actor=request.actor, patient_id=params.patient_id, status=params.status)
    language = _language(request)
    return {"items": [plan_summary(p, progress, language) for p, progress in found]}


@router.post(
    "/clinics/{clinic_id}/patients/{patient_id}/care-plans",
    response=CREATED,
    operation_id="careplans_create_plan",
    summary="Make a care plan for a patient, from a template or from scratch; send an Idempotency-Key",
    **MANAGE,
)
def create_plan(request: HttpRequest, clinic_id: uuid.UUID, patient_id: uuid.UUID, payload: PlanIn):
    def run():
        plan = actions.plan_create(actor=request.actor, patient_id=patient_id, **payload.dict())
        return 201, plan_out(
            queries.clinic_plan(actor=request.actor, plan_id=plan.external_id), _language(request)
        )

    return Status(*once(request, run))


@router.get(
    "/clinics/{clinic_id}/care-plans/{plan_id}",
    response=OK,
    operation_id="careplans_get_plan",
    summary="A care plan with its steps and progress",
    **VIEW,
)
def get_plan(request: HttpRequest, clinic_id: uuid.UUID, plan_id: uuid.UUID):
    return plan_out(queries.clinic_plan(actor=request.actor, plan_id=plan_id), _language(request))


@router.post(
    "/clinics/{clinic_id}/care-plans/{plan_id}/stop",
    response=OK,
    operation_id="careplans_stop_plan",
    summary="Stop a care plan: the steps still to do are cancelled",
    **MANAGE,
)
def stop_plan(request: HttpRequest, clinic_id: uuid.UUID, plan_id: uuid.UUID, payload: StopIn):
    actions.plan_stop(actor=request.actor, plan_id=plan_id, reason=payload.reason)
    return plan_out(queries.clinic_plan(actor=request.actor, plan_id=plan_id), _language(request))


@router.get(
    "/clinics/{clinic_id}/care-plan-steps/missed",
    response=OK,
    operation_id="careplans_list_missed_steps",
    summary="Steps of the clinic's active plans missed in the last 30 days, newest first",
    **VIEW,
)
def list_missed_steps(request: HttpRequest, clinic_id: uuid.UUID):
    language = _language(request)
    return {
        "items": [
            {
                "id": str(step.external_id),
                "title": step.title,
                "due_on": step.due_on.isoformat(),
                "missed_at": timezones.isoformat_z(step.missed_at) if step.missed_at else None,
                "plan": {"id": str(step.plan.external_id), "title": step.plan.title},
                "patient": {
                    "id": str(step.plan.patient.external_id),
                    "name": step.plan.patient.display_name(language),
                },
            }
            for step in queries.missed_steps(actor=request.actor)
        ]
    }


# --- the patient --------------------------------------------------------------------------------------------------


@router.get(
    "/me/care-plans",
    response=OK,
    operation_id="careplans_list_my_plans",
    summary="My (or a dependant's) care plans with progress, active ones first",
    **OWN,
)
def list_my_plans(request: HttpRequest, params: Query[MyPlansQuery]):
    language = _language(request)
    found = queries.my_plans(actor=request.actor, patient_id=params.patient_id)
    return {"items": [plan_summary(p, progress, language) for p, progress in found]}


@router.get(
    "/me/care-plans/{plan_id}",
    response=OK,
    operation_id="careplans_get_my_plan",
    summary="One of my care plans with its steps: what to book or do now, what is done, what was missed",
    **OWN,
)
def get_my_plan(request: HttpRequest, plan_id: uuid.UUID):
    return plan_out(queries.my_plan(actor=request.actor, plan_id=plan_id), _language(request))


@router.post(
    "/me/care-plans/{plan_id}/steps/{step_id}/book",
    response=CREATED,
    operation_id="careplans_book_step",
    summary="Hold a slot of the plan's doctor for an appointment step (then confirm it); send an Idempotency-Key",
    **OWN,
)
def book_step(request: HttpRequest, plan_id: uuid.UUID, step_id: uuid.UUID, payload: BookStepIn):
    from shifa.scheduling.appointments_api import appointment_out

    def run():
        appointment = actions.step_book(
            actor=request.actor, plan_id=plan_id, step_id=step_id, starts_at=payload.starts_at
        )
        return 201, appointment_out(appointment, _language(request))

    return Status(*once(request, run))


@router.post(
    "/me/care-plans/{plan_id}/steps/{step_id}/done",
    response=OK,
    operation_id="careplans_mark_step_done",
    summary="Mark a task of my plan done (a reading task is done by recording the reading)",
    **OWN,
)
def mark_step_done(request: HttpRequest, plan_id: uuid.UUID, step_id: uuid.UUID):
    actions.step_done(actor=request.actor, plan_id=plan_id, step_id=step_id)
    step = queries.my_step(actor=request.actor, plan_id=plan_id, step_id=step_id)[1]
    return step_out(step, _language(request))

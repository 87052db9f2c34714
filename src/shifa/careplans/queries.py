"""Reads of care plans: the patient's plans with progress (CP-2), and the clinic's, with the steps missed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from shifa.core import timezones
from shifa.core.errors import NotFound

from . import items as plan_items
from .models import CarePlan, CarePlanTemplate, CareStep, PlanStatus, StepKind, StepStatus

#: Appointment statuses that mean a step's appointment is still on.
BOOKED = ("held", "booked", "checked_in")


@dataclass(frozen=True)
class Progress:
    done: int
    missed: int
    open: int
    total: int  # cancelled steps left out

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


def progress(plan: CarePlan) -> Progress:
    counts = CareStep.unscoped.filter(plan=plan).aggregate(
        done=Count("id", filter=Q(status=StepStatus.DONE)),
        missed=Count("id", filter=Q(status=StepStatus.MISSED)),
        open=Count("id", filter=Q(status=StepStatus.OPEN)),
    )
    return Progress(total=counts["done"] + counts["missed"] + counts["open"], **counts)


def progress_of(plans: list[CarePlan]) -> dict[int, Progress]:
    """Progress of many plans in one query."""
    rows = (
        CareStep.unscoped.filter(plan__in=plans)
        .values("plan_id")
        .annotate(
            done=Count("id", filter=Q(status=StepStatus.DONE)),
            missed=Count("id", filter=Q(status=StepStatus.MISSED)),
            open=Count("id", filter=Q(status=StepStatus.OPEN)),
        )
    )
    found = {
        r["plan_id"]: Progress(r["done"], r["missed"], r["open"], r["done"] + r["missed"] + r["open"])
        for r in rows
    }
    return {p.pk: found.get(p.pk, Progress(0, 0, 0, 0)) for p in plans}


@dataclass(frozen=True)
class StepView:
    """A step as the patient and the care team see it today."""

    step: CareStep
    state: str  # done | missed | cancelled | booked | due | upcoming | overdue
    first_day: dt.date
    last_day: dt.date

    @property
    def bookable(self) -> bool:
        """An appointment step still to book, with days left to book it on."""
        return self.step.kind == StepKind.VISIT and self.state in ("due", "upcoming")

    @property
    def can_mark_done(self) -> bool:
        return (
            self.step.kind == StepKind.TASK and self.step.task != "vital" and self.state in ("due", "overdue")
        )


def step_view(step: CareStep, today: dt.date) -> StepView:
    first, last = plan_items.window(step.due_on, step.window_days)
    if step.status != StepStatus.OPEN:
        state = step.status
    elif step.appointment_id and step.appointment.status in BOOKED:
        state = "booked"
    elif today < first:
        state = "upcoming"
    elif today <= last:
        state = "due"
    else:
        state = "overdue"  # its window has passed; the hourly review marks it missed
    return StepView(step=step, state=state, first_day=first, last_day=last)


@dataclass(frozen=True)
class PlanView:
    plan: CarePlan
    steps: list[StepView]
    progress: Progress
    today: dt.date

    @property
    def next_steps(self) -> list[StepView]:
        """What to do now or next: the steps due, booked or overdue, else the next upcoming one."""
        current = [s for s in self.steps if s.state in ("due", "overdue", "booked")]
        upcoming = [s for s in self.steps if s.state == "upcoming"]
        return current or upcoming[:1]


def _steps(plan: CarePlan) -> QuerySet[CareStep]:
    return (
        CareStep.unscoped.filter(plan=plan)
        .select_related("appointment", "vital_kind", "service")
        .order_by("due_on", "item", "number")
    )


def plan_view(plan: CarePlan) -> PlanView:
    today = timezones.to_local(timezones.now(), plan.clinic.time_zone).date()
    steps = [step_view(s, today) for s in _steps(plan)]
    return PlanView(plan=plan, steps=steps, progress=progress(plan), today=today)


# --- the patient --------------------------------------------------------------------------------------------------


def _mine(actor) -> QuerySet[CarePlan]:
    from shifa.records.policies import patients_of_user

    if actor.user is None:
        raise NotFound()
    return CarePlan.unscoped.filter(patient__in=patients_of_user(actor.user)).select_related(
        "clinic", "doctor", "patient"
    )


def my_plans(*, actor, patient_id=None) -> list[tuple[CarePlan, Progress]]:
    """My own plans (or one dependant's), active ones first, newest first."""
    from shifa.records.policies import own_patient

    plans = _mine(actor).filter(patient=own_patient(actor, patient_id))
    found = sorted(plans.order_by("-created_at"), key=lambda p: p.status != PlanStatus.ACTIVE)
    counts = progress_of(found)
    return [(p, counts[p.pk]) for p in found]


def my_plan(*, actor, plan_id) -> PlanView:
    plan = _mine(actor).filter(external_id=plan_id).first()
    if plan is None:
        raise NotFound()
    return plan_view(plan)


def my_step(*, actor, plan_id, step_id) -> tuple[PlanView, StepView]:
    view = my_plan(actor=actor, plan_id=plan_id)
    for step in view.steps:
        if str(step.step.external_id) == str(step_id):
            return view, step
    raise NotFound()


# --- the clinic ---------------------------------------------------------------------------------------------------


def templates(*, actor) -> list[CarePlanTemplate]:
    clinic = actor.require_clinic()
    return list(CarePlanTemplate.objects.for_clinic(clinic).filter(is_active=True).order_by("name"))


def template(*, actor, template_id) -> CarePlanTemplate:
    clinic = actor.require_clinic()
    found = (
        CarePlanTemplate.objects.for_clinic(clinic).filter(external_id=template_id, is_active=True).first()
    )
    if found is None:
        raise NotFound()
    return found


def clinic_plans(*, actor, patient_id=None, status: str | None = None) -> list[tuple[CarePlan, Progress]]:
    """The clinic's plans (of one patient, or all), active ones first; missed steps count in each."""
    clinic = actor.require_clinic()
    plans = CarePlan.objects.for_clinic(clinic).select_related("patient", "doctor", "clinic")
    if patient_id is not None:
        from shifa.records.policies import chart_access

        plans = plans.filter(patient=chart_access(actor, patient_id).patient)
    if status in PlanStatus.values:
        plans = plans.filter(status=status)
    found = sorted(plans.order_by("-created_at")[:500], key=lambda p: p.status != PlanStatus.ACTIVE)
    counts = progress_of(found)
    return [(p, counts[p.pk]) for p in found]


def clinic_plan(*, actor, plan_id) -> PlanView:
    clinic = actor.require_clinic()
    plan = (
        CarePlan.objects.for_clinic(clinic)
        .select_related("patient", "doctor", "clinic", "visit", "template")
        .filter(external_id=plan_id)
        .first()
    )
    if plan is None:
        raise NotFound()
    return plan_view(plan)


def missed_steps(*, actor, limit: int = 100) -> list[CareStep]:
    """Steps of the clinic's active plans that were missed in the last 30 days, newest first: the care team's
    list of patients to call."""
    clinic = actor.require_clinic()
    since = timezones.now() - dt.timedelta(days=30)
    return list(
        CareStep.objects.for_clinic(clinic)
        .filter(status=StepStatus.MISSED, plan__status=PlanStatus.ACTIVE, missed_at__gte=since)
        .select_related("plan__patient", "plan__doctor")
        .order_by("-missed_at", "-due_on")[:limit]
    )


def active_plans_of(patient) -> QuerySet[CarePlan]:
    """The active plans following a patient, at any clinic (for alerts)."""
    return CarePlan.unscoped.filter(patient=patient, status=PlanStatus.ACTIVE).select_related(
        "clinic", "doctor"
    )

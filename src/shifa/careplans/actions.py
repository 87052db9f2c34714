"""Writes of care plans (CP-1, CP-2): templates, plans made from a template or from scratch, a step booked or done,
steps missed and flagged to the care team, plans stopped."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _

from shifa.core import timezones
from shifa.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from shifa.integrations.hakeem.actions import care_plan_queue

from . import items as plan_items
from .models import CarePlan, CarePlanTemplate, CareStep, PlanStatus, StepKind, StepStatus, TaskKind

#: Appointment statuses that mean a step's appointment is still on.
BOOKED = ("held", "booked", "checked_in")


def _text(field: str, value, limit: int, *, required: bool = False) -> str:
    value = (value or "").strip() if isinstance(value, str | type(None)) else None
    if value is None:
        raise ValidationFailed.on(field, "invalid", _("Enter text."))
    if required and not value:
        raise ValidationFailed.on(field, "required", _("This field is required."))
    if len(value) > limit:
        raise ValidationFailed.on(
            field, "too_long", _("Use at most %(limit)s characters.") % {"limit": limit}
        )
    return value


def _resolve(clinic, doctor, parsed: list[plan_items.Item]) -> tuple[dict, dict]:
    """The vital signs and services the items name, checked against the catalogue, the clinic and the doctor."""
    from shifa.catalog.models import VitalSignType
    from shifa.directory.models import Service
    from shifa.directory.queries import doctor_profile

    errors: list[FieldError] = []
    codes = {i.vital_code for i in parsed if i.vital_code}
    vitals = {v.code: v for v in VitalSignType.objects.filter(code__in=codes, is_active=True)}
    service_ids = {i.service_id for i in parsed if i.service_id}
    services: dict = {}
    for service_id in service_ids:
        try:
            external_id = uuid.UUID(service_id)
        except ValueError:
            continue
        found = Service.objects.for_clinic(clinic).filter(external_id=external_id, is_active=True).first()
        if found is not None:
            services[service_id] = found
    profile = doctor_profile(clinic=clinic, doctor=doctor) if doctor is not None else None
    offered = profile.visit_types if profile else []
    for index, item in enumerate(parsed):
        where = f"items.{index}"
        if item.vital_code and item.vital_code not in vitals:
            errors.append(FieldError(f"{where}.vital_code", "unknown", _("Unknown vital sign.")))
        if item.service_id and item.service_id not in services:
            errors.append(
                FieldError(f"{where}.service_id", "not_offered", _("Choose a service the clinic offers."))
            )
        if doctor is not None and item.kind == StepKind.VISIT and item.visit_type not in offered:
            errors.append(
                FieldError(
                    f"{where}.visit_type",
                    "not_offered",
                    _("The doctor does not offer this kind of visit here."),
                )
            )
    if errors:
        raise ValidationFailed(errors=errors)
    return vitals, services


def _parse(raw_items) -> list[plan_items.Item]:
    parsed, errors = plan_items.parse(raw_items)
    if errors:
        raise ValidationFailed(errors=errors)
    return parsed


def template_save(*, actor, name: str, goal: str = "", items, template_id=None) -> CarePlanTemplate:
    """Write a clinic's care plan template (a new one, or a change to one of its own)."""
    clinic = actor.require_clinic()
    name = _text("name", name, 200, required=True)
    goal = _text("goal", goal, 2000)
    parsed = _parse(items)
    _resolve(clinic, None, parsed)
    stored = [i.as_dict() for i in parsed]
    with transaction.atomic():
        same_name = CarePlanTemplate.objects.for_clinic(clinic).filter(name__iexact=name, is_active=True)
        if template_id is None:
            if same_name.exists():
                raise ValidationFailed.on(
                    "name", "duplicate", _("The clinic already has a template with this name.")
                )
            return CarePlanTemplate.objects.for_clinic(clinic).create(
                clinic=clinic, name=name, goal=goal, items=stored, created_by=actor.user
            )
        template = (
            CarePlanTemplate.objects.for_clinic(clinic)
            .select_for_update()
            .filter(external_id=template_id, is_active=True)
            .first()
        )
        if template is None:
            raise NotFound()
        if same_name.exclude(pk=template.pk).exists():
            raise ValidationFailed.on(
                "name", "duplicate", _("The clinic already has a template with this name.")
            )
        template.name, template.goal, template.items = name, goal, stored
        template.save(update_fields=["name", "goal", "items", "updated_at"])
        return template


def template_retire(*, actor, template_id) -> CarePlanTemplate:
    """Take a template out of use; plans made from it are not touched."""
    clinic = actor.require_clinic()
    with transaction.atomic():
        template = (
            CarePlanTemplate.objects.for_clinic(clinic)
            .select_for_update()
            .filter(external_id=template_id)
            .first()
        )
        if template is None:
            raise NotFound()
        if template.is_active:
            template.is_active = False
            template.save(update_fields=["is_active", "updated_at"])
        return template


def _thresholds(raw) -> dict:
    """``{"8480-6": {"low": 90, "high": 140}}``: the plan's own alert limits, inside what the sign can be."""
    from shifa.catalog.models import VitalSignType

    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict):
        raise ValidationFailed.on("thresholds", "invalid", _("Give the limits by vital sign."))
    kinds = {k.code: k for k in VitalSignType.objects.filter(code__in=list(raw), is_active=True)}
    errors, clean = [], {}
    for code, limits in raw.items():
        field = f"thresholds.{code}"
        kind = kinds.get(code)
        if kind is None:
            errors.append(FieldError(field, "unknown", _("Unknown vital sign.")))
            continue
        if not isinstance(limits, dict) or not ({"low", "high"} & set(limits)):
            errors.append(FieldError(field, "invalid", _("Give a low limit, a high limit or both.")))
            continue
        values = {}
        for end in ("low", "high"):
            if limits.get(end) in (None, ""):
                continue
            try:
                number = Decimal(str(limits[end]).strip())
            except InvalidOperation:
                errors.append(FieldError(f"{field}.{end}", "invalid_number", _("Enter a number.")))
                continue
            if not number.is_finite() or not kind.lowest <= number <= kind.highest:
                errors.append(
                    FieldError(
                        f"{field}.{end}",
                        "out_of_range",
                        _("Enter a number from %(low)s to %(high)s.")
                        % {"low": f"{kind.lowest.normalize():f}", "high": f"{kind.highest.normalize():f}"},
                    )
                )
                continue
            values[end] = f"{number.normalize():f}"
        if "low" in values and "high" in values and Decimal(values["low"]) >= Decimal(values["high"]):
            errors.append(
                FieldError(f"{field}.low", "order", _("The low limit must be below the high limit."))
            )
        if values:
            clean[code] = values
    if errors:
        raise ValidationFailed(errors=errors)
    return clean


def plan_create(
    *,
    actor,
    patient_id,
    title: str = "",
    goal: str = "",
    items=None,
    template_id=None,
    starts_on: dt.date | None = None,
    doctor_id=None,
    visit_id=None,
    thresholds=None,
) -> CarePlan:
    """A doctor makes a plan for a patient of the clinic, from a template (its items unless others are given) or
    from scratch; the patient is told. The plan's responsible doctor is the acting doctor, or the doctor named."""
    from shifa.access import catalog
    from shifa.notifications.actions import notify
    from shifa.records.models import Visit
    from shifa.records.policies import chart_access
    from shifa.scheduling.actions import _doctor_of

    clinic = actor.require_clinic()
    access = chart_access(actor, patient_id)
    template = None
    if template_id is not None:
        template = (
            CarePlanTemplate.objects.for_clinic(clinic)
            .filter(external_id=template_id, is_active=True)
            .first()
        )
        if template is None:
            raise ValidationFailed.on("template_id", "not_found", _("Choose one of the clinic's templates."))
        items = template.items if items is None else items
        title = title or template.name
        goal = goal or template.goal
    errors: list[FieldError] = []

    def check(run, *args, **kwargs):
        """Run one check, keeping its field errors with the others' (every problem is reported at once)."""
        try:
            return run(*args, **kwargs)
        except ValidationFailed as exc:
            errors.extend(exc.errors)
            return None

    title = check(_text, "title", title, 200, required=True)
    goal = check(_text, "goal", goal, 2000)
    today = timezones.to_local(timezones.now(), clinic.time_zone).date()
    starts_on = starts_on or today
    if starts_on < today - dt.timedelta(days=7) or starts_on > today + dt.timedelta(days=365):
        errors.append(FieldError("starts_on", "out_of_range", _("Start the plan within a year from today.")))
    doctor = None
    if doctor_id is not None:
        doctor = check(_doctor_of, clinic, doctor_id)
        if doctor is None:
            errors[-1] = FieldError("doctor_id", errors[-1].code, errors[-1].message)
    elif catalog.DOCTOR in actor.roles:
        doctor = actor.user
    else:
        errors.append(FieldError("doctor_id", "required", _("Choose the doctor responsible for the plan.")))
    parsed = check(_parse, items) or []
    vitals, services = check(_resolve, clinic, doctor, parsed) or ({}, {})
    limits = check(_thresholds, thresholds)
    visit = None
    if visit_id is not None:
        visit = Visit.objects.for_clinic(clinic).filter(external_id=visit_id, patient=access.patient).first()
        if visit is None:
            errors.append(
                FieldError("visit_id", "not_found", _("Choose a visit of this patient at the clinic."))
            )
    if errors:
        raise ValidationFailed(errors=errors)
    with transaction.atomic():
        plan = CarePlan.objects.for_clinic(clinic).create(
            clinic=clinic,
            patient=access.patient,
            doctor=doctor,
            visit=visit,
            template=template,
            title=title,
            goal=goal,
            starts_on=starts_on,
            items=[i.as_dict() for i in parsed],
            thresholds=limits,
            created_by=actor.user,
        )
        CareStep.unscoped.bulk_create(
            CareStep(
                clinic=clinic,
                plan=plan,
                item=step.item,
                number=step.number,
                of=step.of,
                kind=parsed[step.item].kind,
                task=parsed[step.item].task,
                title=parsed[step.item].title,
                vital_kind=vitals.get(parsed[step.item].vital_code),
                visit_type=parsed[step.item].visit_type if parsed[step.item].kind == StepKind.VISIT else "",
                service=services.get(parsed[step.item].service_id),
                due_on=step.due_on,
                window_days=parsed[step.item].window_days,
            )
            for step in plan_items.expand(parsed, starts_on)
        )
        recipient = _recipient(access.patient)
        if recipient is not None:
            notify(
                recipient=recipient,
                kind="careplan.created",
                data={
                    "title": plan.title,
                    "clinic_en": clinic.name_en,
                    "clinic_ar": clinic.name_ar,
                    "doctor": doctor.full_name,
                    "patient": access.patient.display_name(recipient.language or "ar"),
                    "for_dependant": access.patient.user_id is None,
                },
                idempotency_key=f"careplan:{plan.external_id}",
                clinic=clinic,
                url=f"/app/plans/{plan.external_id}",
            )
        care_plan_queue(plan)
        return plan


def _recipient(patient):
    from shifa.adherence.actions import _recipient as recipient_of

    return recipient_of(patient)


def plan_stop(*, actor, plan_id, reason: str = "") -> CarePlan:
    """Stop a plan: its steps still to do are cancelled (appointments already booked stay booked)."""
    clinic = actor.require_clinic()
    reason = _text("reason", reason, 300)
    with transaction.atomic():
        plan = CarePlan.objects.for_clinic(clinic).select_for_update().filter(external_id=plan_id).first()
        if plan is None:
            raise NotFound()
        if plan.status != PlanStatus.ACTIVE:
            raise Conflict(_("This plan has already ended."), code="plan_ended")
        now = timezones.now()
        plan.status, plan.ended_at, plan.ended_by, plan.end_reason = (
            PlanStatus.STOPPED,
            now,
            actor.user,
            reason,
        )
        plan.save(update_fields=["status", "ended_at", "ended_by", "end_reason", "updated_at"])
        CareStep.objects.for_clinic(clinic).filter(plan=plan, status=StepStatus.OPEN).update(
            status=StepStatus.CANCELLED, updated_at=now
        )
        care_plan_queue(plan)
        return plan


def _own_step(actor, plan_id, step_id) -> tuple[CarePlan, CareStep]:
    from shifa.records.policies import patients_of_user

    if actor.user is None:
        raise NotFound()
    step = (
        CareStep.unscoped.select_for_update(of=("self",))
        .filter(
            external_id=step_id,
            plan__external_id=plan_id,
            plan__patient__in=patients_of_user(actor.user),
        )
        .select_related("plan__clinic", "plan__doctor", "plan__patient", "appointment", "service")
        .first()
    )
    if step is None:
        raise NotFound()
    return step.plan, step


def _open(plan: CarePlan, step: CareStep) -> None:
    if plan.status != PlanStatus.ACTIVE:
        raise Conflict(_("This plan has ended."), code="plan_ended")
    if step.status == StepStatus.DONE:
        raise Conflict(_("This step is already done."), code="step_done")
    if step.status != StepStatus.OPEN:
        raise Conflict(_("This step can no longer be done."), code="step_closed")


def step_book(*, actor, plan_id, step_id, starts_at: dt.datetime):
    """The patient books an appointment step from the plan: a slot of the plan's doctor, on a day the step allows.
    The slot is held like any booking from the app, and confirmed the same way."""
    from shifa.scheduling.actions import appointment_book
    from shifa.scheduling.models import Channel

    with transaction.atomic():
        plan, step = _own_step(actor, plan_id, step_id)
        _open(plan, step)
        if step.kind != StepKind.VISIT:
            raise Conflict(_("This step is a task, not an appointment."), code="not_an_appointment")
        if step.appointment_id and step.appointment.status in BOOKED:
            raise Conflict(_("This step is already booked."), code="step_booked")
        if starts_at.tzinfo is None:
            raise ValidationFailed.on("starts_at", "naive", _("Give the time with its zone."))
        first, last = plan_items.window(step.due_on, step.window_days)
        day = timezones.to_local(starts_at, plan.clinic.time_zone).date()
        if not first <= day <= last:
            raise ValidationFailed.on(
                "starts_at",
                "outside_window",
                _("Choose a day from %(first)s to %(last)s.") % {"first": first, "last": last},
            )
        appointment = appointment_book(
            actor=actor,
            clinic=plan.clinic,
            patient=plan.patient,
            doctor_id=plan.doctor.external_id,
            visit_type=step.visit_type,
            starts_at=starts_at,
            service_id=step.service.external_id if step.service_id else None,
            reason=step.title,
            channel=Channel.APP,
        )
        step.appointment = appointment
        step.save(update_fields=["appointment", "updated_at"])
        care_plan_queue(plan)
        return appointment


def step_done(*, actor, plan_id, step_id) -> CareStep:
    """The patient marks a task done (a lab test taken, an exercise done), on a day its window allows. A reading
    task is done by recording the reading; an appointment by the visit taking place."""
    with transaction.atomic():
        plan, step = _own_step(actor, plan_id, step_id)
        _open(plan, step)
        if step.kind != StepKind.TASK:
            raise Conflict(_("An appointment is done when the visit takes place."), code="not_a_task")
        if step.task == TaskKind.VITAL:
            raise Conflict(_("Record the reading: the step is then done."), code="record_the_reading")
        first, last = plan_items.window(step.due_on, step.window_days)
        today = timezones.to_local(timezones.now(), plan.clinic.time_zone).date()
        if today < first:
            raise Conflict(_("This step is not due yet."), code="step_not_due")
        if today > last:
            raise Conflict(_("The days for this step have passed."), code="step_closed")
        return _done(step, actor.user)


def _done(step: CareStep, user) -> CareStep:
    step.status, step.done_at, step.done_by = StepStatus.DONE, timezones.now(), user
    step.save(update_fields=["status", "done_at", "done_by", "updated_at"])
    care_plan_queue(step.plan)
    return step


def steps_reading_taken(*, patient, kind_ids, taken_at: dt.datetime, user=None) -> int:
    """A reading was recorded: the open reading tasks of the patient's active plans for that sign, on that day
    (in the clinic's time zone), are done."""
    done = 0
    steps = (
        CareStep.unscoped.select_for_update(of=("self",))
        .filter(
            plan__patient=patient,
            plan__status=PlanStatus.ACTIVE,
            kind=StepKind.TASK,
            task=TaskKind.VITAL,
            vital_kind_id__in=list(kind_ids),
            status=StepStatus.OPEN,
            due_on__gte=taken_at.date() - dt.timedelta(days=plan_items.MAX_WINDOW_DAYS + 1),
            due_on__lte=taken_at.date() + dt.timedelta(days=plan_items.MAX_WINDOW_DAYS + 1),
        )
        .select_related("plan__clinic")
        .order_by("due_on")
    )
    for step in steps:
        day = timezones.to_local(taken_at, step.plan.clinic.time_zone).date()
        first, last = plan_items.window(step.due_on, step.window_days)
        if first <= day <= last:
            _done(step, user)
            done += 1
    return done


def steps_appointment_completed(appointment) -> int:
    """The visit of a step's appointment took place: the step is done."""
    now = timezones.now()
    steps = CareStep.objects.for_clinic(appointment.clinic_id).filter(
        appointment=appointment, status=StepStatus.OPEN
    )
    plans = list(CarePlan.unscoped.filter(pk__in=steps.values("plan_id")))
    done = steps.update(status=StepStatus.DONE, done_at=now, updated_at=now)
    for plan in plans:
        care_plan_queue(plan)
    return done


def steps_review(*, now: dt.datetime | None = None) -> int:
    """Every hour: open steps whose last day has passed (in the clinic's time zone) are missed, and each plan's
    doctor is told once a day how many steps of the plan were missed; plans with nothing left to do end.
    Returns how many steps became missed."""
    from shifa.notifications.actions import notify

    now = now or timezones.now()
    latest = now.date() + dt.timedelta(days=1)  # no zone is a day ahead of UTC by more than this
    missed_by_plan: dict[int, list[CareStep]] = {}
    changed: dict[int, CarePlan] = {}
    with transaction.atomic():
        candidates = (
            CareStep.unscoped.select_for_update(of=("self",), skip_locked=True)
            .filter(status=StepStatus.OPEN, plan__status=PlanStatus.ACTIVE, due_on__lt=latest)
            .select_related("plan__clinic", "plan__doctor", "plan__patient", "appointment")
            .order_by("due_on")[:5000]
        )
        for step in candidates:
            today = timezones.to_local(now, step.plan.clinic.time_zone).date()
            if step.appointment_id and step.appointment.status == "completed":
                step.status, step.done_at = StepStatus.DONE, now
                step.save(update_fields=["status", "done_at", "updated_at"])
                changed[step.plan_id] = step.plan
                continue
            if step.appointment_id and step.appointment.status in BOOKED and step.appointment.starts_at > now:
                continue  # booked (perhaps late, but agreed with the clinic): it is done or missed at the visit
            if today > plan_items.window(step.due_on, step.window_days)[1]:
                step.status, step.missed_at = StepStatus.MISSED, now
                step.save(update_fields=["status", "missed_at", "updated_at"])
                missed_by_plan.setdefault(step.plan_id, []).append(step)
                changed[step.plan_id] = step.plan
        for steps in missed_by_plan.values():
            plan = steps[0].plan
            notify(
                recipient=plan.doctor,
                kind="careplan.steps_missed",
                data={
                    "title": plan.title,
                    "count": len(steps),
                    "steps": [s.title for s in steps[:10]],
                    "patient": plan.patient.display_name(plan.doctor.language or "ar"),
                },
                idempotency_key=f"careplan-missed:{steps[0].external_id}",
                clinic=plan.clinic,
                url=f"/clinic/{plan.clinic.external_id}/plans/{plan.external_id}",
            )
        open_steps = CareStep.unscoped.filter(plan=OuterRef("pk"), status=StepStatus.OPEN)
        ending = CarePlan.unscoped.filter(status=PlanStatus.ACTIVE).exclude(Exists(open_steps))
        ended = list(ending.select_for_update(skip_locked=True)[:5000])
        CarePlan.unscoped.filter(pk__in=[p.pk for p in ended]).update(
            status=PlanStatus.COMPLETED, ended_at=now, updated_at=now
        )
        for plan in {p.pk: p for p in [*changed.values(), *ended]}.values():  # Hakeem's copy follows (HK-1)
            plan.refresh_from_db()
            care_plan_queue(plan)
    return sum(len(s) for s in missed_by_plan.values())

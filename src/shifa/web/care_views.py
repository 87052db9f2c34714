"""The patient's care in the app (CP-1 … CP-5): care plans (what to do now, every step, booking an appointment step
from the plan's doctor's free slots, marking a task done), medicines (a day's doses, 30 days' adherence, the times of
the reminders), and vital signs taken at home with the devices that send them. For oneself or a dependant
(``?patient=``, as the record pages). Thin: the same queries and actions as the patient's API
(``shifa.careplans.api``, ``shifa.adherence.api``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.translation import get_language, get_language_bidi, gettext_lazy, pgettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from shifa.access.declare import page
from shifa.adherence import actions as adherence_actions
from shifa.adherence import queries as adherence_queries
from shifa.adherence.models import DeviceKind, DeviceStatus, DoseStatus, ReadingSource
from shifa.careplans import actions as plan_actions
from shifa.careplans import queries as plan_queries
from shifa.catalog.models import VitalSignType
from shifa.core import timezones, units
from shifa.core.errors import Conflict, NotFound, Problem
from shifa.records import queries as record_queries
from shifa.records.schemas import prescription_text
from shifa.scheduling import queries as scheduling_queries

from .account_views import problem_text
from .record_views import vital_chart

PLANS = "careplans.follow_own"
DOSES = "adherence.manage_own_doses"
VITALS = "adherence.record_own_vitals"

SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"
#: The signs a patient records on their own (blood pressure goes as a pair), in the order the page shows them.
SINGLE_SIGNS = ("8867-4", "2339-0", "29463-7", "8310-5", "59408-5")
CHARTED = (SYSTOLIC, DIASTOLIC, *SINGLE_SIGNS)

#: A step's state → its words and its colour (badge tone).
STEP_STATES = {
    "due": (gettext_lazy("Due now"), "warning"),
    "overdue": (gettext_lazy("Overdue"), "danger"),
    "booked": (gettext_lazy("Booked"), "info"),
    "upcoming": (gettext_lazy("Coming up"), "muted"),
    "done": (gettext_lazy("Done"), "success"),
    "missed": (gettext_lazy("Missed"), "danger"),
    "cancelled": (gettext_lazy("Cancelled"), "muted"),
}
DOSE_STATES = {
    DoseStatus.DUE: (gettext_lazy("To take"), "muted"),
    DoseStatus.SENT: (gettext_lazy("To take"), "muted"),
    DoseStatus.TAKEN: (gettext_lazy("Taken"), "success"),
    DoseStatus.SKIPPED: (gettext_lazy("Skipped"), "warning"),
    DoseStatus.MISSED: (gettext_lazy("Missed"), "danger"),
}
TASK_KINDS = {
    "vital": gettext_lazy("Reading"),
    "lab": gettext_lazy("Lab test"),
    "other": gettext_lazy("Task"),
}


# --- whose care ------------------------------------------------------------------------------------------------


def _uuid(raw) -> uuid.UUID | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound() from None


def _asked_patient(request: HttpRequest) -> uuid.UUID | None:
    """The person asked for (``patient``, or ``patient_id`` as the API names it; in the form, else the query
    string); None for oneself. 404 for something that is not an id."""
    for data in (request.POST, request.GET) if request.method == "POST" else (request.GET,):
        raw = data.get("patient") or data.get("patient_id")
        if raw:
            return _uuid(raw)
    return None


def _person(request: HttpRequest) -> tuple:
    """The patient asked for — oneself or one of one's dependants — and everyone one looks after; 404 otherwise."""
    wanted = _asked_patient(request)
    people = record_queries.my_patients(actor=request.actor)
    for person in people:
        if (person.external_id == wanted) if wanted else (person.user_id == request.actor.user.pk):
            return person, people
    raise NotFound()


def _own(request: HttpRequest, patient) -> bool:
    return patient.user_id == request.actor.user.pk


def _whose_query(request: HttpRequest, patient) -> str:
    return "" if _own(request, patient) else urlencode({"patient": patient.external_id})


def _with_query(url: str, *queries: str) -> str:
    query = "&".join(q for q in queries if q)
    return f"{url}?{query}" if query else url


def _whose(request: HttpRequest, patient, page_name: str, people=None) -> dict:
    """The switcher (me and my dependants, each a link to ``page_name``) and the query string and hidden field
    that keep a dependant's care open."""
    language = get_language()
    me = request.actor.user.pk
    people = people if people is not None else record_queries.my_patients(actor=request.actor)
    own = _own(request, patient)
    return {
        "patient": patient,
        "patient_name": patient.display_name(language),
        "own": own,
        "people": [
            {
                "name": p.display_name(language),
                "me": p.user_id == me,
                "current": p.pk == patient.pk,
                "query": "" if p.user_id == me else urlencode({"patient": p.external_id}),
            }
            for p in people
        ],
        "switch_url": reverse(f"web:{page_name}"),
        "whose": _whose_query(request, patient),
        "patient_field": "" if own else str(patient.external_id),
        "nav": "care",
        "care_page": page_name,
    }


def _status(problem: Problem) -> int:
    return problem.status if problem.status in {409, 429, 503} else 400


def _place(form, problem: Problem, fields: dict[str, str]) -> int:
    """Put an action's refusal on the form: each field error on the form field it is about (``fields`` maps the
    action's field names to the form's), the rest above the form. The status to answer with."""
    placed = False
    for error in problem.errors:
        name = fields.get(error.field)
        if name in form.fields:
            form.add_error(name, error.message)
            placed = True
    if not placed:
        form.add_error(None, problem_text(problem))
    return _status(problem)


def _once(request: HttpRequest, form_name: str, run: Callable[[], tuple[int, dict]]) -> tuple[int, dict]:
    """Run ``run()`` once per form shown: each form carries a fresh token (``once``), and the same form sent again
    with the same values — a double click, a reload — gets the first answer back instead of doing the work twice.
    The API's idempotency keys, used for a page."""
    from shifa.core.actions import fingerprint_of, idempotent_call

    token = (request.POST.get("once") or "").strip()[:64]
    body = "&".join(f"{k}={v}" for k, v in sorted(request.POST.items()) if k != "csrfmiddlewaretoken")
    fingerprint = fingerprint_of("POST", request.path, body.encode())
    key = f"page:{form_name}:{token}:{fingerprint[:16]}" if token else None
    return idempotent_call(user=request.user, key=key, fingerprint=fingerprint, run=run)


def _token() -> str:
    return uuid.uuid4().hex


# --- care plans ------------------------------------------------------------------------------------------------


def _progress(progress) -> dict:
    total = progress.total or 1
    return {
        "done": progress.done,
        "missed": progress.missed,
        "open": progress.open,
        "total": progress.total,
        "percent": progress.percent,
        "done_width": round(100 * progress.done / total, 1),
        "missed_width": round(100 * progress.missed / total, 1),
    }


def _kind_label(step) -> str:
    from shifa.directory.models import VisitType

    if step.kind == "visit":
        try:
            return str(VisitType(step.visit_type).label) if step.visit_type else str(_("Appointment"))
        except ValueError:
            return str(_("Appointment"))
    return str(TASK_KINDS.get(step.task, TASK_KINDS["other"]))


def _step_row(view, sv, *, own: bool, whose: str) -> dict:
    """A step as the page shows it: what it is, its days, its state in words and colour, what can be done."""
    step, plan = sv.step, view.plan
    label, tone = STEP_STATES.get(sv.state, (sv.state, "muted"))
    appointment = None
    if sv.state == "booked" and step.appointment_id:
        a = step.appointment
        appointment = {
            "id": a.external_id,
            "starts_at": a.starts_at,
            "starts": timezones.wall_clock(a.starts_at, plan.clinic.time_zone),
            "held": a.status == "held",
            "status": a.get_status_display(),
        }
    reading = step.task == "vital" and step.vital_kind_id is not None
    return {
        "id": step.external_id,
        "item": step.item,
        "title": step.title,
        "number": step.number,
        "of": step.of,
        "kind": _kind_label(step),
        "state": sv.state,
        "label": label,
        "tone": tone,
        "first": sv.first_day,
        "last": sv.last_day,
        "one_day": sv.first_day == sv.last_day,
        "due_on": step.due_on,
        # Bookable per the plan, on a day still to come: an overdue step's days are all behind it.
        "can_book": own and sv.bookable and sv.last_day >= view.today,
        # A dependant's appointment is confirmed by the clinic (the app confirms one's own).
        "book_by_phone": not own and sv.bookable and sv.last_day >= view.today,
        "can_mark_done": sv.can_mark_done,
        "reading_code": step.vital_kind.code if reading and sv.state in ("due", "overdue") else "",
        "reading_name": step.vital_kind.display_name(get_language()) if reading else "",
        "appointment": appointment if own else None,
        "url": _with_query(
            reverse(
                "web:patient_plan_step", kwargs={"plan_id": plan.external_id, "step_id": step.external_id}
            ),
            whose,
        ),
    }


def _plan_context(request: HttpRequest, view) -> dict:
    plan = view.plan
    language = get_language()
    own = _own(request, plan.patient)
    whose = _whose_query(request, plan.patient)
    return {
        "plan": plan,
        "own": own,
        "whose": whose,
        "patient_name": plan.patient.display_name(language),
        "clinic_name": plan.clinic.display_name(language),
        "active": plan.status == "active",
        "progress": _progress(view.progress),
        "today": view.today,
        "nav": "care",
        "care_page": "patient_plans",
    }


def _plan_page(request: HttpRequest, plan_id, *, problem: str = "", status: int = 200) -> HttpResponse:
    view = plan_queries.my_plan(actor=request.actor, plan_id=plan_id)
    context = _plan_context(request, view)
    rows = [_step_row(view, sv, own=context["own"], whose=context["whose"]) for sv in view.steps]
    by_id = {r["id"]: r for r in rows}
    items = view.plan.items or []
    groups: list[dict] = []
    for index in sorted({r["item"] for r in rows}):
        steps = [r for r in rows if r["item"] == index]
        written = items[index] if index < len(items) and isinstance(items[index], dict) else {}
        groups.append(
            {
                "title": written.get("title") or steps[0]["title"],
                "kind": steps[0]["kind"],
                "every_days": written.get("every_days") if len(steps) > 1 else None,
                "done": sum(1 for r in steps if r["state"] == "done"),
                "counted": sum(1 for r in steps if r["state"] != "cancelled"),
                "steps": steps,
            }
        )
    days: dict[dt.date, list] = {}
    for row in rows:
        days.setdefault(row["due_on"], []).append(row)
    by = "date" if request.GET.get("by") == "date" else "item"
    context |= {
        "now_steps": [by_id[sv.step.external_id] for sv in view.next_steps],
        "groups": groups,
        "dates": [{"day": day, "steps": days[day]} for day in sorted(days)],
        "by": by,
        "problem": problem,
    }
    return render(request, "web/patient/plan.html", context, status=status)


@page(PLANS)
def patient_plans(request: HttpRequest) -> HttpResponse:
    """My care plans (or a dependant's): active ones first, each with its progress."""
    patient, people = _person(request)
    language = get_language()
    found = plan_queries.my_plans(actor=request.actor, patient_id=patient.external_id)
    whose = _whose_query(request, patient)
    rows = [
        {
            "plan": plan,
            "url": _with_query(reverse("web:patient_plan", kwargs={"plan_id": plan.external_id}), whose),
            "clinic_name": plan.clinic.display_name(language),
            "active": plan.status == "active",
            "progress": _progress(progress),
        }
        for plan, progress in found
    ]
    context = _whose(request, patient, "patient_plans", people) | {"plans": rows}
    return render(request, "web/patient/plans.html", context)


@page(PLANS)
def patient_plan(request: HttpRequest, plan_id) -> HttpResponse:
    """One plan: its goal, doctor and progress, what to do now, then every step by item or by date."""
    return _plan_page(request, plan_id)


def _step_page(
    request: HttpRequest, plan_id, step_id, *, problem: str = "", status: int = 200
) -> HttpResponse:
    from shifa.directory.models import VisitType
    from shifa.tenancy.policies import licence_allows_bookings

    view, sv = plan_queries.my_step(actor=request.actor, plan_id=plan_id, step_id=step_id)
    context = _plan_context(request, view)
    row = _step_row(view, sv, own=context["own"], whose=context["whose"])
    plan = view.plan
    zone = plan.clinic.time_zone
    days = []
    if row["can_book"] and licence_allows_bookings(plan.clinic):
        slots = scheduling_queries.doctor_slots(
            clinic=plan.clinic,
            doctor=plan.doctor,
            visit_type=sv.step.visit_type or VisitType.OFFICE,
            first_day=max(view.today, sv.first_day),
            last_day=sv.last_day,
        )
        by_day: dict[dt.date, list] = {}
        for slot in slots:
            local = timezones.wall_clock(slot.starts_at, zone)
            by_day.setdefault(local.date(), []).append(
                {"starts_at": timezones.isoformat_z(slot.starts_at), "local": local}
            )
        days = [{"day": day, "slots": by_day[day]} for day in sorted(by_day)]
    context |= {"step": row, "days": days, "zone": zone, "problem": problem}
    return render(request, "web/patient/plan_step.html", context, status=status)


@page(PLANS)
def patient_plan_step(request: HttpRequest, plan_id, step_id) -> HttpResponse:
    """One step: for an appointment, the free times of the plan's doctor on the days it allows, each a button."""
    return _step_page(request, plan_id, step_id)


def _aware(raw: str) -> dt.datetime | None:
    try:
        value = dt.datetime.fromisoformat((raw or "").strip())
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


@page(PLANS, methods=("POST",))
@require_http_methods(["POST"])
def patient_plan_step_book(request: HttpRequest, plan_id, step_id) -> HttpResponse:
    """Hold the chosen time for the step; the patient then confirms it on the appointment's page."""
    view, sv = plan_queries.my_step(actor=request.actor, plan_id=plan_id, step_id=step_id)
    starts_at = _aware(request.POST.get("starts_at", ""))
    if sv.state == "booked" and sv.step.appointment_id and _own(request, view.plan.patient):
        # A second click (or a second tab): the step already has its appointment.
        if starts_at != sv.step.appointment.starts_at:
            messages.info(request, _("This step is already booked. Change or cancel the appointment here."))
        return redirect("web:patient_appointment", appointment_id=sv.step.appointment.external_id)
    if not _own(request, view.plan.patient):
        return _step_page(
            request,
            plan_id,
            step_id,
            problem=_("Call the clinic to book this appointment for your family member."),
            status=409,
        )
    if starts_at is None:
        return _step_page(request, plan_id, step_id, problem=_("Choose a time again."), status=400)
    try:
        appointment = plan_actions.step_book(
            actor=request.actor, plan_id=plan_id, step_id=step_id, starts_at=starts_at
        )
    except NotFound:
        raise
    except Conflict as exc:
        if exc.code == "step_booked":  # the other click of a double click won the race
            _view, again = plan_queries.my_step(actor=request.actor, plan_id=plan_id, step_id=step_id)
            if again.step.appointment_id:
                return redirect("web:patient_appointment", appointment_id=again.step.appointment.external_id)
        return _step_page(request, plan_id, step_id, problem=problem_text(exc), status=409)
    except Problem as exc:
        return _step_page(request, plan_id, step_id, problem=problem_text(exc), status=_status(exc))
    return redirect("web:patient_appointment", appointment_id=appointment.external_id)


@page(PLANS, methods=("POST",))
@require_http_methods(["POST"])
def patient_plan_step_done(request: HttpRequest, plan_id, step_id) -> HttpResponse:
    """Mark a task of the plan done (on a day its window allows)."""
    try:
        step = plan_actions.step_done(actor=request.actor, plan_id=plan_id, step_id=step_id)
    except NotFound:
        raise
    except Problem as exc:
        if exc.code != "step_done":  # already done: a second click
            return _plan_page(request, plan_id, problem=problem_text(exc), status=_status(exc))
        step = plan_queries.my_step(actor=request.actor, plan_id=plan_id, step_id=step_id)[1].step
    messages.success(request, _("Done: %(title)s.") % {"title": step.title})
    url = reverse("web:patient_plan", kwargs={"plan_id": plan_id})
    return redirect(_with_query(url, _whose_query(request, step.plan.patient)))


# --- medicines -------------------------------------------------------------------------------------------------

# Drawn 600 wide and shrunk to the screen (a phone halves it): the labels are large enough to stay readable.
CHART_WIDTH, CHART_HEIGHT = 600, 240
CHART_TOP, CHART_BOTTOM, CHART_SIDE = 30, 36, 30  # room for a date centred under the first and last bars
CHART_FONT = 18
STACK = (("taken", "#127a3e"), ("skipped", "#c27c0e"), ("missed", "#b42318"))


def adherence_chart(days: list, *, rtl: bool) -> dict:
    """Doses taken, skipped and missed day by day as stacked SVG bars (no script needed). Time runs in the reading
    direction: right to left in Arabic."""
    count = len(days) or 1
    slot = (CHART_WIDTH - 2 * CHART_SIDE) / count
    bar = round(slot * 0.7, 1)
    highest = max([d.taken + d.skipped + d.missed for d in days] + [1])
    scale = (CHART_HEIGHT - CHART_TOP - CHART_BOTTOM) / highest
    base = CHART_HEIGHT - CHART_BOTTOM
    bars = []
    for index, day in enumerate(days):
        position = count - 1 - index if rtl else index
        x = round(CHART_SIDE + position * slot + (slot - bar) / 2, 1)
        top, parts = float(base), []
        for status, colour in STACK:
            number = getattr(day, status)
            if number:
                height = number * scale
                top -= height
                parts.append(
                    {"status": status, "y": round(top, 1), "height": round(height, 1), "colour": colour}
                )
        bars.append(
            {
                "day": day.day,
                "x": x,
                "middle": round(x + bar / 2, 1),
                "parts": parts,
                "taken": day.taken,
                "skipped": day.skipped,
                "missed": day.missed,
                "percent": day.percent,
                "labelled": (count - 1 - index) % 7 == 0,  # today, and every week before it
            }
        )
    return {
        "bars": bars,
        "bar": bar,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "base": base,
        "label_y": CHART_HEIGHT - 10,
        "top_y": CHART_TOP,
        "font": CHART_FONT,
        "highest": highest,
        "first": days[0].day if days else None,
        "last": days[-1].day if days else None,
        "any": any(b["parts"] for b in bars),
    }


#: How far from today the day's doses may be looked at (a date beyond is a typing mistake, not a question).
DAYS_AROUND = dt.timedelta(days=3660)


def _day(request: HttpRequest) -> tuple[dt.date | None, bool]:
    """The day asked for (``?day=YYYY-MM-DD``; today when absent) and whether what was asked made sense."""
    raw = (request.GET.get("day") or request.POST.get("day") or "").strip()
    if not raw:
        return None, True
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        return None, False
    today = timezones.now().date()
    return (day, True) if today - DAYS_AROUND <= day <= today + DAYS_AROUND else (None, False)


def _medicines_page(request: HttpRequest, *, problem: str = "", status: int = 200) -> HttpResponse:
    day, understood = _day(request)
    if not understood:
        problem, status = _("Choose a day as year-month-day, for example 2026-01-28."), 400
    patient_id = _asked_patient(request)
    patient, zone, day, doses, _summary = adherence_queries.my_doses(
        actor=request.actor, patient_id=patient_id, day=day
    )
    found = adherence_queries.my_adherence(actor=request.actor, patient_id=patient.external_id)
    language = get_language()
    now = timezones.now()
    today = timezones.to_local(now, zone).date()
    whose = _whose_query(request, patient)
    rows = []
    for dose in doses:
        line = dose.schedule.prescription
        label, tone = DOSE_STATES.get(dose.status, (dose.get_status_display(), "muted"))
        rows.append(
            {
                "id": dose.external_id,
                "due_at": dose.due_at,
                "time": timezones.wall_clock(dose.due_at, zone),
                "name": line.medication.display_name(language),
                "strength": line.strength,
                "amount": f"{line.dose.normalize():f} {line.get_dose_unit_display()}",
                "status": dose.status,
                "label": label,
                "tone": tone,
                "answerable": now - adherence_actions.ANSWER_LATE
                <= dose.due_at
                <= now + adherence_actions.ANSWER_EARLY,
            }
        )
    schedules = [
        {
            "name": s.prescription.medication.display_name(language),
            "strength": s.prescription.strength,
            "text": prescription_text(s.prescription),
            "times": s.times,
            "clinic_name": s.clinic.display_name(language),
            "url": _with_query(
                reverse("web:patient_medicine_times", kwargs={"schedule_id": s.external_id}), whose
            ),
        }
        for s in found.schedules
    ]
    context = _whose(request, patient, "patient_medicines")
    context |= {
        "day": day,
        "today": today,
        "is_today": day == today,
        "previous_day": day - dt.timedelta(days=1),
        "next_day": day + dt.timedelta(days=1),
        "zone": zone,
        "doses": rows,
        "summary": found.summary,
        "chart": adherence_chart(found.days, rtl=get_language_bidi()),
        "table_days": [d for d in reversed(found.days) if d.taken or d.skipped or d.missed],
        "schedules": schedules,
        "problem": problem,
    }
    return render(request, "web/patient/medicines.html", context, status=status)


@page(DOSES)
def patient_medicines(request: HttpRequest) -> HttpResponse:
    """My (or a dependant's) doses of a day, each to mark taken or skipped; adherence over 30 days, day by day; the
    medicines being reminded, each with its times."""
    return _medicines_page(request)


@page(DOSES, methods=("POST",))
@require_http_methods(["POST"])
def patient_dose_answer(request: HttpRequest, dose_id) -> HttpResponse:
    """Mark a dose taken or skipped. Answering again keeps the latest answer (a double click changes nothing)."""
    answer = request.POST.get("status", "")
    try:
        dose = adherence_actions.dose_answer(actor=request.actor, dose_id=dose_id, status=answer)
    except NotFound:
        raise
    except Problem as exc:
        return _medicines_page(request, problem=problem_text(exc), status=_status(exc))
    line = dose.schedule.prescription
    words = {
        "name": line.medication.display_name(get_language()),
        "time": f"{timezones.to_local(dose.due_at, dose.schedule.zone):%H:%M}",
    }
    if answer == DoseStatus.TAKEN:
        messages.success(request, _("Marked as taken: %(name)s, %(time)s.") % words)
    else:
        messages.success(request, _("Marked as skipped: %(name)s, %(time)s.") % words)
    day, understood = _day(request)
    query = urlencode({"day": day.isoformat()}) if day and understood else ""
    url = _with_query(reverse("web:patient_medicines"), _whose_query(request, dose.patient), query)
    return redirect(f"{url}#dose-{dose.external_id}")


class TimesForm(forms.Form):
    """One time of day per dose."""

    def __init__(self, *args, count: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.count = count
        for index in range(count):
            self.fields[f"time_{index}"] = forms.TimeField(
                label=_("Dose %(number)d") % {"number": index + 1},
                input_formats=["%H:%M", "%H:%M:%S"],
                widget=forms.TimeInput({"type": "time", "dir": "ltr"}, format="%H:%M"),
            )

    def times(self) -> list[str]:
        return [self.cleaned_data[f"time_{i}"].strftime("%H:%M") for i in range(self.count)]


def _schedule_of(request: HttpRequest, schedule_id):
    """One of the medicines reminded to the person asked for (oneself or a dependant); 404 otherwise."""
    found = adherence_queries.my_adherence(actor=request.actor, patient_id=_asked_patient(request))
    for schedule in found.schedules:
        if schedule.external_id == schedule_id:
            return found.patient, schedule
    raise NotFound()


@page(DOSES, methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def patient_medicine_times(request: HttpRequest, schedule_id) -> HttpResponse:
    """Move the times of day of a medicine's reminders, within what the prescription allows."""
    patient, schedule = _schedule_of(request, schedule_id)
    count = len(schedule.times)
    status = 200
    if request.method == "POST":
        form = TimesForm(request.POST, count=count)
        status = 400
        if form.is_valid():
            try:
                moved = adherence_actions.schedule_times_set(
                    actor=request.actor, schedule_id=schedule_id, times=form.times()
                )
            except NotFound:
                raise
            except Problem as exc:
                fields = {f"times.{i}": f"time_{i}" for i in range(count)}
                status = _place(form, exc, fields)
            else:
                messages.success(
                    request,
                    _("The reminders of %(name)s are now at %(times)s.")
                    % {
                        "name": schedule.prescription.medication.display_name(get_language()),
                        "times": pgettext("between the parts of a list", ", ").join(moved.times),
                    },
                )
                return redirect(_with_query(reverse("web:patient_medicines"), _whose_query(request, patient)))
    else:
        form = TimesForm(
            count=count,
            initial={f"time_{i}": dt.time.fromisoformat(t) for i, t in enumerate(schedule.times)},
        )
    language = get_language()
    context = _whose(request, patient, "patient_medicines")
    context |= {
        "schedule": schedule,
        "name": schedule.prescription.medication.display_name(language),
        "text": prescription_text(schedule.prescription),
        "clinic_name": schedule.clinic.display_name(language),
        "form": form,
    }
    return render(request, "web/patient/medicine_times.html", context, status=status)


# --- readings and devices --------------------------------------------------------------------------------------


def _kinds() -> dict[str, VitalSignType]:
    return {k.code: k for k in VitalSignType.objects.filter(code__in=CHARTED, is_active=True)}


def _number(label) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=12,
        widget=forms.TextInput({"inputmode": "decimal", "dir": "ltr", "autocomplete": "off", "size": 6}),
    )


class _TakenAt(forms.Form):
    taken_at = forms.DateTimeField(
        label=gettext_lazy("When (leave empty for now)"),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput({"type": "datetime-local", "dir": "ltr"}, format="%Y-%m-%dT%H:%M"),
    )

    def when(self, zone: str) -> dt.datetime | None:
        """The time entered, read on the patient's clock."""
        value = self.cleaned_data.get("taken_at")
        if value is None:
            return None
        from django.utils import timezone

        wall = timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
        return timezones.local_datetime(wall.date(), wall.time(), zone)


class BloodPressureForm(_TakenAt):
    """Both numbers of one measurement (the two forms of the page need ids of their own)."""

    systolic = _number(gettext_lazy("Systolic (upper number, mmHg)"))
    diastolic = _number(gettext_lazy("Diastolic (lower number, mmHg)"))

    field_order = ["systolic", "diastolic", "taken_at"]
    FIELDS = {
        f"readings.{SYSTOLIC}": "systolic",
        f"readings.{DIASTOLIC}": "diastolic",
        "taken_at": "taken_at",
    }

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "bp_%s")
        super().__init__(*args, **kwargs)

    def readings(self) -> dict:
        return {SYSTOLIC: self.cleaned_data["systolic"], DIASTOLIC: self.cleaned_data["diastolic"]}


class SignForm(_TakenAt):
    sign = forms.ChoiceField(label=gettext_lazy("What you measured"))
    value = _number(gettext_lazy("Value"))

    field_order = ["sign", "value", "taken_at"]
    FIELDS = {**{f"readings.{code}": "value" for code in SINGLE_SIGNS}, "taken_at": "taken_at"}

    def __init__(self, *args, kinds: dict, **kwargs):
        kwargs.setdefault("auto_id", "sign_%s")
        super().__init__(*args, **kwargs)
        language = get_language()
        self.fields["sign"].choices = [
            (code, units.labelled(kinds[code].display_name(language), kinds[code].unit))
            for code in SINGLE_SIGNS
            if code in kinds
        ]

    def readings(self) -> dict:
        return {self.cleaned_data["sign"]: self.cleaned_data["value"]}


class DeviceForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind of device"), choices=[("", "—"), *DeviceKind.choices])
    name = forms.CharField(
        label=gettext_lazy("Name (optional)"),
        required=False,
        max_length=120,
        help_text=gettext_lazy("So that you can tell your devices apart, for example “Cuff in the kitchen”."),
    )


def _where(row) -> tuple[str, str]:
    source = getattr(row, "source", None)
    if source == ReadingSource.DEVICE:
        return "device", str(_("From a device"))
    if source == ReadingSource.PATIENT:
        return "home", str(_("At home"))
    return "clinic", str(_("At a clinic"))


def _charts(request: HttpRequest, patient, kinds: dict, zone: str) -> list[dict]:
    """Each sign over time (clinic and home readings together), home readings marked apart."""
    rtl = get_language_bidi()
    charts = []
    for code in CHARTED:
        if code not in kinds:
            continue
        _patient, rows = adherence_queries.my_readings(
            actor=request.actor, patient_id=patient.external_id, code=code
        )
        drawn = vital_chart(rows, kinds[code], zone)
        if not drawn:
            continue
        for point, row in zip(drawn["points"], rows, strict=True):
            if rtl:  # time runs in the reading direction: the latest reading on the left in Arabic
                point["x"] = round(drawn["width"] - point["x"], 1)
            point["x0"], point["y0"] = round(point["x"] - 5, 1), round(point["y"] - 5, 1)
            point["where"], point["where_text"] = _where(row)
            point["home"] = point["where"] != "clinic"
            point["taken_at"] = row.taken_at
        drawn["polyline"] = " ".join(f"{p['x']},{p['y']}" for p in drawn["points"])
        drawn["first"] = drawn["points"][0]
        drawn["recent"] = list(reversed(drawn["points"][-10:]))
        drawn["homes"] = sum(1 for p in drawn["points"] if p["home"])
        charts.append(drawn)
    return charts


def _device_row(device, zone: str) -> dict:
    return {
        "d": device,
        "active": device.status == DeviceStatus.ACTIVE,
        "last_seen": timezones.wall_clock(device.last_seen_at, zone) if device.last_seen_at else None,
    }


def _readings_page(
    request: HttpRequest,
    patient,
    people=None,
    *,
    bp_form=None,
    sign_form=None,
    device_form=None,
    registered: dict | None = None,
    status: int = 200,
) -> HttpResponse:
    kinds = _kinds()
    zone = adherence_actions.patient_zone(patient)
    _patient, devices = adherence_queries.my_devices(actor=request.actor, patient_id=patient.external_id)
    asked = request.GET.get("sign", "")  # from a reading task of a care plan: the sign to record
    if bp_form is None:
        bp_form = BloodPressureForm()
        if asked in (SYSTOLIC, DIASTOLIC):
            bp_form.fields["systolic"].widget.attrs["autofocus"] = True
    if sign_form is None:
        sign_form = SignForm(kinds=kinds, initial={"sign": asked} if asked in SINGLE_SIGNS else None)
        if asked in SINGLE_SIGNS:
            sign_form.fields["value"].widget.attrs["autofocus"] = True
    context = _whose(request, patient, "patient_readings", people)
    context |= {
        "bp_form": bp_form,
        "sign_form": sign_form,
        "device_form": device_form or DeviceForm(),
        "charts": _charts(request, patient, kinds, zone),
        "zone": zone,
        "devices": [_device_row(d, zone) for d in devices],
        "registered": registered,
        "once": _token(),
    }
    response = render(request, "web/patient/readings.html", context, status=status)
    if registered is not None:
        response["Cache-Control"] = "no-store"  # the device's secret is on this page
    return response


@page(VITALS)
def patient_readings(request: HttpRequest) -> HttpResponse:
    """Record a reading taken at home; each sign over time; the devices that send readings."""
    patient, people = _person(request)
    return _readings_page(request, patient, people)


@page(VITALS, methods=("POST",))
@require_http_methods(["POST"])
def patient_readings_record(request: HttpRequest) -> HttpResponse:
    """Record blood pressure (both numbers) or one other sign, now or at a time given."""
    patient, people = _person(request)
    kinds = _kinds()
    blood_pressure = request.POST.get("sign") == "bp"
    form = BloodPressureForm(request.POST) if blood_pressure else SignForm(request.POST, kinds=kinds)
    status = 400
    if form.is_valid():
        zone = adherence_actions.patient_zone(patient)

        def run():
            rows = adherence_actions.readings_record(
                actor=request.actor,
                patient_id=patient.external_id,
                readings=form.readings(),
                taken_at=form.when(zone),
            )
            return 201, {"items": [str(r.external_id) for r in rows]}

        try:
            _once(request, "readings", run)
        except NotFound:
            raise
        except Problem as exc:
            status = _place(form, exc, form.FIELDS)
        else:
            if blood_pressure:
                messages.success(
                    request,
                    _("Blood pressure saved: %(systolic)s/%(diastolic)s mmHg.")
                    % {
                        "systolic": form.cleaned_data["systolic"],
                        "diastolic": form.cleaned_data["diastolic"],
                    },
                )
            else:
                kind = kinds[form.cleaned_data["sign"]]
                messages.success(
                    request,
                    _("%(name)s saved: %(value)s %(unit)s.")
                    % {
                        "name": kind.display_name(get_language()),
                        "value": form.cleaned_data["value"],
                        "unit": units.symbol(kind.unit),
                    },
                )
            return redirect(_with_query(reverse("web:patient_readings"), _whose_query(request, patient)))
    given = {"bp_form": form} if blood_pressure else {"sign_form": form}
    return _readings_page(request, patient, people, status=status, **given)


def _connection(request: HttpRequest, device) -> dict:
    """How the device sends: its MQTT topics and its HTTPS address (as ``shifa.adherence.api.device_out``)."""
    channel = "doses" if device.kind == DeviceKind.PILL_BOX else "readings"
    return {
        "topic": f"devices/{device.external_id}/{channel}",
        "replies": f"devices/{device.external_id}/replies",
        "url": request.build_absolute_uri(f"/api/v1/devices/{device.external_id}/{channel}"),
        "header": "X-Device-Secret",
        "channel": channel,
    }


@page(VITALS, methods=("POST",))
@require_http_methods(["POST"])
def patient_device_register(request: HttpRequest) -> HttpResponse:
    """Register a device: its secret is on the answer, and only there."""
    patient, people = _person(request)
    form = DeviceForm(request.POST)
    status = 400
    if form.is_valid():
        made: dict = {}

        def run():
            device, secret = adherence_actions.device_register(
                actor=request.actor,
                patient_id=patient.external_id,
                kind=form.cleaned_data["kind"],
                name=form.cleaned_data["name"],
            )
            made["device"], made["secret"] = device, secret
            return 201, {"device_id": str(device.external_id)}

        try:
            _code, answer = _once(request, "device", run)
        except NotFound:
            raise
        except Problem as exc:
            status = _place(form, exc, {"kind": "kind", "name": "name"})
        else:
            device = made.get("device")
            if device is None:  # the same form sent twice: registered once, by the first
                _patient, devices = adherence_queries.my_devices(
                    actor=request.actor, patient_id=patient.external_id
                )
                device = next((d for d in devices if str(d.external_id) == answer["device_id"]), None)
            if device is None:
                raise NotFound()
            registered = {"device": device, "secret": made.get("secret"), **_connection(request, device)}
            return _readings_page(request, patient, people, registered=registered)
    return _readings_page(request, patient, people, device_form=form, status=status)


@page(VITALS, methods=("POST",))
@require_http_methods(["POST"])
def patient_device_remove(request: HttpRequest, device_id) -> HttpResponse:
    """Remove a device: its secret stops working at once; what it sent stays in the record."""
    device = adherence_actions.device_revoke(actor=request.actor, device_id=device_id)
    messages.success(
        request, _("%(name)s is removed. It can no longer send readings.") % {"name": device.name}
    )
    url = _with_query(reverse("web:patient_readings"), _whose_query(request, device.patient))
    return redirect(f"{url}#devices")


urlpatterns = [
    path("app/plans", patient_plans, name="patient_plans"),
    path("app/plans/<uuid:plan_id>", patient_plan, name="patient_plan"),
    path("app/plans/<uuid:plan_id>/steps/<uuid:step_id>", patient_plan_step, name="patient_plan_step"),
    path(
        "app/plans/<uuid:plan_id>/steps/<uuid:step_id>/book",
        patient_plan_step_book,
        name="patient_plan_step_book",
    ),
    path(
        "app/plans/<uuid:plan_id>/steps/<uuid:step_id>/done",
        patient_plan_step_done,
        name="patient_plan_step_done",
    ),
    path("app/medicines", patient_medicines, name="patient_medicines"),
    path("app/medicines/doses/<uuid:dose_id>", patient_dose_answer, name="patient_dose_answer"),
    path("app/medicines/<uuid:schedule_id>/times", patient_medicine_times, name="patient_medicine_times"),
    path("app/readings", patient_readings, name="patient_readings"),
    path("app/readings/record", patient_readings_record, name="patient_readings_record"),
    path("app/readings/devices", patient_device_register, name="patient_device_register"),
    path("app/readings/devices/<uuid:device_id>/remove", patient_device_remove, name="patient_device_remove"),
]

"""The clinic's side of care (CP-1 … CP-4): care plans and their templates, missed steps, alerts; and what the
patient's chart shows of them (the patient's plans, medication adherence, stopping a medicine's reminders).
Every write goes through ``shifa.careplans.actions`` or ``shifa.adherence.actions``; every read through their
queries."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from shifa.access.declare import page
from shifa.access.policies import has_permission
from shifa.adherence import actions as adherence_actions
from shifa.adherence import queries as adherence_queries
from shifa.careplans import actions as plan_actions
from shifa.careplans import items as plan_items
from shifa.careplans import queries as plan_queries
from shifa.careplans.models import PlanStatus, StepKind, TaskKind
from shifa.catalog.models import VitalSignType
from shifa.core import timezones
from shifa.core.errors import Conflict, NotFound, Problem
from shifa.directory.models import VisitType

from .account_views import problem_text
from .clinic_views import _render


def _can(request, permission: str) -> bool:
    actor = request.actor
    return has_permission(actor.roles, permission, actor.clinic)


def _status(problem: Problem) -> int:
    return problem.status if problem.status in {409, 429, 503} else 400


# --- the item rows of a plan or a template -----------------------------------------------------------------------

#: Rows shown for a new plan or template; "More rows" adds a few more, up to what a plan may hold.
ROWS, MORE_ROWS = 6, 3
NUMBERS = ("count", "every_days", "first_in_days", "window_days")
#: Signs a plan can set its own alert limits for (LOINC), in the order the form shows them.
THRESHOLD_SIGNS = ("8480-6", "8462-4", "8867-4", "59408-5", "8310-5", "2339-0", "41653-7", "29463-7")


def _vital_kinds() -> list[VitalSignType]:
    return list(VitalSignType.objects.filter(is_active=True).order_by("position", "code"))


def _number(label, top: int, low: int = 0) -> forms.CharField:
    # Text, not IntegerField: the action checks the numbers and names the row and column of each problem.
    return forms.CharField(
        label=label,
        required=False,
        max_length=6,
        widget=forms.NumberInput({"min": low, "max": top, "inputmode": "numeric", "dir": "ltr"}),
    )


def _what_choices() -> list:
    """What a row is, in one choice: an appointment of a visit type, or a kind of task."""
    return [
        (StepKind.VISIT.label, [(f"visit:{value}", label) for value, label in VisitType.choices]),
        (StepKind.TASK.label, [(f"task:{value}", label) for value, label in TaskKind.choices]),
    ]


class ItemRow(forms.Form):
    """One item of a plan: a series of appointments or tasks. A row left empty is not an item."""

    what = forms.ChoiceField(label=gettext_lazy("Appointment or task"), initial="visit:office")
    title = forms.CharField(label=gettext_lazy("Title"), required=False, max_length=200)
    vital_code = forms.ChoiceField(label=gettext_lazy("Vital sign (for a reading)"), required=False)
    count = _number(gettext_lazy("How many"), plan_items.MAX_STEPS_PER_ITEM, 1)
    every_days = _number(gettext_lazy("Every N days"), plan_items.MAX_EVERY_DAYS, 1)
    first_in_days = _number(gettext_lazy("First in N days"), plan_items.MAX_FIRST_IN_DAYS)
    window_days = _number(gettext_lazy("Days allowed around"), plan_items.MAX_WINDOW_DAYS)
    service_id = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)

    #: The item's keys that the ``what`` choice stands for (their errors are shown on it).
    WHAT_KEYS = ("kind", "visit_type", "task")

    def __init__(self, *args, vitals=(), number: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        language = get_language()
        self.number = number
        self.fields["what"].choices = _what_choices()
        self.fields["vital_code"].choices = [("", "—"), *((v.code, v.display_name(language)) for v in vitals)]
        for field in self.fields.values():
            # The rows are a table: each input is named by its column and row for screen readers.
            if field.label:
                field.widget.attrs["aria-label"] = f"{field.label} ({number})"
        self.fields["title"].widget.attrs["dir"] = "auto"

    def is_blank(self) -> bool:
        """Nothing typed or chosen beyond the selects' defaults."""
        typed = ("title", "vital_code", *NUMBERS)
        return not any(str(self.data.get(self.add_prefix(name), "")).strip() for name in typed)

    def item(self) -> dict:
        """The row as an item for ``shifa.careplans``: only what was filled in (the rest takes its defaults)."""
        data = self.cleaned_data
        kind, _colon, sort = data["what"].partition(":")
        item = {"kind": kind, "title": data["title"]}
        for name in NUMBERS:
            if data[name].strip():
                item[name] = data[name].strip()
        if kind == StepKind.TASK:
            item["task"] = sort
            if sort == TaskKind.VITAL:
                item["vital_code"] = data["vital_code"]
        else:
            item["visit_type"] = sort
            if data["service_id"]:
                item["service_id"] = data["service_id"]
        return item


def _row_count(request, initial_items) -> int:
    if request.method == "POST":
        sent = sum(1 for i in range(plan_items.MAX_ITEMS) if f"item-{i}-what" in request.POST)
        wanted = sent + (MORE_ROWS if "more_rows" in request.POST else 0)
    else:
        wanted = len(initial_items) + 1
    return min(max(wanted, ROWS), plan_items.MAX_ITEMS)


def _rows(request, initial_items=(), vitals=None) -> list[ItemRow]:
    vitals = _vital_kinds() if vitals is None else vitals
    initial_items = list(initial_items)
    data = request.POST if request.method == "POST" else None
    rows = []
    for index in range(_row_count(request, initial_items)):
        initial = initial_items[index] if index < len(initial_items) else None
        rows.append(
            ItemRow(
                data,
                prefix=f"item-{index}",
                vitals=vitals,
                number=index + 1,
                initial=_row_initial(initial) if initial else None,
            )
        )
    return rows


def _row_initial(item: dict) -> dict:
    if item.get("kind") == StepKind.TASK:
        what = f"task:{item.get('task') or TaskKind.OTHER}"
    else:
        what = f"visit:{item.get('visit_type') or VisitType.OFFICE}"
    return {
        "what": what,
        "title": item.get("title", ""),
        "vital_code": item.get("vital_code", ""),
        "service_id": item.get("service_id", ""),
        **{name: item[name] for name in NUMBERS if item.get(name) is not None},
    }


def _items_of(rows: list[ItemRow]) -> tuple[list[dict], list[int], bool]:
    """The filled rows as items, the index of the row each came from, and whether every filled row is valid."""
    items, kept, valid = [], [], True
    for index, row in enumerate(rows):
        if row.is_blank():
            continue
        if not row.is_valid():
            valid = False
            continue
        items.append(row.item())
        kept.append(index)
    return items, kept, valid


class ThresholdsForm(forms.Form):
    """The plan's own alert limits: a low and a high value for some vital signs; empty means the normal range."""

    def __init__(self, *args, kinds=(), **kwargs):
        super().__init__(*args, prefix="th", **kwargs)
        self.signs = []
        for kind in kinds:
            pair = []
            for end, label in (("low", _("Alert below")), ("high", _("Alert above"))):
                name = f"{end}_{kind.code}"
                self.fields[name] = forms.CharField(
                    label=f"{kind.display_name(get_language())} · {label}",
                    required=False,
                    max_length=12,
                    widget=forms.TextInput(
                        {
                            "inputmode": "decimal",
                            "dir": "ltr",
                            "size": 6,
                            "placeholder": _decimal(kind.normal_low if end == "low" else kind.normal_high),
                        }
                    ),
                )
                pair.append(self[name])
            self.signs.append(
                {"kind": kind, "name": kind.display_name(get_language()), "low": pair[0], "high": pair[1]}
            )

    def thresholds(self) -> dict:
        limits = {}
        for sign in self.signs:
            code = sign["kind"].code
            values = {
                end: self.cleaned_data[f"{end}_{code}"].strip()
                for end in ("low", "high")
                if self.cleaned_data[f"{end}_{code}"].strip()
            }
            if values:
                limits[code] = values
        return limits


def _decimal(value) -> str:
    return f"{value.normalize():f}" if value is not None else ""


def _threshold_kinds(vitals) -> list[VitalSignType]:
    found = {v.code: v for v in vitals}
    return [found[code] for code in THRESHOLD_SIGNS if code in found]


def _place(problem: Problem, form, rows, kept, *, thresholds=None, renamed=None) -> list[str]:
    """Put an action's field errors next to their inputs: ``items.2.count`` on the count of the third filled row,
    ``thresholds.8480-6.high`` on that limit; the errors about the items as a whole are returned."""
    about_items = []
    renamed = renamed or {}
    for error in problem.errors:
        parts = error.field.split(".")
        name = renamed.get(error.field, error.field)
        if parts[0] == "items" and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < len(kept):
            row = rows[kept[int(parts[1])]]
            column = parts[2] if len(parts) > 2 else None
            column = "what" if column in ItemRow.WHAT_KEYS else column
            visible = column in row.fields and not row.fields[column].widget.is_hidden
            row.add_error(column if visible else None, error.message)
        elif parts[0] == "items":
            about_items.append(str(error.message))
        elif parts[0] == "thresholds" and thresholds is not None and len(parts) > 1:
            field = f"{parts[2] if len(parts) > 2 else 'low'}_{parts[1]}"
            thresholds.add_error(field if field in thresholds.fields else None, error.message)
        elif name in form.fields and not form.fields[name].widget.is_hidden:
            form.add_error(name, error.message)
        else:
            form.add_error(None, error.message)
    if not problem.errors:
        form.add_error(None, problem.detail)
    return about_items


def _once(request, run) -> dict:
    """Do a form's write once per form: the page carries a token, and a second click of the same form (or a
    browser resending it) gets the first answer back instead of writing again."""
    from shifa.core.actions import fingerprint_of, idempotent_call

    token = request.POST.get("once", "").strip()
    sent = sorted(
        (key, value)
        for key, values in request.POST.lists()
        if key not in {"csrfmiddlewaretoken", "once"}
        for value in values
    )
    body = "\n".join(f"{key}={value}" for key, value in sent).encode()
    try:
        return idempotent_call(
            user=request.user,
            key=f"page:{token}" if token else None,
            fingerprint=fingerprint_of("POST", request.path, body),
            run=lambda: (201, run()),
        )[1]
    except Conflict as exc:
        if exc.code != "idempotency_key_reused":
            raise
        # The form was sent and saved, then changed and sent again (e.g. after going back): the page comes back
        # with a new token, so that sending it once more saves it as a new one.
        request.fresh_form_token = True
        raise Conflict(
            _(
                "This form was already saved once. Check what was saved, or send the form again to save it anew."
            ),
            code="form_already_sent",
        ) from None


def _token(request) -> str:
    sent = request.POST.get("once", "") if request.method == "POST" else ""
    if getattr(request, "fresh_form_token", False) or not (sent and len(sent) <= 64 and sent.isalnum()):
        return uuid.uuid4().hex
    return sent


# --- care plans -----------------------------------------------------------------------------------------------------


PLAN_FILTERS = (PlanStatus.ACTIVE, PlanStatus.COMPLETED, PlanStatus.STOPPED)


@page("records.view_chart")
def clinic_plans(request: HttpRequest, clinic_id) -> HttpResponse:
    """The clinic's care plans (active ones unless asked) with progress; first the steps missed in the last 30
    days, the care team's list of patients to call."""
    actor = request.actor
    shown = request.GET.get("status", PlanStatus.ACTIVE)
    if shown not in PLAN_FILTERS and shown != "all":
        shown = PlanStatus.ACTIVE
    language = get_language()
    missed = [
        {"step": step, "patient_name": step.plan.patient.display_name(language)}
        for step in plan_queries.missed_steps(actor=actor)
    ]
    return _render(
        request,
        "web/clinic/plans.html",
        "plans",
        plans=[
            {"plan": plan, "progress": progress, "patient_name": plan.patient.display_name(language)}
            for plan, progress in plan_queries.clinic_plans(
                actor=actor, status=None if shown == "all" else shown
            )
        ],
        missed=missed,
        shown=shown,
        filters=[(s.value, s.label) for s in PLAN_FILTERS],
    )


def _plan_page(request, plan_id, *, stop_form=None, status: int = 200) -> HttpResponse:
    actor = request.actor
    view = plan_queries.clinic_plan(actor=actor, plan_id=plan_id)
    plan = view.plan
    zone = actor.clinic.time_zone
    kinds = {v.code: v for v in _vital_kinds()}
    language = get_language()
    thresholds = [
        {
            "kind": kinds.get(code),
            "code": code,
            "name": kinds[code].display_name(language) if code in kinds else code,
            "low": limits.get("low", ""),
            "high": limits.get("high", ""),
        }
        for code, limits in (plan.thresholds or {}).items()
    ]
    steps = [
        {
            "view": s,
            "step": s.step,
            "appointment": s.step.appointment if s.step.appointment_id else None,
            "appointment_at": timezones.wall_clock(s.step.appointment.starts_at, zone)
            if s.step.appointment_id
            else None,
            "vital": s.step.vital_kind.display_name(language) if s.step.vital_kind_id else "",
        }
        for s in view.steps
    ]
    return _render(
        request,
        "web/clinic/plan.html",
        "plans",
        view=view,
        plan=plan,
        patient_name=plan.patient.display_name(language),
        steps=steps,
        thresholds=thresholds,
        ended_at=timezones.wall_clock(plan.ended_at, zone) if plan.ended_at else None,
        can_manage=_can(request, "careplans.manage"),
        stop_form=stop_form or StopPlanForm(),
        language=language,
        status=status,
    )


class StopPlanForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Why is the plan stopped?"),
        required=False,
        max_length=300,
        widget=forms.TextInput({"size": 40}),
    )


@page("records.view_chart")
def clinic_plan(request: HttpRequest, clinic_id, plan_id) -> HttpResponse:
    return _plan_page(request, plan_id)


@page("careplans.manage", methods=("POST",))
@require_http_methods(["POST"])
def clinic_plan_stop(request: HttpRequest, clinic_id, plan_id) -> HttpResponse:
    """Stop a plan: its steps still to do are cancelled (appointments already booked stay booked)."""
    form = StopPlanForm(request.POST)
    if not form.is_valid():
        return _plan_page(request, plan_id, stop_form=form, status=400)
    try:
        plan_actions.plan_stop(actor=request.actor, plan_id=plan_id, reason=form.cleaned_data["reason"])
    except NotFound:
        raise
    except Problem as exc:
        _place(exc, form, [], [])
        return _plan_page(request, plan_id, stop_form=form, status=_status(exc))
    messages.success(request, _("The plan is stopped; its steps still to do are cancelled."))
    return redirect("web:clinic_plan", clinic_id=clinic_id, plan_id=plan_id)


class PlanForm(forms.Form):
    template_id = forms.UUIDField(required=False, widget=forms.HiddenInput)
    title = forms.CharField(label=gettext_lazy("Title"), required=False, max_length=200)
    goal = forms.CharField(
        label=gettext_lazy("Goal"), required=False, max_length=2000, widget=forms.Textarea({"rows": 2})
    )
    starts_on = forms.DateField(
        label=gettext_lazy("Starts on"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    doctor_id = forms.ChoiceField(label=gettext_lazy("Responsible doctor"), required=False)

    def __init__(self, *args, doctors=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["doctor_id"].choices = [("", "—"), *((str(d.external_id), d.full_name) for d in doctors)]


def _new_plan_page(
    request, patient_id, *, form=None, rows=None, thresholds=None, item_errors=(), status: int = 200
) -> HttpResponse:
    from shifa.directory import queries as directory_queries
    from shifa.records.policies import chart_access

    actor = request.actor
    patient = chart_access(actor, patient_id).patient  # 404 unless the patient is the clinic's
    templates = plan_queries.templates(actor=actor)
    vitals = _vital_kinds()
    chosen = None
    if form is None:
        wanted = request.GET.get("template", "")
        chosen = next((t for t in templates if str(t.external_id) == wanted), None)
        doctors = [row["doctor"] for row in directory_queries.clinic_doctors(actor=actor)]
        today = timezones.to_local(timezones.now(), actor.clinic.time_zone).date()
        form = PlanForm(
            doctors=doctors,
            initial={
                "template_id": chosen.external_id if chosen else None,
                "title": chosen.name if chosen else "",
                "goal": chosen.goal if chosen else "",
                "starts_on": today,
                "doctor_id": str(actor.user.external_id) if actor.user in doctors else "",
            },
        )
        rows = _rows(request, chosen.items if chosen else (), vitals)
    else:
        chosen_id = str(form.cleaned_data.get("template_id") or "") if hasattr(form, "cleaned_data") else ""
        chosen = next((t for t in templates if str(t.external_id) == chosen_id), None)
    return _render(
        request,
        "web/clinic/plan_new.html",
        "plans",
        form=form,
        rows=rows,
        thresholds=thresholds or ThresholdsForm(kinds=_threshold_kinds(vitals)),
        item_errors=item_errors,
        templates=templates,
        chosen=chosen,
        patient=patient,
        patient_name=patient.display_name(get_language()),
        once=_token(request),
        status=status,
    )


@page("careplans.manage", methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def clinic_plan_new(request: HttpRequest, clinic_id, patient_id) -> HttpResponse:
    """A doctor makes a care plan for a patient: from one of the clinic's templates (its items filled in, to
    change at will) or from scratch, with the plan's own alert limits if any."""
    from shifa.directory import queries as directory_queries

    if request.method == "GET":
        return _new_plan_page(request, patient_id)
    actor = request.actor
    vitals = _vital_kinds()
    doctors = [row["doctor"] for row in directory_queries.clinic_doctors(actor=actor)]
    form = PlanForm(request.POST, doctors=doctors)
    rows = _rows(request, vitals=vitals)
    thresholds = ThresholdsForm(request.POST, kinds=_threshold_kinds(vitals))
    page_valid = form.is_valid() & thresholds.is_valid()
    items, kept, rows_valid = _items_of(rows)

    def again(status: int, item_errors=()) -> HttpResponse:
        return _new_plan_page(
            request,
            patient_id,
            form=form,
            rows=rows,
            thresholds=thresholds,
            item_errors=item_errors,
            status=status,
        )

    if "more_rows" in request.POST:
        return again(200)
    if not (page_valid and rows_valid):
        return again(400)
    data = form.cleaned_data
    template_id = data["template_id"]

    def create() -> dict:
        plan = plan_actions.plan_create(
            actor=actor,
            patient_id=patient_id,
            title=data["title"],
            goal=data["goal"],
            items=items if items or template_id is None else None,
            template_id=template_id,
            starts_on=data["starts_on"],
            doctor_id=data["doctor_id"] or None,
            thresholds=thresholds.thresholds() or None,
        )
        return {"plan_id": str(plan.external_id)}

    try:
        made = _once(request, create)
    except NotFound:
        raise
    except Problem as exc:
        item_errors = _place(exc, form, rows, kept, thresholds=thresholds, renamed={"doctor": "doctor_id"})
        return again(_status(exc), item_errors)
    messages.success(request, _("The care plan is made; the patient is told."))
    return redirect("web:clinic_plan", clinic_id=clinic_id, plan_id=made["plan_id"])


# --- templates ----------------------------------------------------------------------------------------------------


def _describe(item: dict, vitals: dict) -> str:
    """One item in words: "Physiotherapy session · Appointment at the clinic · 10 times, every 7 days"."""
    language = get_language()
    if item.get("kind") == StepKind.TASK:
        kind = TaskKind(item["task"]).label if item.get("task") in TaskKind.values else _("Task")
        code = item.get("vital_code")
        if code:
            kind = f"{kind}: {vitals[code].display_name(language) if code in vitals else code}"
    else:
        visit_type = item.get("visit_type") or VisitType.OFFICE
        kind = VisitType(visit_type).label if visit_type in VisitType.values else visit_type
    count = int(item.get("count") or 1)
    every = int(item.get("every_days") or 1)
    if count > 1:
        when = ngettext("%(count)s time", "%(count)s times", count) % {"count": count}
        when += ", " + ngettext("every day", "every %(days)s days", every) % {"days": every}
    else:
        when = _("once")
    first = int(item.get("first_in_days") or 0)
    if first:
        when += " · " + ngettext("first after %(days)s day", "first after %(days)s days", first) % {
            "days": first
        }
    return f"{item.get('title', '')} · {kind} · {when}"


@page("records.view_chart")
def clinic_plan_templates(request: HttpRequest, clinic_id) -> HttpResponse:
    """The clinic's care plan templates and what each holds."""
    vitals = {v.code: v for v in _vital_kinds()}
    rows = [
        {"template": t, "items": [_describe(item, vitals) for item in t.items]}
        for t in plan_queries.templates(actor=request.actor)
    ]
    return _render(
        request,
        "web/clinic/plan_templates.html",
        "plans",
        templates=rows,
        can_manage=_can(request, "careplans.manage"),
    )


class TemplateForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), required=False, max_length=200)
    goal = forms.CharField(
        label=gettext_lazy("Goal"), required=False, max_length=2000, widget=forms.Textarea({"rows": 2})
    )


def _template_page(
    request, *, template=None, form=None, rows=None, item_errors=(), status: int = 200
) -> HttpResponse:
    if form is None:
        form = TemplateForm(initial={"name": template.name, "goal": template.goal} if template else None)
        rows = _rows(request, template.items if template else ())
    return _render(
        request,
        "web/clinic/plan_template.html",
        "plans",
        plan_template=template,
        form=form,
        rows=rows,
        item_errors=item_errors,
        once=_token(request),
        status=status,
    )


def _template_save(request, clinic_id, template=None) -> HttpResponse:
    form = TemplateForm(request.POST)
    rows = _rows(request)
    page_valid = form.is_valid()
    items, kept, rows_valid = _items_of(rows)

    def again(status: int, item_errors=()) -> HttpResponse:
        return _template_page(
            request, template=template, form=form, rows=rows, item_errors=item_errors, status=status
        )

    if "more_rows" in request.POST:
        return again(200)
    if not (page_valid and rows_valid):
        return again(400)

    def save() -> dict:
        saved = plan_actions.template_save(
            actor=request.actor,
            name=form.cleaned_data["name"],
            goal=form.cleaned_data["goal"],
            items=items,
            template_id=template.external_id if template else None,
        )
        return {"template_id": str(saved.external_id)}

    try:
        _once(request, save)
    except NotFound:
        raise
    except Problem as exc:
        return again(_status(exc), _place(exc, form, rows, kept))
    messages.success(request, _("The template is saved."))
    return redirect("web:clinic_plan_templates", clinic_id=clinic_id)


@page("careplans.manage", methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def clinic_plan_template_new(request: HttpRequest, clinic_id) -> HttpResponse:
    if request.method == "GET":
        return _template_page(request)
    return _template_save(request, clinic_id)


@page("careplans.manage", methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def clinic_plan_template(request: HttpRequest, clinic_id, template_id) -> HttpResponse:
    """Change a template; plans already made from it stay as they are."""
    template = plan_queries.template(actor=request.actor, template_id=template_id)
    if request.method == "GET":
        return _template_page(request, template=template)
    return _template_save(request, clinic_id, template)


@page("careplans.manage", methods=("POST",))
@require_http_methods(["POST"])
def clinic_plan_template_retire(request: HttpRequest, clinic_id, template_id) -> HttpResponse:
    """Take a template out of use; plans made from it are not touched."""
    template = plan_actions.template_retire(actor=request.actor, template_id=template_id)
    messages.success(request, _("“%(name)s” is no longer offered for new plans.") % {"name": template.name})
    return redirect("web:clinic_plan_templates", clinic_id=clinic_id)


# --- alerts -------------------------------------------------------------------------------------------------------


@page("records.view_chart")
def clinic_alerts(request: HttpRequest, clinic_id) -> HttpResponse:
    """Home readings of the clinic's care plan patients outside their limits, newest first; acknowledged ones on
    request."""
    actor = request.actor
    show_all = request.GET.get("all") == "1"
    zone = actor.clinic.time_zone
    language = get_language()
    alerts = [
        {
            "alert": a,
            "reading": a.reading,
            "patient_name": a.patient.display_name(language),
            "sign": a.reading.kind.display_name(language),
            "value": _decimal(a.reading.value),
            "low": _decimal(a.low),
            "high": _decimal(a.high),
            "taken": timezones.wall_clock(a.reading.taken_at, zone),
            "acknowledged": timezones.wall_clock(a.acknowledged_at, zone) if a.acknowledged_at else None,
        }
        for a in adherence_queries.clinic_alerts(actor=actor, open_only=not show_all)
    ]
    return _render(
        request,
        "web/clinic/alerts.html",
        "alerts",
        alerts=alerts,
        show_all=show_all,
        can_acknowledge=_can(request, "records.record_vitals"),
    )


@page("records.record_vitals", methods=("POST",))
@require_http_methods(["POST"])
def clinic_alert_acknowledge(request: HttpRequest, clinic_id, alert_id) -> HttpResponse:
    """Someone of the care team has seen the alert and acted on it (a second click changes nothing)."""
    adherence_actions.alert_acknowledge(actor=request.actor, alert_id=alert_id)
    messages.success(request, _("Alert acknowledged."))
    url = reverse("web:clinic_alerts", kwargs={"clinic_id": clinic_id})
    return redirect(f"{url}?all=1" if request.POST.get("all") == "1" else url)


# --- the patient's chart ------------------------------------------------------------------------------------------


class StopRemindersForm(forms.Form):
    patient_id = forms.UUIDField(required=False, widget=forms.HiddenInput)
    # No length limit here: the action keeps the first 300 characters rather than refusing a long reason.
    reason = forms.CharField(label=gettext_lazy("Why are the reminders stopped?"), required=False)


@page("records.commit_visit", methods=("POST",))
@require_http_methods(["POST"])
def clinic_prescription_stop(request: HttpRequest, clinic_id, prescription_id) -> HttpResponse:
    """The doctor stops a committed prescription line's reminders; the doses still to come are cancelled."""
    form = StopRemindersForm(request.POST)
    form.is_valid()
    patient_id = form.cleaned_data.get("patient_id")
    back = (
        reverse("web:clinic_patient", kwargs={"clinic_id": clinic_id, "patient_id": patient_id})
        if patient_id
        else reverse("web:clinic_visits", kwargs={"clinic_id": clinic_id})
    )
    try:
        stopped = adherence_actions.prescription_stop(
            actor=request.actor, prescription_id=prescription_id, reason=form.cleaned_data.get("reason", "")
        )
    except NotFound:
        raise
    except Problem as exc:
        messages.error(request, problem_text(exc))
        return redirect(f"{back}#adherence-heading")
    if stopped:
        messages.success(
            request, _("The reminders of this medicine are stopped; doses still to come are cancelled.")
        )
    else:
        messages.info(request, _("This medicine had no reminders running."))
    return redirect(f"{back}#adherence-heading")


ADHERENCE_WIDTH, ADHERENCE_HEIGHT, ADHERENCE_PAD = 560, 120, 20
TAKEN, SKIPPED, MISSED = "#15803d", "#d97706", "#b91c1c"


def adherence_chart(days: list) -> dict:
    """Doses taken, skipped and missed day by day as stacked SVG bars (no script needed)."""
    tallest = max((d.taken + d.skipped + d.missed for d in days), default=0) or 1
    slot = (ADHERENCE_WIDTH - 2 * ADHERENCE_PAD) / max(len(days), 1)
    usable = ADHERENCE_HEIGHT - 2 * ADHERENCE_PAD
    bars = []
    for index, day in enumerate(days):
        bottom = ADHERENCE_HEIGHT - ADHERENCE_PAD
        parts = []
        for count, colour, name in (
            (day.taken, TAKEN, "taken"),
            (day.skipped, SKIPPED, "skipped"),
            (day.missed, MISSED, "missed"),
        ):
            if count:
                height = round(count / tallest * usable, 1)
                bottom = round(bottom - height, 1)
                parts.append({"y": bottom, "height": height, "fill": colour, "name": name})
        bars.append(
            {
                "day": day,
                "x": round(ADHERENCE_PAD + index * slot + slot * 0.15, 1),
                "width": round(slot * 0.7, 1),
                "parts": parts,
            }
        )
    return {
        "bars": bars,
        "width": ADHERENCE_WIDTH,
        "height": ADHERENCE_HEIGHT,
        "baseline": ADHERENCE_HEIGHT - ADHERENCE_PAD,
        "tallest": tallest,
        "first": days[0].day if days else None,
        "last": days[-1].day if days else None,
        "colours": {"taken": TAKEN, "skipped": SKIPPED, "missed": MISSED},
    }


def tracked_codes(plans) -> list[str]:
    """The vital signs the patient's active plans follow (reading tasks and alert limits), to chart them even when
    the clinic never measured them."""
    codes: list[str] = []
    for plan, _progress in plans:
        if plan.status != PlanStatus.ACTIVE:
            continue
        wanted = [i.get("vital_code") for i in plan.items or [] if i.get("vital_code")]
        for code in [*wanted, *(plan.thresholds or {})]:
            if code not in codes:
                codes.append(code)
    return codes


def mark_home_points(drawn: dict, series: list) -> dict:
    """Say which points of a vital chart were taken at home (by the patient or a device)."""
    for point, row in zip(drawn["points"], series, strict=True):
        point["source"] = getattr(row, "source", "")
        point["home"] = bool(point["source"])
    drawn["has_home"] = any(p["home"] for p in drawn["points"])
    return drawn


def chart_care(request, patient_id) -> dict:
    """The care plan and adherence sections of the patient's chart."""
    actor = request.actor
    language = get_language()
    plans = plan_queries.clinic_plans(actor=actor, patient_id=patient_id)
    found = adherence_queries.patient_adherence(actor=actor, patient_id=patient_id)
    can_stop = _can(request, "records.commit_visit")
    from shifa.records.schemas import prescription_text

    return {
        "care_plans": [{"plan": p, "progress": progress} for p, progress in plans],
        "can_manage_plans": _can(request, "careplans.manage"),
        "adherence": found,
        "adherence_chart": adherence_chart(found.days),
        "reminded": [
            {
                "schedule": s,
                "line": s.prescription,
                "name": s.prescription.medication.display_name(language),
                "text": prescription_text(s.prescription),
                "clinic_name": s.clinic.display_name(language),
                "can_stop": can_stop and s.clinic_id == actor.clinic.pk,
            }
            for s in found.schedules
        ],
        "tracked_codes": tracked_codes(plans),
    }


urlpatterns = [
    path("clinic/<uuid:clinic_id>/plans", clinic_plans, name="clinic_plans"),
    path("clinic/<uuid:clinic_id>/plans/<uuid:plan_id>", clinic_plan, name="clinic_plan"),
    path("clinic/<uuid:clinic_id>/plans/<uuid:plan_id>/stop", clinic_plan_stop, name="clinic_plan_stop"),
    path(
        "clinic/<uuid:clinic_id>/patients/<uuid:patient_id>/plans/new",
        clinic_plan_new,
        name="clinic_plan_new",
    ),
    path("clinic/<uuid:clinic_id>/plan-templates", clinic_plan_templates, name="clinic_plan_templates"),
    path(
        "clinic/<uuid:clinic_id>/plan-templates/new",
        clinic_plan_template_new,
        name="clinic_plan_template_new",
    ),
    path(
        "clinic/<uuid:clinic_id>/plan-templates/<uuid:template_id>",
        clinic_plan_template,
        name="clinic_plan_template",
    ),
    path(
        "clinic/<uuid:clinic_id>/plan-templates/<uuid:template_id>/retire",
        clinic_plan_template_retire,
        name="clinic_plan_template_retire",
    ),
    path("clinic/<uuid:clinic_id>/alerts", clinic_alerts, name="clinic_alerts"),
    path(
        "clinic/<uuid:clinic_id>/alerts/<uuid:alert_id>/acknowledge",
        clinic_alert_acknowledge,
        name="clinic_alert_acknowledge",
    ),
    path(
        "clinic/<uuid:clinic_id>/prescriptions/<uuid:prescription_id>/stop",
        clinic_prescription_stop,
        name="clinic_prescription_stop",
    ),
]

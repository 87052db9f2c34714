"""The clinic console's clinical pages: the doctor's day list, the visit screen (fast keyboard entry of diagnoses
and prescriptions, vitals and triage, orders and results, referrals, sick leave, commit and amendments, printing),
and the patient's chart with its timeline and vitals charts. Every save goes through ``shifa.records.actions``;
every read through ``shifa.records.queries`` (which writes the read log)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from shifa.access.declare import page
from shifa.access.policies import has_permission
from shifa.catalog.models import Diagnosis, ImagingStudy, LabTest, Medication, VitalSignType
from shifa.core import timezones, units
from shifa.core.errors import NotFound, Problem
from shifa.integrations.hakeem import queries as hakeem_queries
from shifa.records import actions, queries
from shifa.records.models import (
    DoseUnit,
    Frequency,
    MealTiming,
    Order,
    Prescription,
    Referral,
    Route,
    SickLeave,
    Triage,
    Urgency,
    VisitDiagnosis,
)
from shifa.records.schemas import prescription_text

from .account_views import problem_text, show_problem
from .clinic_views import _render


def _can(request, permission: str) -> bool:
    actor = request.actor
    return has_permission(actor.roles, permission, actor.clinic)


# --- forms --------------------------------------------------------------------------------------------------------


class NotesForm(forms.Form):
    complaint = forms.CharField(
        label=gettext_lazy("Complaint"), required=False, max_length=20000, widget=forms.Textarea({"rows": 2})
    )
    notes = forms.CharField(
        label=gettext_lazy("Notes"), required=False, max_length=20000, widget=forms.Textarea({"rows": 5})
    )


class AmendmentReasonForm(forms.Form):
    amendment_reason = forms.CharField(label=gettext_lazy("Reason for the amendment"), max_length=2000)


class DiagnosisForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Diagnosis: ICD-9-CM code or words"),
        max_length=120,
        widget=forms.TextInput({"list": "diagnosis-codes", "autocomplete": "off", "dir": "auto"}),
        help_text=gettext_lazy("Type a code (401.9) and press Enter, or words to choose from the matches"),
    )
    primary = forms.BooleanField(label=gettext_lazy("Primary diagnosis"), required=False)
    plain_words = forms.CharField(
        label=gettext_lazy("In plain words for the patient"), required=False, max_length=500
    )


def _facilities() -> list[tuple[str, str]]:
    """The Hakeem facilities a third-party order may go to, in the reader's language."""
    from django.utils.translation import get_language

    from shifa.catalog.models import Facility

    language = get_language()
    return [("", "—")] + [
        (f.code, f.display_name(language))
        for f in Facility.objects.filter(is_active=True).order_by("name_en")
    ]


def _facility_field() -> forms.ChoiceField:
    return forms.ChoiceField(
        label=gettext_lazy("Fulfilled at (Hakeem facility)"),
        choices=_facilities,
        required=False,
        help_text=gettext_lazy(
            "Leave empty unless a public facility on Hakeem is to fill it (a third-party order)"
        ),
    )


class PrescriptionForm(forms.Form):
    medication = forms.CharField(
        label=gettext_lazy("Medication"),
        max_length=80,
        widget=forms.TextInput({"list": "medications", "autocomplete": "off", "dir": "ltr"}),
    )
    strength = forms.CharField(
        label=gettext_lazy("Strength"), max_length=60, widget=forms.TextInput({"dir": "ltr"})
    )
    dose = forms.DecimalField(
        label=gettext_lazy("Dose"), max_digits=7, decimal_places=2, min_value=Decimal("0.01")
    )
    dose_unit = forms.ChoiceField(label=gettext_lazy("Unit"), choices=DoseUnit.choices)
    route = forms.ChoiceField(label=gettext_lazy("Route"), choices=Route.choices, initial=Route.ORAL)
    frequency = forms.ChoiceField(label=gettext_lazy("How often"), choices=Frequency.choices)
    timing = forms.ChoiceField(label=gettext_lazy("Meals"), choices=MealTiming.choices, required=False)
    duration_days = forms.IntegerField(
        label=gettext_lazy("Days"), required=False, min_value=1, max_value=3650
    )
    instructions = forms.CharField(label=gettext_lazy("Instructions"), required=False, max_length=1000)
    facility = _facility_field()


class OrderForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Order"),
        choices=[("lab", gettext_lazy("Lab test")), ("imaging", gettext_lazy("Imaging"))],
    )
    test = forms.CharField(
        label=gettext_lazy("Test or study"),
        max_length=60,
        widget=forms.TextInput({"list": "tests", "autocomplete": "off", "dir": "ltr"}),
    )
    urgency = forms.ChoiceField(label=gettext_lazy("Urgency"), choices=Urgency.choices)
    note = forms.CharField(label=gettext_lazy("Note"), required=False, max_length=1000)
    facility = _facility_field()


class ReferralForm(forms.Form):
    specialty = forms.ChoiceField(label=gettext_lazy("Specialty"), required=False)
    to_clinic_id = forms.ChoiceField(label=gettext_lazy("To clinic"), required=False)
    urgency = forms.ChoiceField(label=gettext_lazy("Urgency"), choices=Urgency.choices)
    reason = forms.CharField(
        label=gettext_lazy("Reason"), max_length=2000, widget=forms.Textarea({"rows": 2})
    )

    def __init__(self, *args, specialties=(), clinics=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["specialty"].choices = [("", "—"), *specialties]
        self.fields["to_clinic_id"].choices = [("", "—"), *clinics]


class SickLeaveForm(forms.Form):
    starts_on = forms.DateField(label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"}))
    days = forms.IntegerField(label=gettext_lazy("Days"), min_value=1, max_value=90)
    note = forms.CharField(label=gettext_lazy("Note"), required=False, max_length=1000)


class TriageForm(forms.Form):
    triage = forms.ChoiceField(label=gettext_lazy("Triage"), choices=Triage.choices, required=False)
    note = forms.CharField(label=gettext_lazy("Triage note"), required=False, max_length=2000)


class VitalsForm(forms.Form):
    def __init__(self, *args, kinds=(), **kwargs):
        super().__init__(*args, **kwargs)
        for kind in kinds:
            self.fields[f"v_{kind.code}"] = forms.CharField(
                label=units.labelled(kind.display_name(get_language()), kind.unit),
                required=False,
                max_length=12,
                widget=forms.TextInput({"inputmode": "decimal", "dir": "ltr", "size": 6}),
            )

    def readings(self) -> dict:
        return {name[2:]: value for name, value in self.cleaned_data.items() if str(value).strip()}


class ResultForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Value"), required=False, max_length=120)
    value = forms.CharField(
        label=gettext_lazy("Result"), required=False, max_length=60, widget=forms.TextInput({"dir": "ltr"})
    )
    unit = forms.CharField(
        label=gettext_lazy("Unit"), required=False, max_length=20, widget=forms.TextInput({"dir": "ltr"})
    )
    low = forms.CharField(
        label=gettext_lazy("Normal from"),
        required=False,
        max_length=20,
        widget=forms.TextInput({"dir": "ltr"}),
    )
    high = forms.CharField(
        label=gettext_lazy("Normal up to"),
        required=False,
        max_length=20,
        widget=forms.TextInput({"dir": "ltr"}),
    )
    summary = forms.CharField(
        label=gettext_lazy("Report"), required=False, max_length=10000, widget=forms.Textarea({"rows": 2})
    )
    file = forms.FileField(label=gettext_lazy("Report file (PDF, JPEG or PNG)"), required=False)


class AmendForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Why is the visit amended?"), max_length=2000)


# --- the day list -------------------------------------------------------------------------------------------------


def _today(clinic) -> dt.date:
    return timezones.to_local(timezones.now(), clinic.time_zone).date()


@page("records.view_chart")
def clinic_visits(request: HttpRequest, clinic_id) -> HttpResponse:
    """The day's patients: appointments with their visits, walk-ins; a search to open a walk-in visit."""
    from shifa.directory import queries as directory_queries

    actor = request.actor
    clinic = actor.clinic
    try:
        day = dt.date.fromisoformat(request.GET.get("day", "")) if request.GET.get("day") else _today(clinic)
    except ValueError:
        day = _today(clinic)
    doctors = [row["doctor"] for row in directory_queries.clinic_doctors(actor=actor)]
    chosen = request.GET.get("doctor")
    if chosen is None and actor.user in doctors:
        chosen = str(actor.user.external_id)
    doctor = next((d for d in doctors if str(d.external_id) == chosen), None)
    rows = queries.doctor_day(actor=actor, day=day, doctor=doctor)
    for row in rows:
        row["local"] = timezones.wall_clock(row["at"], clinic.time_zone)
    query = request.GET.get("q", "").strip()
    found = queries.patient_search(actor=actor, query=query) if query else []
    return _render(
        request,
        "web/clinic/visits.html",
        "visits",
        day=day,
        previous_day=day - dt.timedelta(days=1),
        next_day=day + dt.timedelta(days=1),
        today=_today(clinic),
        doctors=doctors,
        chosen=chosen or "",
        rows=rows,
        query=query,
        found=found,
        can_open=_can(request, "records.record_vitals"),
    )


@page("records.record_vitals", methods=("POST",))
@require_http_methods(["POST"])
def clinic_visit_open(request: HttpRequest, clinic_id) -> HttpResponse:
    """Open (or go back to) the visit of an appointment, or a walk-in visit of a patient."""
    try:
        visit = actions.visit_open(
            actor=request.actor,
            appointment_id=request.POST.get("appointment_id") or None,
            patient_id=request.POST.get("patient_id") or None,
            doctor_id=request.POST.get("doctor_id") or None,
        )
    except Problem as exc:
        messages.error(request, problem_text(exc))
        return redirect(reverse("web:clinic_visits", kwargs={"clinic_id": clinic_id}))
    return redirect(_visit_url(clinic_id, visit.external_id))


def _visit_url(clinic_id, visit_id, focus: str = "") -> str:
    url = reverse("web:clinic_visit", kwargs={"clinic_id": clinic_id, "visit_id": visit_id})
    return f"{url}?focus={focus}" if focus else url


# --- the visit screen ---------------------------------------------------------------------------------------------


def _referral_choices(request):
    from shifa.catalog.models import Specialty
    from shifa.tenancy.models import Clinic, ClinicStatus

    language = get_language()
    specialties = [(s.code, s.display_name(language)) for s in Specialty.objects.order_by("name_en")]
    clinics = [
        (str(c.external_id), c.display_name(language))
        for c in Clinic.objects.filter(status=ClinicStatus.ACTIVE).order_by("name_en")[:500]
    ]
    return {"specialties": specialties, "clinics": clinics}


def _vital_kinds():
    return list(VitalSignType.objects.filter(is_active=True).order_by("position", "code"))


def _visit_page(request, visit_id, *, forms_given: dict | None = None, candidates=(), status: int = 200):
    actor = request.actor
    record = queries.clinic_visit(actor=actor, visit_id=visit_id)
    visit = record.visit
    zone = visit.clinic.time_zone
    language = get_language()
    own = visit.clinic_id == actor.clinic.pk
    writable = own and not visit.is_committed
    given = forms_given or {}
    kinds = _vital_kinds()
    frequent = (
        VisitDiagnosis.objects.for_clinic(actor.clinic)
        .values_list("diagnosis__display_code", "diagnosis__title")
        .distinct()[:40]
    )
    focus = request.GET.get("focus", "")
    diagnosis_form = given.get("diagnosis") or DiagnosisForm()
    prescription_form = given.get("prescription") or PrescriptionForm(
        initial={"dose": 1, "dose_unit": DoseUnit.TABLET, "frequency": Frequency.TWICE_DAILY}
    )
    # Fast keyboard entry: after adding a diagnosis or a line, the cursor is back in the same box.
    if focus == "diagnosis":
        diagnosis_form.fields["code"].widget.attrs["autofocus"] = True
    elif focus == "prescription":
        prescription_form.fields["medication"].widget.attrs["autofocus"] = True
    return _render(
        request,
        "web/clinic/visit.html",
        "visits",
        record=record,
        visit=visit,
        zone=zone,
        started=timezones.wall_clock(visit.started_at, zone),
        committed_at=timezones.wall_clock(visit.committed_at, zone) if visit.committed_at else None,
        own=own,
        writable=writable,
        can_write=writable and _can(request, "records.document_visit"),
        can_vitals=writable and _can(request, "records.record_vitals"),
        can_commit=own and _can(request, "records.commit_visit") and "doctor" in actor.roles,
        can_results=own and _can(request, "records.record_results"),
        can_print=own and visit.is_committed and _can(request, "records.document_visit"),
        hakeem_sync=hakeem_queries.visit_sync(actor=actor, visit=visit),
        lines=[{"line": p, "text": prescription_text(p)} for p in record.prescriptions],
        vitals_shown=[{"vital": v, "taken": timezones.wall_clock(v.taken_at, zone)} for v in record.vitals],
        documents=queries.visit_documents(actor=actor, visit_id=visit.external_id) if own else [],
        notes_form=given.get("notes")
        or NotesForm(initial={"complaint": visit.complaint, "notes": visit.notes}),
        reason_form=given.get("reason")
        or AmendmentReasonForm(initial={"amendment_reason": visit.amendment_reason}),
        allergies=queries.visit_allergies(actor=actor, visit=visit),
        diagnosis_form=diagnosis_form,
        prescription_form=prescription_form,
        order_form=given.get("order") or OrderForm(),
        referral_form=given.get("referral") or ReferralForm(**_referral_choices(request)),
        sick_leave_form=given.get("sick_leave")
        or SickLeaveForm(initial={"starts_on": timezones.to_local(visit.started_at, zone).date(), "days": 1}),
        triage_form=given.get("triage")
        or TriageForm(initial={"triage": visit.triage, "note": visit.triage_note}),
        vitals_form=given.get("vitals") or VitalsForm(kinds=kinds),
        amend_form=given.get("amend") or AmendForm(),
        result_form=ResultForm(),
        candidates=candidates,
        frequent_diagnoses=frequent,
        medications=Medication.objects.filter(is_active=True)
        .order_by("name_en")
        .values_list("code", "name_en", "name_ar"),
        tests=[
            *LabTest.objects.filter(is_active=True).order_by("name_en").values_list("code", "name_en"),
            *ImagingStudy.objects.filter(is_active=True).order_by("name_en").values_list("code", "name_en"),
        ],
        focus=focus,
        language=language,
        status=status,
    )


@page("records.view_chart")
def clinic_visit(request: HttpRequest, clinic_id, visit_id) -> HttpResponse:
    return _visit_page(request, visit_id)


def _done(request, clinic_id, visit_id, focus: str = "") -> HttpResponse:
    messages.success(request, _("Saved."))
    return redirect(_visit_url(clinic_id, visit_id, focus))


def _add_diagnosis(request, visit_id, form) -> list:
    """A code is added at once; words show the matching codes to choose from (one key press each)."""
    from shifa.catalog.queries import diagnosis_search

    typed = form.cleaned_data["code"].strip()
    code = typed.split(" ")[0].upper().replace(".", "")
    if not Diagnosis.objects.filter(code=code, is_active=True).exists():
        matches = diagnosis_search(typed, limit=12)
        if len(matches) != 1:
            if not matches:
                form.add_error("code", _("No ICD-9-CM code matches these words."))
            return matches or [None]
        code = matches[0].code
    actions.diagnosis_add(
        actor=request.actor,
        visit_id=visit_id,
        code=code,
        rank="primary" if form.cleaned_data["primary"] else "secondary",
        plain_words=form.cleaned_data["plain_words"],
    )
    return []


def _add_prescription(request, visit_id, form) -> list:
    data = dict(form.cleaned_data)
    data["medication"] = data["medication"].strip().split(" ")[0]
    data["dose"] = str(data["dose"])
    actions.prescription_add(actor=request.actor, visit_id=visit_id, data=data)
    return []


def _add_order(request, visit_id, form) -> list:
    data = dict(form.cleaned_data)
    data["test"] = data["test"].strip().split(" ")[0]
    actions.order_add(actor=request.actor, visit_id=visit_id, **data)
    return []


def _add_referral(request, visit_id, form) -> list:
    data = form.cleaned_data
    actions.referral_add(
        actor=request.actor,
        visit_id=visit_id,
        reason=data["reason"],
        to_clinic_id=data["to_clinic_id"] or None,
        specialty=data["specialty"] or None,
        urgency=data["urgency"],
    )
    return []


def _save_notes(request, visit_id, form) -> list:
    actions.visit_update(actor=request.actor, visit_id=visit_id, changes=form.cleaned_data)
    return []


def _save_reason(request, visit_id, form) -> list:
    actions.visit_amendment_reason_set(
        actor=request.actor, visit_id=visit_id, reason=form.cleaned_data["amendment_reason"]
    )
    return []


def _set_sick_leave(request, visit_id, form) -> list:
    actions.sick_leave_set(actor=request.actor, visit_id=visit_id, **form.cleaned_data)
    return []


#: step → (the page's name for its form, how to build the form from the request, what saving it does)
FORM_STEPS = {
    "notes": ("notes", lambda r: NotesForm(r.POST), _save_notes),
    "amendment_reason": ("reason", lambda r: AmendmentReasonForm(r.POST), _save_reason),
    "diagnosis": ("diagnosis", lambda r: DiagnosisForm(r.POST), _add_diagnosis),
    "prescription": ("prescription", lambda r: PrescriptionForm(r.POST), _add_prescription),
    "order": ("order", lambda r: OrderForm(r.POST), _add_order),
    "referral": ("referral", lambda r: ReferralForm(r.POST, **_referral_choices(r)), _add_referral),
    "sick_leave": ("sick_leave", lambda r: SickLeaveForm(r.POST), _set_sick_leave),
}

REMOVABLE = {
    "diagnosis": VisitDiagnosis,
    "prescription": Prescription,
    "order": Order,
    "referral": Referral,
    "sick_leave": SickLeave,
}


@page("records.document_visit", methods=("POST",))
@require_http_methods(["POST"])
def clinic_visit_write(request: HttpRequest, clinic_id, visit_id) -> HttpResponse:
    """The doctor's writing, one step per form: notes, a diagnosis, a prescription line, an order, a referral, sick
    leave, taking one of them out again, printing a document, or throwing away an empty visit."""
    actor = request.actor
    step = request.POST.get("step", "")
    if step in FORM_STEPS:
        key, build, apply = FORM_STEPS[step]
        form = build(request)
        if not form.is_valid():
            return _visit_page(request, visit_id, forms_given={key: form}, status=400)
        try:
            candidates = apply(request, visit_id, form)
        except NotFound:
            raise
        except Problem as exc:
            status = show_problem(form, exc)
            return _visit_page(request, visit_id, forms_given={key: form}, status=status)
        if candidates:
            choices = [c for c in candidates if c is not None]
            return _visit_page(
                request, visit_id, forms_given={key: form}, candidates=choices, status=200 if choices else 400
            )
        return _done(request, clinic_id, visit_id, step if step in {"diagnosis", "prescription"} else "")
    try:
        if step.startswith("remove_") and step[7:] in REMOVABLE:
            actions.visit_part_remove(
                actor=actor,
                model=REMOVABLE[step[7:]],
                part_id=request.POST.get("item", ""),
                visit_id=visit_id,
            )
        elif step == "document":
            document = actions.visit_document_request(
                actor=actor,
                visit_id=visit_id,
                kind=request.POST.get("kind", ""),
                language=request.POST.get("language", ""),
            )
            messages.success(request, _("The document is being prepared: it appears below when it is ready."))
            return redirect(f"{_visit_url(clinic_id, visit_id)}#doc-{document.external_id}")
        elif step == "discard":
            actions.visit_discard(actor=actor, visit_id=visit_id)
            messages.success(request, _("The visit was thrown away."))
            return redirect(reverse("web:clinic_visits", kwargs={"clinic_id": clinic_id}))
        else:
            return _visit_page(request, visit_id, status=400)
    except NotFound:
        raise
    except Problem as exc:
        messages.error(request, problem_text(exc))
        return redirect(_visit_url(clinic_id, visit_id))
    return _done(request, clinic_id, visit_id)


@page("records.record_vitals", methods=("POST",))
@require_http_methods(["POST"])
def clinic_visit_vitals(request: HttpRequest, clinic_id, visit_id) -> HttpResponse:
    """Vital signs and triage, by the nurse or the doctor."""
    actor = request.actor
    step = request.POST.get("step", "")
    try:
        if step == "vitals":
            form = VitalsForm(request.POST, kinds=_vital_kinds())
            form.is_valid()
            try:
                actions.vitals_record(actor=actor, visit_id=visit_id, readings=form.readings())
            except Problem as exc:
                for error in exc.errors:
                    name = "v_" + error.field.removeprefix("readings.")
                    form.add_error(name if name in form.fields else None, error.message)
                return _visit_page(
                    request,
                    visit_id,
                    forms_given={"vitals": form},
                    status=exc.status if exc.status == 409 else 400,
                )
        elif step == "triage":
            form = TriageForm(request.POST)
            if not form.is_valid():
                return _visit_page(request, visit_id, forms_given={"triage": form}, status=400)
            actions.visit_triage(
                actor=actor,
                visit_id=visit_id,
                triage=form.cleaned_data["triage"],
                note=form.cleaned_data["note"],
            )
        else:
            raise NotFound()
    except NotFound:
        raise
    except Problem as exc:
        messages.error(request, problem_text(exc))
        return redirect(_visit_url(clinic_id, visit_id))
    return _done(request, clinic_id, visit_id)


@page("records.commit_visit", methods=("POST",))
@require_http_methods(["POST"])
def clinic_visit_commit(request: HttpRequest, clinic_id, visit_id) -> HttpResponse:
    """Commit the visit, or start an amendment of a committed one."""
    actor = request.actor
    step = request.POST.get("step", "")
    try:
        if step == "commit":
            actions.visit_commit(actor=actor, visit_id=visit_id)
            messages.success(request, _("The visit is committed: it can no longer be changed, only amended."))
            return redirect(_visit_url(clinic_id, visit_id))
        if step == "amend":
            form = AmendForm(request.POST)
            if not form.is_valid():
                return _visit_page(request, visit_id, forms_given={"amend": form}, status=400)
            amendment = actions.visit_amend(
                actor=actor, visit_id=visit_id, reason=form.cleaned_data["reason"]
            )
            messages.success(request, _("Correct the copy below, then commit it."))
            return redirect(_visit_url(clinic_id, amendment.external_id))
        raise NotFound()
    except NotFound:
        raise
    except Problem as exc:
        messages.error(request, problem_text(exc))
        return redirect(_visit_url(clinic_id, visit_id))


@page("records.record_results", methods=("POST",))
@require_http_methods(["POST"])
def clinic_order_result(request: HttpRequest, clinic_id, order_id) -> HttpResponse:
    """Attach a result to an order: one value with its range, a report, a file — any of them."""
    actor = request.actor
    order = (
        Order.objects.for_clinic(actor.clinic).select_related("visit").filter(external_id=order_id).first()
    )
    if order is None:
        raise NotFound()
    form = ResultForm(request.POST, request.FILES)
    back = _visit_url(clinic_id, order.visit.external_id)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect(back)
    data = form.cleaned_data
    values = []
    if data["name"] or data["value"]:
        values.append({k: data[k] for k in ("name", "value", "unit", "low", "high") if data[k]})
    try:
        actions.result_record(
            actor=actor, order_id=order_id, values=values, summary=data["summary"], upload=data["file"]
        )
    except Problem as exc:
        messages.error(request, problem_text(exc))
        return redirect(back)
    messages.success(request, _("The result is attached."))
    return redirect(back)


@page("records.view_chart")
def clinic_result_file(request: HttpRequest, clinic_id, result_id) -> HttpResponse:
    from shifa.records.api import _file_response

    return _file_response(queries.result_file(actor=request.actor, result_id=result_id))


# --- the chart ----------------------------------------------------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 560, 160, 28


def vital_chart(readings: list, kind, zone: str) -> dict | None:
    """One vital sign over time as an SVG polyline (no script needed), with the normal range shaded."""
    if not readings:
        return None
    values = [r.value for r in readings]
    low = min([*values, *(x for x in (kind.normal_low,) if x is not None)])
    high = max([*values, *(x for x in (kind.normal_high,) if x is not None)])
    if high == low:
        high = low + 1
    times = [r.taken_at.timestamp() for r in readings]
    first, last = min(times), max(times)
    span = (last - first) or 1.0

    def x(t: float) -> float:
        return round(CHART_PAD + (t - first) / span * (CHART_WIDTH - 2 * CHART_PAD), 1)

    def y(v) -> float:
        return round(
            CHART_HEIGHT - CHART_PAD - float((v - low) / (high - low)) * (CHART_HEIGHT - 2 * CHART_PAD), 1
        )

    points = [
        {
            "x": x(t) if len(readings) > 1 else CHART_WIDTH / 2,
            "y": y(r.value),
            "value": f"{r.value:.{kind.decimals}f}",
            "when": timezones.wall_clock(r.taken_at, zone),
            "flag": bool(kind.flag_for(r.value)),
        }
        for t, r in zip(times, readings, strict=True)
    ]
    band = None
    if kind.normal_low is not None and kind.normal_high is not None:
        top, bottom = y(kind.normal_high), y(kind.normal_low)
        band = {"y": top, "height": round(bottom - top, 1)}
    return {
        "kind": kind,
        "name": kind.display_name(get_language()),
        "points": points,
        "polyline": " ".join(f"{p['x']},{p['y']}" for p in points),
        "band": band,
        "latest": points[-1],
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "low": f"{low:.{kind.decimals}f}",
        "high": f"{high:.{kind.decimals}f}",
    }


CHARTED = ("8480-6", "8462-4", "8867-4", "29463-7", "8310-5", "59408-5", "2339-0")


@page("records.view_chart")
def clinic_patient(request: HttpRequest, clinic_id, patient_id) -> HttpResponse:
    """The patient's chart: identity, allergies, conditions, medicines, immunizations, vitals charts, and the
    timeline of visits (every clinic's, while the patient shares their record with this one)."""
    from .clinic_care_views import chart_care, mark_home_points

    actor = request.actor
    chart = queries.chart(
        actor=actor, patient_id=patient_id, cursor=request.GET.get("cursor") or None, limit=30
    )
    care = chart_care(request, patient_id)
    zone = actor.clinic.time_zone
    charts = []
    measured = [v.kind.code for v in chart.latest_vitals if v.kind.code in CHARTED]
    # Also the signs the patient's care plans follow: readings taken at home chart them before any clinic does.
    for code in [*measured, *(c for c in care["tracked_codes"] if c not in measured)]:
        series = queries.vital_series(actor=actor, patient_id=patient_id, code=code, limit=60)
        drawn = vital_chart(series, series[-1].kind, zone) if series else None
        if drawn:
            charts.append(mark_home_points(drawn, series))
    timeline = [
        {
            "visit": v,
            "started": timezones.wall_clock(v.started_at, v.clinic.time_zone),
            "amendments": chart.amendments.get(v.pk, []),
            "diagnoses": list(
                (
                    next((a for a in reversed(chart.amendments.get(v.pk, [])) if a.is_committed), None) or v
                ).diagnoses.all()
            ),
        }
        for v in chart.timeline.items
    ]
    return _render(
        request,
        "web/clinic/chart.html",
        "visits",
        chart=chart,
        patient=chart.patient,
        timeline=timeline,
        charts=charts,
        lines=[{"line": p, "text": prescription_text(p)} for p in chart.current_prescriptions],
        zone=zone,
        language=get_language(),
        can_open=_can(request, "records.record_vitals"),
        **care,
    )


urlpatterns = [
    path("clinic/<uuid:clinic_id>/visits", clinic_visits, name="clinic_visits"),
    path("clinic/<uuid:clinic_id>/visits/open", clinic_visit_open, name="clinic_visit_open"),
    path("clinic/<uuid:clinic_id>/visits/<uuid:visit_id>", clinic_visit, name="clinic_visit"),
    path(
        "clinic/<uuid:clinic_id>/visits/<uuid:visit_id>/write", clinic_visit_write, name="clinic_visit_write"
    ),
    path(
        "clinic/<uuid:clinic_id>/visits/<uuid:visit_id>/vitals",
        clinic_visit_vitals,
        name="clinic_visit_vitals",
    ),
    path(
        "clinic/<uuid:clinic_id>/visits/<uuid:visit_id>/commit",
        clinic_visit_commit,
        name="clinic_visit_commit",
    ),
    path(
        "clinic/<uuid:clinic_id>/orders/<uuid:order_id>/result",
        clinic_order_result,
        name="clinic_order_result",
    ),
    path(
        "clinic/<uuid:clinic_id>/results/<uuid:result_id>/file", clinic_result_file, name="clinic_result_file"
    ),
    path("clinic/<uuid:clinic_id>/patients/<uuid:patient_id>", clinic_patient, name="clinic_patient"),
]

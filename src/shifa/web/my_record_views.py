"""The patient's record in the app (EHR-6, ID-5): my record and my dependants', my visits with their diagnoses in
plain words, prescriptions, results and documents, who read my record, the clinics I share it with, and my family.
Thin: the same queries and actions as the patient's API (``shifa.records.patient_api``)."""

from __future__ import annotations

import datetime as dt
import uuid

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from shifa.access.catalog import role_spec
from shifa.access.declare import page
from shifa.core import timezones
from shifa.core.errors import NotFound, Problem
from shifa.records import actions, queries
from shifa.records.models import Relation, Sex
from shifa.records.schemas import prescription_text

from .account_views import show_problem

VIEW = "records.view_own"
MANAGE = "records.manage_own"
VISITS_PER_PAGE = 20
READS_PER_PAGE = 30

DOCUMENT_KINDS = {
    "prescription": gettext_lazy("Prescription"),
    "referral": gettext_lazy("Referral letter"),
    "sick_leave": gettext_lazy("Sick leave"),
    "lab_order": gettext_lazy("Order sheet"),
}
READ_WHAT = {
    "chart": gettext_lazy("The record summary"),
    "visit": gettext_lazy("A visit"),
    "result": gettext_lazy("A result"),
    "document": gettext_lazy("A document"),
}


# --- whose record ----------------------------------------------------------------------------------------------


def _patient_id(request: HttpRequest) -> uuid.UUID | None:
    """The ``patient`` asked for (one's own record when absent); 404 for something that is not an id."""
    raw = (request.GET.get("patient") or "").strip()
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound() from None


def _whose(request: HttpRequest, patient, page_name: str) -> dict:
    """The switcher (me and my dependants, each a link to the page ``page_name``) and the query string that keeps
    a dependant's record open."""
    language = get_language()
    own = patient.user_id == request.actor.user.pk
    people = [
        {
            "name": p.display_name(language),
            "me": p.user_id == request.actor.user.pk,
            "current": p.pk == patient.pk,
            "query": "" if p.user_id == request.actor.user.pk else urlencode({"patient": p.external_id}),
        }
        for p in queries.my_patients(actor=request.actor)
    ]
    return {
        "patient": patient,
        "patient_name": patient.display_name(language),
        "own": own,
        "people": people,
        "switch_url": reverse(f"web:{page_name}"),
        "whose": "" if own else urlencode({"patient": patient.external_id}),
        "nav": "record",
    }


def _with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


# --- how rows are shown ----------------------------------------------------------------------------------------


def _diagnosis(row) -> dict:
    """A diagnosis in plain words (the doctor's, or the code's short title), its ICD-9-CM code aside."""
    return {
        "words": row.plain_words or row.diagnosis.short_title,
        "code": row.diagnosis.display_code,
        "primary": row.rank == "primary",
    }


def _visit_rows(visits, amendments: dict, language: str) -> list[dict]:
    """Visits in a list: where, who, when, and the diagnoses of the latest committed version (linked to it)."""
    rows = []
    for visit in visits:
        versions = amendments.get(visit.pk) or []
        latest = next((a for a in reversed(versions) if a.is_committed), None) or visit
        rows.append(
            {
                "id": latest.external_id,
                "clinic_name": visit.clinic.display_name(language),
                "doctor_name": visit.doctor.full_name,
                "started_at": visit.started_at,
                "started": timezones.wall_clock(visit.started_at, visit.clinic.time_zone),
                "diagnoses": [_diagnosis(d) for d in latest.diagnoses.all()],
                "amended": bool(versions),
            }
        )
    return rows


def _prescription(row, language: str) -> dict:
    return {
        "name": row.medication.display_name(language),
        "strength": row.strength,
        "form": row.form,
        "text": prescription_text(row),
        "instructions": row.instructions,
        "warnings": row.allergy_warnings or [],
    }


def _vital(row, language: str) -> dict:
    kind = row.kind
    flag = kind.flag_for(row.value)
    return {
        "name": kind.display_name(language),
        "value": f"{row.value:.{kind.decimals}f}",
        "unit": kind.unit,
        "flag": flag,
        "taken_at": row.taken_at,
        "taken": timezones.wall_clock(row.taken_at),
    }


def _role_name(code: str, language: str) -> str:
    try:
        spec = role_spec(code)
    except StopIteration:
        return code
    return spec.name_ar if language == "ar" else spec.name_en


# --- my record -------------------------------------------------------------------------------------------------


@page(VIEW)
def patient_record(request: HttpRequest) -> HttpResponse:
    """My record (or a dependant's): allergies, conditions, medicines, immunizations, vital signs, recent visits."""
    chart = queries.my_summary(actor=request.actor, patient_id=_patient_id(request))
    language = get_language()
    context = _whose(request, chart.patient, "patient_record")
    context |= {
        "allergies": [
            {
                "a": a,
                "what": a.medication.display_name(language) if a.medication_id else a.substance,
                "severe": a.severity == "severe",
            }
            for a in chart.allergies
        ],
        "conditions": [
            {"c": c, "words": c.diagnosis.short_title, "code": c.diagnosis.display_code}
            for c in chart.conditions
        ],
        "medications": [{"m": m, "name": m.medication.display_name(language)} for m in chart.medications],
        "prescriptions": [
            {
                **_prescription(p, language),
                "visit_id": p.visit.external_id,
                "started": timezones.wall_clock(p.visit.started_at, p.visit.clinic.time_zone),
            }
            for p in chart.current_prescriptions
        ],
        "immunizations": [{"i": i, "name": i.vaccine.display_name(language)} for i in chart.immunizations],
        "vitals": [_vital(v, language) for v in chart.latest_vitals],
        "visits": _visit_rows(chart.timeline.items, chart.amendments, language),
        "more_visits": chart.timeline.next_cursor is not None,
    }
    return render(request, "web/patient/record.html", context)


@page(VIEW)
def patient_record_visits(request: HttpRequest) -> HttpResponse:
    """All my committed visits, newest first, a page at a time."""
    patient, visits, amendments = queries.my_visits(
        actor=request.actor,
        patient_id=_patient_id(request),
        cursor=request.GET.get("cursor") or None,
        limit=VISITS_PER_PAGE,
    )
    language = get_language()
    # As the API lists them: each original with the diagnoses of its latest committed correction.
    context = _whose(request, patient, "patient_record_visits")
    context |= {"visits": _visit_rows(visits.items, amendments, language), "next_cursor": visits.next_cursor}
    return render(request, "web/patient/record_visits.html", context)


def _versions(record) -> list[dict]:
    """The original visit and its committed corrections, oldest first, the one shown marked."""
    original = record.original or record.visit
    corrections = [v for v in [*record.amendments, record.visit] if v.amends_id is not None]
    corrections = sorted({v.pk: v for v in corrections}.values(), key=lambda v: (v.committed_at, v.pk))
    zone = record.visit.clinic.time_zone
    rows = []
    for number, version in enumerate([original, *corrections]):
        rows.append(
            {
                "id": version.external_id,
                "number": number,
                "committed_at": version.committed_at,
                "committed": timezones.wall_clock(version.committed_at, zone)
                if version.committed_at
                else None,
                "reason": version.amendment_reason if number else "",
                "current": version.pk == record.visit.pk,
            }
        )
    return rows if corrections else []


@page(VIEW)
def patient_record_visit(request: HttpRequest, visit_id) -> HttpResponse:
    """One visit: diagnoses in plain words, prescriptions, orders and results, referrals, sick leave, documents;
    and, if it was corrected, every version of it."""
    record = queries.my_visit(actor=request.actor, visit_id=visit_id)
    documents = queries.my_documents(actor=request.actor, visit_id=visit_id)
    language = get_language()
    visit = record.visit
    zone = visit.clinic.time_zone
    orders = []
    for order in record.orders:
        results = record.results.get(order.pk, [])
        corrected = {r.amends_id for r in results if r.amends_id}
        orders.append(
            {
                "name": (order.lab_test or order.imaging).display_name(language),
                "kind": order.get_kind_display(),
                "urgent": order.urgency == "urgent",
                "note": order.note,
                "results": [
                    {
                        "r": r,
                        "values": r.values or [],
                        "reported": timezones.wall_clock(r.reported_at, zone),
                        "corrects": r.amends_id is not None,
                        "corrected": r.pk in corrected,
                    }
                    for r in results
                ],
            }
        )
    referrals = [
        {
            "to_clinic": r.to_clinic.display_name(language) if r.to_clinic_id else "",
            "to_doctor": r.to_doctor.full_name if r.to_doctor_id else "",
            "specialty": r.specialty.display_name(language) if r.specialty_id else "",
            "urgent": r.urgency == "urgent",
            "reason": r.reason,
        }
        for r in record.referrals
    ]
    sick_leave = record.sick_leave
    versions = _versions(record)
    latest = versions[-1] if versions else None
    context = {
        "visit": visit,
        "patient_name": visit.patient.display_name(language),
        "own": visit.patient.user_id == request.actor.user.pk,
        "whose": ""
        if visit.patient.user_id == request.actor.user.pk
        else urlencode({"patient": visit.patient.external_id}),
        "clinic_name": visit.clinic.display_name(language),
        "started": timezones.wall_clock(visit.started_at, zone),
        "zone": zone,
        "diagnoses": [_diagnosis(d) for d in record.diagnoses],
        "prescriptions": [_prescription(p, language) for p in record.prescriptions],
        "orders": orders,
        "referrals": referrals,
        "sick_leave": sick_leave,
        "sick_leave_until": sick_leave.starts_on + dt.timedelta(days=sick_leave.days - 1)
        if sick_leave
        else None,
        "vitals": [_vital(v, language) for v in record.vitals],
        "documents": [
            {
                "d": d,
                "kind": DOCUMENT_KINDS.get(d.kind, d.title),
                "ready": timezones.wall_clock(d.ready_at, zone) if d.ready_at else None,
            }
            for d in documents
        ],
        "versions": versions,
        "is_latest": latest is not None and latest["current"],
        "latest": latest,
        "nav": "record",
    }
    return render(request, "web/patient/record_visit.html", context)


@page(VIEW)
def patient_record_document(request: HttpRequest, document_id) -> HttpResponse:
    """Download one of my visit's documents (PDF)."""
    from shifa.documents.api import pdf_response

    return pdf_response(queries.my_document(actor=request.actor, document_id=document_id))


@page(VIEW)
def patient_record_result(request: HttpRequest, result_id) -> HttpResponse:
    """Download a result's report file."""
    from shifa.records.api import _file_response

    return _file_response(queries.my_result_file(actor=request.actor, result_id=result_id))


# --- who read my record ----------------------------------------------------------------------------------------


@page(VIEW)
def patient_record_reads(request: HttpRequest) -> HttpResponse:
    """Who read my record (or a dependant's): when, which clinic, in which role, who, and what."""
    patient, reads = queries.my_reads(
        actor=request.actor,
        patient_id=_patient_id(request),
        cursor=request.GET.get("cursor") or None,
        limit=READS_PER_PAGE,
    )
    language = get_language()
    rows = [
        {
            "r": r,
            "when": timezones.wall_clock(r.occurred_at, r.clinic.time_zone if r.clinic_id else None),
            "clinic_name": r.clinic.display_name(language) if r.clinic_id else "",
            "role_name": _role_name(r.role, language),
            "what": READ_WHAT.get(r.scope, r.scope),
        }
        for r in reads.items
    ]
    context = _whose(request, patient, "patient_record_reads")
    context |= {"reads": rows, "next_cursor": reads.next_cursor}
    return render(request, "web/patient/record_reads.html", context)


# --- sharing ---------------------------------------------------------------------------------------------------


class GrantForm(forms.Form):
    clinic_id = forms.ChoiceField(label=gettext_lazy("Clinic"))
    days = forms.IntegerField(
        label=gettext_lazy("For how many days"),
        required=False,
        help_text=gettext_lazy("From 1 to 365. Leave it empty to share until you stop it."),
        widget=forms.NumberInput({"min": 1, "max": 365, "inputmode": "numeric", "dir": "ltr"}),
    )
    patient = forms.UUIDField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, language: str = "en", **kwargs):
        super().__init__(*args, **kwargs)
        from shifa.tenancy.models import Clinic, ClinicStatus

        clinics = sorted(
            (c.display_name(language), str(c.external_id))
            for c in Clinic.objects.filter(status=ClinicStatus.ACTIVE)
        )
        self.fields["clinic_id"].choices = [("", _("Choose a clinic")), *((i, n) for n, i in clinics)]


def _sharing_page(request, patient, form, *, status: int = 200) -> HttpResponse:
    _, grants = queries.my_grants(actor=request.actor, patient_id=patient.external_id)
    language = get_language()
    rows = [
        {
            "g": g,
            "clinic_name": g.clinic.display_name(language),
            "since": timezones.wall_clock(g.created_at, g.clinic.time_zone),
            "until": timezones.wall_clock(g.expires_at, g.clinic.time_zone) if g.expires_at else None,
        }
        for g in grants
    ]
    context = _whose(request, patient, "patient_record_sharing")
    context |= {"grants": rows, "form": form}
    return render(request, "web/patient/record_sharing.html", context, status=status)


@page(VIEW)
def patient_record_sharing(request: HttpRequest) -> HttpResponse:
    """The clinics my record is shared with, and the form to share it with one more."""
    patient, _grants = queries.my_grants(actor=request.actor, patient_id=_patient_id(request))
    initial = {} if patient.user_id == request.actor.user.pk else {"patient": patient.external_id}
    form = GrantForm(initial=initial, language=get_language())
    return _sharing_page(request, patient, form)


def _sharing_url(request, patient) -> str:
    own = patient.user_id == request.actor.user.pk
    return _with_query(
        reverse("web:patient_record_sharing"), "" if own else urlencode({"patient": patient.external_id})
    )


@page(MANAGE, methods=("POST",))
@require_http_methods(["POST"])
def patient_record_share(request: HttpRequest) -> HttpResponse:
    """Share my record (or a dependant's) with a clinic, for some days or until I stop it."""
    language = get_language()
    form = GrantForm(request.POST, language=language)
    try:
        patient_id = uuid.UUID(request.POST["patient"]) if request.POST.get("patient") else None
    except ValueError:
        raise NotFound() from None
    patient, _grants = queries.my_grants(actor=request.actor, patient_id=patient_id)
    status = 400
    if form.is_valid():
        try:
            grant = actions.grant_create(
                actor=request.actor,
                clinic_id=form.cleaned_data["clinic_id"],
                patient_id=patient_id,
                days=form.cleaned_data["days"],
            )
        except NotFound:
            raise
        except Problem as exc:
            status = show_problem(form, exc)
        else:
            names = {"clinic": grant.clinic.display_name(language), "name": patient.display_name(language)}
            if patient.user_id == request.actor.user.pk:
                messages.success(request, _("Your record is now shared with %(clinic)s.") % names)
            else:
                messages.success(request, _("%(name)s's record is now shared with %(clinic)s.") % names)
            return redirect(_sharing_url(request, patient))
    return _sharing_page(request, patient, form, status=status)


@page(MANAGE, methods=("POST",))
@require_http_methods(["POST"])
def patient_record_unshare(request: HttpRequest, grant_id) -> HttpResponse:
    """Stop sharing with a clinic."""
    grant = actions.grant_revoke(actor=request.actor, grant_id=grant_id)
    messages.success(
        request,
        _("%(clinic)s can no longer read this record.")
        % {"clinic": grant.clinic.display_name(get_language())},
    )
    return redirect(_sharing_url(request, grant.patient))


# --- family ----------------------------------------------------------------------------------------------------


class DependantForm(forms.Form):
    full_name = forms.CharField(label=gettext_lazy("Full name"), max_length=200)
    full_name_ar = forms.CharField(
        label=gettext_lazy("Full name in Arabic"),
        max_length=200,
        required=False,
        widget=forms.TextInput({"lang": "ar", "dir": "rtl"}),
    )
    date_of_birth = forms.DateField(
        label=gettext_lazy("Date of birth"), widget=forms.DateInput({"type": "date"}, format="%Y-%m-%d")
    )
    sex = forms.ChoiceField(label=gettext_lazy("Sex"), choices=[("", "—"), *Sex.choices])
    relation = forms.ChoiceField(
        label=gettext_lazy("Relation to you"), choices=[("", "—"), *Relation.choices]
    )
    national_id = forms.CharField(
        label=gettext_lazy("National number (optional)"),
        max_length=20,
        required=False,
        widget=forms.TextInput({"inputmode": "numeric", "dir": "ltr", "autocomplete": "off"}),
    )


def _family_page(request, form, *, status: int = 200) -> HttpResponse:
    language = get_language()
    people = queries.my_patients(actor=request.actor)
    me = next((p for p in people if p.user_id == request.actor.user.pk), None)
    if me is None:
        raise NotFound()
    dependants = [
        {"p": p, "name": p.display_name(language), "query": urlencode({"patient": p.external_id})}
        for p in people
        if p.guardian_id is not None
    ]
    return render(
        request,
        "web/patient/record_family.html",
        {"me": me, "dependants": dependants, "form": form, "nav": "record"},
        status=status,
    )


@page(VIEW)
def patient_record_family(request: HttpRequest) -> HttpResponse:
    """My dependants (children, elderly parents) whose records I manage, and the form to add one."""
    return _family_page(request, DependantForm())


@page(MANAGE, methods=("POST",))
@require_http_methods(["POST"])
def patient_record_family_add(request: HttpRequest) -> HttpResponse:
    form = DependantForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            dependant = actions.dependant_add(actor=request.actor, **form.cleaned_data)
        except NotFound:
            raise
        except Problem as exc:
            status = show_problem(form, exc)
        else:
            messages.success(
                request,
                _("%(name)s is added to your family.") % {"name": dependant.display_name(get_language())},
            )
            return redirect("web:patient_record_family")
    return _family_page(request, form, status=status)


urlpatterns = [
    path("app/record", patient_record, name="patient_record"),
    path("app/record/visits", patient_record_visits, name="patient_record_visits"),
    path("app/record/visits/<uuid:visit_id>", patient_record_visit, name="patient_record_visit"),
    path("app/record/documents/<uuid:document_id>", patient_record_document, name="patient_record_document"),
    path("app/record/results/<uuid:result_id>", patient_record_result, name="patient_record_result"),
    path("app/record/reads", patient_record_reads, name="patient_record_reads"),
    path("app/record/sharing", patient_record_sharing, name="patient_record_sharing"),
    path("app/record/sharing/grant", patient_record_share, name="patient_record_share"),
    path("app/record/sharing/<uuid:grant_id>/revoke", patient_record_unshare, name="patient_record_unshare"),
    path("app/record/family", patient_record_family, name="patient_record_family"),
    path("app/record/family/add", patient_record_family_add, name="patient_record_family_add"),
]

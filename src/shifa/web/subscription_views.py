"""Subscription pages (PAY-3): the patient's "My subscription" (plans, subscribing by card through PayTabs, state,
renewal, included video visits) and the platform console's patient plans. Thin: ``shifa.subscriptions``."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from shifa.access.declare import page, public_page
from shifa.core import timezones
from shifa.core.errors import Problem

from .account_views import problem_text, show_problem

OWN = "subscriptions.manage_own"
PLATFORM = "platform.manage_subscription_plans"


# --- the patient ----------------------------------------------------------------------------------------------------


@page(OWN)
def my_subscription(request: HttpRequest) -> HttpResponse:
    from shifa.records.policies import own_patient
    from shifa.subscriptions import queries, states

    patient = own_patient(request.actor)
    now = timezones.now()
    current = queries.current_subscription(patient, now)
    entitled = current is not None and states.entitled(current.snapshot, now)
    language = get_language()
    context = {
        "nav": "home",
        "current": current,
        "entitled": entitled,
        "current_plan_name": current.plan.display_name(language) if current else "",
        "left": queries.video_visits_left_on(current) if entitled else 0,
        "plans": [{"plan": p, "name": p.display_name(language)} for p in queries.plan_list()],
        "can_subscribe": not entitled,
        "dependants": list(patient.dependants.all()),
    }
    return render(request, "web/patient/subscription.html", context)


@page(OWN, methods=("POST",))
@require_http_methods(["POST"])
def subscription_subscribe(request: HttpRequest) -> HttpResponse:
    from shifa.subscriptions import actions

    try:
        _subscription, url = actions.paytabs_subscribe(
            actor=request.actor, plan_id=request.POST.get("plan_id", ""), language=get_language()
        )
    except Problem as exc:
        if exc.status == 404:
            raise
        messages.error(request, problem_text(exc))
        return redirect("web:patient_subscription")
    return redirect(url)


@page(OWN, methods=("POST",))
@require_http_methods(["POST"])
def subscription_auto_renew(request: HttpRequest) -> HttpResponse:
    from shifa.subscriptions import actions

    enabled = request.POST.get("auto_renew") == "on"
    try:
        actions.auto_renew_set(actor=request.actor, enabled=enabled)
    except Problem as exc:
        messages.error(request, problem_text(exc))
    else:
        messages.success(
            request,
            _("Your subscription renews automatically.")
            if enabled
            else _("Renewal is off: your subscription ends when the paid period ends."),
        )
    return redirect("web:patient_subscription")


@public_page(methods=("POST",))
@csrf_exempt
def subscription_return(request: HttpRequest) -> HttpResponse:
    """PayTabs sends the browser back here (a cross-site form POST, without our cookies). A signed return only
    makes us ask PayTabs how the payment went; then the patient's own page shows it."""
    from shifa.billing import paytabs
    from shifa.subscriptions import actions

    fields = request.POST.dict()
    if paytabs.verify_return(fields):
        actions.paytabs_returned(cart_id=str(fields.get("cartId", "")))
    return redirect("web:patient_subscription")


# --- the platform console -------------------------------------------------------------------------------------------


class SubscriptionPlanForm(forms.Form):
    name_en = forms.CharField(label=gettext_lazy("Name (English)"), max_length=100)
    name_ar = forms.CharField(
        label=gettext_lazy("Name (Arabic)"), max_length=100, widget=forms.TextInput(attrs={"dir": "rtl"})
    )
    price = forms.DecimalField(
        label=gettext_lazy("Price (JOD)"), min_value=Decimal("0.001"), max_digits=10, decimal_places=3
    )
    period = forms.ChoiceField(label=gettext_lazy("Period"))
    family_doctor = forms.BooleanField(label=gettext_lazy("Includes a family doctor"), required=False)
    priority_urgent_care = forms.BooleanField(label=gettext_lazy("Priority in Treat Me Now"), required=False)
    included_video_visits = forms.IntegerField(
        label=gettext_lazy("Video visits included each period"), min_value=0, max_value=100, initial=0
    )
    app_store_product_id = forms.CharField(
        label=gettext_lazy("App Store product id"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"dir": "ltr"}),
    )
    google_play_product_id = forms.CharField(
        label=gettext_lazy("Google Play product id"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"dir": "ltr"}),
    )
    offered = forms.BooleanField(label=gettext_lazy("Offered to patients"), required=False, initial=True)

    def __init__(self, *args, **kwargs):
        from shifa.subscriptions.models import Period

        super().__init__(*args, **kwargs)
        self.fields["period"].choices = Period.choices


def _platform(**extra) -> dict:
    return {"nav": "subscription_plans", "shell_title": _("Platform console"), **extra}


@page(PLATFORM)
def platform_subscription_plans(request: HttpRequest) -> HttpResponse:
    from shifa.subscriptions import queries

    language = get_language()
    plans = [{"plan": p, "name": p.display_name(language)} for p in queries.plan_list(include_retired=True)]
    from shifa.subscriptions.models import STATE_LABELS

    counts = {str(STATE_LABELS.get(state, state)): n for state, n in queries.subscriber_counts().items()}
    revenue = queries.revenue()
    return render(
        request,
        "web/platform/subscription_plans.html",
        _platform(plans=plans, counts=sorted(counts.items()), revenue=sorted(revenue.items())),
    )


@page(PLATFORM, methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def platform_subscription_plan(request: HttpRequest, subscription_plan_id=None) -> HttpResponse:
    plan_id = subscription_plan_id
    from shifa.subscriptions import actions, queries

    plan = queries.plan_get(plan_id) if plan_id else None
    initial = None
    if plan is not None:
        initial = {
            "name_en": plan.name_en,
            "name_ar": plan.name_ar,
            "price": plan.price,
            "period": plan.period,
            "family_doctor": plan.family_doctor,
            "priority_urgent_care": plan.priority_urgent_care,
            "included_video_visits": plan.included_video_visits,
            "app_store_product_id": plan.app_store_product_id,
            "google_play_product_id": plan.google_play_product_id,
            "offered": plan.retired_at is None,
        }
    form = SubscriptionPlanForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                saved = actions.plan_save(actor=request.actor, plan_id=plan_id, values=form.cleaned_data)
            except Problem as exc:
                status = show_problem(form, exc)
            else:
                messages.success(request, _("Saved."))
                return redirect("web:platform_subscription_plan", subscription_plan_id=saved.external_id)
    context = _platform(
        plan=plan,
        name=plan.display_name(get_language()) if plan else "",
        form=form,
        submit=_("Save") if plan else _("Add the plan"),
    )
    return render(request, "web/platform/subscription_plan.html", context, status=status)


@page(PLATFORM, methods=("POST",))
@require_http_methods(["POST"])
def platform_subscription_plan_retire(request: HttpRequest, subscription_plan_id) -> HttpResponse:
    plan_id = subscription_plan_id
    from shifa.subscriptions import actions

    actions.plan_retire(actor=request.actor, plan_id=plan_id)
    messages.success(request, _("The plan is retired: its subscribers keep it, nobody new can choose it."))
    return redirect("web:platform_subscription_plan", subscription_plan_id=plan_id)


urlpatterns = [
    path("app/subscription", my_subscription, name="patient_subscription"),
    path("app/subscription/subscribe", subscription_subscribe, name="patient_subscription_subscribe"),
    path("app/subscription/auto-renew", subscription_auto_renew, name="patient_subscription_auto_renew"),
    path("app/subscription/return", subscription_return, name="patient_subscription_return"),
    path("platform/subscription-plans", platform_subscription_plans, name="platform_subscription_plans"),
    path(
        "platform/subscription-plans/new", platform_subscription_plan, name="platform_subscription_plan_new"
    ),
    path(
        "platform/subscription-plans/<uuid:subscription_plan_id>",
        platform_subscription_plan,
        name="platform_subscription_plan",
    ),
    path(
        "platform/subscription-plans/<uuid:subscription_plan_id>/retire",
        platform_subscription_plan_retire,
        name="platform_subscription_plan_retire",
    ),
]

"""Path parameters and bodies of the subscription routes (API, patient and platform pages) and of the Google Play
simulator's routes, for the generated route tests (tests/routes.py).

The simulator's Developer API routes are asked about an application it does not know (404 before credentials are
looked at); its token endpoint and control route are sent the generated empty bodies (400)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal


def _plan(**overrides):
    from shifa.subscriptions.models import Plan

    values = {
        "name_en": "Shifa Plus",
        "name_ar": "شفاء بلس",
        "price": Decimal("9.900"),
        "period": "monthly",
        "family_doctor": True,
        "priority_urgent_care": True,
        "included_video_visits": 2,
        **overrides,
    }
    return Plan.objects.create(**values)


def _plan_id(t=None) -> str:
    return str(_plan().external_id)


def _subscribe_body(user) -> dict:
    return {"plan_id": _plan_id()}


def _card_subscription(user) -> None:
    """An active card (PayTabs) subscription of the caller's own patient, if they are one."""
    from shifa.core import timezones
    from shifa.records.models import Patient
    from shifa.subscriptions.models import Subscription

    patient = Patient.objects.filter(user=user).first() if user is not None else None
    if patient is None:
        return
    now = timezones.now()
    Subscription.objects.create(
        patient=patient,
        plan=_plan(),
        source="paytabs",
        state="active",
        anchor=now,
        paid_periods=1,
        current_period_end=now + dt.timedelta(days=30),
        as_of=now,
        first_tran_ref="TST2700000000001",
        paytabs_token="tok-routes",
    )


def _auto_renew_api(user) -> dict:
    _card_subscription(user)
    return {"auto_renew": False}


def _auto_renew_page(user) -> dict:
    _card_subscription(user)
    return {"auto_renew": "off"}


PLAN_FORM = {
    "name_en": "Family",
    "name_ar": "العائلة",
    "price": "19.500",
    "period": "monthly",
    "family_doctor": "on",
    "included_video_visits": "4",
    "offered": "on",
}

PROVIDERS: dict = {
    "subscription_plan_id": _plan_id,
    "package_name": lambda t: "jo.example.unknown",
    "purchase_token": lambda t: f"sim.{uuid.uuid4().hex}",
    "play_product_id": lambda t: "shifa_plus",
}
NEEDS_ROUTE: set = set()
BODIES: dict = {
    ("POST", "/api/v1/me/subscription/paytabs"): _subscribe_body,
    ("PUT", "/api/v1/me/subscription/auto-renew"): _auto_renew_api,
    ("POST", "/app/subscription/subscribe"): _subscribe_body,
    ("POST", "/app/subscription/auto-renew"): _auto_renew_page,
    ("POST", "/api/v1/platform/subscription-plans"): {
        "name_en": "Family",
        "name_ar": "العائلة",
        "price": "19.500",
        "period": "yearly",
        "included_video_visits": 4,
    },
    ("PATCH", "/api/v1/platform/subscription-plans/{subscription_plan_id}"): {"price": "12.000"},
    ("POST", "/platform/subscription-plans/new"): PLAN_FORM,
    ("POST", "/platform/subscription-plans/{subscription_plan_id}"): PLAN_FORM,
}
QUERIES: dict = {}

"""Subscriptions API (PAY-3): plans for patients and the platform, the patient's own subscription, and the two
store notification endpoints (public: authenticated by Apple's signature chain and by the Pub/Sub push checks)."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from shifa.access.declare import operation
from shifa.core import timezones
from shifa.core.errors import FieldError, NotAuthenticated, Problem, ValidationFailed
from shifa.core.idempotency import once
from shifa.core.schemas import ERRORS

from . import actions, app_store, google_play, queries, states
from .models import Plan, Subscription

router = Router(tags=["subscriptions"])
OWN = operation("subscriptions.manage_own")
PLATFORM = operation("platform.manage_subscription_plans")
PUBLIC = operation(public=True, auth=None)
OK = {200: dict, **ERRORS}
CREATED = {201: dict, **ERRORS}


def _iso(value):
    return timezones.isoformat_z(value) if value else None


def _money(amount: Decimal) -> dict:
    return {"amount": f"{amount:.3f}", "currency": "JOD"}


def plan_out(plan: Plan, *, subscribers: bool = False) -> dict:
    data = {
        "id": str(plan.external_id),
        "name": {"ar": plan.name_ar, "en": plan.name_en},
        "price": _money(plan.price),
        "period": plan.period,
        "entitlements": {
            "family_doctor": plan.family_doctor,
            "priority_urgent_care": plan.priority_urgent_care,
            "included_video_visits": plan.included_video_visits,
        },
        "offered": plan.retired_at is None,
    }
    if subscribers:
        data["app_store_product_id"] = plan.app_store_product_id
        data["google_play_product_id"] = plan.google_play_product_id
        data["retired_at"] = _iso(plan.retired_at)
        data["subscribers"] = getattr(plan, "subscribers", None)
    return data


def subscription_out(subscription: Subscription) -> dict:
    return {
        "id": str(subscription.external_id),
        "plan": plan_out(subscription.plan),
        "source": subscription.source,
        "state": subscription.state,
        "entitled": states.entitled(subscription.snapshot, timezones.now()),
        "current_period_end": _iso(subscription.current_period_end),
        "grace_until": _iso(subscription.grace_until),
        "auto_renew": subscription.auto_renew,
        "video_visits_left": queries.video_visits_left_on(subscription)
        if subscription.state in {"active", "grace"}
        else 0,
    }


# --- patients -------------------------------------------------------------------------------------------------------


@router.get(
    "/subscription-plans",
    response=OK,
    operation_id="subscriptions_list_plans",
    summary="The subscription plans offered to patients",
    **OWN,
)
def list_plans(request: HttpRequest):
    return {"items": [plan_out(p) for p in queries.plan_list()]}


@router.get(
    "/me/subscription",
    response=OK,
    operation_id="subscriptions_my_subscription",
    summary="My subscription, what it entitles me to, and the app_account_token to pass to the stores",
    **OWN,
)
def my_subscription(request: HttpRequest):
    from shifa.access import entitlements
    from shifa.records.policies import own_patient

    patient = own_patient(request.actor)
    account = actions.store_account_ensure(patient=patient)
    current = queries.current_subscription(patient)
    return {
        "app_account_token": str(account.app_account_token),
        "subscription": subscription_out(current) if current else None,
        "entitlements": {
            code: entitlements.has_entitlement(patient, code) for code in sorted(entitlements.KNOWN)
        },
        "included_video_visits_left": queries.included_video_visits_left(patient, timezones.now()),
    }


class SubscribeIn(Schema):
    plan_id: uuid.UUID
    language: str = Field("en", pattern="^(en|ar)$")


@router.post(
    "/me/subscription/paytabs",
    response=CREATED,
    operation_id="subscriptions_subscribe_by_card",
    summary="Subscribe on the web: a PayTabs page that takes the first payment and saves the card for renewals "
    "(Idempotency-Key supported)",
    **OWN,
)
def subscribe(request: HttpRequest, payload: SubscribeIn):
    def run():
        subscription, url = actions.paytabs_subscribe(
            actor=request.actor, plan_id=payload.plan_id, language=payload.language
        )
        return 201, {"subscription": subscription_out(subscription), "payment_url": url}

    return Status(*once(request, run))


class AutoRenewIn(Schema):
    auto_renew: bool


@router.put(
    "/me/subscription/auto-renew",
    response=OK,
    operation_id="subscriptions_set_auto_renew",
    summary="Switch the renewal of my card subscription off (access lasts until the paid period ends) or on",
    **OWN,
)
def set_auto_renew(request: HttpRequest, payload: AutoRenewIn):
    subscription = actions.auto_renew_set(actor=request.actor, enabled=payload.auto_renew)
    return subscription_out(subscription)


# --- the platform ---------------------------------------------------------------------------------------------------


class PlanIn(Schema):
    name_en: str = Field(..., max_length=100)
    name_ar: str = Field(..., max_length=100)
    price: Decimal = Field(..., description="JOD, three decimals", examples=["9.900"])
    period: str = Field(..., examples=["monthly"])
    family_doctor: bool = False
    priority_urgent_care: bool = False
    included_video_visits: int = Field(0, ge=0)
    app_store_product_id: str = Field("", max_length=100)
    google_play_product_id: str = Field("", max_length=100)
    offered: bool = True


class PlanPatch(Schema):
    name_en: str | None = Field(None, max_length=100)
    name_ar: str | None = Field(None, max_length=100)
    price: Decimal | None = None
    period: str | None = None
    family_doctor: bool | None = None
    priority_urgent_care: bool | None = None
    included_video_visits: int | None = Field(None, ge=0)
    app_store_product_id: str | None = Field(None, max_length=100)
    google_play_product_id: str | None = Field(None, max_length=100)
    offered: bool | None = None


def _plan_dict(plan: Plan) -> dict:
    return {
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


@router.get(
    "/platform/subscription-plans",
    response=OK,
    operation_id="subscriptions_platform_list_plans",
    summary="Every patient subscription plan, retired ones too, with its number of subscribers",
    **PLATFORM,
)
def platform_list_plans(request: HttpRequest):
    return {"items": [plan_out(p, subscribers=True) for p in queries.plan_list(include_retired=True)]}


@router.post(
    "/platform/subscription-plans",
    response=CREATED,
    operation_id="subscriptions_platform_create_plan",
    summary="Define a patient subscription plan",
    **PLATFORM,
)
def platform_create_plan(request: HttpRequest, payload: PlanIn):
    plan = actions.plan_save(actor=request.actor, values=payload.dict())
    return Status(201, plan_out(queries.plan_get(plan.external_id), subscribers=True))


@router.get(
    "/platform/subscription-plans/{subscription_plan_id}",
    response=OK,
    operation_id="subscriptions_platform_get_plan",
    summary="One patient subscription plan with its number of subscribers",
    **PLATFORM,
)
def platform_get_plan(request: HttpRequest, subscription_plan_id: uuid.UUID):
    plan_id = subscription_plan_id
    return plan_out(queries.plan_get(plan_id), subscribers=True)


@router.patch(
    "/platform/subscription-plans/{subscription_plan_id}",
    response=OK,
    operation_id="subscriptions_platform_update_plan",
    summary="Change a plan (subscribers keep theirs; a new price applies from their next card renewal)",
    **PLATFORM,
)
def platform_update_plan(request: HttpRequest, subscription_plan_id: uuid.UUID, payload: PlanPatch):
    plan_id = subscription_plan_id
    changes = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    values = {**_plan_dict(queries.plan_get(plan_id)), **changes}
    actions.plan_save(actor=request.actor, plan_id=plan_id, values=values)
    return plan_out(queries.plan_get(plan_id), subscribers=True)


@router.post(
    "/platform/subscription-plans/{subscription_plan_id}/retire",
    response=OK,
    operation_id="subscriptions_platform_retire_plan",
    summary="Stop offering a plan; its subscribers keep it",
    **PLATFORM,
)
def platform_retire_plan(request: HttpRequest, subscription_plan_id: uuid.UUID):
    plan_id = subscription_plan_id
    actions.plan_retire(actor=request.actor, plan_id=plan_id)
    return plan_out(queries.plan_get(plan_id), subscribers=True)


@router.delete(
    "/platform/subscription-plans/{subscription_plan_id}",
    response={204: None, 409: dict, **ERRORS},
    operation_id="subscriptions_platform_delete_plan",
    summary="Delete a plan nobody ever subscribed to (409 otherwise: retire it)",
    **PLATFORM,
)
def platform_delete_plan(request: HttpRequest, subscription_plan_id: uuid.UUID):
    plan_id = subscription_plan_id
    actions.plan_delete(actor=request.actor, plan_id=plan_id)
    return Status(204, None)


# --- store notifications (public) -----------------------------------------------------------------------------------


class AppStoreRejected(Problem):
    status = 400
    code = "notification_rejected"

    def default_detail(self) -> str:
        return _("The notification could not be verified.")


@router.post(
    "/subscriptions/app-store/notifications",
    response=OK,
    operation_id="subscriptions_app_store_notification",
    summary="App Store Server Notifications V2 (signedPayload verified against Apple's certificate chain)",
    **PUBLIC,
)
def app_store_notification(request: HttpRequest):
    try:
        body = json.loads(request.body)
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("signedPayload"), str):
        raise ValidationFailed(
            errors=[FieldError("signedPayload", "required", _("Send the notification's signedPayload."))]
        )
    try:
        notice = app_store.verify(body["signedPayload"])
    except app_store.Rejected as exc:
        raise AppStoreRejected(code=f"notification_{exc.code}") from None
    return {"outcome": actions.app_store_notification_apply(notice)}


class PushRejected(NotAuthenticated):
    code = "push_not_authenticated"


@router.post(
    "/subscriptions/google-play/notifications",
    response=OK,
    operation_id="subscriptions_google_play_notification",
    summary="Google Play real-time developer notifications by Pub/Sub push (?token= and/or Google's OIDC token)",
    **PUBLIC,
)
def google_play_notification(request: HttpRequest):
    try:
        google_play.authenticate_push(
            token=request.GET.get("token", ""), authorization=request.headers.get("Authorization", "")
        )
    except google_play.PushRejected:
        raise PushRejected(_("The push could not be authenticated.")) from None
    try:
        push = google_play.parse_push(request.body)
    except ValueError:
        raise ValidationFailed(
            errors=[FieldError("message", "invalid", _("Send a Pub/Sub push of a Google Play notification."))]
        ) from None
    return {"outcome": actions.google_play_push_apply(push)}

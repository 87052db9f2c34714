"""Google Play's routes, played locally: the Developer API and its token endpoint (server to server, no CSRF; an
OAuth access token authenticates API calls), and the simulator's control route (development and tests only).

One liberty with Google's order of checks: an unknown application answers 404 before the credentials are looked
at (Google answers 401 first), so that anonymous callers learn nothing either way."""

from __future__ import annotations

import datetime as dt
import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from shifa.access.declare import public_page

from . import actions, pubsub, queries
from .models import STATES


def _error(status: int, message: str, code: str) -> JsonResponse:
    return JsonResponse({"error": {"code": status, "message": message, "status": code}}, status=status)


def _not_found() -> JsonResponse:
    return _error(404, "The purchase token was not found.", "NOT_FOUND")


def _unauthenticated() -> JsonResponse:
    return _error(
        401,
        "Request is missing required authentication credential. Expected OAuth 2 access token.",
        "UNAUTHENTICATED",
    )


@public_page(methods=("POST",))
@csrf_exempt
def token(request: HttpRequest) -> HttpResponse:
    """``POST /token`` (form): a service account's signed assertion for an access token."""
    try:
        answer = actions.token_issue(
            grant_type=request.POST.get("grant_type", ""), assertion=request.POST.get("assertion", "")
        )
    except actions.SimError as exc:
        return JsonResponse(exc.body, status=exc.status)
    return JsonResponse(answer)


@public_page(methods=("GET",))
def subscription_v2(request: HttpRequest, package_name: str, purchase_token: str) -> HttpResponse:
    """``purchases.subscriptionsv2.get``."""
    if not queries.package_known(package_name):
        return _error(404, "No application was found for the given package name.", "NOT_FOUND")
    if not queries.token_valid(request.headers.get("Authorization", "")):
        return _unauthenticated()
    purchase = queries.purchase_get(package_name, purchase_token)
    if purchase is None:
        return _not_found()
    return JsonResponse(queries.purchase_v2(purchase))


@public_page(methods=("POST",))
@csrf_exempt
def acknowledge(
    request: HttpRequest, package_name: str, play_product_id: str, purchase_token: str
) -> HttpResponse:
    """``purchases.subscriptions.acknowledge``."""
    if not queries.package_known(package_name):
        return _error(404, "No application was found for the given package name.", "NOT_FOUND")
    if not queries.token_valid(request.headers.get("Authorization", "")):
        return _unauthenticated()
    try:
        actions.purchase_acknowledge(
            package_name=package_name, product_id=play_product_id, purchase_token=purchase_token
        )
    except actions.SimError as exc:
        return JsonResponse(exc.body, status=exc.status)
    return HttpResponse(status=204)


def _bad(message: str) -> JsonResponse:
    return _error(400, message, "INVALID_ARGUMENT")


@public_page(methods=("POST",))
@csrf_exempt
def control_purchase(request: HttpRequest) -> HttpResponse:
    """The simulator's control: make or change a purchase, then push a notification about it. JSON body:
    ``product_id``, ``state`` (a ``SUBSCRIPTION_STATE_…``), ``expiry_time`` (ISO 8601), optional
    ``purchase_token`` (to change one), ``account_id`` (the app_account_token our API gave the app),
    ``auto_renew``, ``package_name``, ``notification_type`` (number; none: no push) and ``message_id``."""
    from django.conf import settings

    try:
        data = json.loads(request.body or b"null")
    except ValueError:
        return _bad("The body is not JSON.")
    if not isinstance(data, dict):
        return _bad("Send a JSON object.")
    if data.get("state") not in STATES or not data.get("product_id"):
        return _bad("product_id and a known state are required.")
    try:
        expiry = dt.datetime.fromisoformat(str(data.get("expiry_time", "")).replace("Z", "+00:00"))
    except ValueError:
        return _bad("expiry_time must be an ISO 8601 time with its zone.")
    try:
        purchase = actions.purchase_set(
            package_name=str(data.get("package_name") or settings.GOOGLE_PLAY_PACKAGE_NAME),
            purchase_token=data.get("purchase_token") or None,
            product_id=str(data["product_id"]),
            state=data["state"],
            expiry_time=expiry,
            auto_renew=bool(data.get("auto_renew", True)),
            account_id=str(data.get("account_id") or ""),
        )
    except actions.SimError as exc:
        return JsonResponse(exc.body, status=exc.status)
    answer: dict = {"purchase_token": purchase.purchase_token, "purchase": queries.purchase_v2(purchase)}
    if data.get("notification_type") is not None:
        try:
            kind = int(data["notification_type"])
        except (TypeError, ValueError):
            return _bad("notification_type must be a number.")
        status, message_id = pubsub.push(purchase, kind, message_id=data.get("message_id") or None)
        answer["push"] = {"status": status, "message_id": message_id}
    return JsonResponse(answer, status=201)

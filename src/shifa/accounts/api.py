from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from shifa.access.declare import operation
from shifa.core.errors import NotAuthenticated
from shifa.core.schemas import ERRORS

from . import actions, queries
from .schemas import MeOut, TokenIn, TokenOut

router = Router(tags=["accounts"])


@router.post(
    "/auth/tokens",
    response={201: TokenOut, **ERRORS, 429: ERRORS[400]},
    operation_id="accounts_create_token",
    summary="Sign in with email and password and get a bearer token",
    **operation(public=True, auth=None),
)
def create_token(request: HttpRequest, payload: TokenIn):
    token, record = actions.token_issue(
        email=payload.email, password=payload.password, name=payload.name, request=request
    )
    return Status(201, {"token": token, "expires_at": record.expires_at, "user": record.user})


@router.delete(
    "/auth/tokens/current",
    response={204: None, **ERRORS},
    operation_id="accounts_revoke_token",
    summary="Sign out: revoke the bearer token used for this call",
    **operation("accounts.manage_own_tokens"),
)
def revoke_token(request: HttpRequest):
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        raise NotAuthenticated()
    actions.token_revoke(token=header[7:].strip())
    return HttpResponse(status=204)


@router.get(
    "/me",
    response={200: MeOut, **ERRORS},
    operation_id="accounts_get_me",
    summary="The signed-in user, their roles and the clinics they can act for",
    **operation("accounts.view_self"),
)
def get_me(request: HttpRequest):
    return queries.me_get(actor=request.actor)

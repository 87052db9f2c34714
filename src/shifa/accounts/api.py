"""Sign-in, sign-up and account security for API clients (the native app). Every sign-in route answers either
201 with a token pair or 202 with an ``mfa_token`` when the account's authenticator app must be used first."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from shifa.access.declare import operation
from shifa.core.errors import NotAuthenticated
from shifa.core.schemas import ERRORS, ProblemOut

from . import actions, queries
from .schemas import (
    CodeIn,
    EmailIn,
    EmailKeyIn,
    IdentityLinkIn,
    IdentityOut,
    MeOut,
    MfaRequiredOut,
    MfaTokenIn,
    NonceOut,
    PasswordResetCodeIn,
    PasswordResetIn,
    PasswordResetLinkIn,
    PhoneCodeIn,
    PhoneCodeOut,
    PhoneSignInIn,
    ProviderTokenIn,
    RecoveryCodesOut,
    RefreshIn,
    SignUpIn,
    SignUpOut,
    TokenIn,
    TokenOut,
    TotpSetupOut,
    UserOut,
)

router = Router(tags=["accounts"])
SIGN_IN = {201: TokenOut, 202: MfaRequiredOut, **ERRORS, 409: ProblemOut, 429: ProblemOut, 503: ProblemOut}
PUBLIC = operation(public=True, auth=None)


def _answer(result: dict):
    return Status(202, result) if result.get("mfa_required") else Status(201, result)


@router.post(
    "/auth/tokens",
    response=SIGN_IN,
    operation_id="accounts_create_token",
    summary="Sign in with email and password",
    **PUBLIC,
)
def create_token(request: HttpRequest, payload: TokenIn):
    return _answer(
        actions.api_password_sign_in(
            request, email=payload.email, password=payload.password, name=payload.name
        )
    )


@router.post(
    "/auth/tokens/mfa",
    response={201: TokenOut, **ERRORS, 429: ProblemOut},
    operation_id="accounts_create_token_mfa",
    summary="Finish signing in with an authenticator code (or a recovery code)",
    **PUBLIC,
)
def create_token_mfa(request: HttpRequest, payload: MfaTokenIn):
    return Status(
        201,
        actions.api_mfa_sign_in(request, mfa_token=payload.mfa_token, code=payload.code, name=payload.name),
    )


@router.post(
    "/auth/tokens/refresh",
    response={200: TokenOut, **ERRORS},
    operation_id="accounts_refresh_token",
    summary="Spend a refresh token for a new access and refresh token (a reused one ends the sign-in)",
    **PUBLIC,
)
def refresh_token(request: HttpRequest, payload: RefreshIn):
    return actions.token_refresh(refresh_token=payload.refresh_token)


@router.delete(
    "/auth/tokens/current",
    response={204: None, **ERRORS},
    operation_id="accounts_revoke_token",
    summary="Sign out: end this sign-in (its access and refresh tokens)",
    **operation("accounts.manage_own_tokens"),
)
def revoke_token(request: HttpRequest):
    claims = getattr(request, "token_claims", None)
    if claims is None:
        raise NotAuthenticated()
    actions.token_family_revoke(family_id=claims.family_id)
    return HttpResponse(status=204)


@router.post(
    "/auth/phone/codes",
    response={202: PhoneCodeOut, **ERRORS, 429: ProblemOut, 503: ProblemOut},
    operation_id="accounts_send_phone_code",
    summary="Text a six-digit code to a phone number (to sign in or sign up)",
    **PUBLIC,
)
def send_phone_code(request: HttpRequest, payload: PhoneCodeIn):
    if payload.purpose == "reset_password":
        actions.password_reset_request(phone=payload.phone, address=actions.client_address(request))
    else:
        actions.phone_code_send(
            phone=payload.phone, purpose=payload.purpose, address=actions.client_address(request)
        )
    return Status(
        202, {"expires_in": settings.SHIFA_CODE_SECONDS, "resend_after": settings.SHIFA_CODE_RESEND_SECONDS}
    )


@router.post(
    "/auth/phone/tokens",
    response=SIGN_IN,
    operation_id="accounts_create_token_phone",
    summary="Sign in (or sign up as a patient) with the code texted to the phone",
    **PUBLIC,
)
def create_token_phone(request: HttpRequest, payload: PhoneSignInIn):
    return _answer(
        actions.api_phone_sign_in(
            request,
            phone=payload.phone,
            code=payload.code,
            full_name=payload.full_name,
            name=payload.name,
            language=payload.language,
        )
    )


@router.post(
    "/auth/providers/nonces",
    response={201: NonceOut, **ERRORS, 429: ProblemOut},
    operation_id="accounts_create_provider_nonce",
    summary="A single-use nonce for a Google or Apple sign-in from the app (ten minutes)",
    **PUBLIC,
)
def create_provider_nonce(request: HttpRequest):
    return Status(201, actions.provider_nonce_issue(address=actions.client_address(request)))


@router.post(
    "/auth/providers/{provider}/tokens",
    response=SIGN_IN,
    operation_id="accounts_create_token_provider",
    summary="Sign in (or sign up as a patient) with a Google or Apple ID token",
    **PUBLIC,
)
def create_token_provider(request: HttpRequest, provider: str, payload: ProviderTokenIn):
    return _answer(
        actions.api_provider_sign_in(
            request,
            provider=provider,
            id_token=payload.id_token,
            nonce=payload.nonce,
            full_name=payload.full_name,
            name=payload.name,
            language=payload.language,
        )
    )


@router.post(
    "/auth/sign-up",
    response={201: SignUpOut, **ERRORS, 409: ProblemOut, 503: ProblemOut},
    operation_id="accounts_sign_up",
    summary="Sign up as a patient with email and password; a link to confirm the email is sent",
    **PUBLIC,
)
def sign_up(request: HttpRequest, payload: SignUpIn):
    user = actions.email_sign_up(
        email=payload.email,
        password=payload.password,
        full_name=payload.full_name,
        phone=payload.phone,
        language=payload.language,
        address=actions.client_address(request),
    )
    return Status(201, {"user": user, "verification_sent": True})


@router.post(
    "/auth/email/verify",
    response={200: UserOut, **ERRORS},
    operation_id="accounts_verify_email",
    summary="Confirm an email address with the key from the emailed link",
    **PUBLIC,
)
def verify_email(request: HttpRequest, payload: EmailKeyIn):
    return actions.email_verify(key=payload.key)


@router.post(
    "/auth/email/resend",
    response={202: None, **ERRORS, 429: ProblemOut, 503: ProblemOut},
    operation_id="accounts_resend_verification",
    summary="Send the confirmation link again (the answer never says whether the account exists)",
    **PUBLIC,
)
def resend_verification(request: HttpRequest, payload: EmailIn):
    actions.email_verification_resend(email=payload.email, address=actions.client_address(request))
    return HttpResponse(status=202)


@router.post(
    "/auth/password-reset",
    response={202: None, **ERRORS, 429: ProblemOut, 503: ProblemOut},
    operation_id="accounts_request_password_reset",
    summary="Send a reset link by email or a code by SMS (the answer never says whether the account exists)",
    **PUBLIC,
)
def request_password_reset(request: HttpRequest, payload: PasswordResetIn):
    actions.password_reset_request(
        email=payload.email, phone=payload.phone, address=actions.client_address(request)
    )
    return HttpResponse(status=202)


@router.post(
    "/auth/password-reset/link",
    response={204: None, **ERRORS},
    operation_id="accounts_reset_password_link",
    summary="Set a new password with the emailed link's uid and token",
    **PUBLIC,
)
def reset_password_link(request: HttpRequest, payload: PasswordResetLinkIn):
    actions.password_reset_by_link(uid=payload.uid, token=payload.token, password=payload.password)
    return HttpResponse(status=204)


@router.post(
    "/auth/password-reset/code",
    response={204: None, **ERRORS, 429: ProblemOut},
    operation_id="accounts_reset_password_code",
    summary="Set a new password with the code texted to the phone",
    **PUBLIC,
)
def reset_password_code(request: HttpRequest, payload: PasswordResetCodeIn):
    actions.password_reset_by_code(request, phone=payload.phone, code=payload.code, password=payload.password)
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


@router.get(
    "/me/identities",
    response={200: list[IdentityOut], **ERRORS},
    operation_id="accounts_list_identities",
    summary="The Google and Apple accounts linked to the signed-in user",
    **operation("accounts.manage_security"),
)
def list_identities(request: HttpRequest):
    return queries.identity_list(user=request.actor.user)


@router.post(
    "/me/identities",
    response={201: IdentityOut, **ERRORS, 409: ProblemOut, 503: ProblemOut},
    operation_id="accounts_link_identity",
    summary="Link a Google or Apple account (proved by its ID token)",
    **operation("accounts.manage_security"),
)
def link_identity(request: HttpRequest, payload: IdentityLinkIn):
    actions.require_recent_sign_in(actions.signed_in_at(request))
    return Status(
        201,
        actions.identity_link(
            user=request.actor.user, provider=payload.provider, id_token=payload.id_token, nonce=payload.nonce
        ),
    )


@router.delete(
    "/me/identities/{identity_id}",
    response={204: None, **ERRORS, 409: ProblemOut},
    operation_id="accounts_unlink_identity",
    summary="Unlink a Google or Apple account (one way to sign in always remains)",
    **operation("accounts.manage_security"),
)
def unlink_identity(request: HttpRequest, identity_id: uuid.UUID):
    actions.identity_unlink(user=request.actor.user, identity_id=identity_id)
    return HttpResponse(status=204)


@router.post(
    "/me/authenticator",
    response={201: TotpSetupOut, **ERRORS, 409: ProblemOut},
    operation_id="accounts_begin_authenticator",
    summary="Start setting up an authenticator app: its secret and QR code",
    **operation("accounts.manage_security"),
)
def begin_authenticator(request: HttpRequest):
    actions.require_recent_sign_in(actions.signed_in_at(request))
    return Status(201, actions.totp_begin(user=request.actor.user))


@router.post(
    "/me/authenticator/remove",
    response={204: None, **ERRORS, 429: ProblemOut},
    operation_id="accounts_remove_authenticator",
    summary="Remove the authenticator app (with a current code or a recovery code); ends every API sign-in",
    **operation("accounts.manage_security"),
)
def remove_authenticator(request: HttpRequest, payload: CodeIn):
    actions.totp_remove(user=request.actor.user, code=payload.code, address=actions.client_address(request))
    return HttpResponse(status=204)


@router.post(
    "/me/authenticator/confirm",
    response={200: RecoveryCodesOut, **ERRORS, 409: ProblemOut},
    operation_id="accounts_confirm_authenticator",
    summary="Finish setting up the authenticator app with a first code; returns recovery codes (shown once)",
    **operation("accounts.manage_security"),
)
def confirm_authenticator(request: HttpRequest, payload: CodeIn):
    actions.require_recent_sign_in(actions.signed_in_at(request))
    return {"recovery_codes": actions.totp_confirm(user=request.actor.user, code=payload.code)}


@router.post(
    "/me/recovery-codes",
    response={200: RecoveryCodesOut, **ERRORS, 429: ProblemOut},
    operation_id="accounts_regenerate_recovery_codes",
    summary="Replace the recovery codes (needs a current authenticator code)",
    **operation("accounts.manage_security"),
)
def regenerate_recovery_codes(request: HttpRequest, payload: CodeIn):
    codes = actions.recovery_codes_regenerate(
        user=request.actor.user, code=payload.code, address=actions.client_address(request)
    )
    return {"recovery_codes": codes}

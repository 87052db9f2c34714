"""Writes of the accounts domain."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import phonenumbers
from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from shifa.core import timezones
from shifa.core.errors import Conflict, FieldError, NotAuthenticated, RateLimited, ValidationFailed

from . import lockout
from .models import ApiToken, SignInThrottle, User

TOKEN_PREFIX = "shf_"
TOKEN_LIFETIME = dt.timedelta(hours=12)


def normalize_phone(raw: str, region: str = "JO") -> str:
    """E.164 form of ``raw`` (a local Jordanian number is accepted); ValidationFailed if it is not a number."""
    if not raw:
        return ""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationFailed(
            errors=[FieldError("phone", "invalid_phone", _("Enter a valid phone number."))]
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _check_password_rules(password: str, user: User) -> None:
    """Django's validators (length, common passwords, all digits, too like the account): 422 per rule."""
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationFailed(
            errors=[
                FieldError("password", error.code or "invalid", str(error.message % (error.params or {})))
                for error in exc.error_list
            ]
        ) from None


def user_create(
    *,
    email: str,
    full_name: str,
    password: str | None = None,
    phone: str = "",
    language: str = "ar",
    is_platform_admin: bool = False,
) -> User:
    """Create a user; the email is unique regardless of case."""
    user = User(
        email=email.strip().lower(),
        full_name=full_name.strip(),
        phone=normalize_phone(phone),
        language=language,
        is_platform_admin=is_platform_admin,
    )
    if password:
        _check_password_rules(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:
        raise Conflict(
            _("An account with this email or phone number already exists."), code="account_exists"
        ) from exc
    return user


def hash_token(token: str) -> str:
    """The stored form of a bearer token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _throttles(email: str, address: str | None) -> list[tuple[str, lockout.Policy]]:
    keys = [(lockout.account_key(email), lockout.ACCOUNT)]
    if lockout.address_key(address):
        keys.append((lockout.address_key(address), lockout.ADDRESS))
    return keys


def _locked_until(keys: list[tuple[str, lockout.Policy]]) -> dt.datetime | None:
    return (
        SignInThrottle.objects.filter(key__in=[k for k, _ in keys], locked_until__gt=timezones.now())
        .order_by("-locked_until")
        .values_list("locked_until", flat=True)
        .first()
    )


def _record_failure(keys: list[tuple[str, lockout.Policy]]) -> None:
    now = timezones.now()
    with transaction.atomic():
        for key, policy in keys:
            throttle, _created = SignInThrottle.objects.select_for_update().get_or_create(key=key)
            throttle.failures += 1
            throttle.last_failure_at = now
            lock = policy.lock_for(throttle.failures)
            throttle.locked_until = now + lock if lock else None
            throttle.save(update_fields=["failures", "last_failure_at", "locked_until", "updated_at"])


def _record_success(email: str) -> None:
    SignInThrottle.objects.filter(key=lockout.account_key(email)).delete()


def password_sign_in(request, *, email: str, password: str, address: str | None = None) -> User:
    """Check an email and password, with brute-force protection; raise RateLimited while locked out and
    NotAuthenticated for wrong credentials (the same answer whether or not the email exists)."""
    keys = _throttles(email, address)
    until = _locked_until(keys)
    if until is not None:
        seconds = max(1, int((until - timezones.now()).total_seconds()) + 1)
        raise RateLimited(
            _("Too many failed attempts. Try again in %(seconds)s seconds.") % {"seconds": seconds},
            code="locked_out",
            headers={"Retry-After": str(seconds)},
        )
    user = authenticate(request, email=email, password=password)
    if user is None:
        _record_failure(keys)
        raise NotAuthenticated(_("The email or password is not correct."), code="invalid_credentials")
    _record_success(email)
    return user


def client_address(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


def token_issue(*, email: str, password: str, name: str = "", request=None) -> tuple[str, ApiToken]:
    """Sign in with a password and get a bearer token (shown once; only its hash is kept)."""
    user = password_sign_in(request, email=email, password=password, address=client_address(request))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken.objects.create(
        user=user, token_hash=hash_token(token), name=name[:100], expires_at=timezones.now() + TOKEN_LIFETIME
    )
    return token, record


def token_authenticate(token: str) -> User | None:
    """The active user behind a bearer token that is neither expired nor revoked; marks it used."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        return None
    now = timezones.now()
    record = (
        ApiToken.objects.select_related("user")
        .filter(
            token_hash=hash_token(token), revoked_at__isnull=True, expires_at__gt=now, user__is_active=True
        )
        .first()
    )
    if record is None:
        return None
    if record.last_used_at is None or now - record.last_used_at > dt.timedelta(minutes=5):
        ApiToken.objects.filter(pk=record.pk).update(last_used_at=now)
    return record.user


def token_revoke(*, token: str) -> None:
    """Revoke the given token (sign out of the API)."""
    ApiToken.objects.filter(token_hash=hash_token(token), revoked_at__isnull=True).update(
        revoked_at=timezones.now()
    )


def user_set_language(*, user: User, language: str) -> None:
    """Remember the user's language for pages, messages and notifications."""
    if language not in {"ar", "en"}:
        raise ValidationFailed(
            errors=[FieldError("language", "invalid_choice", _("Choose Arabic or English."))]
        )
    if user.language != language:
        user.language = language
        user.save(update_fields=["language", "updated_at"])


def session_sign_in(request, *, email: str, password: str) -> User:
    """Check the password (with brute-force protection) and start a web session (a new session key;
    ``last_login`` is recorded). Raises like ``password_sign_in``."""
    from django.contrib.auth import login

    user = password_sign_in(request, email=email, password=password, address=client_address(request))
    login(request, user)
    return user


def session_sign_out(request) -> None:
    """End the web session."""
    from django.contrib.auth import logout

    logout(request)

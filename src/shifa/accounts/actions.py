"""Writes of the accounts domain."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Callable

import phonenumbers
from django.conf import settings
from django.contrib.auth import authenticate
from django.core import signing
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from shifa.core import crypto, timezones
from shifa.core.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotAuthenticated,
    Problem,
    RateLimited,
    ValidationFailed,
)

from . import lockout, oidc, tokens, totp
from .emails import email_key, normalize_email
from .models import (
    CodePurpose,
    ExternalIdentity,
    OneTimeCode,
    ProviderNonce,
    RecoveryCode,
    RefreshToken,
    SignInThrottle,
    TokenFamily,
    TotpDevice,
    User,
)
from .queries import second_factor_marker


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
    email: str = "",
    full_name: str,
    password: str | None = None,
    phone: str = "",
    language: str = "ar",
    is_platform_admin: bool = False,
    email_verified: bool = False,
    phone_verified: bool = False,
) -> User:
    """Create a user; the email is unique regardless of case."""
    if not email.strip() and not phone:
        raise ValidationFailed(
            errors=[FieldError("email", "required", _("Give an email address or a phone number."))]
        )
    user = User(
        email=normalize_email(email) if email.strip() else "",
        full_name=full_name.strip(),
        phone=normalize_phone(phone),
        language=language,
        is_platform_admin=is_platform_admin,
        email_verified_at=timezones.now() if email_verified and email.strip() else None,
        phone_verified_at=timezones.now() if phone_verified and phone else None,
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


def _throttles(identifier: str, address: str | None) -> list[tuple[str, lockout.Policy]]:
    """The lockout keys guarding ``identifier`` (an email, a phone number, ``mfa:<user>``) from ``address``."""
    keys = [(lockout.account_key(identifier), lockout.ACCOUNT)]
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


def _locked_out(until: dt.datetime) -> RateLimited:
    seconds = max(1, int((until - timezones.now()).total_seconds()) + 1)
    return RateLimited(
        _("Too many failed attempts. Try again in %(seconds)s seconds.") % {"seconds": seconds},
        code="locked_out",
        headers={"Retry-After": str(seconds)},
    )


def _refuse_if_locked(keys: list[tuple[str, lockout.Policy]]) -> None:
    until = _locked_until(keys)
    if until is not None:
        raise _locked_out(until)


def _attempt(keys: list[tuple[str, lockout.Policy]]) -> None:
    """Count an attempt against every key *before* it is checked, refusing while any key is locked. The rows
    are locked in key order for the check and the count, so parallel attempts queue up and cannot slip past
    the limit together. A right answer gives the count back (``_attempt_succeeded``)."""
    now = timezones.now()
    policies = dict(keys)
    with transaction.atomic():
        for key in sorted(policies):
            SignInThrottle.objects.get_or_create(key=key)
        rows = list(SignInThrottle.objects.select_for_update().filter(key__in=policies).order_by("key"))
        until = max((r.locked_until for r in rows if r.locked_until and r.locked_until > now), default=None)
        if until is not None:
            raise _locked_out(until)
        for row in rows:
            policy = policies[row.key]
            if row.last_failure_at is not None and now - row.last_failure_at > policy.forget_after:
                row.failures = 0
            row.failures += 1
            row.last_failure_at = now
            lock = policy.lock_for(row.failures)
            row.locked_until = now + lock if lock else None
            row.save(update_fields=["failures", "last_failure_at", "locked_until", "updated_at"])


def _attempt_succeeded(keys: list[tuple[str, lockout.Policy]]) -> None:
    """The attempt was right: the identifier's count is cleared; the address keeps its earlier failures (an
    attacker's own account must not reset the count of the address it attacks from) but not this attempt."""
    (own_key, _policy), *others = keys
    with transaction.atomic():
        SignInThrottle.objects.filter(key=own_key).delete()
        for row in SignInThrottle.objects.select_for_update().filter(key__in=[k for k, _ in others]):
            row.failures = max(0, row.failures - 1)
            if dict(others)[row.key].lock_for(row.failures) is None:
                row.locked_until = None
            row.save(update_fields=["failures", "locked_until", "updated_at"])


def _clear_lockout(identifier: str) -> None:
    SignInThrottle.objects.filter(key=lockout.account_key(identifier)).delete()


def password_sign_in(request, *, email: str, password: str, address: str | None = None) -> User:
    """Check an email and password, with brute-force protection; raise RateLimited while locked out and
    NotAuthenticated for wrong credentials (the same answer whether or not the email exists)."""
    keys = _throttles(email_key(email) or email, address)
    _attempt(keys)
    user = authenticate(request, email=email, password=password)
    if user is None:
        raise NotAuthenticated(_("The email or password is not correct."), code="invalid_credentials")
    _attempt_succeeded(keys)
    if user.email and user.email_verified_at is None and user.phone_verified_at is None:
        raise Forbidden(
            _("Confirm your email address first: open the link we sent you."), code="email_unverified"
        )
    return user


def _count_in_window(key: str, window: lockout.Window) -> int | None:
    """Count a request against ``key`` in the current window; the seconds until the window ends once over the
    limit, else None. The counter lives in the cache: Redis, shared by every process, when REDIS_URL is set."""
    now = timezones.now().timestamp()
    start = int(now // window.seconds)
    cache_key = f"shifa:rate:{key}:{start}"
    cache.add(cache_key, 0, timeout=window.seconds + 5)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # evicted between the two calls
        cache.set(cache_key, 1, timeout=window.seconds + 5)
        count = 1
    if count <= window.limit:
        return None
    return max(1, int((start + 1) * window.seconds - now) + 1)


def search_count(*, user: User | None, address: str | None) -> None:
    """Count one search of the doctor directory against the signed-in user and the client address (the page
    and the API alike); raise RateLimited, with Retry-After, while either is over its limit."""
    keys = []
    if user is not None and user.is_authenticated:
        keys.append((f"search:user:{user.pk}", lockout.SEARCHES))
    if address:
        keys.append((f"search:{lockout.address_key(address)}", lockout.SEARCHES_FROM_ADDRESS))
    waits = [wait for key, window in keys if (wait := _count_in_window(key, window)) is not None]
    if waits:
        seconds = max(waits)
        raise RateLimited(
            _("Too many searches. Try again in %(seconds)s seconds.") % {"seconds": seconds},
            code="too_many_searches",
            headers={"Retry-After": str(seconds)},
        )


def client_address(request) -> str | None:
    return request.META.get("REMOTE_ADDR") if request is not None else None


def user_set_language(*, user: User, language: str) -> None:
    """Remember the user's language for pages, messages and notifications."""
    if language not in {"ar", "en"}:
        raise ValidationFailed(
            errors=[FieldError("language", "invalid_choice", _("Choose Arabic or English."))]
        )
    if user.language != language:
        user.language = language
        user.save(update_fields=["language", "updated_at"])


SESSION_MFA_PENDING = "shifa_mfa_pending"
#: The id of the authenticator app this session passed (see ``queries.second_factor_marker``), else False.
SESSION_MFA_PASSED = "shifa_mfa_passed"
#: When this session signed in (a POSIX timestamp): changing how one signs in needs a recent sign-in.
SESSION_SIGNED_IN_AT = "shifa_signed_in_at"
RECENT_SIGN_IN = dt.timedelta(minutes=15)


def require_recent_sign_in(signed_in_at: dt.datetime | None) -> None:
    """Changing how an account signs in (an authenticator app, a linked Google or Apple account) needs a sign-in
    from the last few minutes, so a stolen session or refresh token cannot make itself permanent."""
    if signed_in_at is None or timezones.now() - signed_in_at > RECENT_SIGN_IN:
        raise Forbidden(
            _("For your safety, sign in again to change how you sign in."), code="recent_sign_in_required"
        )


def signed_in_at(request) -> dt.datetime | None:
    """When the caller signed in: the token family's start (API) or the session's sign-in (pages)."""
    claims = getattr(request, "token_claims", None)
    if claims is not None:
        return (
            TokenFamily.objects.filter(external_id=claims.family_id)
            .values_list("created_at", flat=True)
            .first()
        )
    stamp = request.session.get(SESSION_SIGNED_IN_AT) if hasattr(request, "session") else None
    return dt.datetime.fromtimestamp(stamp, tz=dt.UTC) if stamp else None


def session_begin(request, user: User) -> bool:
    """Start a web session for ``user`` who passed the first factor. When an authenticator app guards the
    account, only a pending ticket is kept and False is returned: the second step completes the sign-in."""
    from django.contrib.auth import login

    if user.has_mfa:
        # A new session key already: a session id planted before the password must not carry its ticket.
        request.session.cycle_key()
        request.session[SESSION_MFA_PENDING] = mfa_pending_token(user)
        return False
    login(request, user)
    request.session[SESSION_MFA_PASSED] = False
    request.session[SESSION_SIGNED_IN_AT] = timezones.now().timestamp()
    return True


def session_sign_in(request, *, email: str, password: str) -> bool:
    """Check the password (with brute-force protection) and start a web session (a new session key;
    ``last_login`` is recorded); False when the second factor is still owed. Raises like
    ``password_sign_in``."""
    user = password_sign_in(request, email=email, password=password, address=client_address(request))
    return session_begin(request, user)


def session_mfa_user(request) -> User | None:
    """The user who owes this session a second factor, if any."""
    ticket = request.session.get(SESSION_MFA_PENDING)
    if not ticket:
        return None
    try:
        return _mfa_pending_user(ticket)
    except NotAuthenticated:
        return None


def session_mfa_complete(request, *, code: str) -> User:
    from django.contrib.auth import login

    user = session_mfa_user(request)
    if user is None:
        raise NotAuthenticated(_("This sign-in has expired. Start again."), code="mfa_ticket_invalid")
    mfa_verify(user=user, code=code, address=client_address(request))
    request.session.pop(SESSION_MFA_PENDING, None)
    login(request, user)
    request.session[SESSION_MFA_PASSED] = second_factor_marker(user)
    request.session[SESSION_SIGNED_IN_AT] = timezones.now().timestamp()
    return user


def session_totp_remove(request, *, code: str) -> None:
    totp_remove(user=request.user, code=code, address=client_address(request))
    request.session[SESSION_MFA_PASSED] = False


def session_totp_confirm(request, *, code: str) -> list[str]:
    """Enrol the signed-in user's authenticator app; proving the code also completes this session's second
    factor."""
    codes = totp_confirm(user=request.user, code=code)
    request.session.cycle_key()
    request.session[SESSION_MFA_PASSED] = second_factor_marker(request.user)
    return codes


def session_sign_out(request) -> None:
    """End the web session."""
    from django.contrib.auth import logout

    logout(request)


# --- API tokens: short-lived access JWTs and rotating refresh tokens, grouped in families -----------------


def _new_refresh_token(family: TokenFamily) -> str:
    token = "shr_" + secrets.token_urlsafe(32)
    RefreshToken.objects.create(
        family=family,
        token_digest=crypto.digest("refresh_token", token),
        expires_at=timezones.now() + dt.timedelta(days=settings.SHIFA_REFRESH_TOKEN_DAYS),
    )
    return token


def _token_pair(family: TokenFamily, refresh_token: str) -> dict:
    access, expires_at = tokens.encode_access(
        user_id=family.user.external_id, family_id=family.external_id, mfa=family.mfa_verified
    )
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_at": expires_at,
        "refresh_token": refresh_token,
        "user": family.user,
    }


def token_pair_issue(*, user: User, name: str = "", mfa: bool = False) -> dict:
    """Start a token family for a signed-in API client: an access token and its first refresh token."""
    with transaction.atomic():
        family = TokenFamily.objects.create(user=user, name=name[:100], mfa_verified=mfa)
        refresh = _new_refresh_token(family)
    return _token_pair(family, refresh)


def token_refresh(*, refresh_token: str) -> dict:
    """Spend a refresh token for a new pair. A refresh token presented twice was copied: the whole family is
    revoked, so neither the thief nor the owner keeps access, and the owner signs in again."""
    invalid = NotAuthenticated(_("Sign in again."), code="invalid_refresh_token")
    digests = crypto.digests("refresh_token", refresh_token.strip())
    now = timezones.now()
    with transaction.atomic():
        record = (
            RefreshToken.objects.select_for_update()
            .select_related("family", "family__user")
            .filter(token_digest__in=digests)
            .first()
        )
        if record is None or record.family.revoked_at is not None or not record.family.user.is_active:
            raise invalid
        if record.used_at is not None:
            _family_revoke(record.family, reason="refresh_token_reused")
        elif record.expires_at <= now:
            raise invalid
        else:
            record.used_at = now
            record.save(update_fields=["used_at", "updated_at"])
            TokenFamily.objects.filter(pk=record.family.pk).update(last_used_at=now)
            return _token_pair(record.family, _new_refresh_token(record.family))
    raise NotAuthenticated(
        _("This sign-in was ended for safety. Sign in again."), code="refresh_token_reused"
    )


def _family_revoke(family: TokenFamily, *, reason: str) -> None:
    TokenFamily.objects.filter(pk=family.pk, revoked_at__isnull=True).update(
        revoked_at=timezones.now(), revoked_reason=reason
    )


def token_family_revoke(*, family_id: uuid.UUID) -> None:
    """Sign an API client out: its access and refresh tokens stop working at once."""
    TokenFamily.objects.filter(external_id=family_id, revoked_at__isnull=True).update(
        revoked_at=timezones.now(), revoked_reason="signed_out"
    )


def token_families_revoke_all(*, user: User, reason: str) -> None:
    TokenFamily.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=timezones.now(), revoked_reason=reason
    )


def access_token_authenticate(token: str) -> tuple[User, tokens.AccessClaims] | None:
    """The active user behind a valid access token whose family is still live (marks the family used)."""
    claims = tokens.decode_access(token)
    if claims is None:
        return None
    family = (
        TokenFamily.objects.select_related("user")
        .filter(external_id=claims.family_id, revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if family is None or family.user.external_id != claims.user_id:
        return None
    now = timezones.now()
    if family.last_used_at is None or now - family.last_used_at > dt.timedelta(minutes=5):
        TokenFamily.objects.filter(pk=family.pk).update(last_used_at=now)
    return family.user, claims


# --- Second factor -------------------------------------------------------------------------------------------

MFA_TOKEN_SALT = "shifa.accounts.mfa-pending"
MFA_TOKEN_SECONDS = 5 * 60


def mfa_pending_token(user: User) -> str:
    """A short-lived ticket saying: this user passed the first factor and now owes the second."""
    return signing.dumps({"u": str(user.external_id)}, salt=MFA_TOKEN_SALT, compress=True)


def _mfa_pending_user(ticket: str) -> User:
    try:
        data = signing.loads(ticket, salt=MFA_TOKEN_SALT, max_age=MFA_TOKEN_SECONDS)
        user = User.objects.filter(external_id=uuid.UUID(data["u"]), is_active=True).first()
    except (signing.BadSignature, KeyError, ValueError, TypeError):
        user = None
    if user is None:
        raise NotAuthenticated(_("This sign-in has expired. Start again."), code="mfa_ticket_invalid")
    return user


def mfa_verify(*, user: User, code: str, address: str | None = None) -> None:
    """Check an authenticator code (each code works once) or a recovery code (spent on use), under the same
    lockout as passwords."""
    if not TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists():
        raise Forbidden(_("Set up an authenticator app first."), code="mfa_not_enrolled")
    keys = _throttles(f"mfa:{user.pk}", address)
    _attempt(keys)
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user, confirmed_at__isnull=False).first()
        if device is None:
            raise Forbidden(_("Set up an authenticator app first."), code="mfa_not_enrolled")
        step = totp.matching_step(
            crypto.decrypt(device.secret_encrypted), code, at=timezones.now().timestamp()
        )
        if step is not None and step > device.last_step:
            device.last_step = step
            device.save(update_fields=["last_step", "updated_at"])
            ok = True
        else:
            recovery = (
                RecoveryCode.objects.select_for_update()
                .filter(
                    user=user,
                    used_at__isnull=True,
                    code_digest__in=crypto.digests("recovery_code", totp.normalize_recovery_code(code)),
                )
                .first()
            )
            ok = recovery is not None
            if ok:
                recovery.used_at = timezones.now()
                recovery.save(update_fields=["used_at", "updated_at"])
    if not ok:
        raise ValidationFailed(
            errors=[FieldError("code", "invalid_code", _("This code is not correct or was already used."))]
        )
    _attempt_succeeded(keys)


def totp_begin(*, user: User) -> dict:
    """Start enrolling an authenticator app: a new secret (replacing an unfinished one)."""
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user).first()
        if device is not None and device.confirmed_at is not None:
            raise Conflict(_("An authenticator app is already set up."), code="mfa_already_enrolled")
        secret = totp.new_secret()
        if device is None:
            TotpDevice.objects.create(user=user, secret_encrypted=crypto.encrypt(secret))
        else:
            device.secret_encrypted = crypto.encrypt(secret)
            device.last_step = 0
            device.save(update_fields=["secret_encrypted", "last_step", "updated_at"])
    uri = totp.provisioning_uri(secret, user.email or user.phone)
    return {"secret": secret, "uri": uri, "qr_svg": totp.qr_svg(uri)}


def totp_confirm(*, user: User, code: str) -> list[str]:
    """Finish enrolment with a first code from the app; returns ten recovery codes (shown once)."""
    with transaction.atomic():
        device = TotpDevice.objects.select_for_update().filter(user=user).first()
        if device is None:
            raise Conflict(_("Start setting up the authenticator app first."), code="mfa_not_started")
        if device.confirmed_at is not None:
            raise Conflict(_("An authenticator app is already set up."), code="mfa_already_enrolled")
        step = totp.matching_step(
            crypto.decrypt(device.secret_encrypted), code, at=timezones.now().timestamp()
        )
        if step is None:
            raise ValidationFailed(
                errors=[
                    FieldError("code", "invalid_code", _("This code is not correct. Check the app's clock."))
                ]
            )
        device.confirmed_at = timezones.now()
        device.last_step = step
        device.save(update_fields=["confirmed_at", "last_step", "updated_at"])
        return _replace_recovery_codes(user)


def _replace_recovery_codes(user: User) -> list[str]:
    codes = totp.new_recovery_codes()
    RecoveryCode.objects.filter(user=user).delete()
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(user=user, code_digest=crypto.digest("recovery_code", code)) for code in codes]
    )
    return codes


def recovery_codes_regenerate(*, user: User, code: str, address: str | None = None) -> list[str]:
    """New recovery codes (the old ones stop working); needs a current authenticator code."""
    mfa_verify(user=user, code=code, address=address)
    with transaction.atomic():
        return _replace_recovery_codes(user)


def totp_remove(*, user: User, code: str, address: str | None = None) -> None:
    """Take the authenticator app off the account (a new phone, a lost one: a recovery code works too). Every
    API sign-in of the account ends; staff set up the new app before the consoles open again."""
    mfa_verify(user=user, code=code, address=address)
    with transaction.atomic():
        TotpDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
        token_families_revoke_all(user=user, reason="authenticator_removed")
        _security_notice(user, "security.authenticator_removed")


# --- Sign-in flows for API clients ---------------------------------------------------------------------------


def _signed_in(user: User, *, name: str, mfa: bool = False) -> dict:
    """Tokens for ``user``, or — when an authenticator app guards the account — a ticket for the second step."""
    if user.has_mfa and not mfa:
        return {"mfa_required": True, "mfa_token": mfa_pending_token(user)}
    return token_pair_issue(user=user, name=name, mfa=mfa)


def api_password_sign_in(request, *, email: str, password: str, name: str = "") -> dict:
    user = password_sign_in(request, email=email, password=password, address=client_address(request))
    return _signed_in(user, name=name)


def api_mfa_sign_in(request, *, mfa_token: str, code: str, name: str = "") -> dict:
    user = _mfa_pending_user(mfa_token)
    mfa_verify(user=user, code=code, address=client_address(request))
    return token_pair_issue(user=user, name=name, mfa=True)


# --- One-time codes by SMS -----------------------------------------------------------------------------------


def _code_message(code: str, purpose: str) -> str:
    minutes = settings.SHIFA_CODE_SECONDS // 60
    if purpose == CodePurpose.RESET_PASSWORD:
        text = _("Your Shifa password reset code is %(code)s. It expires in %(minutes)s minutes.")
    else:
        text = _("Your Shifa code is %(code)s. It expires in %(minutes)s minutes. Never share it.")
    return text % {"code": code, "minutes": minutes}


def phone_code_send(*, phone: str, purpose: str, address: str | None = None, deliver: bool = True) -> None:
    """Text a new six-digit code to ``phone``. Throttled per number: one per minute and a few per hour; the
    answer is the same whether or not an account uses the number."""
    from shifa.integrations.sms import SmsError, send_sms

    phone = normalize_phone(phone)
    if not phone:
        raise ValidationFailed(errors=[FieldError("phone", "required", _("Enter your phone number."))])
    if purpose not in CodePurpose.values:
        raise ValidationFailed(errors=[FieldError("purpose", "invalid_choice", _("Unknown purpose."))])
    _refuse_if_locked(_throttles(phone, address))
    sends = [(lockout.from_address("sms", address), lockout.SENDS)] if address else []
    if sends:
        _refuse_if_locked(sends)
    now = timezones.now()
    code = f"{secrets.randbelow(10**6):06d}"
    wait = settings.SHIFA_CODE_RESEND_SECONDS
    with transaction.atomic():
        # One sender per number at a time: parallel requests cannot all pass the limits below.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"shifa.phone-code:{phone}"])
        recent = OneTimeCode.objects.filter(phone=phone, created_at__gte=now - dt.timedelta(hours=1))
        last = recent.order_by("-created_at").first()
        if last is not None and (now - last.created_at).total_seconds() < wait:
            seconds = int(wait - (now - last.created_at).total_seconds()) + 1
            raise RateLimited(
                _("A code was just sent. You can ask for another in %(seconds)s seconds.")
                % {"seconds": seconds},
                code="code_recently_sent",
                headers={"Retry-After": str(seconds)},
            )
        if recent.count() >= settings.SHIFA_CODES_PER_HOUR:
            raise RateLimited(
                _("Too many codes were sent to this number. Try again later."),
                code="too_many_codes",
                headers={"Retry-After": "3600"},
            )
        if sends:
            _attempt(sends)  # counts the sends from this address
        # A new code replaces any earlier one for the same purpose.
        replaced = list(
            OneTimeCode.objects.filter(phone=phone, purpose=purpose, consumed_at__isnull=True).values_list(
                "pk", flat=True
            )
        )
        OneTimeCode.objects.filter(pk__in=replaced).update(consumed_at=now)
        record = OneTimeCode.objects.create(
            phone=phone,
            purpose=purpose,
            code_digest=crypto.digest("phone_code", f"{phone}:{purpose}:{code}"),
            expires_at=now + dt.timedelta(seconds=settings.SHIFA_CODE_SECONDS),
        )
    if not deliver:
        return
    try:
        send_sms(phone, _code_message(code, purpose))
    except SmsError as exc:
        from shifa.core.errors import ServiceUnavailable

        # Not sent, so not counted against the number: asking again at once works; and the code the person may
        # hold already (replaced a moment ago) still works.
        with transaction.atomic():
            OneTimeCode.objects.filter(pk=record.pk).delete()
            OneTimeCode.objects.filter(pk__in=replaced, consumed_at=now).update(consumed_at=None)
        raise ServiceUnavailable(
            _("The text message could not be sent. Try again shortly."), code="sms_unavailable"
        ) from exc


def phone_code_check(
    *,
    phone: str,
    purpose: str,
    code: str,
    address: str | None = None,
    before_spending: Callable[[str], None] | None = None,
) -> str:
    """Spend the current code for ``phone``; returns the number in E.164. Wrong codes count against the code
    (five tries) and against the lockout of the number and the client address. ``before_spending`` runs once
    the code is known to be right; if it raises (say, a missing name), the code stays usable."""
    phone = normalize_phone(phone)
    keys = _throttles(phone, address)
    _attempt(keys)
    wrong = ValidationFailed(
        errors=[FieldError("code", "invalid_code", _("This code is not correct or has expired."))]
    )
    now = timezones.now()
    code = "".join(ch for ch in code if ch.isdigit())
    not_yet: Problem | None = None
    with transaction.atomic():
        record = (
            OneTimeCode.objects.select_for_update()
            .filter(phone=phone, purpose=purpose, consumed_at__isnull=True, expires_at__gt=now)
            .order_by("-created_at")
            .first()
        )
        matched = record is not None and crypto.digest_matches(
            "phone_code", f"{phone}:{purpose}:{code}", record.code_digest
        )
        if record is not None and not matched:
            record.attempts += 1
            if record.attempts >= settings.SHIFA_CODE_ATTEMPTS:
                record.consumed_at = now  # no more tries on this code: ask for a new one
            record.save(update_fields=["attempts", "consumed_at", "updated_at"])
        elif matched:
            try:
                if before_spending is not None:
                    before_spending(phone)
            except Problem as problem:
                not_yet = problem  # the code was right: it stays usable
            else:
                record.consumed_at = now
                record.save(update_fields=["consumed_at", "updated_at"])
    if not matched:
        raise wrong
    _attempt_succeeded(keys)
    if not_yet is not None:
        raise not_yet
    return phone


def phone_sign_in(request, *, phone: str, code: str, full_name: str = "", language: str = "ar") -> User:
    """Sign in with a code texted to the phone; a number no account has proved is a sign-up as a patient.

    A number an account holds without having proved it (typed at email sign-up) gives no access to that
    account: the person who proves the number gets their own account and the number moves to it."""

    def name_for_a_new_account(number: str) -> None:
        if (
            not full_name.strip()
            and not User.objects.filter(phone=number, phone_verified_at__isnull=False).exists()
        ):
            raise ValidationFailed(
                errors=[
                    FieldError(
                        "full_name", "required", _("New here? Enter your full name to create your account.")
                    )
                ]
            )

    phone = phone_code_check(
        phone=phone,
        purpose=CodePurpose.SIGN_IN,
        code=code,
        address=client_address(request),
        before_spending=name_for_a_new_account,
    )
    user = User.objects.filter(phone=phone).first()
    if user is not None and user.phone_verified_at is not None:
        if not user.is_active:
            raise Forbidden(_("This account is disabled."), code="account_disabled")
        return user
    with transaction.atomic():
        if user is not None:
            user.phone = ""
            user.save(update_fields=["phone", "updated_at"])
        return patient_account_create(
            full_name=full_name, phone=phone, language=language, phone_verified=True
        )


def phone_number_is_registered(phone: str) -> bool:
    """Whether an account has proved this number (only such a number may reset a password)."""
    return User.objects.filter(phone=normalize_phone(phone), phone_verified_at__isnull=False).exists()


def patient_account_create(
    *,
    full_name: str,
    email: str = "",
    phone: str = "",
    password: str | None = None,
    language: str = "ar",
    email_verified: bool = False,
    phone_verified: bool = False,
) -> User:
    """A new patient: the account and the patient record, together or not at all."""
    from shifa.records.actions import patient_create

    if not full_name.strip():
        raise ValidationFailed(errors=[FieldError("full_name", "required", _("Enter your full name."))])
    with transaction.atomic():
        user = user_create(
            email=email,
            full_name=full_name,
            password=password,
            phone=phone,
            language=language,
            email_verified=email_verified,
            phone_verified=phone_verified,
        )
        patient_create(full_name=full_name, user=user, phone=user.phone)
    return user


def api_phone_sign_in(request, *, phone: str, code: str, full_name: str = "", name: str = "", language="ar"):
    user = phone_sign_in(request, phone=phone, code=code, full_name=full_name, language=language)
    return _signed_in(user, name=name)


# --- Email sign-up and verification --------------------------------------------------------------------------

EMAIL_SALT = "shifa.accounts.verify-email"


def email_verification_key(user: User) -> str:
    return signing.dumps({"u": str(user.external_id), "e": user.email}, salt=EMAIL_SALT, compress=True)


def email_verification_send(*, user: User) -> None:
    from django.urls import reverse

    from shifa.integrations.mail import send_templated_mail

    if not user.email or user.email_verified_at is not None:
        return
    link = settings.SHIFA_PUBLIC_URL + reverse("web:verify_email", args=[email_verification_key(user)])
    send_templated_mail(
        to=user.email,
        language=user.language,
        template="accounts/email/verify_email",
        context={"user": user, "link": link, "days": settings.SHIFA_EMAIL_VERIFICATION_DAYS},
    )


def _limit_mail(kind: str, email: str, address: str | None) -> None:
    """Mail sent on request (links): a few per address and per email, then a growing wait — for unknown
    emails too, so the limit says nothing about who has an account."""
    keys = [(lockout.account_key(f"{kind}:{email_key(email)}"), lockout.RESEND)]
    if address:
        keys.append((lockout.from_address(kind, address), lockout.ADDRESS))
    _attempt(keys)


def email_verification_resend(*, email: str, address: str | None = None) -> None:
    """Send the confirmation link again; a few per address and per email, then a growing wait."""
    _limit_mail("verify-email", email, address)
    user = User.objects.filter(email=email_key(email), is_active=True).first()
    if user is not None:
        email_verification_send(user=user)


def email_sign_up(
    *,
    email: str,
    password: str,
    full_name: str,
    phone: str = "",
    language: str = "ar",
    address: str | None = None,
) -> User:
    """A patient signs up with an email and password; the account works once the emailed link is opened."""
    if not email.strip():
        raise ValidationFailed(errors=[FieldError("email", "required", _("Enter your email address."))])
    if not password:
        raise ValidationFailed(errors=[FieldError("password", "required", _("Choose a password."))])
    _limit_mail("sign-up", email, address)  # each sign-up mails a link: the same limits as resending it
    with transaction.atomic():  # no account is left behind when the link cannot be mailed: trying again works
        user = patient_account_create(
            full_name=full_name, email=email, password=password, phone=phone, language=language
        )
        email_verification_send(user=user)
    return user


def email_verify(*, key: str) -> User:
    """Open the emailed link: the address is confirmed (for the address it was sent to, within its lifetime)."""
    invalid = ValidationFailed(
        errors=[FieldError("key", "invalid_key", _("This link is not valid or has expired."))]
    )
    try:
        data = signing.loads(key, salt=EMAIL_SALT, max_age=settings.SHIFA_EMAIL_VERIFICATION_DAYS * 86400)
        user = User.objects.filter(external_id=uuid.UUID(data["u"]), email=data["e"]).first()
    except (signing.BadSignature, KeyError, ValueError, TypeError):
        user = None
    if user is None:
        raise invalid
    if user.email_verified_at is None:
        user.email_verified_at = timezones.now()
        user.save(update_fields=["email_verified_at", "updated_at"])
    return user


# --- Google and Apple ----------------------------------------------------------------------------------------

PROVIDER_NONCE_SECONDS = 10 * 60


def provider_nonce_issue(*, address: str | None = None) -> dict:
    """A single-use nonce for the app to put in its Google or Apple sign-in request (ten minutes)."""
    if address:
        _attempt([(lockout.from_address("nonce", address), lockout.NONCES)])
    nonce = secrets.token_urlsafe(32)
    now = timezones.now()
    expires_at = now + dt.timedelta(seconds=PROVIDER_NONCE_SECONDS)
    with transaction.atomic():
        ProviderNonce.objects.filter(expires_at__lt=now - dt.timedelta(days=1)).delete()  # tidy as we go
        ProviderNonce.objects.create(digest=crypto.digest("provider_nonce", nonce), expires_at=expires_at)
    return {"nonce": nonce, "expires_at": expires_at}


def _provider_nonce_spend(nonce: str | None) -> str:
    """Spend a nonce we issued; the answer for a missing, unknown, expired or used one is the same 401."""
    rejected = NotAuthenticated(_("This sign-in has expired. Start again."), code="invalid_nonce")
    if not nonce:
        raise rejected
    spent = ProviderNonce.objects.filter(
        digest__in=crypto.digests("provider_nonce", nonce),
        used_at__isnull=True,
        expires_at__gt=timezones.now(),
    ).update(used_at=timezones.now())
    if spent != 1:
        raise rejected
    return nonce


def provider_sign_in(
    *, provider: str, id_token: str, nonce: str | None = None, full_name: str = "", language: str = "ar"
) -> User:
    """Sign in with a Google or Apple ID token. A known identity signs its user in; a new one creates a patient
    account — unless an account already uses the email: then the person must sign in to it and link the
    provider there (two accounts are never merged silently)."""
    identity = oidc.verify_id_token(provider, id_token, nonce=nonce)
    linked = ExternalIdentity.objects.select_related("user").filter(
        provider=provider, subject=identity.subject
    )
    record = linked.first()
    if record is not None:
        if not record.user.is_active:
            raise Forbidden(_("This account is disabled."), code="account_disabled")
        return record.user
    if not identity.email_verified:
        raise ValidationFailed(
            errors=[
                FieldError(
                    "id_token",
                    "email_unverified",
                    _("Your %(provider)s account has no confirmed email address.")
                    % {"provider": provider.title()},
                )
            ]
        )
    if identity.email and User.objects.filter(email=email_key(identity.email)).exists():
        raise Conflict(
            _(
                "An account with this email already exists. Sign in to it, then link %(provider)s in your "
                "account settings."
            )
            % {"provider": provider.title()},
            code="link_required",
        )
    name = full_name.strip() or identity.name or identity.email.split("@")[0]
    with transaction.atomic():
        user = patient_account_create(
            full_name=name, email=identity.email, language=language, email_verified=True
        )
        ExternalIdentity.objects.create(
            user=user, provider=provider, subject=identity.subject, email=identity.email
        )
    return user


def api_provider_sign_in(
    request, *, provider: str, id_token: str, nonce=None, full_name="", name="", language="ar"
):
    oidc.provider_config(provider)
    nonce = _provider_nonce_spend(nonce)
    user = provider_sign_in(
        provider=provider, id_token=id_token, nonce=nonce, full_name=full_name, language=language
    )
    return _signed_in(user, name=name)


def identity_link(*, user: User, provider: str, id_token: str, nonce: str | None = None) -> ExternalIdentity:
    """Link a Google or Apple account to the signed-in user (refused if it belongs to someone else). The ID
    token must carry a nonce we issued, so a token obtained elsewhere cannot be linked."""
    oidc.provider_config(provider)
    identity = oidc.verify_id_token(provider, id_token, nonce=_provider_nonce_spend(nonce))
    with transaction.atomic():
        existing = (
            ExternalIdentity.objects.select_for_update()
            .filter(provider=provider, subject=identity.subject)
            .first()
        )
        if existing is not None:
            if existing.user_id == user.pk:
                return existing
            raise Conflict(
                _("This %(provider)s account is already linked to another Shifa account.")
                % {"provider": provider.title()},
                code="identity_taken",
            )
        linked = ExternalIdentity.objects.create(
            user=user, provider=provider, subject=identity.subject, email=identity.email
        )
        _security_notice(
            user, "security.identity_linked", {"provider": provider.title(), "email": identity.email}
        )
        return linked


def identity_unlink(*, user: User, identity_id: uuid.UUID) -> None:
    """Remove a linked identity, keeping at least one way to sign in."""
    with transaction.atomic():
        identity = (
            ExternalIdentity.objects.select_for_update().filter(user=user, external_id=identity_id).first()
        )
        if identity is None:
            from shifa.core.errors import NotFound

            raise NotFound()
        others = ExternalIdentity.objects.filter(user=user).exclude(pk=identity.pk).exists()
        if not (others or user.has_usable_password() or user.phone_verified_at):
            raise Conflict(
                _("Keep at least one way to sign in: set a password or verify a phone number first."),
                code="last_sign_in_method",
            )
        identity.delete()


# --- Password reset ------------------------------------------------------------------------------------------


def password_reset_request(*, email: str = "", phone: str = "", address: str | None = None) -> None:
    """Send a reset link by email or a code by SMS. The answer never says whether an account exists."""
    from django.contrib.auth.tokens import default_token_generator
    from django.urls import reverse
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from shifa.integrations.mail import send_templated_mail

    if phone:
        # The same limits and answers whether or not an account uses the number; only the text is skipped.
        phone_code_send(
            phone=phone,
            purpose=CodePurpose.RESET_PASSWORD,
            address=address,
            deliver=phone_number_is_registered(phone),
        )
        return
    if not email.strip():
        raise ValidationFailed(
            errors=[FieldError("email", "required", _("Enter your email address or phone number."))]
        )
    _limit_mail("reset-password", email, address)
    user = User.objects.filter(email=email_key(email), is_active=True).first()
    if user is None:
        return
    uid = urlsafe_base64_encode(force_bytes(user.external_id.hex))
    link = settings.SHIFA_PUBLIC_URL + reverse(
        "web:password_reset_confirm", args=[uid, default_token_generator.make_token(user)]
    )
    send_templated_mail(
        to=user.email,
        language=user.language,
        template="accounts/email/password_reset",
        context={"user": user, "link": link, "minutes": settings.PASSWORD_RESET_TIMEOUT // 60},
    )


def _security_notice(user: User, kind: str, data: dict | None = None) -> None:
    """Tell the person about a change to how their account signs in (in the change's transaction)."""
    from shifa.notifications.actions import notify

    notify(
        recipient=user,
        kind=kind,
        data=data or {},
        idempotency_key=f"{kind}:{uuid.uuid4().hex}",
        url="/accounts/security",
    )


def _set_new_password(user: User, password: str) -> None:
    _check_password_rules(password, user)
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password", "updated_at"])
        token_families_revoke_all(user=user, reason="password_reset")
        _security_notice(user, "security.password_changed")
    _clear_lockout(user.email)


def password_reset_by_link(*, uid: str, token: str, password: str) -> User:
    """Set a new password from an emailed link; the link works once (it depends on the old password)."""
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.http import urlsafe_base64_decode

    try:
        user = User.objects.filter(
            external_id=uuid.UUID(urlsafe_base64_decode(uid).decode()), is_active=True
        ).first()
    except (ValueError, TypeError):
        user = None
    if user is None or not default_token_generator.check_token(user, token):
        raise ValidationFailed(
            errors=[FieldError("token", "invalid_key", _("This link is not valid or has expired."))]
        )
    _set_new_password(user, password)
    if user.email_verified_at is None:
        User.objects.filter(pk=user.pk).update(email_verified_at=timezones.now())
    return user


def password_reset_by_code(request, *, phone: str, code: str, password: str) -> User:
    phone = phone_code_check(
        phone=phone, purpose=CodePurpose.RESET_PASSWORD, code=code, address=client_address(request)
    )
    user = User.objects.filter(phone=phone, phone_verified_at__isnull=False, is_active=True).first()
    if user is None:
        raise ValidationFailed(
            errors=[FieldError("code", "invalid_code", _("This code is not correct or has expired."))]
        )
    _set_new_password(user, password)
    return user

"""Writes of the tenancy domain (the full onboarding flow comes with CL-7)."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from shifa.access.models import Role
from shifa.core.errors import Conflict, FieldError, ValidationFailed
from shifa.core.timezones import is_valid_zone

from .models import Clinic, ClinicStatus, Institution, Invitation, Membership


def institution_create(*, owner, name_en: str, name_ar: str) -> Institution:
    """Create an institution owned by its General Admin."""
    return Institution.objects.create(owner=owner, name_en=name_en.strip(), name_ar=name_ar.strip())


def clinic_create(
    *,
    institution: Institution,
    slug: str,
    name_en: str,
    name_ar: str,
    city: str,
    time_zone: str = "Asia/Amman",
    status: str = ClinicStatus.PENDING,
) -> Clinic:
    if not is_valid_zone(time_zone):
        raise ValidationFailed(errors=[FieldError("time_zone", "invalid_choice", _("Unknown time zone."))])
    try:
        with transaction.atomic():
            return Clinic.objects.create(
                institution=institution,
                slug=slug,
                name_en=name_en.strip(),
                name_ar=name_ar.strip(),
                city=city,
                time_zone=time_zone,
                status=status,
            )
    except IntegrityError as exc:
        raise Conflict(_("A clinic with this short name already exists."), code="clinic_exists") from exc


def membership_grant(*, clinic: Clinic, user, role_code: str) -> Membership:
    """Give ``user`` a staff role in ``clinic`` (idempotent: an existing membership is reactivated)."""
    role = Role.objects.filter(code=role_code, kind="staff").first()
    if role is None:
        raise ValidationFailed(errors=[FieldError("role", "invalid_choice", _("Unknown staff role."))])
    with transaction.atomic():
        membership, created = (
            Membership.objects.for_clinic(clinic)
            .select_for_update()
            .get_or_create(clinic=clinic, user=user, role=role)
        )
        if not created and not membership.is_active:
            membership.is_active = True
            membership.save(update_fields=["is_active", "updated_at"])
    return membership


INVITATION_PURPOSE = "invitation"


def invitation_create(*, actor, email: str, role_code: str) -> tuple[Invitation, str]:
    """Invite someone by email to the acting clinic with a staff role ranked below the inviter's own. The
    emailed link holds a secret (only its digest is kept); a newer invitation to the same email and clinic
    replaces an open one."""
    import datetime as dt
    import secrets

    from django.conf import settings

    from shifa.access import catalog
    from shifa.accounts.emails import normalize_email
    from shifa.core import crypto, timezones

    clinic = actor.require_clinic()
    email = normalize_email(email)
    role = Role.objects.filter(code=role_code, kind="staff").first()
    if role is None or role.code == catalog.GENERAL_ADMIN:
        raise ValidationFailed(errors=[FieldError("role", "invalid_choice", _("Choose a staff role."))])
    if catalog.ROLE_RANK.get(role.code, 0) >= catalog.rank(actor.roles):
        raise ValidationFailed(
            errors=[
                FieldError("role", "role_too_high", _("You can only invite people to roles below your own."))
            ]
        )
    if Membership.objects.for_clinic(clinic).filter(user__email=email, role=role, is_active=True).exists():
        raise Conflict(_("This person already has this role in the clinic."), code="already_member")
    token = secrets.token_urlsafe(32)
    now = timezones.now()
    with transaction.atomic():
        Invitation.objects.for_clinic(clinic).filter(
            email=email, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        invitation = Invitation.objects.for_clinic(clinic).create(
            clinic=clinic,
            email=email,
            role=role,
            token_digest=crypto.digest(INVITATION_PURPOSE, token),
            expires_at=now + dt.timedelta(days=settings.SHIFA_INVITATION_DAYS),
            invited_by=actor.user,
        )
    return invitation, token


def invitation_send(*, invitation: Invitation, token: str, language: str) -> None:
    from django.conf import settings
    from django.urls import reverse

    from shifa.integrations.mail import send_templated_mail

    link = settings.SHIFA_PUBLIC_URL + reverse("web:invitation", args=[token])
    send_templated_mail(
        to=invitation.email,
        language=language,
        template="tenancy/email/invitation",
        context={
            "clinic": invitation.clinic.display_name(language),
            "role": invitation.role,
            "inviter": invitation.invited_by.full_name,
            "link": link,
            "expires_at": invitation.expires_at,
        },
    )


def invitation_invite(*, actor, email: str, role_code: str) -> Invitation:
    """Create the invitation and email its link (in the inviter's language)."""
    with transaction.atomic():  # an invitation whose mail failed is not left open: sending again works
        invitation, token = invitation_create(actor=actor, email=email, role_code=role_code)
        invitation_send(invitation=invitation, token=token, language=actor.user.language)
    return invitation


def invitation_revoke(*, actor, invitation_id) -> None:
    from shifa.core import timezones
    from shifa.core.errors import NotFound

    updated = (
        Invitation.objects.for_clinic(actor.require_clinic())
        .filter(external_id=invitation_id, accepted_at__isnull=True, revoked_at__isnull=True)
        .update(revoked_at=timezones.now())
    )
    if not updated:
        raise NotFound()


def invitation_accept(
    *, token: str, user=None, full_name: str = "", password: str = "", language: str = "ar"
):
    """Accept an invitation: the signed-in user whose email it names, or a new account for that email. The
    invitation works once and only before it expires; accepting confirms the email."""
    from shifa.accounts.actions import user_create
    from shifa.accounts.models import User
    from shifa.core import timezones

    from .queries import invitation_by_token

    with transaction.atomic():
        invitation = invitation_by_token(token, for_update=True)
        existing = User.objects.filter(email=invitation.email).first()
        if user is not None:
            if user.email != invitation.email:
                raise Conflict(
                    _("This invitation was sent to %(email)s. Sign in with that account to accept it.")
                    % {"email": invitation.email},
                    code="invitation_other_account",
                )
            account = user
        elif existing is not None:
            raise Conflict(
                _("An account with this email exists. Sign in to accept the invitation."),
                code="sign_in_to_accept",
            )
        else:
            missing = []
            if not full_name.strip():
                missing.append(FieldError("full_name", "required", _("Enter your full name.")))
            if not password:
                missing.append(FieldError("password", "required", _("Choose a password.")))
            if missing:
                raise ValidationFailed(errors=missing)
            account = user_create(
                email=invitation.email,
                full_name=full_name,
                password=password,
                language=language,
                email_verified=True,
            )
        now = timezones.now()
        if account.email_verified_at is None:
            User.objects.filter(pk=account.pk).update(email_verified_at=now)
        membership_grant(clinic=invitation.clinic, user=account, role_code=invitation.role.code)
        invitation.accepted_at = now
        invitation.accepted_by = account
        invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    return invitation, account

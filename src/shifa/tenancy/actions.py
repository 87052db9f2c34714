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
        institution = invitation.clinic.institution
        if invitation.role.code == "general_admin":
            # The platform invited the owner of a newly approved clinic: they take the institution.
            if institution.owner_id not in (None, account.pk):
                raise Conflict(_("This clinic already has a General Admin."), code="owner_exists")
            Institution.objects.filter(pk=institution.pk, owner__isnull=True).update(owner=account)
        else:
            membership_grant(clinic=invitation.clinic, user=account, role_code=invitation.role.code)
        invitation.accepted_at = now
        invitation.accepted_by = account
        invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    return invitation, account


# --- Onboarding: applications, licences (CL-7, PL-1) ------------------------------------------------------------

APPLICATION_FILE_TYPES = {
    b"%PDF": ("application/pdf", "pdf"),
    b"\x89PNG": ("image/png", "png"),
    b"\xff\xd8\xff": ("image/jpeg", "jpg"),
}
APPLICATION_MAX_FILES = 5


def _file_kind(head: bytes) -> tuple[str, str] | None:
    for magic, kind in APPLICATION_FILE_TYPES.items():
        if head.startswith(magic):
            return kind
    return None


def application_submit(
    *,
    institution_name_en: str,
    institution_name_ar: str,
    clinic_name_en: str,
    clinic_name_ar: str,
    slug: str,
    city: str,
    moh_licence_number: str,
    contact_name: str,
    contact_email: str,
    contact_phone: str,
    documents: list,
):
    """A clinic applies to join (a public form). The licence documents (PDF, PNG or JPEG, at most five files of
    5 MB) are kept in private storage for the reviewer."""
    import hashlib
    import uuid

    from django.conf import settings
    from django.core.files.storage import default_storage
    from django.utils.text import slugify

    from shifa.accounts.actions import normalize_phone
    from shifa.accounts.emails import normalize_email

    from .models import ApplicationStatus, ClinicApplication

    errors = []
    required = {
        "institution_name_en": institution_name_en,
        "institution_name_ar": institution_name_ar,
        "clinic_name_en": clinic_name_en,
        "clinic_name_ar": clinic_name_ar,
        "city": city,
        "moh_licence_number": moh_licence_number,
        "contact_name": contact_name,
    }
    for field, value in required.items():
        if not value.strip():
            errors.append(FieldError(field, "required", _("This field is required.")))
    slug = slugify(slug or clinic_name_en)[:80]
    if not slug:
        errors.append(FieldError("slug", "required", _("Choose a short name of Latin letters and digits.")))
    elif (
        Clinic.objects.filter(slug=slug).exists()
        or ClinicApplication.objects.filter(slug=slug, status=ApplicationStatus.SUBMITTED).exists()
    ):
        errors.append(FieldError("slug", "taken", _("This short name is taken; choose another.")))
    try:
        contact_email = normalize_email(contact_email, field="contact_email")
    except ValidationFailed as exc:
        errors += exc.errors
    try:
        contact_phone = normalize_phone(contact_phone)
        if not contact_phone:
            errors.append(FieldError("contact_phone", "required", _("Enter a phone number.")))
    except ValidationFailed:
        errors.append(FieldError("contact_phone", "invalid_phone", _("Enter a valid phone number.")))
    if not documents:
        errors.append(FieldError("documents", "required", _("Attach the clinic's licence documents.")))
    elif len(documents) > APPLICATION_MAX_FILES:
        errors.append(FieldError("documents", "too_many", _("Attach at most five files.")))
    checked = []
    for upload in documents[:APPLICATION_MAX_FILES]:
        if upload.size > settings.SHIFA_UPLOAD_FILE_BYTES:
            errors.append(FieldError("documents", "too_large", _("Each file may be at most 5 MB.")))
            continue
        upload.seek(0)
        kind = _file_kind(upload.read(8))
        upload.seek(0)
        if kind is None:
            errors.append(FieldError("documents", "invalid_type", _("Attach PDF, PNG or JPEG files.")))
            continue
        checked.append((upload, kind))
    if errors:
        raise ValidationFailed(errors=errors)
    application_id = uuid.uuid4()
    stored = []
    for number, (upload, (content_type, extension)) in enumerate(checked, start=1):
        digest = hashlib.sha256()
        for chunk in upload.chunks():
            digest.update(chunk)
        upload.seek(0)
        path = default_storage.save(f"applications/{application_id}/{number}.{extension}", upload)
        stored.append(
            {
                "name": (upload.name or f"document-{number}.{extension}")[:120],
                "path": path,
                "size": upload.size,
                "content_type": content_type,
                "sha256": digest.hexdigest(),
            }
        )
    return ClinicApplication.objects.create(
        external_id=application_id,
        institution_name_en=institution_name_en.strip(),
        institution_name_ar=institution_name_ar.strip(),
        clinic_name_en=clinic_name_en.strip(),
        clinic_name_ar=clinic_name_ar.strip(),
        slug=slug,
        city=city.strip(),
        moh_licence_number=moh_licence_number.strip(),
        contact_name=contact_name.strip(),
        contact_email=contact_email,
        contact_phone=contact_phone,
        documents=stored,
    )


def _open_application(application_id):
    from shifa.core.errors import NotFound

    from .models import ApplicationStatus, ClinicApplication

    application = ClinicApplication.objects.select_for_update().filter(external_id=application_id).first()
    if application is None:
        raise NotFound()
    if application.status != ApplicationStatus.SUBMITTED:
        raise Conflict(_("This application was already decided."), code="application_decided")
    return application


def months_after(day, months: int):
    """The same day of the month ``months`` later (the month's last day when it is shorter: 31 Jan + 1 → 28 Feb)."""
    import calendar

    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def application_approve(*, actor, application_id, plan_code: str, months: int, seats: int | None = None):
    """Approve: the institution and the clinic are created, a licence is issued, and the contact person is
    invited (by email) as the General Admin. All or nothing."""

    from shifa.core import timezones

    from .models import ApplicationStatus, Licence, Plan

    if not 1 <= months <= 60:
        raise ValidationFailed(errors=[FieldError("months", "out_of_range", _("Between 1 and 60 months."))])
    plan = Plan.objects.filter(code=plan_code, is_active=True).first()
    if plan is None:
        raise ValidationFailed(errors=[FieldError("plan", "invalid_choice", _("Choose an offered plan."))])
    with transaction.atomic():
        application = _open_application(application_id)
        institution = Institution.objects.create(
            owner=None, name_en=application.institution_name_en, name_ar=application.institution_name_ar
        )
        clinic = clinic_create(
            institution=institution,
            slug=application.slug,
            name_en=application.clinic_name_en,
            name_ar=application.clinic_name_ar,
            city=application.city,
            status=ClinicStatus.ACTIVE,
        )
        today = timezones.now().date()
        Licence.objects.for_clinic(clinic).create(
            clinic=clinic,
            plan=plan,
            seats=seats or plan.seats,
            starts_on=today,
            ends_on=months_after(today, months),
        )
        application.status = ApplicationStatus.APPROVED
        application.decided_by = actor.user
        application.decided_at = timezones.now()
        application.clinic = clinic
        application.save(update_fields=["status", "decided_by", "decided_at", "clinic", "updated_at"])
        invitation, token = _owner_invitation(clinic, application.contact_email, actor.user)
        invitation_send(invitation=invitation, token=token, language="ar")
    return application


def _owner_invitation(clinic, email: str, invited_by):
    """The platform's invitation of a new clinic's General Admin (who will own the institution)."""
    import datetime as dt
    import secrets

    from django.conf import settings

    from shifa.access import catalog
    from shifa.core import crypto, timezones

    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.for_clinic(clinic).create(
        clinic=clinic,
        email=email,
        role=Role.objects.get(code=catalog.GENERAL_ADMIN),
        token_digest=crypto.digest(INVITATION_PURPOSE, token),
        expires_at=timezones.now() + dt.timedelta(days=settings.SHIFA_INVITATION_DAYS),
        invited_by=invited_by,
    )
    return invitation, token


def application_reject(*, actor, application_id, reason: str):
    """Reject with a reason, which the contact person receives by email."""
    from shifa.core import timezones
    from shifa.integrations.mail import send_templated_mail

    from .models import ApplicationStatus

    if not reason.strip():
        raise ValidationFailed(errors=[FieldError("reason", "required", _("Say why, for the applicant."))])
    with transaction.atomic():
        application = _open_application(application_id)
        application.status = ApplicationStatus.REJECTED
        application.decision_reason = reason.strip()[:500]
        application.decided_by = actor.user
        application.decided_at = timezones.now()
        application.save(
            update_fields=["status", "decision_reason", "decided_by", "decided_at", "updated_at"]
        )
        send_templated_mail(
            to=application.contact_email,
            language="ar",
            template="tenancy/email/application_rejected",
            context={"application": application, "reason": application.decision_reason},
        )
    return application


def _listings_changed(clinic_pk: int) -> None:
    """Patients search a read model of each clinic's doctors: a licence or staff change rebuilds it."""
    from shifa.directory.actions import listing_changed

    listing_changed(Clinic.objects.get(pk=clinic_pk))


def licence_suspend(*, actor, licence_id, reason: str):
    from shifa.core import timezones
    from shifa.core.errors import NotFound

    from .models import Licence

    if not reason.strip():
        raise ValidationFailed(
            errors=[FieldError("reason", "required", _("Say why the licence is suspended."))]
        )
    with transaction.atomic():
        licence = Licence.unscoped.select_for_update().filter(external_id=licence_id).first()
        if licence is None:
            raise NotFound()
        licence.suspended_at = timezones.now()
        licence.suspension_reason = reason.strip()[:300]
        licence.save(update_fields=["suspended_at", "suspension_reason", "updated_at"])
        _listings_changed(licence.clinic_id)
    return licence


def licence_renew(*, actor, licence_id, months: int):
    """Extend the licence by ``months`` from its end (or from today if it has already ended); lifts a suspension."""

    from shifa.core import timezones
    from shifa.core.errors import NotFound

    from .models import Licence

    if not 1 <= months <= 60:
        raise ValidationFailed(errors=[FieldError("months", "out_of_range", _("Between 1 and 60 months."))])
    with transaction.atomic():
        licence = Licence.unscoped.select_for_update().filter(external_id=licence_id).first()
        if licence is None:
            raise NotFound()
        start = max(licence.ends_on, timezones.now().date())
        licence.ends_on = months_after(start, months)
        licence.suspended_at = None
        licence.suspension_reason = ""
        licence.expiry_notified_on = None
        licence.save(
            update_fields=["ends_on", "suspended_at", "suspension_reason", "expiry_notified_on", "updated_at"]
        )
        _listings_changed(licence.clinic_id)
    return licence


def plan_save(
    *,
    code: str,
    name_en: str,
    name_ar: str,
    price,
    period: str,
    seats: int,
    entitlements: dict,
    is_active: bool = True,
):
    """Create or change a subscription plan (platform console)."""
    from decimal import Decimal, InvalidOperation

    from .models import Entitlement, Plan, PlanPeriod

    errors = []
    try:
        price = Decimal(str(price)).quantize(Decimal("0.001"))
        if price < 0:
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors.append(FieldError("price", "invalid", _("Enter a price in JOD, e.g. 25.000.")))
    if period not in PlanPeriod.values:
        errors.append(FieldError("period", "invalid_choice", _("Choose monthly or yearly.")))
    if seats < 1:
        errors.append(FieldError("seats", "out_of_range", _("At least one seat.")))
    if not isinstance(entitlements, dict) or any(
        key not in Entitlement.values or not isinstance(value, bool) for key, value in entitlements.items()
    ):
        errors.append(
            FieldError(
                "entitlements",
                "invalid",
                _("Name what the plan includes, each true or false: %(names)s.")
                % {"names": ", ".join(Entitlement.values)},
            )
        )
    for field, value in {"name_en": name_en, "name_ar": name_ar, "code": code}.items():
        if not value.strip():
            errors.append(FieldError(field, "required", _("This field is required.")))
    if errors:
        raise ValidationFailed(errors=errors)
    plan, _created = Plan.objects.update_or_create(
        code=code.strip(),
        defaults={
            "name_en": name_en.strip(),
            "name_ar": name_ar.strip(),
            "price": price,
            "period": period,
            "seats": seats,
            "entitlements": entitlements,
            "is_active": is_active,
        },
    )
    return plan


def licences_notify_expiring(today=None) -> int:
    """Tell the General Admin and the clinic admins of each clinic whose licence expires within 30 days (once
    per licence period). Returns how many clinics were told."""
    import datetime as dt

    from shifa.access import catalog
    from shifa.core import timezones
    from shifa.notifications.actions import notify

    from .models import Licence
    from .policies import EXPIRING_WITHIN_DAYS

    today = today or timezones.now().date()
    due = Licence.unscoped.select_related("clinic", "clinic__institution__owner").filter(
        suspended_at__isnull=True,
        ends_on__gte=today,
        ends_on__lte=today + dt.timedelta(days=EXPIRING_WITHIN_DAYS),
        expiry_notified_on__isnull=True,
    )
    told = 0
    for licence in due:
        clinic = licence.clinic
        with transaction.atomic():
            recipients = {
                m.user
                for m in Membership.objects.for_clinic(clinic)
                .select_related("user")
                .filter(role__code=catalog.CLINIC_ADMIN, is_active=True)
            }
            if clinic.institution.owner is not None:
                recipients.add(clinic.institution.owner)
            for user in recipients:
                notify(
                    recipient=user,
                    kind="clinic.licence_expiring",
                    data={
                        "clinic": clinic.display_name(user.language or "ar"),
                        "ends_on": licence.ends_on.isoformat(),
                    },
                    idempotency_key=f"licence-expiring:{licence.pk}:{licence.ends_on.isoformat()}",
                    clinic=clinic,
                    url=f"/clinic/{clinic.external_id}",
                )
            Licence.unscoped.filter(pk=licence.pk).update(expiry_notified_on=today)
        told += 1
    return told


def membership_change(
    *, actor, membership_id, role_code: str | None = None, is_active: bool | None = None
) -> Membership:
    """Change a staff member's role in the acting clinic, or switch the membership off (or on again). Only roles
    ranked below one's own are touched, and nobody changes their own membership."""
    from shifa.access import catalog
    from shifa.core.errors import Forbidden, NotFound

    clinic = actor.require_clinic()
    with transaction.atomic():
        membership = (
            Membership.objects.for_clinic(clinic)
            .select_for_update()
            .select_related("role", "user")
            .filter(external_id=membership_id)
            .first()
        )
        if membership is None:
            raise NotFound()
        if membership.user_id == actor.user.pk:
            raise Forbidden(
                _("You cannot change your own role or switch yourself off."), code="own_membership"
            )
        if catalog.rank({membership.role.code}) >= catalog.rank(actor.roles):
            raise Forbidden(_("You can only change people in roles below your own."), code="role_too_high")
        fields = ["updated_at"]
        if role_code is not None and role_code != membership.role.code:
            role = (
                Role.objects.filter(code=role_code, kind="staff").exclude(code=catalog.GENERAL_ADMIN).first()
            )
            if role is None or catalog.rank({role.code}) >= catalog.rank(actor.roles):
                raise ValidationFailed(
                    errors=[FieldError("role", "invalid_choice", _("Choose a staff role below your own."))]
                )
            if (
                Membership.objects.for_clinic(clinic)
                .filter(user=membership.user, role=role)
                .exclude(pk=membership.pk)
                .exists()
            ):
                raise Conflict(_("This person already has that role here."), code="already_member")
            membership.role = role
            fields.append("role")
        if is_active is not None:
            membership.is_active = is_active
            fields.append("is_active")
        membership.save(update_fields=fields)
        _listings_changed(clinic.pk)
    return membership

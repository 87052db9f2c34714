"""Reads of the tenancy domain, always starting from the policy's scoped queryset."""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet

from shifa.access.policies import Actor, clinic_roles
from shifa.core.errors import NotFound
from shifa.core.pagination import Page, paginate

from . import policies
from .models import Clinic, ClinicStatus, Membership


def clinic_get(*, actor: Actor) -> Clinic:
    """The actor's acting clinic (authorization already checked the actor's role there)."""
    return actor.require_clinic()


def membership_list(
    *, actor: Actor, role: str | None = None, cursor: str | None = None, limit: int = 50
) -> Page:
    qs = policies.visible_memberships(actor).select_related("user", "role")
    if role:
        qs = qs.filter(role__code=role)
    return paginate(qs, cursor=cursor, limit=limit)


def membership_get(*, actor: Actor, membership_id: uuid.UUID) -> Membership:
    membership = (
        policies.visible_memberships(actor)
        .select_related("user", "role")
        .filter(external_id=membership_id)
        .first()
    )
    if membership is None:
        raise NotFound()
    return membership


def clinic_list_for_platform(
    *, actor: Actor, status: str | None = None, cursor: str | None = None, limit: int = 50
) -> Page:
    qs = policies.visible_clinics_for_platform(actor).select_related("institution")
    if status:
        qs = qs.filter(status=status)
    return paginate(qs, cursor=cursor, limit=limit)


def clinics_of_user(user) -> QuerySet[Clinic]:
    """Clinics where the user holds a staff role (the acting-clinic picker)."""
    member_of = Membership.unscoped.filter(user=user, is_active=True).values("clinic_id")
    return (
        Clinic.objects.filter(Q(pk__in=member_of) | Q(institution__owner=user))
        .select_related("institution")
        .order_by("name_en")
        .distinct()
    )


def roles_in(user, clinic: Clinic) -> frozenset[str]:
    """The roles ``user`` holds in ``clinic`` (for the clinic picker)."""
    return clinic_roles(user, clinic)


def invitation_by_token(token: str, *, for_update: bool = False):
    """The open invitation behind an emailed link; 404 when unknown, 410-like 409s when spent or expired."""
    from django.utils.translation import gettext as _

    from shifa.core import crypto, timezones
    from shifa.core.errors import Conflict, NotFound

    from .models import Invitation

    qs = Invitation.unscoped.select_related("clinic", "clinic__institution", "role", "invited_by")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    invitation = qs.filter(token_digest__in=crypto.digests("invitation", token)).first()
    if invitation is None or invitation.revoked_at is not None:
        raise NotFound(
            _("This invitation is not valid. Ask the clinic for a new one."), code="invitation_invalid"
        )
    if invitation.accepted_at is not None:
        raise Conflict(_("This invitation was already used."), code="invitation_used")
    if invitation.expires_at <= timezones.now():
        raise Conflict(
            _("This invitation has expired. Ask the clinic for a new one."), code="invitation_expired"
        )
    return invitation


def invitation_list(*, actor, cursor: str | None = None, limit: int = 50):
    from shifa.core.pagination import paginate

    from .models import Invitation

    qs = Invitation.objects.for_clinic(actor.require_clinic()).select_related("role", "invited_by")
    return paginate(qs, cursor=cursor, limit=limit, newest_first=True)


def application_list(*, status: str | None = None, cursor: str | None = None, limit: int = 50):
    from .models import ClinicApplication

    qs = ClinicApplication.objects.all()
    if status:
        qs = qs.filter(status=status)
    return paginate(qs, cursor=cursor, limit=limit, newest_first=True)


def application_get(*, application_id):
    from .models import ClinicApplication

    application = ClinicApplication.objects.filter(external_id=application_id).first()
    if application is None:
        raise NotFound()
    return application


def application_document(*, application_id, number: int):
    """The stored file of one licence document (for the platform reviewer)."""
    from django.core.files.storage import default_storage

    application = application_get(application_id=application_id)
    if not 1 <= number <= len(application.documents):
        raise NotFound()
    document = application.documents[number - 1]
    return document, default_storage.open(document["path"], "rb")


def licence_for(clinic):
    from .models import Licence

    return Licence.objects.for_clinic(clinic).select_related("plan").first()


def plan_list(*, include_retired: bool = False, code: str | None = None):
    from .models import Plan

    qs = Plan.objects.all().order_by("price")
    if code is not None:
        qs = qs.filter(code=code)
    return list(qs if include_retired else qs.filter(is_active=True))


def clinic_doctor(clinic, user_external_id):
    """The active doctor (or assistant doctor) of ``clinic`` with this public id, or None."""
    from shifa.access import catalog
    from shifa.accounts.models import User

    return (
        User.objects.filter(
            external_id=user_external_id,
            memberships__clinic=clinic,
            memberships__role__code__in=[catalog.DOCTOR, catalog.ASSISTANT_DOCTOR],
            memberships__is_active=True,
        )
        .distinct()
        .first()
    )


def _with_usage(qs: QuerySet[Clinic]) -> QuerySet[Clinic]:
    """Annotate clinics with their usage: staff in active seats, doctors among them, invitations still open."""
    from django.db.models import Count, IntegerField, OuterRef, Subquery
    from django.db.models.functions import Coalesce

    from shifa.core import timezones

    from .models import Invitation

    def count(rows):
        counted = rows.filter(clinic=OuterRef("pk")).order_by().values("clinic").annotate(n=Count("pk"))
        return Coalesce(Subquery(counted.values("n"), output_field=IntegerField()), 0)

    active = Membership.unscoped.filter(is_active=True)
    open_invitations = Invitation.unscoped.filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezones.now()
    )
    return qs.annotate(
        staff_count=count(active),
        doctor_count=count(active.filter(role__code="doctor")),
        open_invitations=count(open_invitations),
    )


def _attach_licences(clinics: list[Clinic]) -> None:
    from .models import Licence

    licences = {
        lic.clinic_id: lic for lic in Licence.unscoped.filter(clinic__in=clinics).select_related("plan")
    }
    for clinic in clinics:
        clinic.licence = licences.get(clinic.pk)
        clinic.licence_state = policies.licence_state(clinic.licence)


def clinic_overview_for_platform(
    *, actor: Actor, query: str = "", cursor: str | None = None, limit: int = 50
) -> Page:
    """Clinics for the platform console, each with its licence (``licence``, ``licence_state``) and usage."""
    qs = policies.visible_clinics_for_platform(actor).select_related("institution")
    for word in query.split()[:5]:
        qs = qs.filter(
            Q(name_en__icontains=word)
            | Q(name_ar__icontains=word)
            | Q(city__icontains=word)
            | Q(institution__name_en__icontains=word)
            | Q(institution__name_ar__icontains=word)
        )
    page = paginate(_with_usage(qs), cursor=cursor, limit=limit)
    _attach_licences(page.items)
    return page


def clinic_for_platform(*, actor: Actor, clinic_id) -> Clinic:
    """One clinic with its licence and usage, as the platform console shows it."""
    qs = policies.visible_clinics_for_platform(actor).select_related("institution")
    clinic = _with_usage(qs.filter(external_id=clinic_id)).first()
    if clinic is None:
        raise NotFound()
    _attach_licences([clinic])
    return clinic


def plan_get(*, code: str):
    from .models import Plan

    plan = Plan.objects.filter(code=code).first()
    if plan is None:
        raise NotFound()
    return plan


def bookable_clinic(clinic_external_id) -> Clinic | None:
    """A clinic patients may look at and book (active on the platform), by its public id; None otherwise.
    Whether its licence lets it take new bookings is the booking's own check."""
    return Clinic.objects.filter(external_id=clinic_external_id, status=ClinicStatus.ACTIVE).first()

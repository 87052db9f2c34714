"""Writes of Family Doctor (TM-4): the patient asks, the doctor accepts or declines, the patient ends it, and a
lapsed subscription pauses it (and a renewed one resumes it).

Access to the record follows the consent mechanism only: on acceptance the patient's consent (given by asking)
becomes a ``records.Grant`` to the doctor's clinic, made by the records app's own action as the patient who asked;
ending or pausing revokes that grant (``records.actions.grant_revoke``). Nothing here reads or widens access to
the record any other way.
"""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from shifa.access import entitlements
from shifa.access.policies import Actor
from shifa.core import timezones
from shifa.core.errors import Conflict, Forbidden, NotFound, ValidationFailed

from .models import OPEN, FamilyDoctor, FamilyStatus


def _text(field: str, value, limit: int) -> str:
    if value is not None and not isinstance(value, str):
        raise ValidationFailed.on(field, "invalid", _("Enter text."))
    value = " ".join((value or "").split())
    if "\x00" in value or len(value) > limit:
        raise ValidationFailed.on(
            field, "too_long", _("Write at most %(limit)d characters.") % {"limit": limit}
        )
    return value


def entitled(patient) -> bool:
    """Whether the patient's subscription (or their guardian's) includes a family doctor now."""
    return entitlements.has_entitlement(patient, entitlements.FAMILY_DOCTOR)


def _not_entitled() -> Forbidden:
    return Forbidden(
        _("A family doctor comes with a Shifa subscription that includes one. Subscribe to choose a doctor."),
        code="entitlement_required",
    )


def _listed_doctor(clinic_id, doctor_id):
    """A doctor (the doctor role) listed on Shifa at an active clinic, or a 422."""
    from shifa.access import catalog
    from shifa.accounts.models import User
    from shifa.directory.models import DoctorListing
    from shifa.tenancy.queries import bookable_clinic

    unknown = ValidationFailed.on("doctor_id", "unknown", _("Choose a doctor listed on Shifa."))
    try:
        clinic = bookable_clinic(uuid.UUID(str(clinic_id)))
        doctor_uuid = uuid.UUID(str(doctor_id))
    except ValueError:
        raise unknown from None
    if clinic is None:
        raise unknown
    doctor = (
        User.objects.filter(
            external_id=doctor_uuid,
            is_active=True,
            memberships__clinic=clinic,
            memberships__role__code=catalog.DOCTOR,
            memberships__is_active=True,
        )
        .distinct()
        .first()
    )
    if (
        doctor is None
        or not DoctorListing.objects.for_clinic(clinic).filter(doctor=doctor, bookable=True).exists()
    ):
        raise unknown
    return clinic, doctor


def _notify(recipient, kind: str, relation: FamilyDoctor, key: str, url: str, **extra) -> None:
    from shifa.notifications.actions import notify

    if recipient is None:
        return
    language = recipient.language or "ar"
    notify(
        recipient=recipient,
        kind=kind,
        data={
            "patient": relation.patient.display_name(language),
            "doctor": relation.doctor.full_name,
            "clinic": relation.clinic.display_name(language),
            **extra,
        },
        idempotency_key=f"family:{relation.external_id}:{key}",
        clinic=relation.clinic,
        url=url,
    )


def family_request(
    *, actor, clinic_id, doctor_id, patient_id=None, note: str = ""
) -> tuple[FamilyDoctor, bool]:
    """The patient (or a guardian, for a dependant) asks a listed doctor to be their family doctor. Needs the
    entitlement (403 ``entitlement_required``); one family doctor at a time (409 ``family_doctor_exists``). Asking
    the same doctor again gives the open request back. Returns the request and whether it is new."""
    from shifa.records.models import Patient
    from shifa.records.policies import own_patient

    patient = own_patient(actor, patient_id)
    note = _text("note", note, 300)
    if not entitled(patient):
        raise _not_entitled()
    clinic, doctor = _listed_doctor(clinic_id, doctor_id)
    with transaction.atomic():
        Patient.objects.select_for_update().filter(pk=patient.pk).first()
        current = FamilyDoctor.unscoped.filter(patient=patient, status__in=OPEN).first()
        if current is not None:
            if current.doctor_id == doctor.pk and current.clinic_id == clinic.pk:
                return current, False
            raise Conflict(
                _("You already have a family doctor (or a request for one). End it before choosing another."),
                code="family_doctor_exists",
            )
        try:
            with transaction.atomic():
                relation = FamilyDoctor.unscoped.create(
                    clinic=clinic, patient=patient, doctor=doctor, requested_by=actor.user, note=note
                )
        except IntegrityError:
            raise Conflict(
                _("You already have a family doctor (or a request for one). End it before choosing another."),
                code="family_doctor_exists",
            ) from None
        _notify(
            doctor, "family.requested", relation, "requested", f"/clinic/{clinic.external_id}/family-doctor"
        )
        return relation, True


def _patient_actor(relation: FamilyDoctor) -> Actor:
    """The one who manages the patient's record (the patient, or the guardian of a dependant), as whose consent
    the sharing is recorded: the records app shares and revokes only for them. Asking was that consent."""
    patient = relation.patient
    owner = patient.user if patient.user_id else (patient.guardian.user if patient.guardian_id else None)
    return Actor(user=owner or relation.requested_by, source="family_doctor")


def _share(relation: FamilyDoctor) -> None:
    """Share the record with the doctor's clinic: the patient's own open-ended sharing when they have one,
    otherwise a sharing made (or extended) for this relationship."""
    from shifa.records import actions as records_actions
    from shifa.records.models import Grant
    from shifa.records.policies import active_grants

    current = Grant.objects.filter(active_grants(), patient=relation.patient, clinic=relation.clinic).first()
    if current is not None and current.expires_at is None:
        relation.grant, relation.owns_grant = current, False
        return
    relation.grant = records_actions.grant_create(
        actor=_patient_actor(relation),
        clinic_id=relation.clinic.external_id,
        patient_id=relation.patient.external_id,
    )
    relation.owns_grant = True


def _unshare(relation: FamilyDoctor) -> None:
    """Stop the sharing this relationship made (a sharing the patient gave on their own stays)."""
    from shifa.records import actions as records_actions

    if relation.grant_id and relation.owns_grant:
        try:
            records_actions.grant_revoke(actor=_patient_actor(relation), grant_id=relation.grant.external_id)
        except NotFound:  # nobody manages this patient's record any more: the sharing must still stop
            from shifa.records.models import Grant

            Grant.objects.filter(pk=relation.grant_id, revoked_at__isnull=True).update(
                revoked_at=timezones.now(), updated_at=timezones.now()
            )
    relation.grant, relation.owns_grant = None, False


def _locked_for_doctor(actor, family_id) -> FamilyDoctor:
    try:
        external_id = uuid.UUID(str(family_id))
    except ValueError:
        raise NotFound() from None
    relation = (
        FamilyDoctor.objects.for_clinic(actor.require_clinic())
        .select_for_update(of=("self",))
        .select_related("patient", "clinic", "doctor", "requested_by")
        .filter(external_id=external_id, doctor=actor.user)
        .first()
    )
    if relation is None:
        raise NotFound()
    return relation


def family_accept(*, actor, family_id) -> FamilyDoctor:
    """The doctor the request is addressed to accepts: the record is shared with their clinic and the
    conversation with the patient opens. Accepting again changes nothing; a request no longer waiting is 409."""
    from shifa.telehealth import actions as telehealth_actions
    from shifa.telehealth.models import Side

    with transaction.atomic():
        relation = _locked_for_doctor(actor, family_id)
        if relation.status == FamilyStatus.ACTIVE:
            return relation
        if relation.status != FamilyStatus.REQUESTED:
            raise Conflict(_("This request is no longer waiting for an answer."), code="not_requested")
        if not entitled(relation.patient):
            raise Conflict(
                _("The patient's subscription no longer includes a family doctor."), code="entitlement_lapsed"
            )
        _share(relation)
        conversation = telehealth_actions.conversation_start(
            actor=actor, patient_id=relation.patient.external_id
        )
        with translation.override(relation.requested_by.language or "ar"):
            opening = _("I am now your family doctor. You can write to me here.")
        telehealth_actions.message_send(
            actor=actor,
            conversation=conversation,
            side=Side.CLINIC,
            body=opening,
            client_id=f"family-{relation.external_id.hex}",
        )
        now = timezones.now()
        relation.status = FamilyStatus.ACTIVE
        relation.answered_at = now
        relation.conversation = conversation
        relation.save(
            update_fields=["status", "answered_at", "conversation", "grant", "owns_grant", "updated_at"]
        )
        _notify(
            relation.requested_by,
            "family.answered",
            relation,
            "answered",
            f"/app/messages/{conversation.external_id}",
            accepted=True,
        )
        return relation


def family_decline(*, actor, family_id, reason: str = "") -> FamilyDoctor:
    """The doctor the request is addressed to declines it (with a reason the patient sees, if given)."""
    reason = _text("reason", reason, 300)
    with transaction.atomic():
        relation = _locked_for_doctor(actor, family_id)
        if relation.status == FamilyStatus.DECLINED:
            return relation
        if relation.status != FamilyStatus.REQUESTED:
            raise Conflict(_("This request is no longer waiting for an answer."), code="not_requested")
        relation.status = FamilyStatus.DECLINED
        relation.decline_reason = reason
        relation.answered_at = timezones.now()
        relation.save(update_fields=["status", "decline_reason", "answered_at", "updated_at"])
        _notify(
            relation.requested_by,
            "family.answered",
            relation,
            "answered",
            "/app/family-doctor",
            accepted=False,
        )
        return relation


def family_end(*, actor, patient_id=None) -> FamilyDoctor:
    """The patient ends their family doctor (or withdraws the request): the sharing made for it stops. The
    conversation and the record the clinic wrote stay, as with any clinic the patient saw."""
    from shifa.records.policies import own_patient

    patient = own_patient(actor, patient_id)
    with transaction.atomic():
        relation = (
            FamilyDoctor.unscoped.select_for_update(of=("self",))
            .select_related("grant", "clinic", "patient", "doctor")
            .filter(patient=patient, status__in=OPEN)
            .first()
        )
        if relation is None:
            raise NotFound()
        now = timezones.now()
        relation.status = (
            FamilyStatus.WITHDRAWN if relation.status == FamilyStatus.REQUESTED else FamilyStatus.ENDED
        )
        relation.ended_at = now
        relation.ended_by = actor.user
        _unshare(relation)
        relation.save(update_fields=["status", "ended_at", "ended_by", "grant", "owns_grant", "updated_at"])
        return relation


def _suspend(relation: FamilyDoctor) -> None:
    _unshare(relation)
    relation.status = FamilyStatus.SUSPENDED
    relation.suspended_at = timezones.now()
    relation.save(update_fields=["status", "suspended_at", "grant", "owns_grant", "updated_at"])
    _notify(
        relation.requested_by,
        "family.paused",
        relation,
        f"paused:{relation.suspended_at.isoformat()}",
        "/app/family-doctor",
    )


def _resume(relation: FamilyDoctor) -> None:
    _share(relation)
    relation.status = FamilyStatus.ACTIVE
    relation.suspended_at = None
    relation.save(update_fields=["status", "suspended_at", "grant", "owns_grant", "updated_at"])


def entitlements_review(*, patient=None, limit: int = 5000) -> int:
    """Pause every active family doctor whose patient no longer holds the entitlement (the clinic stops reading the
    record), and resume paused ones whose patient holds it again. One patient, or all (the periodic job). Returns
    how many changed."""
    qs = FamilyDoctor.unscoped.filter(status__in=[FamilyStatus.ACTIVE, FamilyStatus.SUSPENDED])
    if patient is not None:
        qs = qs.filter(patient=patient)
    changed = 0
    for pk in list(qs.order_by("pk").values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            relation = (
                FamilyDoctor.unscoped.select_for_update(of=("self",))
                .select_related("patient", "clinic", "doctor", "requested_by", "grant")
                .filter(pk=pk, status__in=[FamilyStatus.ACTIVE, FamilyStatus.SUSPENDED])
                .first()
            )
            if relation is None:
                continue
            holds = entitled(relation.patient)
            if relation.status == FamilyStatus.ACTIVE and not holds:
                _suspend(relation)
                changed += 1
            elif relation.status == FamilyStatus.SUSPENDED and holds:
                try:
                    with transaction.atomic():
                        _resume(relation)
                except (
                    ValidationFailed,
                    NotFound,
                ):  # the clinic left Shifa, or the asker no longer manages them
                    continue
                changed += 1
    return changed


def entitlement_changed(*, patient) -> int:
    """Call when a patient's entitlements may have changed (a subscription renewed, lapsed, was refunded): their
    family doctor is paused or resumed at once rather than at the next periodic review."""
    return entitlements_review(patient=patient)

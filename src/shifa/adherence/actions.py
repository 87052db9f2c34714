"""Writes of medication reminders: schedules made when a visit is committed, replaced by its amendment; due doses
reminded exactly once; unanswered ones marked missed."""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from shifa.core import timezones

from . import schedule
from .models import Dose, DoseSchedule, DoseStatus, ScheduleStatus


def patient_zone(patient) -> str:
    """The patient's time zone: their own account's, their guardian's for a dependant, else Amman's."""
    for user in (patient.user, patient.guardian.user if patient.guardian_id else None):
        if user is not None and user.time_zone:
            return user.time_zone
    return timezones.default_zone().key


def schedules_for_visit(visit) -> list[DoseSchedule]:
    """Called in the transaction that commits ``visit``: a schedule for each line of its prescription (lines taken
    when needed have none), and, for an amendment, the earlier version's schedules replaced (future doses
    cancelled)."""
    from shifa.records.models import Prescription, Visit

    now = timezones.now()
    if visit.amends_id:
        versions = Visit.unscoped.filter(pk=visit.amends_id) | Visit.unscoped.filter(
            amends_id=visit.amends_id
        )
        replaced = DoseSchedule.objects.for_clinic(visit.clinic_id).filter(
            prescription__visit__in=versions.exclude(pk=visit.pk), status=ScheduleStatus.ACTIVE
        )
        schedules_end(replaced, status=ScheduleStatus.REPLACED, at=now)
    patient = visit.patient
    zone = patient_zone(patient)
    made = []
    for line in (
        Prescription.objects.for_clinic(visit.clinic_id).filter(visit=visit).order_by("position", "id")
    ):
        if line.frequency in schedule.NO_SCHEDULE:
            continue
        rule = schedule.Line(line.frequency, line.timing, line.duration_days)
        times = schedule.default_times(line.frequency, line.timing)
        start = max(now, visit.started_at)
        due = schedule.dose_times(rule, start=start, zone=zone)
        plan = DoseSchedule.unscoped.create(
            clinic_id=visit.clinic_id,
            patient=patient,
            prescription=line,
            zone=zone,
            times=[t.strftime("%H:%M") for t in times],
        )
        Dose.unscoped.bulk_create(
            Dose(clinic_id=visit.clinic_id, schedule=plan, patient=patient, due_at=at) for at in due
        )
        made.append(plan)
    return made


def schedules_end(schedules, *, status: str, at, by=None, reason: str = "") -> int:
    """End schedules (stopped or replaced): their doses not yet reminded are cancelled (those to come, and any due
    but still waiting in a backlog, so that nobody is reminded of a stopped medicine); doses already reminded or
    answered stay as they were."""
    with transaction.atomic():
        ids = list(schedules.select_for_update().values_list("pk", flat=True))
        Dose.unscoped.filter(schedule_id__in=ids, status=DoseStatus.DUE).update(status=DoseStatus.CANCELLED)
        return DoseSchedule.unscoped.filter(pk__in=ids).update(
            status=status, ended_at=at, ended_by=by, end_reason=reason, updated_at=at
        )


#: Doses reminded per transaction: locks stay short (about half a second), and the statements per dose few
#: (``python -m benchmarks reminders``: 100,000 due in one minute, reminded within 60 s on 2 cores).
DISPATCH_BATCH = 1000


def _recipient(patient):
    """Who is reminded: the patient's own account, or their guardian's for a dependant (None: no account)."""
    if patient.user_id is not None:
        return patient.user
    return patient.guardian.user if patient.guardian_id and patient.guardian.user_id else None


def doses_due_count(*, now: dt.datetime | None = None, limit: int = 100_000) -> int:
    """How many doses wait to be reminded (counted up to ``limit``)."""
    now = now or timezones.now()
    return Dose.unscoped.filter(status=DoseStatus.DUE, due_at__lte=now)[:limit].count()


def doses_dispatch(*, now: dt.datetime | None = None, batch: int = DISPATCH_BATCH) -> int:
    """Remind every dose that is due (oldest first), each exactly once: a batch of due doses is locked (others
    working in parallel skip them), reminded through ``notify_many`` and marked sent in one transaction, and the
    reminder's idempotency key is the dose, so a batch retried after a crash sends nothing twice. Returns how many
    were reminded."""
    from shifa.notifications.actions import Pending, notify_many

    now = now or timezones.now()
    sent = 0
    while True:
        with transaction.atomic():
            doses = list(
                Dose.unscoped.select_for_update(skip_locked=True, of=("self",))
                .filter(status=DoseStatus.DUE, due_at__lte=now)
                .select_related(
                    "patient__user",
                    "patient__guardian__user",
                    "schedule__prescription__medication",
                )
                # only what a reminder shows (encrypted fields are neither read nor decrypted)
                .only(
                    "external_id",
                    "due_at",
                    "clinic_id",
                    "patient__user_id",
                    "patient__guardian_id",
                    "patient__full_name",
                    "patient__full_name_ar",
                    "patient__user__language",
                    "patient__user__time_zone",
                    "patient__guardian__user_id",
                    "patient__guardian__user__language",
                    "patient__guardian__user__time_zone",
                    "schedule__zone",
                    "schedule__prescription__strength",
                    "schedule__prescription__dose",
                    "schedule__prescription__dose_unit",
                    "schedule__prescription__medication__name_en",
                    "schedule__prescription__medication__name_ar",
                )
                .order_by("due_at", "id")[:batch]
            )
            if not doses:
                return sent
            reminders = []
            for dose in doses:
                recipient = _recipient(dose.patient)
                if recipient is None:
                    continue
                line = dose.schedule.prescription
                local = timezones.to_local(dose.due_at, dose.schedule.zone)
                dependant = dose.patient.user_id is None
                reminders.append(
                    Pending(
                        recipient=recipient,
                        kind="dose.due",
                        data={
                            "medication_en": line.medication.name_en,
                            "medication_ar": line.medication.name_ar,
                            "strength": line.strength,
                            "dose": f"{line.dose.normalize():f}",
                            "unit": line.dose_unit,
                            "time": f"{local:%H:%M}",
                            # named only for a dependant, so that one text serves everyone taking the same dose
                            "patient": dose.patient.display_name(recipient.language or "ar")
                            if dependant
                            else "",
                            "for_dependant": dependant,
                        },
                        idempotency_key=f"dose:{dose.external_id}",
                        clinic=dose.clinic_id,
                        url="/app/medicines",
                    )
                )
            notify_many(reminders)
            Dose.unscoped.filter(pk__in=[d.pk for d in doses]).update(
                status=DoseStatus.SENT, sent_at=timezones.now()
            )
            sent += len(doses)


#: A dose nobody answered this long after it was due counts as missed.
MISSED_AFTER = dt.timedelta(hours=12)


def doses_mark_missed(*, now: dt.datetime | None = None) -> int:
    """Doses left unanswered ``MISSED_AFTER`` past their time become missed (adherence counts them)."""
    now = now or timezones.now()
    return Dose.unscoped.filter(
        status__in=[DoseStatus.DUE, DoseStatus.SENT], due_at__lt=now - MISSED_AFTER
    ).update(status=DoseStatus.MISSED)


#: How early a dose may be marked, and how late an answer is still taken.
ANSWER_EARLY = dt.timedelta(hours=1)
ANSWER_LATE = dt.timedelta(hours=48)


def dose_answer(*, actor, dose_id, status: str) -> Dose:
    """The patient (or guardian) marks a dose taken or skipped: from an hour before its time to two days after.
    Answering again (a double tap, or a change of mind) keeps the latest answer."""
    from django.utils.translation import gettext as _

    from shifa.core.errors import Conflict, FieldError, NotFound, ValidationFailed
    from shifa.records.policies import patients_of_user

    if status not in (DoseStatus.TAKEN, DoseStatus.SKIPPED):
        raise ValidationFailed(errors=[FieldError("status", "invalid_choice", _("Choose taken or skipped."))])
    now = timezones.now()
    with transaction.atomic():
        dose = (
            Dose.unscoped.select_for_update()
            .filter(external_id=dose_id, patient__in=patients_of_user(actor.user))
            .first()
        )
        if dose is None:
            raise NotFound()
        if dose.status == DoseStatus.CANCELLED:
            raise Conflict(
                _("This dose was cancelled by a change of the prescription."), code="dose_cancelled"
            )
        if dose.due_at > now + ANSWER_EARLY:
            raise Conflict(_("This dose is not due yet."), code="dose_not_due")
        if dose.due_at < now - ANSWER_LATE:
            raise Conflict(_("This dose is too far in the past to answer."), code="dose_closed")
        return _mark(dose, status, now)


def _mark(dose: Dose, status: str, now: dt.datetime, device=None) -> Dose:
    dose.status, dose.answered_at, dose.device = status, now, device
    dose.save(update_fields=["status", "answered_at", "device", "updated_at"])
    return dose


# --- dose times the patient chooses -------------------------------------------------------------------------------


def schedule_times_set(*, actor, schedule_id, times: list[str]) -> DoseSchedule:
    """The patient moves the times of day of a schedule, within the prescription: as many doses a day, the spacing a
    fixed interval needs. The doses still to come are remade at the new times; past ones stay as they were."""
    from django.utils.translation import gettext as _

    from shifa.core.errors import Conflict, FieldError, NotFound, ValidationFailed
    from shifa.records.policies import patients_of_user

    parsed = []
    for index, raw in enumerate(times if isinstance(times, list) else []):
        try:
            parsed.append(dt.time.fromisoformat(str(raw).strip()).replace(second=0, microsecond=0))
        except ValueError:
            raise ValidationFailed(
                errors=[FieldError(f"times.{index}", "invalid", _("Enter a time such as 08:30."))]
            ) from None
    with transaction.atomic():
        plan = (
            DoseSchedule.unscoped.select_for_update(of=("self",))
            .filter(external_id=schedule_id, patient__in=patients_of_user(actor.user))
            .select_related("prescription")
            .first()
            if actor.user is not None
            else None
        )
        if plan is None:
            raise NotFound()
        if plan.status != ScheduleStatus.ACTIVE:
            raise Conflict(_("This prescription has ended."), code="schedule_ended")
        line = plan.prescription
        rule = schedule.Line(line.frequency, line.timing, line.duration_days)
        try:
            schedule.check_times(rule, parsed)
        except schedule.ScheduleError as exc:
            message = {
                "wrong_count": _("Give one time for each dose of the day."),
                "interval_changed": _("Keep the hours between doses the prescription asks for."),
            }.get(exc.code, _("These times do not fit the prescription."))
            raise ValidationFailed(errors=[FieldError(exc.field, exc.code, message)]) from None
        now = timezones.now()
        future = Dose.unscoped.filter(schedule=plan, status=DoseStatus.DUE, due_at__gt=now)
        remaining = future.count()
        future.delete()
        ordered = sorted(parsed)
        due = schedule.dose_times(rule, start=now, zone=plan.zone, times=ordered)
        taken = set(Dose.unscoped.filter(schedule=plan).values_list("due_at", flat=True))
        Dose.unscoped.bulk_create(
            Dose(clinic_id=plan.clinic_id, schedule=plan, patient_id=plan.patient_id, due_at=at)
            for at in [at for at in due if at not in taken][:remaining]
        )
        plan.times = [t.strftime("%H:%M") for t in ordered]
        plan.save(update_fields=["times", "updated_at"])
        return plan


def prescription_stop(*, actor, prescription_id, reason: str = "") -> int:
    """The doctor stops a committed prescription line: its reminders end and the doses still to come are
    cancelled. Returns how many schedules were stopped (0 when the line had none active)."""
    from shifa.core.errors import NotFound
    from shifa.records.models import Prescription

    clinic = actor.require_clinic()
    line = (
        Prescription.objects.for_clinic(clinic)
        .filter(external_id=prescription_id, visit__is_committed=True)
        .first()
    )
    if line is None:
        raise NotFound()
    return schedules_end(
        DoseSchedule.objects.for_clinic(clinic).filter(prescription=line, status=ScheduleStatus.ACTIVE),
        status=ScheduleStatus.STOPPED,
        at=timezones.now(),
        by=actor.user,
        reason=(reason or "").strip()[:300],
    )


# --- home readings and their alerts (CP-4) -------------------------------------------------------------------------


def _limits(kind, plan) -> tuple:
    """The low and high limits of a sign for a plan: the plan's own where it sets them, else the normal range."""
    from decimal import Decimal

    own = (plan.thresholds or {}).get(kind.code, {}) if plan is not None else {}
    low = Decimal(own["low"]) if own.get("low") not in (None, "") else kind.normal_low
    high = Decimal(own["high"]) if own.get("high") not in (None, "") else kind.normal_high
    return low, high


def _flag(value, low, high) -> str:
    from .models import Flag

    if low is not None and value < low:
        return Flag.LOW
    if high is not None and value > high:
        return Flag.HIGH
    return Flag.NORMAL


def _file_readings(*, patient, rows, taken_at, source, user=None, device=None, message_id: str = "") -> list:
    """File checked readings for a patient (skipping, for a device's repeated message, those already filed), mark
    the plans' reading tasks done, and alert the care team of every active plan a reading falls outside of."""
    from django.db import IntegrityError

    from shifa.careplans.actions import steps_reading_taken
    from shifa.careplans.queries import active_plans_of
    from shifa.notifications.actions import notify

    from .models import Alert, Reading

    filed = []
    with transaction.atomic():
        for kind, value in rows:
            try:
                with transaction.atomic():
                    reading = Reading.objects.create(
                        patient=patient,
                        kind=kind,
                        value=value,
                        taken_at=taken_at,
                        flag=_flag(value, kind.normal_low, kind.normal_high),
                        source=source,
                        device=device,
                        recorded_by=user,
                        message_id=message_id,
                    )
            except IntegrityError:
                if not message_id:
                    raise
                continue  # the device sent the same message again (MQTT delivers at least once)
            reading.kind = kind
            filed.append(reading)
        if not filed:
            return filed
        steps_reading_taken(
            patient=patient, kind_ids={r.kind_id for r in filed}, taken_at=taken_at, user=user
        )
        for plan in active_plans_of(patient):
            for reading in filed:
                low, high = _limits(reading.kind, plan)
                flag = _flag(reading.value, low, high)
                if not flag:
                    continue
                alert = Alert.unscoped.create(
                    clinic=plan.clinic,
                    patient=patient,
                    reading=reading,
                    plan=plan,
                    flag=flag,
                    low=low,
                    high=high,
                )
                local = timezones.to_local(taken_at, plan.clinic.time_zone)
                notify(
                    recipient=plan.doctor,
                    kind="vitals.alert",
                    data={
                        "patient": patient.display_name(plan.doctor.language or "ar"),
                        "sign_en": reading.kind.name_en,
                        "sign_ar": reading.kind.name_ar,
                        "value": f"{reading.value.normalize():f}",
                        "unit": reading.kind.unit,
                        "flag": flag,
                        "low": f"{low.normalize():f}" if low is not None else "",
                        "high": f"{high.normalize():f}" if high is not None else "",
                        "time": f"{local:%Y-%m-%d %H:%M}",
                        "plan": plan.title,
                    },
                    idempotency_key=f"alert:{alert.external_id}",
                    clinic=plan.clinic,
                    url=f"/clinic/{plan.clinic.external_id}/alerts",
                )
    return filed


def readings_record(*, actor, patient_id=None, readings, taken_at: dt.datetime | None = None) -> list:
    """The patient (or guardian) records vital signs taken at home."""
    from shifa.records.actions import vital_values
    from shifa.records.policies import own_patient

    from .models import ReadingSource

    patient = own_patient(actor, patient_id)
    rows, taken_at = vital_values(readings, taken_at)
    return _file_readings(
        patient=patient, rows=rows, taken_at=taken_at, source=ReadingSource.PATIENT, user=actor.user
    )


def alert_acknowledge(*, actor, alert_id):
    """Someone of the care team has seen an alert and acted on it."""
    from shifa.core.errors import NotFound

    from .models import Alert

    clinic = actor.require_clinic()
    with transaction.atomic():
        alert = Alert.objects.for_clinic(clinic).select_for_update().filter(external_id=alert_id).first()
        if alert is None:
            raise NotFound()
        if alert.acknowledged_at is None:
            alert.acknowledged_at, alert.acknowledged_by = timezones.now(), actor.user
            alert.save(update_fields=["acknowledged_at", "acknowledged_by", "updated_at"])
        return alert


# --- devices (CP-5) ------------------------------------------------------------------------------------------------


def _secret_hash(secret: str) -> str:
    import hashlib

    return hashlib.sha256(secret.encode()).hexdigest()


def device_register(*, actor, patient_id=None, kind: str, name: str = ""):
    """Register a device for the patient (or a dependant); returns the device and its secret, shown only now."""
    import secrets

    from django.utils.translation import gettext as _

    from shifa.core.errors import FieldError, ValidationFailed
    from shifa.records.policies import own_patient

    from .models import Device, DeviceKind

    patient = own_patient(actor, patient_id)
    if kind not in DeviceKind.values:
        raise ValidationFailed(errors=[FieldError("kind", "invalid_choice", _("Choose a kind of device."))])
    name = (name or "").strip()[:120] or str(DeviceKind(kind).label)
    secret = secrets.token_urlsafe(32)
    device = Device.objects.create(
        patient=patient, kind=kind, name=name, secret_hash=_secret_hash(secret), registered_by=actor.user
    )
    return device, secret


def device_revoke(*, actor, device_id):
    """Remove a device: its secret stops working at once; what it filed stays in the record."""
    from shifa.core.errors import NotFound
    from shifa.records.policies import patients_of_user

    from .models import Device, DeviceStatus

    with transaction.atomic():
        device = (
            Device.objects.select_for_update()
            .filter(external_id=device_id, patient__in=patients_of_user(actor.user))
            .first()
            if actor.user is not None
            else None
        )
        if device is None:
            raise NotFound()
        if device.status == DeviceStatus.ACTIVE:
            device.status, device.revoked_at = DeviceStatus.REVOKED, timezones.now()
            device.save(update_fields=["status", "revoked_at", "updated_at"])
        return device


def device_authenticate(device_id, secret: str):
    """The active device with this id whose secret this is, else None (the same answer for a wrong id, a wrong
    secret or a removed device)."""
    import hmac
    import uuid

    from .models import Device, DeviceStatus

    try:
        external_id = uuid.UUID(str(device_id))
    except ValueError:
        return None
    device = Device.objects.filter(external_id=external_id).select_related("patient").first()
    expected = device.secret_hash if device is not None else "0" * 64
    matches = hmac.compare_digest(expected, _secret_hash(secret or ""))
    if device is None or not matches or device.status != DeviceStatus.ACTIVE:
        return None
    return device


#: A pill box opened at a time confirms the doses due from this long before to this long after.
PILL_BOX_BEFORE = dt.timedelta(hours=3)
PILL_BOX_AFTER = dt.timedelta(hours=1)


#: The largest message a device may send (a batch of readings fits easily).
DEVICE_MESSAGE_BYTES = 16 * 1024


def device_payload(raw: bytes) -> dict:
    """A device's message body: a JSON object of at most ``DEVICE_MESSAGE_BYTES``."""
    import json

    from django.utils.translation import gettext as _

    from shifa.core.errors import FieldError, ValidationFailed

    invalid = ValidationFailed(errors=[FieldError("body", "invalid", _("Send a JSON object."))])
    if len(raw) > DEVICE_MESSAGE_BYTES:
        raise invalid
    try:
        payload = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise invalid from None
    if not isinstance(payload, dict):
        raise invalid
    return payload


def device_message(*, device, channel: str, payload: dict) -> dict:
    """File one message of an authenticated device (the same for MQTT and HTTPS): ``readings`` (vital signs) or
    ``doses`` (a pill box opened). A message naming another patient is refused; a repeated ``message_id`` is
    filed once. Returns what was filed."""
    from django.utils.translation import gettext as _

    from shifa.core.errors import Conflict, FieldError, Forbidden, ValidationFailed
    from shifa.records.actions import vital_values

    from .models import Device, DeviceKind, ReadingSource

    if not isinstance(payload, dict):
        raise ValidationFailed(errors=[FieldError("body", "invalid", _("Send a JSON object."))])
    named = payload.get("patient_id")
    if named is not None and str(named) != str(device.patient.external_id):
        raise Forbidden(_("This device can only send data for its own patient."), code="wrong_patient")
    taken_at = None
    if payload.get("taken_at") not in (None, ""):
        try:
            taken_at = dt.datetime.fromisoformat(str(payload["taken_at"]).replace("Z", "+00:00"))
        except ValueError:
            taken_at = None
        if taken_at is None or taken_at.tzinfo is None:
            raise ValidationFailed(
                errors=[FieldError("taken_at", "invalid", _("Give the time in ISO 8601 with its zone."))]
            )
    message_id = str(payload.get("message_id") or "")[:64]
    now = timezones.now()
    Device.objects.filter(pk=device.pk).update(last_seen_at=now)
    if channel == "readings":
        if device.kind == DeviceKind.PILL_BOX:
            raise Conflict(_("A pill box sends doses, not readings."), code="not_for_this_device")
        rows, taken_at = vital_values(payload.get("readings"), taken_at)
        filed = _file_readings(
            patient=device.patient,
            rows=rows,
            taken_at=taken_at,
            source=ReadingSource.DEVICE,
            device=device,
            message_id=message_id,
        )
        return {"filed": len(filed), "flags": {r.kind.code: r.flag for r in filed}}
    if channel == "doses":
        if device.kind != DeviceKind.PILL_BOX:
            raise Conflict(_("Only a pill box confirms doses."), code="not_for_this_device")
        taken_at = taken_at or now
        if taken_at > now + dt.timedelta(minutes=5):
            raise ValidationFailed(
                errors=[FieldError("taken_at", "in_future", _("The time cannot be in the future."))]
            )
        with transaction.atomic():
            doses = list(
                Dose.unscoped.select_for_update()
                .filter(
                    patient=device.patient,
                    status__in=[DoseStatus.DUE, DoseStatus.SENT, DoseStatus.MISSED],
                    due_at__gte=taken_at - PILL_BOX_BEFORE,
                    due_at__lte=taken_at + PILL_BOX_AFTER,
                )
                .order_by("due_at")
            )
            for dose in doses:
                _mark(dose, DoseStatus.TAKEN, now, device=device)
        return {"filed": len(doses), "doses": [str(d.external_id) for d in doses]}
    raise ValidationFailed(errors=[FieldError("topic", "unknown", _("Send readings or doses."))])

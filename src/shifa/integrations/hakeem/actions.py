"""Sending committed records to Hakeem (HK-1, HK-2) and following third-party orders.

Queueing happens inside the action that commits the record (``visit_queue`` from ``visit_commit`` …): the outbox
row (``SyncRecord``) is written in the same transaction, so a committed record is never without one. Sending
happens in jobs, per patient: every record of that patient not yet acknowledged goes in one FHIR transaction
Bundle, in dependency order (the Patient before its Encounter, the Encounter before its Conditions …), so that the
conditional references resolve. Each entry is

- a conditional create (``POST`` + ``ifNoneExist`` on our identifier) the first time: a resend after a lost answer
  finds the resource instead of making a second one;
- an update (``PUT Type/<id>``, or ``PUT Type?identifier=…`` when Hakeem's id is not known yet) for a record queued
  again (an amendment): the same resource, a new version.

A failure marks the claimed records failed with the error, and the next attempt waits 30 s * 2^(attempts - 1),
capped at 6 h, with jitter (half fixed, half random) so that a recovered Hakeem is not hit by every clinic at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import re

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from shifa.core import faults
from shifa.core.errors import NotFound

from . import client as hakeem
from . import fhir
from .models import (
    FINAL_TASK_STATUSES,
    RESOURCE_TYPES,
    Kind,
    SyncRecord,
    SyncState,
    TaskStatus,
    ThirdPartyOrder,
)

logger = logging.getLogger(__name__)

RETRY_BASE_SECONDS = 30
RETRY_CAP_SECONDS = 6 * 3600
#: A record claimed for sending this long ago whose sender never reported back (a crash) is sent again.
SENDING_STALE_AFTER = dt.timedelta(minutes=5)
#: At most this many records in one transaction Bundle (a patient's whole backlog goes together, so that the
#: references between its resources resolve; beyond this, the rest follows in the next Bundle).
BUNDLE_LIMIT = 1000
#: A transaction Hakeem refuses because of one entry is sent again without it, at most this many times.
ISOLATE_AT_MOST = 20
_LOCATION = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/([^/]+))?/?$")
_ENTRY_INDEX = re.compile(r"Bundle\.entry\[(\d+)\]")

#: The order of the entries in a Bundle: what others refer to comes first.
SEND_ORDER = [
    Kind.PATIENT,
    Kind.APPOINTMENT,
    Kind.VISIT,
    Kind.DIAGNOSIS,
    Kind.CONDITION,
    Kind.PRESCRIPTION,
    Kind.ORDER,
    Kind.REFERRAL,
    Kind.VITAL,
    Kind.CARE_PLAN,
    Kind.ORDER_TASK,
    Kind.PRESCRIPTION_TASK,
]
#: Our identifier's kind (``https://shifa.jo/fhir/id/<kind>``) per record kind.
IDENTIFIER_KINDS = {kind: kind.value.replace("_", "-") for kind in Kind}
IDENTIFIER_KINDS[Kind.VITAL] = "vital"


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait after the ``attempts``-th failure in a row: exponential, capped, jittered."""
    delay = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))
    return dt.timedelta(seconds=delay / 2 + random.uniform(0, delay / 2))  # noqa: S311 (jitter, not a secret)


# --- queueing ----------------------------------------------------------------------------------------------------


def _queue(clinic_id, patient_id, kind: Kind, key) -> SyncRecord:
    """Owe Hakeem this record (again): a new record is pending; a known one gets a new version to send now."""
    now = timezone.now()
    record, created = SyncRecord.unscoped.select_for_update().get_or_create(
        clinic_id=clinic_id,
        kind=kind,
        key=key,
        defaults={
            "patient_id": patient_id,
            "resource_type": RESOURCE_TYPES[kind],
            "next_attempt_at": now,
        },
    )
    if not created:
        record.version += 1
        record.next_attempt_at = now
        if record.state != SyncState.SENDING:  # the sender sees the new version and leaves it pending
            record.state = SyncState.PENDING
        record.save(update_fields=["version", "next_attempt_at", "state", "updated_at"])
    return record


def _patient(clinic_id, patient) -> None:
    """The patient goes first (once): the resources refer to them. Their identity is sent again only when it
    changes (``patient_queue``)."""
    exists = SyncRecord.unscoped.filter(
        clinic_id=clinic_id, kind=Kind.PATIENT, key=patient.external_id
    ).exists()
    if not exists:
        _queue(clinic_id, patient.pk, Kind.PATIENT, patient.external_id)


def _send_soon(clinic_id, patient_id) -> None:
    from .tasks import send_patient

    send_patient.defer(clinic_id=clinic_id, patient_id=patient_id)


def _enabled() -> bool:
    return settings.HAKEEM_SYNC


def _parts(visit):
    """The diagnoses, lines, orders and referrals of one committed version of a visit, by kind."""
    from shifa.records.models import Order, Prescription, Referral, VisitDiagnosis

    return {
        Kind.DIAGNOSIS: list(VisitDiagnosis.unscoped.filter(visit=visit)),
        Kind.PRESCRIPTION: list(Prescription.unscoped.filter(visit=visit)),
        Kind.ORDER: list(Order.unscoped.filter(visit=visit)),
        Kind.REFERRAL: list(Referral.unscoped.filter(visit=visit)),
    }


def _previous_version(visit):
    """The committed version an amendment replaces (the original, or the amendment committed before it)."""
    from shifa.records.models import Visit

    if not visit.amends_id:
        return None
    return (
        Visit.unscoped.filter(Q(pk=visit.amends_id) | Q(amends_id=visit.amends_id), is_committed=True)
        .exclude(pk=visit.pk)
        .order_by("-committed_at", "-id")
        .first()
    )


def visit_queue(visit) -> None:
    """A visit was just committed (inside ``visit_commit``'s transaction): queue its patient, appointment,
    encounter, diagnoses, lines, orders, referrals and vitals, and the Task of each third-party order. An
    amendment queues what it changed as updates, and what it took out again to be marked entered in error."""
    if not _enabled():
        return
    clinic_id, patient_id = visit.clinic_id, visit.patient_id
    _patient(clinic_id, visit.patient)
    if visit.appointment_id:
        _queue(clinic_id, patient_id, Kind.APPOINTMENT, visit.appointment.external_id)
    _queue(clinic_id, patient_id, Kind.VISIT, fhir.key(visit))
    keys = {}
    for kind, rows in _parts(visit).items():
        for row in rows:
            keys[(kind, fhir.key(row))] = row
            _queue(clinic_id, patient_id, kind, fhir.key(row))
    previous = _previous_version(visit)
    if previous is not None:
        for kind, rows in _parts(previous).items():
            for row in rows:
                if (kind, fhir.key(row)) not in keys:  # taken out by the amendment
                    _queue(clinic_id, patient_id, kind, fhir.key(row))
    _queue_vitals(clinic_id, patient_id, _visit_vitals(visit))  # an amendment's are new readings
    _third_party_orders(visit, keys)
    _care_plans_of(visit)
    _send_soon(clinic_id, patient_id)


def _care_plans_of(visit) -> None:
    """Plans made while the visit was being written now refer to its encounter."""
    from shifa.careplans.models import CarePlan

    for plan in CarePlan.unscoped.filter(clinic_id=visit.clinic_id, visit_id=visit.amends_id or visit.pk):
        _queue(plan.clinic_id, plan.patient_id, Kind.CARE_PLAN, plan.external_id)


def _visit_vitals(visit):
    from shifa.records.models import Vital

    return Vital.unscoped.filter(visit=visit).select_related("kind", "patient").order_by("taken_at", "id")


def _queue_vitals(clinic_id, patient_id, vitals) -> None:
    """A systolic and a diastolic taken together are one blood-pressure Observation, keyed on the systolic."""
    vitals = list(vitals)
    resources = {r["identifier"][0]["value"] for r in fhir.observations(vitals)}
    for vital in vitals:
        if str(vital.external_id) in resources:
            _queue(clinic_id, patient_id, Kind.VITAL, vital.external_id)


def vitals_queue(vitals) -> None:
    """Vital signs recorded on their own (not in a visit): final as soon as they are recorded."""
    vitals = [v for v in vitals if v.visit_id is None and not v.hakeem_ref]
    if not _enabled() or not vitals:
        return
    first = vitals[0]
    _patient(first.clinic_id, first.patient)
    _queue_vitals(first.clinic_id, first.patient_id, vitals)
    _send_soon(first.clinic_id, first.patient_id)


def patient_queue(patient) -> None:
    """The patient's identity changed: every clinic that sent them to Hakeem sends the correction."""
    if not _enabled():
        return
    for clinic_id in SyncRecord.unscoped.filter(
        kind=Kind.PATIENT, key=patient.external_id, matched=False
    ).values_list("clinic_id", flat=True):
        _queue(clinic_id, patient.pk, Kind.PATIENT, patient.external_id)
        _send_soon(clinic_id, patient.pk)


def condition_queue(fact) -> None:
    """A chronic condition recorded, or its status changed (resolved, entered in error)."""
    if not _enabled() or fact.hakeem_ref:
        return
    _patient(fact.clinic_id, fact.patient)
    _queue(fact.clinic_id, fact.patient_id, Kind.CONDITION, fact.external_id)
    _send_soon(fact.clinic_id, fact.patient_id)


def care_plan_queue(plan) -> None:
    """A care plan started, changed (a step booked, done, missed) or ended."""
    if not _enabled():
        return
    from shifa.careplans.models import CareStep

    _patient(plan.clinic_id, plan.patient)
    for appointment in CareStep.unscoped.filter(plan=plan, appointment__isnull=False).select_related(
        "appointment"
    ):  # the plan refers to the appointments its steps booked
        key = appointment.appointment.external_id
        if not SyncRecord.unscoped.filter(clinic_id=plan.clinic_id, kind=Kind.APPOINTMENT, key=key).exists():
            _queue(plan.clinic_id, plan.patient_id, Kind.APPOINTMENT, key)
    _queue(plan.clinic_id, plan.patient_id, Kind.CARE_PLAN, plan.external_id)
    _send_soon(plan.clinic_id, plan.patient_id)


def _describe(row) -> str:
    from shifa.records.models import Prescription

    if isinstance(row, Prescription):
        return f"{row.medication.name_en} {row.strength}".strip()[:300]
    target = row.lab_test if row.kind == "lab" else row.imaging
    return target.name_en[:300]


def _third_party_orders(visit, current: dict) -> None:
    """Orders and lines to be fulfilled at a Hakeem facility get a ThirdPartyOrder and a Task; one an amendment
    took out (or moved away from a facility) is withdrawn: its Task is cancelled."""
    clinic_id, patient_id = visit.clinic_id, visit.patient_id
    wanted = {}
    for (kind, key), row in current.items():
        if kind in (Kind.ORDER, Kind.PRESCRIPTION) and row.facility_id:
            task_kind = Kind.ORDER_TASK if kind == Kind.ORDER else Kind.PRESCRIPTION_TASK
            wanted[(task_kind, key)] = row
    root_id = visit.amends_id or visit.pk
    existing = {
        (tpo.kind, str(tpo.key)): tpo
        for tpo in ThirdPartyOrder.unscoped.select_for_update().filter(clinic_id=clinic_id, visit_id=root_id)
    }
    for (task_kind, key), row in wanted.items():
        tpo = existing.get((task_kind, key))
        if tpo is None:
            ThirdPartyOrder.unscoped.create(
                clinic_id=clinic_id,
                patient_id=patient_id,
                visit_id=root_id,
                kind=task_kind,
                key=key,
                facility_id=row.facility_id,
                description=_describe(row),
            )
            _queue(clinic_id, patient_id, task_kind, key)
    for (task_kind, key), tpo in existing.items():
        if (task_kind, key) not in wanted and not tpo.withdrawn:
            tpo.withdrawn = True
            tpo.save(update_fields=["withdrawn", "updated_at"])
            if tpo.status not in FINAL_TASK_STATUSES:  # what the facility finished stays as it reported it
                _queue(clinic_id, patient_id, task_kind, key)


# --- building the Bundle -----------------------------------------------------------------------------------------


def _current_version(root):
    from shifa.records.models import Visit

    return (
        Visit.unscoped.filter(Q(pk=root.pk) | Q(amends_id=root.pk), is_committed=True)
        .order_by("-committed_at", "-id")
        .first()
    )


def _part_resource(record: SyncRecord) -> dict:
    """A diagnosis, line, order or referral as its latest committed version has it; one the latest version of its
    visit no longer holds, marked entered in error."""
    from shifa.records.models import Order, Prescription, Referral, VisitDiagnosis

    model, build = {
        Kind.DIAGNOSIS: (VisitDiagnosis, fhir.condition),
        Kind.PRESCRIPTION: (Prescription, fhir.medication_request),
        Kind.ORDER: (Order, fhir.service_request),
        Kind.REFERRAL: (Referral, fhir.service_request),
    }[record.kind]
    rows = list(
        model.unscoped.filter(
            Q(lineage=record.key) | Q(lineage__isnull=True, external_id=record.key),
            clinic_id=record.clinic_id,
            visit__is_committed=True,
        )
        .select_related("visit", "visit__amends")
        .order_by("-visit__committed_at", "-id")
    )
    if not rows:
        raise NotFound()
    latest = rows[0]
    root = latest.visit.amends or latest.visit
    current = _current_version(root)
    resource = build(latest)
    return resource if latest.visit_id == current.pk else fhir.entered_in_error(resource)


def _vital_resource(record: SyncRecord) -> dict:
    from shifa.records.models import Vital

    vital = Vital.unscoped.select_related("kind", "patient").get(
        clinic_id=record.clinic_id, external_id=record.key
    )
    together = Vital.unscoped.select_related("kind", "patient").filter(
        clinic_id=record.clinic_id,
        patient_id=vital.patient_id,
        visit_id=vital.visit_id,
        taken_at=vital.taken_at,
    )
    for resource in fhir.observations(together):
        if resource["identifier"][0]["value"] == str(record.key):
            return resource
    raise NotFound()


def _task_resource(record: SyncRecord) -> dict:
    from shifa.records.models import Order, Prescription

    tpo = ThirdPartyOrder.unscoped.select_related("facility").get(
        clinic_id=record.clinic_id, kind=record.kind, key=record.key
    )
    model = Order if record.kind == Kind.ORDER_TASK else Prescription
    request = (
        model.unscoped.filter(Q(lineage=tpo.key) | Q(lineage__isnull=True, external_id=tpo.key))
        .filter(clinic_id=record.clinic_id, visit__is_committed=True)
        .select_related("visit")
        .order_by("-visit__committed_at")
        .first()
    )
    return fhir.task(tpo, request)


def resource_for(record: SyncRecord) -> dict:
    """The FHIR resource ``record`` stands for, as of now; raises ``fhir.InvalidResource`` if it does not validate."""
    from shifa.careplans.models import CarePlan
    from shifa.records.models import Condition, Patient, Visit
    from shifa.scheduling.models import Appointment

    kind, key = record.kind, record.key
    if kind == Kind.PATIENT:
        resource = fhir.patient(Patient.objects.get(external_id=key))
    elif kind == Kind.APPOINTMENT:
        resource = fhir.appointment(Appointment.unscoped.get(clinic_id=record.clinic_id, external_id=key))
    elif kind == Kind.VISIT:
        root = Visit.unscoped.get(clinic_id=record.clinic_id, external_id=key)
        resource = fhir.encounter(_current_version(root))
    elif kind == Kind.CONDITION:
        resource = fhir.chronic_condition(Condition.unscoped.get(clinic_id=record.clinic_id, external_id=key))
    elif kind == Kind.CARE_PLAN:
        resource = fhir.care_plan(CarePlan.unscoped.get(clinic_id=record.clinic_id, external_id=key))
    elif kind == Kind.VITAL:
        resource = _vital_resource(record)
    elif kind in (Kind.ORDER_TASK, Kind.PRESCRIPTION_TASK):
        resource = _task_resource(record)
    else:
        resource = _part_resource(record)
    fhir.validate(resource)
    return resource


def _reference(record: SyncRecord) -> str:
    """How a resource we send refers to ``record``'s: the conditional reference on our identifier."""
    return f"{record.resource_type}?{fhir.search_key(IDENTIFIER_KINDS[record.kind], record.key)}"


def _links(clinic_id, patient_id, in_bundle: list[SyncRecord]) -> dict[str, str]:
    """Conditional reference → what to write instead: an entry of the same Bundle by its ``urn:uuid`` fullUrl (so
    that references may go both ways, an Encounter to its Conditions and back), a resource Hakeem acknowledged by
    its id."""
    links = {
        _reference(r): r.remote_id
        for r in SyncRecord.unscoped.filter(
            clinic_id=clinic_id, patient_id=patient_id, state=SyncState.ACKNOWLEDGED
        ).exclude(remote_id="")
    }
    links.update({_reference(r): f"urn:uuid:{r.external_id}" for r in in_bundle})
    return links


def _relink(node, links: dict[str, str]):
    if isinstance(node, list):
        return [_relink(item, links) for item in node]
    if isinstance(node, dict):
        node = {k: _relink(v, links) for k, v in node.items()}
        if node.get("reference") in links:
            node["reference"] = links[node["reference"]]
        return node
    return node


def _entry(record: SyncRecord, resource: dict) -> dict:
    search = fhir.search_key(IDENTIFIER_KINDS[record.kind], record.key)
    kind = record.resource_type
    # A patient not yet acknowledged is always looked for first: Hakeem may know them (by national ID).
    first_send = record.version == 1 or (kind == "Patient" and record.sent_version == 0)
    if first_send and not record.remote_id:
        # A first send. (A Task is only sent again when we change it: the facility owns its progress.) A patient
        # Hakeem knows already is found by national ID, the way Hakeem finds people.
        national = [i for i in resource.get("identifier", []) if i.get("system") == fhir.NATIONAL_ID_SYSTEM]
        if kind == "Patient" and national:
            search = f"identifier={fhir.NATIONAL_ID_SYSTEM}|{national[0]['value']}"
        request = {"method": "POST", "url": kind, "ifNoneExist": search}
    elif record.remote_id:
        resource = resource | {"id": record.remote_id.split("/", 1)[1]}
        request = {"method": "PUT", "url": record.remote_id}
    else:
        request = {"method": "PUT", "url": f"{kind}?{search}"}
    return {"fullUrl": f"urn:uuid:{record.external_id}", "resource": resource, "request": request}


# --- sending -----------------------------------------------------------------------------------------------------


def _claimable(now: dt.datetime) -> Q:
    return Q(state__in=[SyncState.PENDING, SyncState.FAILED]) | Q(
        state=SyncState.SENDING, last_attempt_at__lt=now - SENDING_STALE_AFTER
    )


def _claim(clinic_id, patient_id, now: dt.datetime, *, force: bool) -> list[tuple[SyncRecord, int]]:
    """Take the patient's unacknowledged records for sending (when at least one is due, or ``force``)."""
    with transaction.atomic():
        records = list(
            SyncRecord.unscoped.select_for_update(skip_locked=True)
            .filter(_claimable(now), clinic_id=clinic_id, patient_id=patient_id)
            .order_by("id")[:BUNDLE_LIMIT]
        )
        due = [r for r in records if r.next_attempt_at is None or r.next_attempt_at <= now]
        if not records or not (due or force):
            return []
        for record in records:
            record.state, record.last_attempt_at = SyncState.SENDING, now
        SyncRecord.unscoped.bulk_update(records, ["state", "last_attempt_at"])
        order = {kind: i for i, kind in enumerate(SEND_ORDER)}
        records.sort(key=lambda r: (order[r.kind], r.id))
        return [(r, r.version) for r in records]


def _found_first_time(record: SyncRecord, answer: dict) -> bool:
    """A patient's first send that Hakeem answered "200 OK": it held someone with that national ID already."""
    status = str(answer.get("response", {}).get("status", ""))
    return record.kind == Kind.PATIENT and record.sent_version == 0 and status.startswith("200")


def _made_by_us(record: SyncRecord, answer: dict) -> bool | None:
    """Whether the patient Hakeem found on a first send carries our own identifier: then it is the one an earlier
    send of ours made (its answer was lost), not one Hakeem knew. None when Hakeem cannot be asked now."""
    found = _LOCATION.search(str(answer.get("response", {}).get("location", "")).split("?")[0])
    if not found:
        return None
    try:
        resource = hakeem.HakeemClient().read(found.group(1), found.group(2))
    except hakeem.HakeemError:
        return None
    ours = fhir.search_key(IDENTIFIER_KINDS[record.kind], record.key).partition("=")[2]
    return any(f"{i.get('system')}|{i.get('value')}" == ours for i in resource.get("identifier", []))


def _finish(
    record: SyncRecord, version: int, *, error: str = "", answer: dict | None = None, ours: bool = False
) -> None:
    """Write how sending ``version`` of the record went, unless someone queued a newer version meanwhile (then it
    stays pending, to be sent at once). ``ours``: the patient Hakeem found is one we made."""
    now = timezone.now()
    with transaction.atomic():
        current = SyncRecord.unscoped.select_for_update().get(pk=record.pk)
        if answer is not None:
            response = answer.get("response", {})
            found = _LOCATION.search(str(response.get("location", "")).split("?")[0])
            if found:  # relative or absolute: Type/id[/_history/version]
                current.remote_id = f"{found.group(1)}/{found.group(2)}"
                current.remote_version = found.group(3) or ""
            if current.kind == Kind.PATIENT and current.sent_version == 0:
                # Hakeem knew the person already (found by national ID): its registry keeps their identity.
                current.matched = str(response.get("status", "")).startswith("200") and not ours
            current.sent_version = max(current.sent_version, version)
            current.attempts = 0
            current.last_error = ""
            current.acknowledged_at = now
            newer = current.version > version
            current.state = SyncState.PENDING if newer else SyncState.ACKNOWLEDGED
            current.next_attempt_at = now if newer else None
        else:
            current.attempts += 1
            current.last_error = error[:4000]
            current.state = SyncState.FAILED
            current.next_attempt_at = now + backoff(current.attempts)
        current.save()


def _culprit(error: hakeem.Rejected, count: int) -> int | None:
    """The entry Hakeem names in its refusal (``Bundle.entry[3]: …``), if it names one."""
    found = _ENTRY_INDEX.search(str(error))
    index = int(found.group(1)) if found else None
    return index if index is not None and index < count else None


def _transaction(clinic_id, patient_id, sent: list, entries: list, counts: dict) -> None:
    """Send the entries as one transaction. When Hakeem refuses it because of one entry, that record fails with
    Hakeem's reason and the rest goes again without it (a record that needed it fails in its turn, with its own
    reason): one bad record does not hold back the patient's others."""
    error = ""
    for _ in range(ISOLATE_AT_MOST):
        links = _links(clinic_id, patient_id, [record for record, _ in sent])
        bundle = [entry | {"resource": _relink(entry["resource"], links)} for entry in entries]
        try:
            answers = hakeem.HakeemClient().transaction(bundle)
        except hakeem.Rejected as exc:
            error, index = str(exc), _culprit(exc, len(entries))
            if index is None:
                break
            record, version = sent.pop(index)
            entries.pop(index)
            _finish(record, version, error=error)
            counts["failed"] += 1
            if not sent:
                return
            continue
        except hakeem.HakeemError as exc:
            error = str(exc)
            break
        faults.point("hakeem.after_transaction_answered")  # Hakeem holds them; we have not written it down
        for (record, version), answer in zip(sent, answers, strict=True):
            ours = _made_by_us(record, answer) if _found_first_time(record, answer) else False
            if ours is None:  # whose patient it is decides who corrects their identity: ask again later
                _finish(
                    record,
                    version,
                    error="Hakeem found the patient but could not be asked whose record it is",
                )
                counts["failed"] += 1
                continue
            _finish(record, version, answer=answer, ours=ours)
            counts["acknowledged"] += 1
        return
    logger.warning("hakeem: %s record(s) of patient %s not sent: %s", len(sent), patient_id, error)
    for record, version in sent:
        _finish(record, version, error=error)
    counts["failed"] += len(sent)


def send_patient(*, clinic_id, patient_id, force: bool = False) -> dict[str, int]:
    """Send what one clinic owes Hakeem for one patient, in one transaction Bundle (several if very many)."""
    counts = {"acknowledged": 0, "failed": 0}
    while True:
        claimed = _claim(clinic_id, patient_id, timezone.now(), force=force)
        if not claimed:
            return counts
        entries, sent = [], []
        for record, version in claimed:
            try:
                entries.append(_entry(record, resource_for(record)))
                sent.append((record, version))
            except fhir.InvalidResource as exc:
                _finish(record, version, error=f"Not valid FHIR: {exc}")
                counts["failed"] += 1
            except Exception as exc:
                logger.exception("hakeem: cannot build %s %s", record.kind, record.key)
                _finish(record, version, error=f"Cannot be built: {exc.__class__.__name__}")
                counts["failed"] += 1
        if sent:
            _transaction(clinic_id, patient_id, sent, entries, counts)
        if len(claimed) < BUNDLE_LIMIT:
            return counts
        force = False


def send_due(*, now: dt.datetime | None = None, limit: int = 50) -> int:
    """Send for every patient with a record due (new, failed and waited out, or stuck sending); returns how many
    patients were tried. The periodic job's body."""
    now = now or timezone.now()
    due = (
        SyncRecord.unscoped.filter(_claimable(now))
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now) | Q(state=SyncState.SENDING))
        .values_list("clinic_id", "patient_id")
        .distinct()[:limit]
    )
    pairs = list(due)
    for clinic_id, patient_id in pairs:
        send_patient(clinic_id=clinic_id, patient_id=patient_id)
    return len(pairs)


# --- the platform's retries --------------------------------------------------------------------------------------


def record_retry(*, actor, record_id) -> SyncRecord:
    """A platform admin sends a failed record again now (with the rest its patient owes)."""
    with transaction.atomic():
        record = SyncRecord.unscoped.select_for_update().filter(external_id=record_id).first()
        if record is None:
            raise NotFound()
        if record.state == SyncState.FAILED:
            record.next_attempt_at = timezone.now()
            record.save(update_fields=["next_attempt_at", "updated_at"])
    send_patient(clinic_id=record.clinic_id, patient_id=record.patient_id, force=True)
    record.refresh_from_db()
    return record


def clinic_retry(*, actor, clinic_id) -> int:
    """Every failed record of one clinic is due now; the job sends them (patient by patient). Returns how many."""
    from shifa.tenancy.models import Clinic

    from .tasks import send_clinic

    clinic = Clinic.objects.filter(external_id=clinic_id).first()
    if clinic is None:
        raise NotFound()
    with transaction.atomic():
        count = SyncRecord.unscoped.filter(clinic=clinic, state=SyncState.FAILED).update(
            next_attempt_at=timezone.now(), updated_at=timezone.now()
        )
        if count:
            send_clinic.defer(clinic_id=clinic.pk)
    return count


def clinic_send(*, clinic_id) -> int:
    """Send what is due for one clinic, patient by patient (the job behind ``clinic_retry``)."""
    now = timezone.now()
    patients = (
        SyncRecord.unscoped.filter(_claimable(now), clinic_id=clinic_id, next_attempt_at__lte=now)
        .values_list("patient_id", flat=True)
        .distinct()
    )
    patients = list(patients)
    for patient_id in patients:
        send_patient(clinic_id=clinic_id, patient_id=patient_id)
    return len(patients)


# --- third-party orders coming back ------------------------------------------------------------------------------


def tasks_poll(*, limit: int = 200) -> int:
    """Ask Hakeem how the open third-party orders are going (their Tasks, by our identifier); update the ones that
    moved. Returns how many changed. Leaves everything as it was when Hakeem cannot be reached."""
    open_orders = list(
        ThirdPartyOrder.unscoped.exclude(status__in=FINAL_TASK_STATUSES)
        .filter(withdrawn=False)
        .order_by(F("checked_at").asc(nulls_first=True))[:limit]
    )
    if not open_orders:
        return 0
    by_identifier = {f"{fhir.ID_SYSTEM}{IDENTIFIER_KINDS[t.kind]}|{t.key}": t for t in open_orders}
    changed = 0
    client = hakeem.HakeemClient()
    identifiers = list(by_identifier)
    for start in range(0, len(identifiers), 50):
        chunk = identifiers[start : start + 50]
        try:
            tasks = client.search("Task", {"identifier": ",".join(chunk), "_count": 100})
        except hakeem.HakeemError as exc:
            logger.warning("hakeem: third-party orders not checked: %s", exc)
            return changed
        now = timezone.now()
        seen = {}
        for task in tasks:
            for ident in task.get("identifier", []):
                name = f"{ident.get('system')}|{ident.get('value')}"
                if name in by_identifier:
                    seen[name] = task
        for name in chunk:
            changed += task_status_update(by_identifier[name], seen.get(name), now)
    return changed


def task_status_update(tpo: ThirdPartyOrder, task: dict | None, now: dt.datetime) -> int:
    """File what Hakeem says of one third-party order's Task; 1 if its status changed."""
    with transaction.atomic():
        tpo = ThirdPartyOrder.unscoped.select_for_update().get(pk=tpo.pk)
        tpo.checked_at = now
        fields = ["checked_at", "updated_at"]
        status = (task or {}).get("status")
        moved = status in TaskStatus.values and status != tpo.status
        if moved:
            tpo.status = status
            tpo.business_status = ((task.get("businessStatus") or {}).get("text") or "")[:300]
            tpo.status_changed_at = now
            fields += ["status", "business_status", "status_changed_at"]
        tpo.save(update_fields=fields)
    return int(moved)

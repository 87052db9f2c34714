"""Reads of the Hakeem sync: the platform's monitor (counts by state, overall and per clinic; the records not yet
acknowledged, newest failures first), a clinic's own records and third-party orders, and how one visit's records
are doing.

The monitor's queries never load a patient (``policies.monitored_records``): the platform sees a technical view."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from shifa.access.policies import Actor
from shifa.core.errors import FieldError, NotFound, ValidationFailed
from shifa.core.pagination import Page, check_limit, decode_cursor, encode_cursor, paginate

from . import policies
from .models import Kind, SyncRecord, SyncState, TaskStatus

#: The states the monitor lists by default: everything not yet acknowledged.
UNFINISHED = (SyncState.PENDING, SyncState.SENDING, SyncState.FAILED)
#: The state filters the lists accept: one state, ``unfinished`` (the default) or ``all``.
STATE_FILTERS = ("unfinished", "all", *SyncState.values)
#: The summary of a visit's records, worst first.
VISIT_FAILED, VISIT_WAITING, VISIT_ACKNOWLEDGED = "failed", "waiting", "acknowledged"


def _state_filter(qs: QuerySet[SyncRecord], state: str | None) -> QuerySet[SyncRecord]:
    state = state or "unfinished"
    if state not in STATE_FILTERS:
        raise ValidationFailed.on(
            "state", "invalid", _("Choose one of: %(states)s.") % {"states": ", ".join(STATE_FILTERS)}
        )
    if state == "unfinished":
        return qs.filter(state__in=UNFINISHED)
    if state == "all":
        return qs
    return qs.filter(state=state)


# --- the platform's monitor --------------------------------------------------------------------------------------


@dataclass
class ClinicCounts:
    clinic: object
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def failed(self) -> int:
        return self.counts.get(SyncState.FAILED, 0)


@dataclass
class MonitorCounts:
    """How many records are in each state, over every clinic and per clinic (clinics with records only)."""

    counts: dict[str, int]
    clinics: list[ClinicCounts]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def monitor_counts(*, actor: Actor) -> MonitorCounts:
    """Records per state, overall and per clinic (those with failures first, then by name). Two queries."""
    from shifa.tenancy.models import Clinic

    grouped = (
        policies.monitored_records(actor).order_by().values_list("clinic_id", "state").annotate(n=Count("id"))
    )
    overall = dict.fromkeys(SyncState.values, 0)
    per_clinic: dict[int, dict[str, int]] = {}
    for clinic_id, state, n in grouped:
        overall[state] += n
        per_clinic.setdefault(clinic_id, dict.fromkeys(SyncState.values, 0))[state] += n
    clinics = {c.pk: c for c in Clinic.objects.filter(pk__in=per_clinic)}
    rows = [ClinicCounts(clinic=clinics[pk], counts=counts) for pk, counts in per_clinic.items()]
    rows.sort(key=lambda r: (-r.failed, r.clinic.name_en.casefold(), r.clinic.pk))
    return MonitorCounts(counts=overall, clinics=rows)


def monitor_record_list(
    *,
    actor: Actor,
    state: str | None = None,
    clinic_id=None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """Records of every clinic (or one), not yet acknowledged unless ``state`` says otherwise; the most recently
    tried first (a record never tried counts from when it was queued). No patient is loaded."""
    check_limit(limit)
    qs = _state_filter(policies.monitored_records(actor), state).select_related("clinic")
    if clinic_id is not None:
        qs = qs.filter(clinic__external_id=clinic_id)
    qs = qs.annotate(tried_at=Coalesce("last_attempt_at", "created_at")).order_by("-tried_at", "-pk")
    if cursor:
        position = decode_cursor(cursor)
        try:
            at, pk = dt.datetime.fromisoformat(position["at"]), int(position["pk"])
        except (KeyError, TypeError, ValueError):
            raise ValidationFailed(
                errors=[FieldError("cursor", "invalid", _("This cursor is not valid."))]
            ) from None
        qs = qs.filter(Q(tried_at__lt=at) | Q(tried_at=at, pk__lt=pk))
    rows = list(qs[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor({"at": last.tried_at.isoformat(), "pk": last.pk})
    return Page(items=rows[:limit], next_cursor=next_cursor)


def monitor_record(*, actor: Actor, record_id) -> SyncRecord:
    """One record of any clinic, for the monitor; 404 if there is none."""
    record = policies.monitored_records(actor).select_related("clinic").filter(external_id=record_id).first()
    if record is None:
        raise NotFound()
    return record


def monitor_clinic(*, actor: Actor, clinic_id):
    """A clinic, for the monitor's per-clinic retry; 404 if there is none."""
    from shifa.tenancy.models import Clinic

    policies.monitored_records(actor)  # the platform's only
    clinic = Clinic.objects.filter(external_id=clinic_id).first()
    if clinic is None:
        raise NotFound()
    return clinic


# --- a clinic's own --------------------------------------------------------------------------------------------


def _own_visit(actor: Actor, visit_id):
    from shifa.records.models import Visit

    visit = (
        Visit.objects.for_clinic(actor.require_clinic())
        .select_related("amends")
        .filter(external_id=visit_id)
        .first()
    )
    if visit is None:
        raise NotFound()
    return visit


def visit_records_filter(visit) -> Q:
    """The records a committed version of a visit produced: its Encounter (keyed on the original visit), the
    appointment, its diagnoses, lines, orders and referrals (keyed on their lineage), the vital signs taken in the
    visit, and the Task of each order or line sent to a Hakeem facility. One condition, subqueries inside."""
    from shifa.records.models import Order, Prescription, Referral, VisitDiagnosis, Vital
    from shifa.scheduling.models import Appointment

    root_id = visit.amends_id or visit.pk
    root_key = visit.amends.external_id if visit.amends_id else visit.external_id

    def keys(model, **extra):
        return (
            model.unscoped.filter(visit_id=visit.pk, **extra)
            .annotate(k=Coalesce("lineage", "external_id"))
            .values("k")
        )

    condition = Q(kind=Kind.VISIT, key=root_key)
    if visit.appointment_id:
        condition |= Q(
            kind=Kind.APPOINTMENT,
            key__in=Appointment.unscoped.filter(pk=visit.appointment_id).values("external_id"),
        )
    for kind, model in (
        (Kind.DIAGNOSIS, VisitDiagnosis),
        (Kind.PRESCRIPTION, Prescription),
        (Kind.ORDER, Order),
        (Kind.REFERRAL, Referral),
    ):
        condition |= Q(kind=kind, key__in=keys(model))
    condition |= Q(kind=Kind.ORDER_TASK, key__in=keys(Order, facility__isnull=False))
    condition |= Q(kind=Kind.PRESCRIPTION_TASK, key__in=keys(Prescription, facility__isnull=False))
    condition |= Q(kind=Kind.VITAL, key__in=Vital.unscoped.filter(visit_id=root_id).values("external_id"))
    return condition


def clinic_record_list(
    *,
    actor: Actor,
    patient_id=None,
    visit_id=None,
    state: str | None = "all",
    cursor: str | None = None,
    limit: int = 50,
) -> Page:
    """The acting clinic's records, newest first, with their patient: of one patient, of one visit (404 if the
    visit is not the clinic's), in one state (``unfinished``: not yet acknowledged; ``all``)."""
    qs = _state_filter(policies.clinic_records(actor), state or "all").select_related("patient")
    if patient_id is not None:
        qs = qs.filter(patient__external_id=patient_id)
    if visit_id is not None:
        qs = qs.filter(visit_records_filter(_own_visit(actor, visit_id)))
    return paginate(qs, cursor=cursor, limit=limit, newest_first=True)


@dataclass
class VisitSync:
    """How a visit's records are doing on Hakeem: ``state`` is the worst of them (failed, waiting, acknowledged),
    ``error`` the last error of a failed one."""

    state: str
    counts: dict[str, int]
    error: str = ""
    next_attempt_at: dt.datetime | None = None
    acknowledged_at: dt.datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def acknowledged(self) -> int:
        return self.counts.get(SyncState.ACKNOWLEDGED, 0)

    @property
    def token(self) -> str:
        """Changes whenever what the visit page shows of the sync changes (its poll answers 204 until then)."""
        return f"{self.state}-{self.acknowledged}-{self.total}-{len(self.error)}"


def visit_sync(*, actor: Actor, visit) -> VisitSync | None:
    """The sync summary of one of the acting clinic's committed visits (any version); ``None`` for a visit being
    written, another clinic's visit, one that produced no record (sync turned off), or an actor without
    ``hakeem.view_sync``."""
    clinic = actor.require_clinic()
    if not visit.is_committed or visit.clinic_id != clinic.pk or not policies.may_view_sync(actor):
        return None
    records = list(
        policies.clinic_records(actor)
        .filter(visit_records_filter(visit))
        .only("state", "last_error", "next_attempt_at", "acknowledged_at", "updated_at")
        .order_by("-updated_at", "-pk")
    )
    if not records:
        return None
    counts = dict.fromkeys(SyncState.values, 0)
    for record in records:
        counts[record.state] += 1
    failed = [r for r in records if r.state == SyncState.FAILED]
    if failed:
        return VisitSync(
            state=VISIT_FAILED,
            counts=counts,
            error=failed[0].last_error,
            next_attempt_at=min((r.next_attempt_at for r in failed if r.next_attempt_at), default=None),
        )
    if counts[SyncState.PENDING] or counts[SyncState.SENDING]:
        return VisitSync(state=VISIT_WAITING, counts=counts)
    acknowledged = max((r.acknowledged_at for r in records if r.acknowledged_at), default=None)
    return VisitSync(state=VISIT_ACKNOWLEDGED, counts=counts, acknowledged_at=acknowledged)


def visit_sync_get(*, actor: Actor, visit_id) -> VisitSync | None:
    """``visit_sync`` of one of the acting clinic's visits by its id (404 for another clinic's or an unknown one)."""
    return visit_sync(actor=actor, visit=_own_visit(actor, visit_id))


#: The third-party order filters: those still open at the facility, those done with, all.
ORDER_FILTERS = ("all", "open", "closed")


def third_party_order_list(
    *, actor: Actor, status: str | None = None, cursor: str | None = None, limit: int = 50
) -> Page:
    """The acting clinic's orders to be fulfilled at Hakeem facilities, newest first, with the patient, the
    facility and the visit. ``status``: a Task status, ``open``, ``closed`` or ``all`` (the default)."""
    from .models import FINAL_TASK_STATUSES

    qs = policies.clinic_third_party_orders(actor).select_related("patient", "facility", "visit")
    status = status or "all"
    if status == "open":
        qs = qs.exclude(status__in=FINAL_TASK_STATUSES).filter(withdrawn=False)
    elif status == "closed":
        qs = qs.filter(Q(status__in=FINAL_TASK_STATUSES) | Q(withdrawn=True))
    elif status in TaskStatus.values:
        qs = qs.filter(status=status)
    elif status != "all":
        raise ValidationFailed.on(
            "status",
            "invalid",
            _("Choose one of: %(states)s.") % {"states": ", ".join([*ORDER_FILTERS, *TaskStatus.values])},
        )
    return paginate(qs, cursor=cursor, limit=limit, newest_first=True)


def record_visit_key(record: SyncRecord):
    """The visit (its original's id) an Encounter record stands for, to link to it; ``None`` for other kinds."""
    return record.key if record.kind == Kind.VISIT else None

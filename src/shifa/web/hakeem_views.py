"""Hakeem sync pages (HK-1, HK-2): the platform's sync monitor (counts by state, per clinic with "retry all
failed", the records not yet acknowledged with "retry" each — no patient, nothing clinical) and the clinic's page
(its records' sync states and its third-party orders). Thin: the same queries and actions as the API
(``shifa.integrations.hakeem``)."""

from __future__ import annotations

import hashlib
import uuid

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.http import urlencode
from django.utils.translation import get_language, gettext_lazy, pgettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from shifa.access.declare import page
from shifa.core import timezones
from shifa.core.errors import NotFound, Problem, ValidationFailed
from shifa.integrations.hakeem import actions as hakeem_actions
from shifa.integrations.hakeem import policies as hakeem_policies
from shifa.integrations.hakeem import queries as hakeem_queries
from shifa.integrations.hakeem.models import FINAL_TASK_STATUSES, SyncState, TaskStatus

from .account_views import problem_text
from .clinic_views import _render
from .progress import unchanged

#: The monitor's filters, in the order of its tabs (failures first: what the platform acts on).
MONITOR_FILTERS = {
    "failed": gettext_lazy("Failed"),
    "unfinished": gettext_lazy("Not yet acknowledged"),
    "pending": gettext_lazy("Waiting"),
    "sending": gettext_lazy("Being sent"),
    "acknowledged": pgettext_lazy("Hakeem sync state", "Acknowledged"),
    "all": gettext_lazy("All"),
}
#: The clinic page's filters.
CLINIC_FILTERS = {
    "all": gettext_lazy("All"),
    "unfinished": gettext_lazy("Not yet acknowledged"),
    "failed": gettext_lazy("Failed"),
    "acknowledged": pgettext_lazy("Hakeem sync state", "Acknowledged"),
}
ORDER_FILTERS = {
    "all": gettext_lazy("All"),
    "open": gettext_lazy("Open at the facility"),
    "closed": gettext_lazy("Done with"),
}
STATE_LABELS = dict(SyncState.choices)
TASK_LABELS = dict(TaskStatus.choices)


def _context(nav: str, **extra) -> dict:
    return {"nav": nav, "shell_title": _("Platform console"), **extra}


def _uuid(value: str | None):
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _when(value, zone: str | None = None):
    return timezones.wall_clock(value, zone) if value else None


def _row(record, zone: str | None = None) -> dict:
    """A record as a table row: its times on the wall clock, whether it may be sent again."""
    last_attempt = _when(record.last_attempt_at, zone)
    return {
        "record": record,
        "short_key": str(record.key)[:8],
        "state_label": STATE_LABELS.get(record.state, record.state),
        "queued": _when(record.created_at, zone),
        "last_attempt": last_attempt,
        "last_attempt_text": _("Last attempt: %(at)s") % {"at": f"{last_attempt:%Y-%m-%d %H:%M}"}
        if last_attempt
        else "",
        "next_attempt": _when(record.next_attempt_at, zone),
        "acknowledged": _when(record.acknowledged_at, zone),
        "retryable": hakeem_policies.may_retry(record),
        "visit_key": hakeem_queries.record_visit_key(record),
    }


# --- the platform's monitor -------------------------------------------------------------------------------------


def _monitor_url(state: str, clinic_id=None, **extra) -> str:
    query = {"state": state, **({"clinic": str(clinic_id)} if clinic_id else {}), **extra}
    return f"{reverse('web:platform_hakeem')}?{urlencode(query)}"


@page("hakeem.monitor")
def platform_hakeem(request: HttpRequest) -> HttpResponse:
    """What the clinics owe Hakeem: counts by state, per clinic, and the records in one state (failed by default),
    most recently tried first; a failed record can be sent again, one at a time or all of a clinic's."""
    actor = request.actor
    state = request.GET.get("state") or "failed"
    if state not in MONITOR_FILTERS:
        state = "failed"
    clinic_id = _uuid(request.GET.get("clinic"))
    try:
        found = hakeem_queries.monitor_record_list(
            actor=actor, state=state, clinic_id=clinic_id, cursor=request.GET.get("cursor") or None, limit=50
        )
    except ValidationFailed:
        found = hakeem_queries.monitor_record_list(actor=actor, state=state, clinic_id=clinic_id, limit=50)
    counts = hakeem_queries.monitor_counts(actor=actor)
    language = get_language()
    clinics = [
        {
            "clinic": row.clinic,
            "name": row.clinic.display_name(language),
            "counts": row.counts,
            "failed": row.failed,
            "waiting": row.counts[SyncState.PENDING] + row.counts[SyncState.SENDING],
        }
        for row in counts.clinics
    ]
    names = {c["clinic"].pk: c["name"] for c in clinics}
    rows = [
        {**_row(r), "clinic_name": names.get(r.clinic_id) or r.clinic.display_name(language)}
        for r in found.items
    ]
    retried = None
    retried_id = _uuid(request.GET.get("retried"))
    if retried_id is not None:
        try:
            record = hakeem_queries.monitor_record(actor=actor, record_id=retried_id)
        except NotFound:
            pass
        else:
            retried = {**_row(record), "clinic_name": record.clinic.display_name(language)}
    shown_clinic = next((c for c in clinics if c["clinic"].external_id == clinic_id), None)
    return render(
        request,
        "web/hakeem/platform_monitor.html",
        _context(
            "hakeem",
            counts=counts.counts,
            total=counts.total,
            waiting=counts.counts[SyncState.PENDING] + counts.counts[SyncState.SENDING],
            clinics=clinics,
            rows=rows,
            retried=retried,
            shown=state,
            shown_clinic=shown_clinic,
            clinic_filter=clinic_id,
            filters=[(code, label, _monitor_url(code, clinic_id)) for code, label in MONITOR_FILTERS.items()],
            next_url=_monitor_url(state, clinic_id, cursor=found.next_cursor) if found.next_cursor else "",
        ),
    )


def _back(request: HttpRequest, **extra) -> HttpResponse:
    """Back to the monitor as it was shown (its state and clinic filters)."""
    state = request.POST.get("state", "")
    state = state if state in MONITOR_FILTERS else "failed"
    return redirect(_monitor_url(state, _uuid(request.POST.get("clinic")), **extra))


@page("hakeem.monitor", methods=("POST",))
@require_http_methods(["POST"])
def platform_hakeem_record_retry(request: HttpRequest, record_id) -> HttpResponse:
    """Send one record again now (with the rest its patient owes); say how it went."""
    actor = request.actor
    record = hakeem_queries.monitor_record(actor=actor, record_id=record_id)
    try:
        hakeem_policies.require_retryable(record)
        record = hakeem_actions.record_retry(actor=actor, record_id=record_id)
    except NotFound:
        raise
    except Problem as exc:
        messages.error(request, problem_text(exc))
        return _back(request)
    if record.state == SyncState.ACKNOWLEDGED:
        messages.success(request, _("Sent again: Hakeem acknowledged the record."))
    elif record.state == SyncState.FAILED:
        messages.error(request, _("Sent again, but it failed: %(error)s") % {"error": record.last_error})
    else:
        messages.info(request, _("The record is queued to be sent again."))
    return _back(request, retried=str(record.external_id))


@page("hakeem.monitor", methods=("POST",))
@require_http_methods(["POST"])
def platform_hakeem_clinic_retry(request: HttpRequest, managed_clinic_id) -> HttpResponse:
    """Make every failed record of a clinic due now; the job sends them in a moment."""
    actor = request.actor
    clinic = hakeem_queries.monitor_clinic(actor=actor, clinic_id=managed_clinic_id)
    queued = hakeem_actions.clinic_retry(actor=actor, clinic_id=managed_clinic_id)
    name = clinic.display_name(get_language())
    if queued:
        messages.success(
            request,
            _("%(count)s failed record(s) of %(clinic)s will be sent again in a moment.")
            % {"count": queued, "clinic": name},
        )
    else:
        messages.info(request, _("%(clinic)s has no failed record.") % {"clinic": name})
    return _back(request)


# --- the clinic's page ------------------------------------------------------------------------------------------


@page("hakeem.view_sync")
def clinic_hakeem(request: HttpRequest, clinic_id) -> HttpResponse:
    """The clinic's records and whether Hakeem acknowledged them; its orders at Hakeem facilities."""
    actor = request.actor
    zone = actor.clinic.time_zone
    state = request.GET.get("state") or "all"
    if state not in CLINIC_FILTERS:
        state = "all"
    orders_shown = request.GET.get("orders") or "all"
    if orders_shown not in ORDER_FILTERS:
        orders_shown = "all"
    try:
        found = hakeem_queries.clinic_record_list(
            actor=actor, state=state, cursor=request.GET.get("cursor") or None, limit=50
        )
    except ValidationFailed:
        found = hakeem_queries.clinic_record_list(actor=actor, state=state, limit=50)
    try:
        orders = hakeem_queries.third_party_order_list(
            actor=actor, status=orders_shown, cursor=request.GET.get("orders_cursor") or None, limit=50
        )
    except ValidationFailed:
        orders = hakeem_queries.third_party_order_list(actor=actor, status=orders_shown, limit=50)
    language = get_language()
    order_rows = [
        {
            "order": o,
            "status_label": TASK_LABELS.get(o.status, o.status),
            "facility_name": o.facility.display_name(language),
            "changed": _when(o.status_changed_at, zone),
            "ordered": _when(o.created_at, zone),
            "final": o.withdrawn or o.status in FINAL_TASK_STATUSES,
        }
        for o in orders.items
    ]
    base = reverse("web:clinic_hakeem", kwargs={"clinic_id": clinic_id})

    def url(**query) -> str:
        return f"{base}?{urlencode({'state': state, 'orders': orders_shown, **query})}"

    # While records shown are on their way, the table follows them (htmx, every 2 s; 204 while nothing moved).
    on_the_way = sum(r.state in (SyncState.PENDING, SyncState.SENDING) for r in found.items)
    seen = hashlib.sha256(
        "|".join(f"{r.external_id}:{r.state}:{r.attempts}" for r in found.items).encode()
    ).hexdigest()[:16]
    if on_the_way and (answer := unchanged(request, seen)):
        return answer
    shown_query = {k: v for k, v in request.GET.items() if k != "seen"}
    return _render(
        request,
        "web/hakeem/clinic_records.html",
        "hakeem",
        rows=[_row(r, zone) for r in found.items],
        shown=state,
        filters=[(code, label, url(state=code)) for code, label in CLINIC_FILTERS.items()],
        next_url=url(cursor=found.next_cursor) if found.next_cursor else "",
        orders=order_rows,
        orders_shown=orders_shown,
        order_filters=[(code, label, url(orders=code)) for code, label in ORDER_FILTERS.items()],
        orders_next_url=url(orders_cursor=orders.next_cursor) if orders.next_cursor else "",
        zone=zone,
        on_the_way=on_the_way,
        poll_url=f"{base}?{urlencode({**shown_query, 'seen': seen})}" if on_the_way else "",
    )


@page("hakeem.view_sync")
def clinic_visit_hakeem(request: HttpRequest, clinic_id, visit_id) -> HttpResponse:
    """How a committed visit's records are getting on with Hakeem, as the fragment the visit page polls: waiting
    (how many Hakeem acknowledged so far), failed (why, and when it is tried again) or acknowledged."""
    sync = hakeem_queries.visit_sync_get(actor=request.actor, visit_id=visit_id)
    if sync is not None and (answer := unchanged(request, sync.token)):
        return answer
    return render(
        request,
        "web/hakeem/_visit_sync.html",
        {"hakeem_sync": sync, "hakeem_visit_id": visit_id, "clinic": request.actor.clinic},
    )


urlpatterns = [
    path("platform/hakeem", platform_hakeem, name="platform_hakeem"),
    path(
        "platform/hakeem/records/<uuid:record_id>/retry",
        platform_hakeem_record_retry,
        name="platform_hakeem_record_retry",
    ),
    path(
        "platform/hakeem/clinics/<uuid:managed_clinic_id>/retry",
        platform_hakeem_clinic_retry,
        name="platform_hakeem_clinic_retry",
    ),
    path("clinic/<uuid:clinic_id>/hakeem", clinic_hakeem, name="clinic_hakeem"),
    path(
        "clinic/<uuid:clinic_id>/visits/<uuid:visit_id>/hakeem",
        clinic_visit_hakeem,
        name="clinic_visit_hakeem",
    ),
]

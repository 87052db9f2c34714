"""The patient app's telehealth pages: "Treat Me Now" (TM-2) — ask for an urgent video consultation for oneself or
a dependant, then wait with one's place in the queue until a doctor accepts and the call can be joined — and the
conversations with clinics' care teams (TM-3). Thin: the same queries and actions as ``shifa.telehealth.api``.

The conversation pages work without script (a plain form sends each message, with its ``client_id`` so that a
double submit keeps one); ``chat.js`` adds live messages, read receipts and the typing indicator over the
conversation's WebSocket. The pieces both sides share (the patient's and the care team's) live here too."""

from __future__ import annotations

import datetime as dt
import uuid

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.text import Truncator
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from shifa.access.declare import page
from shifa.catalog.models import Specialty
from shifa.core import timezones
from shifa.core.errors import NotFound, Problem
from shifa.records import queries as record_queries
from shifa.telehealth import actions, queries
from shifa.telehealth.models import Side, UrgentStatus

from .account_views import problem_text

URGENT = "telehealth.use_own"
MESSAGES = "messaging.use_own"

#: How long the waiting page waits between two looks at the request when its WebSocket is not connected.
POLL_SECONDS = 10


def _status(problem: Problem) -> int:
    return problem.status if problem.status in {403, 409, 429, 503} else 400


def place_problem(form: forms.Form, problem: Problem, fields: dict[str, str]) -> int:
    """Put an action's refusal on the form: each field error on the form field it is about (``fields`` maps the
    action's names to the form's), the rest above the form. The status to answer with."""
    placed = False
    for error in problem.errors:
        name = fields.get(error.field)
        if name in form.fields:
            form.add_error(name, error.message)
            placed = True
    if not placed:
        form.add_error(None, problem_text(problem))
    return _status(problem)


def age_in_years(born: dt.date | None, today: dt.date) -> int | None:
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def minutes_and_seconds(seconds: int | None) -> str:
    """A waiting time in words: "4 min 10 s"; "—" for none."""
    if seconds is None:
        return "—"
    minutes, rest = divmod(int(seconds), 60)
    if not minutes:
        return _("%(seconds)d s") % {"seconds": rest}
    return _("%(minutes)d min %(seconds)d s") % {"minutes": minutes, "seconds": rest}


# --- conversations: shared by the patient's and the care team's pages -------------------------------------------


class MessageForm(forms.Form):
    """One message: text, a file, or both. The action checks them (length, file type and size)."""

    body = forms.CharField(
        label=gettext_lazy("Message"),
        required=False,
        strip=False,
        widget=forms.Textarea({"rows": 2, "dir": "auto", "maxlength": actions.MESSAGE_LIMIT}),
    )
    file = forms.FileField(
        label=gettext_lazy("Attach a file (PDF, JPEG or PNG, up to 10 MB)"),
        required=False,
        widget=forms.ClearableFileInput({"accept": "application/pdf,image/jpeg,image/png"}),
    )
    client_id = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


def new_client_id() -> str:
    return uuid.uuid4().hex


def message_form(form: MessageForm | None = None) -> MessageForm:
    """The form to write the next message, each with its own ``client_id``; a form sent back with a problem keeps
    its id, so that sending it again once the problem is fixed still counts once."""
    if form is not None:
        return form
    return MessageForm(initial={"client_id": new_client_id()})


def message_rows(found: queries.MessagePage, *, side: str, zone: str, attachment_url: str) -> list[dict]:
    """The messages as the thread shows them: whose, when (on the clinic's clock), the file, and for one's own
    side whether the other side has read it."""
    rows = []
    for message in found.messages:
        mine = message.side == side
        rows.append(
            {
                "id": message.external_id,
                "mine": mine,
                "side": message.side,
                "sender": message.sender.full_name,
                "body": message.body,
                "attachment": (
                    {
                        "name": message.attachment_name,
                        "size_kb": max(1, round((message.attachment_size or 0) / 1024)),
                        "url": attachment_url.replace("__message__", str(message.external_id)),
                    }
                    if message.attachment_name
                    else None
                ),
                "created_at": message.created_at,
                "at": timezones.wall_clock(message.created_at, zone),
                "read": mine and found.read_up_to is not None and message.pk <= found.read_up_to,
            }
        )
    return rows


def thread_context(
    request: HttpRequest,
    conversation,
    *,
    side: str,
    page_url: str,
    ws_url: str,
    attachment_url: str,
    form: MessageForm | None = None,
) -> dict:
    """What the conversation page shows: a page of messages (the latest, those before ``?before=``, or those
    after ``?after=``, which ``chat.js`` asks for while its live connection is down), the form to write, and what
    ``chat.js`` needs to go live. Opening the latest page marks the conversation read, and so does catching up
    while the reader has the page in front of them (``&read=1``)."""
    before = (request.GET.get("before") or "").strip() or None
    after = None if before else (request.GET.get("after") or "").strip() or None
    found = queries.messages(conversation, side=side, before=before, after=after)
    reading = before is None and (after is None or request.GET.get("read") == "1")
    if reading and found.messages and request.method == "GET":
        actions.conversation_read(
            actor=request.actor,
            conversation=conversation,
            side=side,
            message_id=found.messages[-1].external_id,
        )
    rows = message_rows(found, side=side, zone=conversation.clinic.time_zone, attachment_url=attachment_url)
    return {
        "conversation": conversation,
        "rows": rows,
        "earlier_url": f"{page_url}?before={rows[0]['id']}" if found.has_more and rows and not after else "",
        "before": before,
        "after": after,
        "side": side,
        "page_url": page_url,
        "ws_url": ws_url,
        "attachment_url": attachment_url,
        "form": message_form(form),
    }


def messages_only(request: HttpRequest, context: dict) -> HttpResponse | None:
    """The messages alone, for "Load earlier" (htmx puts them above those shown) and for catching up after the
    last one shown (``chat.js`` adds them below); None for the whole page."""
    if not (request.htmx and (context["before"] or context["after"])):
        return None
    return render(request, "web/patient/messages_items.html", context)


def send_message(request: HttpRequest, conversation, *, side: str, page_url: str, again) -> HttpResponse:
    """Send the form's message; back to the conversation at the new message, or the page again with the problem
    (``again(form, status)``). The same ``client_id`` sent twice keeps one message."""
    form = MessageForm(request.POST, request.FILES)
    if not form.is_valid():
        return again(form, 400)
    data = form.cleaned_data
    try:
        message, _new = actions.message_send(
            actor=request.actor,
            conversation=conversation,
            side=side,
            body=data["body"],
            upload=data["file"] or None,
            client_id=data["client_id"],
        )
    except NotFound:
        raise
    except Problem as exc:
        status = place_problem(form, exc, {"body": "body", "file": "file"})
        return again(form, status)
    return redirect(f"{page_url}#message-{message.external_id}")


def conversation_rows(found: list[queries.ConversationRow], *, language: str, link) -> list[dict]:
    """Conversations as the lists show them: with whom, the last message in a line, unread messages."""
    rows = []
    for row in found:
        conversation, last = row.conversation, row.last_message
        preview = ""
        if last is not None:
            preview = Truncator(last.body).chars(120) if last.body else last.attachment_name
        rows.append(
            {
                "conversation": conversation,
                "url": link(conversation),
                "clinic_name": conversation.clinic.display_name(language),
                "patient_name": conversation.patient.display_name(language),
                "preview": preview,
                "last_side": last.side if last else "",
                "last_at": timezones.wall_clock(conversation.last_message_at, conversation.clinic.time_zone)
                if conversation.last_message_at
                else None,
                "unread": row.unread,
            }
        )
    return rows


# --- the patient's conversations ---------------------------------------------------------------------------------


class StartForm(forms.Form):
    """Write to a clinic one has booked with or visited (for oneself or a dependant)."""

    target = forms.ChoiceField(label=gettext_lazy("Clinic"))

    def __init__(self, *args, pairs=(), me=None, **kwargs):
        super().__init__(*args, **kwargs)
        language = get_language()
        choices = []
        for patient, clinic in sorted(
            pairs,
            key=lambda pair: (
                pair[0].user_id != me,
                pair[0].full_name.lower(),
                pair[1].display_name(language),
            ),
        ):
            name = clinic.display_name(language)
            if patient.user_id != me:
                name = _("%(clinic)s — for %(patient)s") % {
                    "clinic": name,
                    "patient": patient.display_name(language),
                }
            choices.append((f"{clinic.external_id}:{patient.external_id}", name))
        self.fields["target"].choices = [("", "—"), *choices]


def _start_form(request: HttpRequest, data=None) -> StartForm:
    pairs = queries.my_writable_clinics(actor=request.actor)
    return StartForm(data, pairs=pairs, me=request.actor.user.pk)


def _my_conversations_page(
    request: HttpRequest, *, form: StartForm | None = None, status=200
) -> HttpResponse:
    language = get_language()
    found = queries.my_conversations(actor=request.actor)
    rows = conversation_rows(
        found,
        language=language,
        link=lambda c: reverse("web:patient_conversation", kwargs={"conversation_id": c.external_id}),
    )
    me = request.actor.user.pk
    for row, item in zip(rows, found, strict=True):
        row["for_other"] = item.conversation.patient.user_id != me
    form = form or _start_form(request)
    context = {
        "rows": rows,
        "form": form,
        "can_start": len(form.fields["target"].choices) > 1 or form.is_bound,
        "nav": "messages",
    }
    return render(request, "web/patient/messages.html", context, status=status)


@page(MESSAGES, methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def patient_messages(request: HttpRequest) -> HttpResponse:
    """My conversations with clinics' care teams (and my dependants'), newest first with unread counts; start one
    with a clinic I have booked with or visited (or open the one there is)."""
    if request.method == "GET":
        return _my_conversations_page(request)
    form = _start_form(request, request.POST)
    if not form.is_valid():
        return _my_conversations_page(request, form=form, status=400)
    clinic_id, _colon, patient_id = form.cleaned_data["target"].partition(":")
    try:
        conversation = actions.my_conversation_start(
            actor=request.actor, clinic_id=clinic_id, patient_id=patient_id
        )
    except NotFound:
        raise
    except Problem as exc:
        status = place_problem(form, exc, {"clinic_id": "target", "patient_id": "target"})
        return _my_conversations_page(request, form=form, status=status)
    return redirect("web:patient_conversation", conversation_id=conversation.external_id)


def _my_thread(request: HttpRequest, conversation_id, *, form=None, status=200) -> HttpResponse:
    conversation = queries.conversation_for(
        actor=request.actor, side=Side.PATIENT, conversation_id=conversation_id
    )
    page_url = reverse("web:patient_conversation", kwargs={"conversation_id": conversation.external_id})
    context = thread_context(
        request,
        conversation,
        side=Side.PATIENT,
        page_url=page_url,
        ws_url=f"/ws/me/conversations/{conversation.external_id}",
        attachment_url=(
            f"/api/v1/me/conversations/{conversation.external_id}/messages/__message__/attachment"
        ),
        form=form,
    )
    if (fragment := messages_only(request, context)) is not None:
        return fragment
    language = get_language()
    context |= {
        "clinic_name": conversation.clinic.display_name(language),
        "patient_name": conversation.patient.display_name(language),
        "own": conversation.patient.user_id == request.actor.user.pk,
        "nav": "messages",
    }
    return render(request, "web/patient/messages_conversation.html", context, status=status)


@page(MESSAGES, methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def patient_conversation(request: HttpRequest, conversation_id) -> HttpResponse:
    """A conversation with a clinic's care team: its messages (earlier ones on request), and a message to send,
    with a file if need be."""
    if request.method == "GET":
        return _my_thread(request, conversation_id)
    conversation = queries.conversation_for(
        actor=request.actor, side=Side.PATIENT, conversation_id=conversation_id
    )
    return send_message(
        request,
        conversation,
        side=Side.PATIENT,
        page_url=reverse("web:patient_conversation", kwargs={"conversation_id": conversation.external_id}),
        again=lambda form, status: _my_thread(request, conversation_id, form=form, status=status),
    )


# --- Treat Me Now --------------------------------------------------------------------------------------------------


class UrgentForm(forms.Form):
    patient = forms.ChoiceField(label=gettext_lazy("Who needs a doctor?"), required=False)
    specialty = forms.ChoiceField(label=gettext_lazy("Specialty (optional)"), required=False)
    complaint = forms.CharField(
        label=gettext_lazy("What is wrong, in a few words"),
        required=False,
        max_length=500,
        widget=forms.Textarea({"rows": 3, "dir": "auto", "maxlength": 500}),
        help_text=gettext_lazy("A doctor reads this before the call. Call 911 in an emergency."),
    )

    def __init__(self, *args, people=(), me=None, **kwargs):
        super().__init__(*args, **kwargs)
        language = get_language()
        self.fields["patient"].choices = [
            (
                "" if p.user_id == me else str(p.external_id),
                _("Me") if p.user_id == me else p.display_name(language),
            )
            for p in people
        ]
        self.has_dependants = any(p.user_id != me for p in people)
        if not self.has_dependants:
            self.fields["patient"].widget = forms.HiddenInput()
        specialties = sorted(
            (
                (str(s.external_id), s.display_name(language))
                for s in Specialty.objects.filter(is_active=True)
            ),
            key=lambda choice: choice[1],
        )
        self.fields["specialty"].choices = [("", _("Any doctor")), *specialties]


def _urgent_form(request: HttpRequest, data=None) -> UrgentForm:
    people = record_queries.my_patients(actor=request.actor)
    return UrgentForm(data, people=people, me=request.actor.user.pk)


def _urgent_row(view: queries.UrgentView, language: str) -> dict:
    request = view.request
    return {
        "view": view,
        "request": request,
        "id": request.external_id,
        "status": request.status,
        "waiting": request.status == UrgentStatus.WAITING,
        "accepted": request.status == UrgentStatus.ACCEPTED,
        "cancelled": request.status == UrgentStatus.CANCELLED,
        "patient_name": request.patient.display_name(language),
        "specialty": request.specialty.display_name(language) if request.specialty_id else "",
        "clinic_name": request.clinic.display_name(language) if request.clinic_id else "",
        "doctor_name": request.doctor.full_name if request.doctor_id else "",
        "requested_at": timezones.wall_clock(request.created_at),
        "accepted_at": timezones.wall_clock(request.accepted_at) if request.accepted_at else None,
        "call_url": f"/app/appointments/{view.appointment_id}/call" if view.appointment_id else "",
        "url": reverse("web:patient_urgent_request", kwargs={"request_id": request.external_id}),
    }


def _urgent_page(request: HttpRequest, *, form: UrgentForm | None = None, status=200) -> HttpResponse:
    language = get_language()
    found = queries.my_urgent_requests(actor=request.actor, limit=10)
    # Only a waiting request's place in the queue is shown in the list; the others need no more queries.
    rows = [
        _urgent_row(
            queries.urgent_view(r)
            if r.status == UrgentStatus.WAITING
            else queries.UrgentView(r, None, None, 0, None),
            language,
        )
        for r in found
    ]
    context = {
        "form": form or _urgent_form(request),
        "open_rows": [r for r in rows if r["waiting"]],
        "rows": rows,
        "doctors_on_duty": queries.doctors_on_duty(),
        "nav": "urgent",
    }
    return render(request, "web/patient/urgent.html", context, status=status)


@page(URGENT, methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def patient_urgent(request: HttpRequest) -> HttpResponse:
    """Treat Me Now: ask for an urgent video consultation (for oneself or a dependant), and one's recent requests.
    Asking again while a request waits gives that request back."""
    if request.method == "GET":
        return _urgent_page(request)
    form = _urgent_form(request, request.POST)
    if not form.is_valid():
        return _urgent_page(request, form=form, status=400)
    data = form.cleaned_data
    try:
        made = actions.urgent_request(
            actor=request.actor,
            patient_id=data["patient"] or None,
            specialty_id=data["specialty"] or None,
            complaint=data["complaint"],
        )
    except NotFound:
        raise
    except Problem as exc:
        status = place_problem(
            form, exc, {"patient_id": "patient", "specialty_id": "specialty", "complaint": "complaint"}
        )
        return _urgent_page(request, form=form, status=status)
    return redirect("web:patient_urgent_request", request_id=made.external_id)


@page(URGENT)
def patient_urgent_request(request: HttpRequest, request_id) -> HttpResponse:
    """One request: while it waits, the place in the queue and the estimated wait (refreshed live); once a doctor
    accepts, who and the way into the call."""
    found = queries.my_urgent_request(actor=request.actor, request_id=request_id)
    row = _urgent_row(queries.urgent_view(found), get_language())
    context = {
        "row": row,
        "view": row["view"],
        "poll_seconds": POLL_SECONDS,
        "ws_url": f"/ws/me/urgent-requests/{found.external_id}",
        "nav": "urgent",
    }
    if request.htmx:
        return render(request, "web/patient/urgent_status.html", context)
    return render(request, "web/patient/urgent_request.html", context)


@page(URGENT, methods=("POST",))
@require_http_methods(["POST"])
def patient_urgent_cancel(request: HttpRequest, request_id) -> HttpResponse:
    """No longer need a doctor: take the request out of the queue (a second click changes nothing)."""
    try:
        cancelled = actions.urgent_cancel(actor=request.actor, request_id=request_id)
    except NotFound:
        raise
    except Problem as exc:
        messages.error(request, problem_text(exc))
    else:
        if cancelled.status == UrgentStatus.CANCELLED:
            messages.success(request, _("Your request is cancelled."))
    return redirect("web:patient_urgent_request", request_id=request_id)


urlpatterns = [
    path("app/urgent", patient_urgent, name="patient_urgent"),
    path("app/urgent/<uuid:request_id>", patient_urgent_request, name="patient_urgent_request"),
    path("app/urgent/<uuid:request_id>/cancel", patient_urgent_cancel, name="patient_urgent_cancel"),
    path("app/messages", patient_messages, name="patient_messages"),
    path("app/messages/<uuid:conversation_id>", patient_conversation, name="patient_conversation"),
]

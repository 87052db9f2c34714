"""Bodies that make the telehealth pages (Treat Me Now and messaging in the patient app, the clinic console and the
platform console) answer 2xx or a redirect in the generated route tests (tests/routes.py).

Their path parameters (``request_id``, ``conversation_id``) are filled by the providers of the telehealth API in
``tests.routes_telehealth``, which make the state each route acts on for pages as for the API: the caller's own
waiting request or conversation under ``/app/``, the clinic's under ``/clinic/``, and for ``…/accept`` a waiting
request with the calling doctor on duty."""

from __future__ import annotations

import uuid


def _my_clinic_form(user) -> dict:
    """Clinic A, with an appointment there for the caller's own patient (so that they may write to it)."""
    from shifa.access.registry import RouteSpec
    from shifa.records.models import Patient
    from tests.routes import Target, _appointment, _clinic_of

    clinic = _clinic_of(None)
    own = Patient.objects.filter(user=user).first() if user is not None else None
    if own is not None:
        _appointment(Target(clinic, None, user), RouteSpec("GET", "/app/x", "", "page", None, False))
    return {"target": f"{clinic.external_id}:{own.external_id if own else uuid.uuid4()}"}


def _team_start_form(user) -> dict:
    """A patient in the care of the caller's clinic."""
    from tests.routes import Target, _clinic_of, _patient_in_care

    return {"patient_id": str(_patient_in_care(Target(_clinic_of(user), None)).external_id)}


def _message_form(user) -> dict:
    return {"body": "Thank you, doctor", "client_id": uuid.uuid4().hex}


PROVIDERS: dict = {}
NEEDS_ROUTE: set = set()
BODIES: dict = {
    ("POST", "/app/urgent"): {"complaint": "Fever since this morning"},
    ("POST", "/app/urgent/{request_id}/cancel"): {},
    ("POST", "/app/messages"): _my_clinic_form,
    ("POST", "/app/messages/{conversation_id}"): _message_form,
    ("POST", "/clinic/{clinic_id}/messages"): _team_start_form,
    ("POST", "/clinic/{clinic_id}/messages/{conversation_id}"): _message_form,
    ("POST", "/clinic/{clinic_id}/urgent/duty"): {"on_duty": "on"},
    ("POST", "/clinic/{clinic_id}/urgent/{request_id}/accept"): {},
}
QUERIES: dict = {
    ("GET", "/platform/urgent-care"): "?days=30",
}

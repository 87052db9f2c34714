"""Hakeem's FHIR R4 API, played locally, and the simulator's control page.

The FHIR routes are called server to server (no CSRF; Hakeem's bearer token authenticates them, ``metadata``
excepted) and answer ``application/fhir+json``, errors as an OperationOutcome. Every one obeys the switch first
(``down`` 503, ``error`` 500, ``slow`` waits). Two checks come before the token, as on servers that route and parse
before they authorise: an unsupported resource type answers 404 (the list is public in ``metadata``) and a body
that is not a transaction Bundle answers 400; neither tells an anonymous caller anything about the records."""

from __future__ import annotations

import functools
import json
import time

from django.contrib import messages
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect, render
from django.utils.http import http_date
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from shifa.access.declare import public_page

from . import actions, policies, protocol, queries
from .forms import SwitchForm, TaskStatusForm
from .models import SimResource, SwitchMode
from .protocol import FhirError


def _answer(body: dict, status: int = 200) -> HttpResponse:
    return HttpResponse(
        json.dumps(body, ensure_ascii=False, cls=DjangoJSONEncoder),
        status=status,
        content_type=protocol.FHIR_JSON,
    )


def _failure(exc: FhirError) -> HttpResponse:
    response = _answer(exc.outcome(), exc.status)
    if exc.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="hakeem"'
    elif exc.status == 503:
        response["Retry-After"] = "30"
    return response


def _versioned(body: dict, version: int, updated, status: int = 200) -> HttpResponse:
    response = _answer(body, status)
    response["ETag"] = protocol.etag(version)
    response["Last-Modified"] = http_date(updated.timestamp())
    return response


def _written(stored: actions.Stored) -> HttpResponse:
    """A create or update outside a transaction: 201 or 200, where it is, and the resource as stored."""
    r = stored.resource
    response = _versioned(r.content, r.version_id, r.last_updated, 201 if stored.created else 200)
    response["Location"] = f"{protocol.base_url()}/{r.resource_type}/{r.fhir_id}/_history/{r.version_id}"
    return response


def fhir_endpoint(view):
    """The switch, then the view, its FhirError answered as an OperationOutcome."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        mode, delay = queries.switch_state()
        if mode == SwitchMode.DOWN:
            return _failure(FhirError(503, "transient", "Service temporarily unavailable; try again later"))
        if mode == SwitchMode.ERROR:
            return _failure(FhirError(500, "exception", "Internal server error"))
        if mode == SwitchMode.SLOW and delay > 0:
            time.sleep(delay)
        try:
            return view(request, *args, **kwargs)
        except FhirError as exc:
            return _failure(exc)

    return wrapper


def _authenticate(request: HttpRequest) -> None:
    policies.authenticate(request.headers.get("Authorization"))


@public_page(methods=("POST",))
@csrf_exempt
@fhir_endpoint
def base(request: HttpRequest) -> HttpResponse:
    """``POST [base]``: a transaction Bundle, processed all or nothing."""
    entries = protocol.read_transaction(request.body)
    _authenticate(request)
    return _answer(actions.transaction_process(entries))


@public_page(methods=("GET",))
@fhir_endpoint
def metadata(request: HttpRequest) -> HttpResponse:
    """``GET metadata``: the CapabilityStatement (open to anyone, as on FHIR servers)."""
    return _answer(protocol.capability_statement())


@public_page(methods=("GET", "POST", "PUT"))
@csrf_exempt
@fhir_endpoint
def type_endpoint(request: HttpRequest, resource_type: str) -> HttpResponse:
    """``GET Type?…`` search, ``POST Type`` create (``If-None-Exist``), ``PUT Type?identifier=…`` conditional
    update."""
    protocol.require_type(resource_type)
    _authenticate(request)
    if request.method in {"GET", "HEAD"}:
        return _answer(queries.search(resource_type, dict(request.GET.lists())))
    resource = protocol.read_json(request.body)
    if request.method == "POST":
        if_none_exist = request.headers.get("If-None-Exist", "")
        return _written(actions.resource_create(resource_type, resource, if_none_exist=if_none_exist))
    query = request.META.get("QUERY_STRING", "")
    if not query:
        raise FhirError(400, "invalid", "PUT needs a resource id or search criteria")
    return _written(actions.resource_conditional_update(resource_type, query, resource))


@public_page(methods=("GET", "PUT"))
@csrf_exempt
@fhir_endpoint
def instance(request: HttpRequest, resource_type: str, fhir_id: str) -> HttpResponse:
    """``GET Type/id`` read, ``PUT Type/id`` update (or create with that id)."""
    protocol.require_type(resource_type)
    _authenticate(request)
    if request.method == "PUT":
        return _written(actions.resource_update(resource_type, fhir_id, protocol.read_json(request.body)))
    found = queries.resource_read(resource_type, fhir_id)
    return _versioned(found.content, found.version_id, found.last_updated)


@public_page(methods=("GET",))
@fhir_endpoint
def history(request: HttpRequest, resource_type: str, fhir_id: str) -> HttpResponse:
    """``GET Type/id/_history``: every version, newest first."""
    protocol.require_type(resource_type)
    _authenticate(request)
    return _answer(queries.history_bundle(resource_type, fhir_id))


@public_page(methods=("GET",))
@fhir_endpoint
def version(request: HttpRequest, resource_type: str, fhir_id: str, version_id: int) -> HttpResponse:
    """``GET Type/id/_history/N``: one version (vread)."""
    protocol.require_type(resource_type)
    _authenticate(request)
    found = queries.version_read(resource_type, fhir_id, version_id)
    return _versioned(found.content, found.version_id, found.recorded_at)


@public_page(methods=("GET",))
@fhir_endpoint
def everything(request: HttpRequest, resource_type: str, fhir_id: str) -> HttpResponse:
    """``GET Patient/id/$everything``: the patient and every resource about them."""
    protocol.require_type(resource_type)
    if resource_type != "Patient":
        raise FhirError(400, "not-supported", f"$everything is not supported on {resource_type}")
    _authenticate(request)
    return _answer(queries.everything(fhir_id))


# The control page -----------------------------------------------------------------------------------------------


def _wants_json(request: HttpRequest) -> bool:
    return request.content_type == "application/json"


def _data(request: HttpRequest) -> dict:
    """A control request's fields: its JSON object, or its form."""
    if not _wants_json(request):
        return request.POST
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _csrf_refusal(request: HttpRequest) -> HttpResponse | None:
    """Forms from the control page carry the CSRF token; JSON bodies (scripts, tests) cannot be sent cross-site
    without CORS, so they need none."""
    if _wants_json(request):
        return None
    return CsrfViewMiddleware(lambda r: HttpResponse()).process_view(request, None, (), {})


def _page(request: HttpRequest, *, switch_form=None, task_form=None, task_id: str = "", status: int = 200):
    mode, delay = queries.switch_state()
    context = {
        "mode": mode,
        "delay": delay,
        "switch_form": switch_form or SwitchForm(initial={"mode": mode, "delay_seconds": delay}),
        "counts": queries.counts(),
        "latest": queries.resources(limit=50),
        "tasks": queries.resources("Task"),
        "task_form": task_form,
        "task_id": task_id,
        "statuses": TaskStatusForm.base_fields["status"].choices,
        "fhir_url": protocol.base_url(),
    }
    return render(request, "sim_hakeem/control.html", context, status=status)


@public_page(methods=("GET",))
@never_cache
def control(request: HttpRequest) -> HttpResponse:
    """The simulator's control page: the switch, what Hakeem holds, and the Tasks a facility can work on."""
    return _page(request)


def _invalid(request: HttpRequest, form, **page) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"errors": form.errors.get_json_data()}, status=400)
    return _page(request, status=400, **page)


@public_page(methods=("POST",))
@csrf_exempt
def control_switch(request: HttpRequest) -> HttpResponse:
    """Set the switch: ``mode`` (normal, down, error, slow) and ``delay_seconds``."""
    refusal = _csrf_refusal(request)
    if refusal is not None:
        return refusal
    form = SwitchForm(_data(request))
    if not form.is_valid():
        return _invalid(request, form, switch_form=form)
    switch = actions.switch_set(form.cleaned_data["mode"], form.cleaned_data["delay_seconds"] or 0)
    if _wants_json(request):
        return JsonResponse({"mode": switch.mode, "delay_seconds": float(switch.delay_seconds)})
    messages.success(request, _("The switch is set."))
    return redirect("sim_hakeem:control")


@public_page(methods=("POST",))
@csrf_exempt
def control_task_status(request: HttpRequest, fhir_id: str) -> HttpResponse:
    """As a Hakeem facility: set a Task's ``status`` (with ``business_status`` and ``note``)."""
    refusal = _csrf_refusal(request)
    if refusal is not None:
        return refusal
    if queries.resource_get("Task", fhir_id) is None:
        if _wants_json(request):
            return JsonResponse(
                FhirError(404, "not-found", f"Task/{fhir_id} is not known").outcome(), status=404
            )
        return render(request, "web/error.html", {"status": 404, "detail": _("No such task.")}, status=404)
    form = TaskStatusForm(_data(request))
    if not form.is_valid():
        return _invalid(request, form, task_form=form, task_id=fhir_id)
    try:
        task = actions.task_status_set(fhir_id, **form.cleaned_data)
    except SimResource.DoesNotExist:
        return JsonResponse(FhirError(404, "not-found", f"Task/{fhir_id} is not known").outcome(), status=404)
    except ValueError as exc:
        return JsonResponse(FhirError(400, "invalid", str(exc)).outcome(), status=400)
    if _wants_json(request):
        return JsonResponse(task.content, status=200)
    messages.success(request, _("The task's status is set."))
    return redirect("sim_hakeem:control")


@public_page(methods=("POST",))
@csrf_exempt
def control_reset(request: HttpRequest) -> HttpResponse:
    """Forget everything Hakeem holds, and set the switch back to normal."""
    refusal = _csrf_refusal(request)
    if refusal is not None:
        return refusal
    actions.reset()
    if _wants_json(request):
        return JsonResponse({"reset": True})
    messages.success(request, _("The simulator is empty."))
    return redirect("sim_hakeem:control")


@public_page(methods=("GET",))
def control_resource(request: HttpRequest, resource_type: str, fhir_id: str) -> HttpResponse:
    """A stored resource's JSON for the control page's links (no token: a browser cannot send one)."""
    try:
        protocol.require_type(resource_type)
        found = queries.resource_read(resource_type, fhir_id)
    except FhirError as exc:
        return _failure(exc)
    return _answer(found.content)

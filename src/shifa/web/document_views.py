"""How one document of the clinic is getting on (waiting, being prepared, ready to download, failed with the reason),
as a fragment the visit page and the documents page poll; and trying a failed one again. Thin: the queries and
actions of ``shifa.documents``."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from shifa.access.declare import page
from shifa.core.errors import NotFound, Problem
from shifa.documents import actions, queries

from .account_views import problem_text, safe_next
from .progress import unchanged


def _fragment(request: HttpRequest, document, status: int = 200) -> HttpResponse:
    return render(
        request, "web/documents/_status.html", {"d": document, "clinic": request.actor.clinic}, status=status
    )


@page("documents.view")
def clinic_document_progress(request: HttpRequest, clinic_id, document_id) -> HttpResponse:
    """The document's state as a fragment; it polls itself until the document is ready or failed."""
    document = queries.document_get(actor=request.actor, document_id=document_id)
    return unchanged(request, document.status) or _fragment(request, document)


@page("documents.create", methods=("POST",))
@require_http_methods(["POST"])
def clinic_document_retry(request: HttpRequest, clinic_id, document_id) -> HttpResponse:
    """Prepare a failed document again. From htmx: the document's fragment (polling again); otherwise back to the
    page the button was on."""
    try:
        actions.document_retry(actor=request.actor, document_id=document_id)
    except NotFound:
        raise
    except Problem as exc:
        if request.htmx and exc.status == 409:  # tried again meanwhile, or ready: show how it is now
            return _fragment(request, queries.document_get(actor=request.actor, document_id=document_id))
        if request.htmx:
            raise
        messages.error(request, problem_text(exc))
    else:
        if request.htmx:
            return _fragment(request, queries.document_get(actor=request.actor, document_id=document_id))
        messages.success(request, _("The document is being prepared again."))
    return redirect(safe_next(request) or reverse("web:clinic_documents", kwargs={"clinic_id": clinic_id}))


urlpatterns = [
    path(
        "clinic/<uuid:clinic_id>/documents/<uuid:document_id>/progress",
        clinic_document_progress,
        name="clinic_document_progress",
    ),
    path(
        "clinic/<uuid:clinic_id>/documents/<uuid:document_id>/retry",
        clinic_document_retry,
        name="clinic_document_retry",
    ),
]

"""Documents of the acting clinic: ask for one, watch its status, download it (or get a five-minute link)."""

from __future__ import annotations

import uuid

from django.http import FileResponse, HttpRequest
from ninja import Field, Query, Router, Schema, Status

from shifa.access.declare import operation
from shifa.core.schemas import ERRORS, ProblemOut

from . import actions, queries
from .schemas import DocumentIn, DocumentOut, DocumentPage, LinkOut

router = Router(tags=["documents"])


class PageParams(Schema):
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


@router.post(
    "/clinics/{clinic_id}/documents",
    response={202: DocumentOut, **ERRORS},
    operation_id="documents_request",
    summary="Ask for a PDF document; it is prepared in the background (poll its status)",
    **operation("documents.create"),
)
def request_document(request: HttpRequest, clinic_id: uuid.UUID, payload: DocumentIn):
    document = actions.document_request(
        actor=request.actor,
        kind=payload.kind,
        title=payload.title,
        language=payload.language,
        context=payload.context,
    )
    return Status(202, document)


@router.get(
    "/clinics/{clinic_id}/documents",
    response={200: DocumentPage, **ERRORS},
    operation_id="documents_list",
    summary="The clinic's documents, newest first",
    **operation("documents.view"),
)
def list_documents(request: HttpRequest, clinic_id: uuid.UUID, params: Query[PageParams]):
    page = queries.document_list(actor=request.actor, cursor=params.cursor, limit=params.limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/clinics/{clinic_id}/documents/{document_id}",
    response={200: DocumentOut, **ERRORS},
    operation_id="documents_get",
    summary="One document and its status",
    **operation("documents.view"),
)
def get_document(request: HttpRequest, clinic_id: uuid.UUID, document_id: uuid.UUID):
    return queries.document_get(actor=request.actor, document_id=document_id)


def pdf_response(document) -> FileResponse:
    handle = queries.ready_file(document)
    response = FileResponse(
        handle, content_type="application/pdf", as_attachment=True, filename=f"{document.title}.pdf"
    )
    response["Cache-Control"] = "private, no-store"
    return response


@router.get(
    "/clinics/{clinic_id}/documents/{document_id}/file",
    response={200: None, **ERRORS, 409: ProblemOut},
    operation_id="documents_download",
    summary="Download the PDF (409 until it is ready)",
    **operation("documents.view"),
)
def download_document(request: HttpRequest, clinic_id: uuid.UUID, document_id: uuid.UUID):
    document = queries.document_get(actor=request.actor, document_id=document_id)
    response = pdf_response(document)
    queries.document_read(actor=request.actor, document=document)
    return response


@router.post(
    "/clinics/{clinic_id}/documents/{document_id}/link",
    response={201: LinkOut, **ERRORS, 409: ProblemOut},
    operation_id="documents_link",
    summary="A download link that works for five minutes without signing in",
    **operation("documents.view"),
)
def link_document(request: HttpRequest, clinic_id: uuid.UUID, document_id: uuid.UUID):
    document = queries.document_get(actor=request.actor, document_id=document_id)
    queries.ready_file(document).close()
    queries.document_read(actor=request.actor, document=document)
    url, expires_at = queries.signed_link(document)
    return Status(201, {"url": url, "expires_at": expires_at})

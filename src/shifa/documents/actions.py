"""Writes of documents: asking for one (rendered in the background) and rendering it."""

from __future__ import annotations

import hashlib
import logging

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _

from shifa.core import timezones
from shifa.core.errors import Conflict, FieldError, Forbidden, ValidationFailed

from . import kinds, rendering
from .models import Document, DocumentStatus

logger = logging.getLogger(__name__)


def _check(
    kind: kinds.Kind | None, title: str, language: str, context: dict, clinical: bool
) -> list[FieldError]:
    errors = []
    if kind is None or kind.clinical != clinical:
        errors.append(FieldError("kind", "invalid_choice", _("Unknown kind of document.")))
        return errors
    if language not in {"ar", "en"}:
        errors.append(FieldError("language", "invalid_choice", _("Choose Arabic or English.")))
    if not title.strip():
        errors.append(FieldError("title", "required", _("Give the document a title.")))
    for key in kind.required:
        value = context.get(key)
        if not isinstance(value, str) or not value.strip():
            errors.append(FieldError(f"context.{key}", "required", _("This field is required.")))
    for key, most in kind.limits.items():
        value = context.get(key)
        if isinstance(value, str) and len(value) > most:
            errors.append(
                FieldError(f"context.{key}", "too_long", _("At most %(count)s characters.") % {"count": most})
            )
    return errors


def document_request(
    *, actor, kind: str, title: str, language: str, context: dict, subject=None, clinical: bool = False
) -> Document:
    """Ask for a document of the acting clinic; it is rendered in the background (watch its status). Clinical
    kinds are asked for by the record (``clinical=True``), about a ``subject`` (the visit)."""
    from .tasks import render_document

    spec = kinds.get(kind)
    errors = _check(spec, title, language, context, clinical)
    if errors:
        raise ValidationFailed(errors=errors)
    clinic = actor.require_clinic()
    with transaction.atomic():
        document = Document.objects.for_clinic(clinic).create(
            clinic=clinic,
            kind=kind,
            title=title.strip()[:200],
            language=language,
            context={k: context[k] for k in (*spec.required, *spec.limits) if k in context},
            subject=subject,
            created_by=actor.user,
        )
        render_document.defer(document_id=document.pk)
    return document


def document_retry(*, actor, document_id) -> Document:
    """Prepare again a document of the acting clinic that could not be prepared (404 unless the actor may see
    it; 409 unless it failed). A clinical document is tried again only by those who may write visits."""
    from .policies import may_retry
    from .queries import document_get
    from .tasks import render_document

    document = document_get(actor=actor, document_id=document_id)
    if document.status == DocumentStatus.FAILED and not may_retry(actor, document):
        raise Forbidden()
    with transaction.atomic():
        document = Document.objects.for_clinic(actor.clinic).select_for_update().get(pk=document.pk)
        if document.status != DocumentStatus.FAILED:
            raise Conflict(
                _("Only a document that could not be prepared can be tried again."),
                code="document_not_failed",
            )
        document.status = DocumentStatus.PENDING
        document.error = ""
        document.save(update_fields=["status", "error", "updated_at"])
        render_document.defer(document_id=document.pk)
    return document


def _context(document: Document) -> dict:
    clinic = document.clinic
    language = document.language
    issued = timezones.to_local(document.created_at, clinic.time_zone)
    body = document.context.get("body", "")
    spec = kinds.get(document.kind)
    built = {}
    if spec is not None and spec.builder:
        from django.utils import translation
        from django.utils.module_loading import import_string

        with translation.override(language):
            built = import_string(spec.builder)(document)
    return {
        **document.context,
        **built,
        "title": document.title,
        "paragraphs": [p.strip() for p in body.split("\n\n") if p.strip()],
        "clinic_name": clinic.display_name(language),
        "institution_name": clinic.institution.name_ar if language == "ar" else clinic.institution.name_en,
        "clinic_city": clinic.city,
        "issued_on": issued.date().isoformat(),
        "author": document.created_by.full_name,
    }


def document_render(*, document_id: int) -> str:
    """Render one document to PDF and store it. A document that cannot be rendered is marked failed with the
    reason; it is never left half-written (the file and the status change commit together)."""
    with transaction.atomic():
        document = (
            Document.unscoped.select_for_update()
            .select_related("clinic", "clinic__institution", "created_by")
            .filter(pk=document_id)
            .first()
        )
        if document is None or document.status in {DocumentStatus.READY, DocumentStatus.FAILED}:
            return document.status if document else "missing"
        document.status = DocumentStatus.RENDERING
        document.save(update_fields=["status", "updated_at"])
    spec = kinds.get(document.kind)
    try:
        html = rendering.render_html(
            template=spec.template, context=_context(document), language=document.language
        )
        pdf = rendering.html_to_pdf(html)
    except Exception as exc:  # a template or layout error will not pass by trying again
        logger.exception("document %s could not be rendered", document.external_id)
        Document.unscoped.filter(pk=document.pk).update(
            status=DocumentStatus.FAILED, error=type(exc).__name__[:300], updated_at=timezones.now()
        )
        return DocumentStatus.FAILED
    with transaction.atomic():
        document = Document.unscoped.select_for_update().get(pk=document.pk)
        document.file.save(f"{document.external_id}.pdf", ContentFile(pdf), save=False)
        document.size = len(pdf)
        document.sha256 = hashlib.sha256(pdf).hexdigest()
        document.status = DocumentStatus.READY
        document.ready_at = timezones.now()
        document.save(update_fields=["file", "size", "sha256", "status", "ready_at", "updated_at"])
    return DocumentStatus.READY

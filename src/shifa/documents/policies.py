"""Who may do what with the clinic's documents beyond seeing them (``queries.visible_documents``)."""

from __future__ import annotations

from shifa.access.policies import Actor, has_permission

from . import kinds
from .models import Document, DocumentStatus


def may_retry(actor: Actor, document: Document) -> bool:
    """Whether the actor may have a failed document prepared again: those who prepare documents, and for a clinical
    one (a prescription, a referral …) only those who may write visits."""
    if document.status != DocumentStatus.FAILED or actor.clinic is None:
        return False
    if not has_permission(actor.roles, "documents.create", actor.clinic):
        return False
    spec = kinds.get(document.kind)
    return not (spec is not None and spec.clinical) or has_permission(
        actor.roles, "records.document_visit", actor.clinic
    )

"""Reads of documents, always within the acting clinic; signed download links."""

from __future__ import annotations

import datetime as dt

from django.core import signing

from shifa.core import timezones
from shifa.core.errors import Conflict, NotFound
from shifa.core.pagination import Page, paginate

from .models import Document, DocumentStatus

LINK_SALT = "shifa.documents.link"
LINK_SECONDS = 5 * 60


def document_get(*, actor, document_id) -> Document:
    document = (
        Document.objects.for_clinic(actor.require_clinic())
        .select_related("created_by")
        .filter(external_id=document_id)
        .first()
    )
    if document is None:
        raise NotFound()
    return document


def document_list(*, actor, cursor: str | None = None, limit: int = 50) -> Page:
    qs = Document.objects.for_clinic(actor.require_clinic()).select_related("created_by")
    return paginate(qs, cursor=cursor, limit=limit, newest_first=True)


def ready_file(document: Document):
    """The stored PDF of a ready document (409 while it is still being prepared or if it failed)."""
    from django.utils.translation import gettext as _

    if document.status != DocumentStatus.READY or not document.file:
        raise Conflict(_("The document is not ready yet."), code="document_not_ready")
    return document.file.open("rb")


def signed_link(document: Document) -> tuple[str, dt.datetime]:
    """A download path that works for five minutes without signing in (to hand to a browser or a printer)."""
    token = signing.dumps({"d": document.pk, "c": document.clinic_id}, salt=LINK_SALT, compress=True)
    return f"/files/{token}", timezones.now() + dt.timedelta(seconds=LINK_SECONDS)


def document_from_link(token: str) -> Document:
    try:
        data = signing.loads(token, salt=LINK_SALT, max_age=LINK_SECONDS)
        document = Document.unscoped.filter(pk=int(data["d"]), clinic_id=int(data["c"])).first()
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        document = None
    if document is None:
        raise NotFound()
    return document

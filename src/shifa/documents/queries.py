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


def visible_documents(actor):
    """The acting clinic's documents; clinical ones (prescriptions, referrals …) only for those who may read
    charts (a secretary sees letters, never clinical content)."""
    from shifa.access.policies import has_permission

    from . import kinds

    qs = Document.objects.for_clinic(actor.require_clinic()).select_related("created_by")
    if not has_permission(actor.roles, "records.view_chart", actor.clinic):
        qs = qs.exclude(kind__in=kinds.clinical_codes())
    return qs


def document_get(*, actor, document_id) -> Document:
    document = visible_documents(actor).filter(external_id=document_id).first()
    if document is None:
        raise NotFound()
    return document


def document_list(*, actor, cursor: str | None = None, limit: int = 50) -> Page:
    return paginate(visible_documents(actor), cursor=cursor, limit=limit, newest_first=True)


def document_read(*, actor, document: Document) -> None:
    """Tell the document's kind that someone opened the file (clinical kinds write the read log)."""
    from django.utils.module_loading import import_string

    from . import kinds

    spec = kinds.get(document.kind)
    if spec is not None and spec.on_read:
        import_string(spec.on_read)(actor, document)


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

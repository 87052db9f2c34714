"""Generated documents (PDF): one row per document, its status, and the stored file."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from shifa.tenancy.models import TenantModel


class DocumentStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RENDERING = "rendering", _("Being prepared")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


def document_path(document: Document, filename: str) -> str:
    return f"documents/{document.clinic_id}/{document.external_id}.pdf"


class Document(TenantModel):
    kind = models.CharField(_("kind"), max_length=40)
    title = models.CharField(_("title"), max_length=200)
    language = models.CharField(_("language"), max_length=2)
    context = models.JSONField(default=dict, blank=True)
    subject = models.UUIDField(
        _("about"), null=True, blank=True, db_index=True, help_text=_("The visit, for a clinical document")
    )
    status = models.CharField(
        _("status"), max_length=10, choices=DocumentStatus.choices, default=DocumentStatus.PENDING
    )
    file = models.FileField(_("file"), upload_to=document_path, blank=True)
    size = models.PositiveIntegerField(_("size"), default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("created by")
    )
    ready_at = models.DateTimeField(_("ready at"), null=True, blank=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        indexes = [models.Index(fields=["clinic", "status"])]

"""A test-only committable, tenant-owned model: proves the commit mechanism before visits adopt it."""

from django.db import models

from shifa.core.models import Committable
from shifa.tenancy.models import TenantModel


class ClinicalNote(TenantModel, Committable):
    text = models.TextField()

    class Meta(TenantModel.Meta):
        app_label = "testapp"

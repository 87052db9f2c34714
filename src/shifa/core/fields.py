"""Model fields whose values the database never sees in plain text (``shifa.core.keys``)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured
from django.db import models

from . import keys


class EncryptedTextField(models.TextField):
    """Text encrypted by the application with AES-256-GCM. It cannot be searched or sorted by the database; a
    value to be found by equality gets a companion blind-index column (``keys.blind_index``).

    An empty value is stored empty, so that "nothing written" stays cheap to tell apart."""

    description = "Text encrypted by the application"

    def contribute_to_class(self, cls, name, *args, **kwargs):
        super().contribute_to_class(cls, name, *args, **kwargs)
        self.context = f"{cls._meta.label}.{name}"

    def get_db_prep_value(self, value, connection, prepared=False):
        value = super().get_db_prep_value(value, connection, prepared)
        if value in (None, ""):
            return value
        return keys.encrypt(str(value), self.context)

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return keys.decrypt(value, self.context)

    def get_lookup(self, lookup_name):
        if lookup_name not in {"isnull", "exact"}:
            raise ImproperlyConfigured(
                f"{self.context} is encrypted: it cannot be searched with {lookup_name}"
            )
        return super().get_lookup(lookup_name)

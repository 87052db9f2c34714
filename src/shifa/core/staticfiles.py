"""Static files storage: WhiteNoise's hashed, compressed files once they are collected (docs/decisions/0028)."""

from __future__ import annotations

from django.conf import settings
from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """``collectstatic`` (which ``shifa run`` calls at start) writes each file under a name holding a hash of its
    content, with gzip and Brotli copies, into ``STATIC_ROOT``: WhiteNoise serves them compressed and lets browsers
    keep them for a year. Until they are collected, and always with ``DEBUG`` (so that an edited file shows at once),
    pages name the files' plain names, which WhiteNoise serves straight from the apps (``WHITENOISE_USE_FINDERS``).
    """

    def stored_name(self, name: str) -> str:
        if settings.DEBUG or not self.hashed_files:
            return name
        return super().stored_name(name)

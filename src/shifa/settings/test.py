"""Test settings: the same stack, with a fast password hasher and no connection pool."""

import sys

from .base import *  # noqa: F403

# The test-only app lives in tests/testapp at the repository root.
_ROOT = str(PACKAGE_DIR.parent.parent)  # noqa: F405
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DATABASES["default"]["OPTIONS"].pop("pool", None)  # noqa: F405
INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]  # noqa: F405
SHIFA_RUN_WORKER = False
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
STATIC_ROOT = None  # nothing collected: WhiteNoise serves the apps' files under their plain names
# Mail stays in memory unless a test starts the local SMTP server (tests/support/smtp.py).
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Files written by tests (documents, licence scans) go to a throwaway folder, not the data folder.
import tempfile  # noqa: E402

MEDIA_ROOT = tempfile.mkdtemp(prefix="shifa-test-media-")

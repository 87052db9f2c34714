"""Production: everything comes from the environment; cookies are secure and HSTS is on.

Keys and shared services must be given (shifa.core.deployment): checked before the base settings run, so that a
container missing one stops at once, naming it, instead of generating keys of its own into its data folder.
"""

import os

from shifa.core import deployment

deployment.require(os.environ)

from .base import *  # noqa: E402, F403

DEBUG = False
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Plain HTTP is sent to HTTPS, except the probes and the scraper, which reach a process directly inside the
# cluster or host.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)  # noqa: F405
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
# Joining the browsers' HSTS preload list is the domain owner's decision, hard to undo: asked for, not assumed.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)  # noqa: F405
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = [*SILENCED_SYSTEM_CHECKS, "security.W021"]  # noqa: F405
# Forms posted from the site's own public address pass the CSRF origin check without listing it twice.
CSRF_TRUSTED_ORIGINS = CSRF_TRUSTED_ORIGINS or [SHIFA_PUBLIC_URL.rstrip("/")]  # noqa: F405
# No simulators in production unless asked for (a staging site may want them).
SHIFA_SIMULATORS = env_bool("SHIFA_SIMULATORS", False)  # noqa: F405
# PayTabs Jordan itself unless another endpoint is named; without a server key online payment is unavailable.
PAYTABS_BASE_URL = os.environ.get("PAYTABS_BASE_URL", "https://secure-jordan.paytabs.com").rstrip("/")
PAYTABS_SERVER_KEY = os.environ.get("PAYTABS_SERVER_KEY", "")
# The checkout's redirect goes to this PayTabs origin: the page policy must allow it (docs/decisions/0031).
CONTENT_SECURITY_POLICY = security.content_security_policy(  # noqa: F405
    public_url=SHIFA_PUBLIC_URL,  # noqa: F405
    paytabs_base_url=PAYTABS_BASE_URL,
)
# Hakeem only where EHS gave us an endpoint; without one, records stay queued (HAKEEM_SYNC may turn queueing off).
HAKEEM_FHIR_URL = os.environ.get("HAKEEM_FHIR_URL", "").rstrip("/")
HAKEEM_TOKEN = os.environ.get("HAKEEM_TOKEN", "")

# Files (documents, uploads) in S3-compatible object storage when a bucket is named; never public: the product
# hands them out through permission-checked views and short-lived signed links.
if os.environ.get("AWS_STORAGE_BUCKET_NAME"):
    STORAGES["default"] = {  # noqa: F405
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["AWS_STORAGE_BUCKET_NAME"],
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "querystring_expire": 300,
            "file_overwrite": False,
        },
    }

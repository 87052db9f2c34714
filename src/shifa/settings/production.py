"""Production: everything comes from the environment; cookies are secure and HSTS is on."""

import os

from .base import *  # noqa: F403

DEBUG = False
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
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

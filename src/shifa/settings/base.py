"""Settings shared by every environment; everything is switched by environment variables.

Environment variables:
    SHIFA_DATA_DIR   data folder (embedded PostgreSQL, generated secrets, uploaded files); default ``.shifa``
    DATABASE_URL     a PostgreSQL server; when unset the embedded server in the data folder is used
    DATABASE_POOL_SIZE  connections per process at most (default 8)
    DATABASE_REPLICA_URL  a streaming replica of it: safe requests read there, except each user's reads while the
                     replica has not yet replayed their last write (shifa.core.replica)
    OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME  OpenTelemetry traces, off unless asked for
                     (shifa.core.tracing; every standard OTEL_* variable applies)
    REDIS_URL        Redis for the Channels layer and the cache; when unset the in-memory layer (single process)
                     is used. While Redis is unreachable, live pages poll and counters are kept per process.
    SHIFA_METRICS_TOKEN  bearer token of the Prometheus scraper at /metrics (unset: no /metrics); with several web
                     processes also set PROMETHEUS_MULTIPROC_DIR to a folder they share
    SHIFA_WEB_PROCESSES  web processes ``shifa run`` serves with (1); more than one needs REDIS_URL
    SHIFA_SEARCHES_PER_MINUTE, SHIFA_SEARCHES_PER_MINUTE_FROM_ADDRESS  doctor searches allowed per person and
                     per client address (60 and 180); a proxy's X-Forwarded-For counts when uvicorn trusts it
                     (FORWARDED_ALLOW_IPS)
    MQTT_URL         an MQTT broker (mqtt://user:password@host:1883): ``shifa run`` then files devices' messages
    SECRET_KEY       overrides the generated key in the data folder
    FIELD_ENCRYPTION_KEYS  comma-separated Fernet keys, newest first; overrides the generated key
    FIELD_MASTER_KEYS  master keys of clinical-field encryption, ``id:base64,…`` newest first (shifa.core.keys)
    FIELD_BLIND_INDEX_KEY  key of the blind indexes (national ID lookup); never rotate it without reindexing
    FIELD_KEY_PROVIDER  dotted path of the key provider class; default the local provider
    VIDEO_PROVIDER   webrtc (built-in, default), livekit or chime (shifa.telehealth.video)
    STUN_URLS, TURN_URLS, TURN_SECRET  ICE servers of the built-in video (comma-separated URLs; TURN credentials
                     are made per join from the shared secret, valid for an hour)
    LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET  a LiveKit server, when VIDEO_PROVIDER=livekit
    CHIME_REGION     the Chime SDK control region and media region, when VIDEO_PROVIDER=chime
    PAYTABS_BASE_URL, PAYTABS_PROFILE_ID, PAYTABS_SERVER_KEY  the PayTabs PT2 account (shifa.billing.paytabs);
                     unset, payments go to the local PayTabs simulator under /simulators/paytabs
    HAKEEM_FHIR_URL, HAKEEM_TOKEN, HAKEEM_SYNC  Hakeem's FHIR R4 endpoint and bearer token (shifa.integrations.hakeem);
                     unset, records go to the local Hakeem simulator under /simulators/hakeem/fhir
    SHIFA_SIMULATORS local simulators of outside services (PayTabs, Google Play, Hakeem) under /simulators; on by
                     default, off in production
    DEBUG, ALLOWED_HOSTS, PORT, LOG_LEVEL, SHIFA_RUN_WORKER, TRUST_REQUEST_ID
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from shifa.core import secrets, security

PACKAGE_DIR = Path(__file__).resolve().parent.parent
_CHECKOUT = PACKAGE_DIR.parent.parent
# Default data folder: `.shifa/` at the root of a source checkout (wherever a command is run from), else in the
# current directory.
DATA_DIR = Path(
    os.environ.get("SHIFA_DATA_DIR")
    or (_CHECKOUT / ".shifa" if (_CHECKOUT / "pyproject.toml").exists() else Path.cwd() / ".shifa")
).resolve()


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY") or secrets.load_or_create(
    DATA_DIR, "secret_key", secrets.new_secret_key
)
# Earlier keys, still accepted for what they signed (sessions, email links) while SECRET_KEY is rotated.
SECRET_KEY_FALLBACKS = [k.strip() for k in os.environ.get("SECRET_KEY_FALLBACKS", "").split(",") if k.strip()]
FIELD_ENCRYPTION_KEYS = [
    key.strip()
    for key in (
        os.environ.get("FIELD_ENCRYPTION_KEYS")
        or secrets.load_or_create(DATA_DIR, "field_encryption_key", secrets.new_fernet_key)
    ).split(",")
    if key.strip()
]
FIELD_KEY_PROVIDER = os.environ.get("FIELD_KEY_PROVIDER", "shifa.core.keys.LocalKeyProvider")
FIELD_MASTER_KEYS = os.environ.get("FIELD_MASTER_KEYS") or secrets.load_or_create(
    DATA_DIR, "field_master_keys", secrets.new_master_key
)
FIELD_BLIND_INDEX_KEY = os.environ.get("FIELD_BLIND_INDEX_KEY") or secrets.load_or_create(
    DATA_DIR, "field_blind_index_key", secrets.new_secret_key
)
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "pgtrigger",
    "procrastinate.contrib.django",
    "channels",
    "django_htmx",
    "ninja",
    "shifa.core",
    "shifa.audit",
    "shifa.access",
    "shifa.accounts",
    "shifa.tenancy",
    "shifa.records",
    "shifa.adherence",
    "shifa.careplans",
    "shifa.telehealth",
    "shifa.billing",
    "shifa.insurance",
    "shifa.family",
    "shifa.simulators.paytabs",
    "shifa.subscriptions",
    "shifa.simulators.googleplay",
    "shifa.integrations.hakeem",
    "shifa.simulators.hakeem",
    "shifa.notifications",
    "shifa.documents",
    "shifa.catalog",
    "shifa.scheduling",
    "shifa.directory",
    "shifa.web",
    "shifa.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy and Permissions-Policy on every answer (shifa.core.security, docs/decisions/0031).
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Pages and API answers gzipped, with Django's random padding against BREACH (docs/decisions/0028); static
    # files are answered above, by WhiteNoise, from their compressed copies.
    "django.middleware.gzip.GZipMiddleware",
    "shifa.core.middleware.RequestIdMiddleware",
    "shifa.core.metrics.MetricsMiddleware",
    "shifa.core.middleware.ApiProblemMiddleware",
    "shifa.core.middleware.BodySizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "shifa.access.middleware.AccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "shifa.urls"
ASGI_APPLICATION = "shifa.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "shifa.web.context_processors.shell",
            ],
        },
    }
]


def database_settings() -> dict:
    """The default database: ``DATABASE_URL`` when set, otherwise the embedded server in the data folder."""
    url = os.environ.get("DATABASE_URL")
    if url:
        config = dj_database_url.parse(url, conn_max_age=0)
        if config["ENGINE"] not in {"django.db.backends.postgresql"}:
            raise RuntimeError("Shifa runs on PostgreSQL only: DATABASE_URL must be a postgres:// URL")
    else:
        from shifa.core import embedded_postgres

        name = os.environ.get("SHIFA_DB_NAME", "shifa")
        server = embedded_postgres.ensure_running(DATA_DIR, name)
        config = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": server["user"],
            "HOST": server["host"],
            "PORT": server["port"],
            "PASSWORD": "",
        }
    # Server-side binding stays off: the audit context is sent as set_config() in front of each write.
    config.setdefault("OPTIONS", {})
    # Django's pool checks each connection before handing it out (a restarted database left the idle ones dead).
    config["CONN_HEALTH_CHECKS"] = True
    # A burst of requests waits for a connection (up to 30 s) rather than failing at once.
    # DATABASE_POOL_SIZE connections at most per process: processes times pool size must stay under the server's
    # max_connections (docs/operations.md, "Scale").
    config["OPTIONS"].setdefault(
        "pool", {"min_size": 1, "max_size": int(os.environ.get("DATABASE_POOL_SIZE", "8")), "timeout": 30}
    )
    config["ATOMIC_REQUESTS"] = False
    config["CONN_MAX_AGE"] = 0
    config.setdefault("TEST", {})
    return config


DATABASES = {"default": database_settings()}
# A streaming replica for the reads of safe requests, with read-your-writes (shifa.core.replica, ADR 0035).
if os.environ.get("DATABASE_REPLICA_URL"):
    from shifa.core.replica import replica_database

    DATABASES["replica"] = replica_database(DATABASES["default"], os.environ["DATABASE_REPLICA_URL"])
    DATABASE_ROUTERS = ["shifa.core.replica.ReplicaRouter"]
    # once the caller is known: AccessMiddleware authenticates API tokens on the primary
    MIDDLEWARE.insert(
        MIDDLEWARE.index("shifa.access.middleware.AccessMiddleware") + 1,
        "shifa.core.replica.ReplicaMiddleware",
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["shifa.accounts.backends.EmailBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "web:sign_in"
LOGIN_REDIRECT_URL = "web:home"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 60 * 60 * 12
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)

# Take X-Request-ID from the caller only behind a proxy that sets it (and strips the client's).
SHIFA_TRUST_REQUEST_ID = env_bool("TRUST_REQUEST_ID", False)

# Bodies larger than this are refused with 413 before they are read.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
SHIFA_MAX_BODY_BYTES = DATA_UPLOAD_MAX_MEMORY_SIZE
# Routes that take file uploads accept larger bodies (files go to temporary files, not memory).
SHIFA_UPLOAD_LIMITS = {
    "/clinics/apply": 26 * 1024 * 1024,
    "/api/v1/clinic-applications": 26 * 1024 * 1024,
    "/clinic/*/settings/photos": 6 * 1024 * 1024,
    # a message's attachment (up to 10 MB, shifa.telehealth.actions.ATTACHMENT_MAX) with its text
    "/api/v1/me/conversations/*/attachments": 11 * 1024 * 1024,
    "/api/v1/clinics/*/conversations/*/attachments": 11 * 1024 * 1024,
    "/app/messages/*": 11 * 1024 * 1024,
    "/clinic/*/messages/*": 11 * 1024 * 1024,
}
SHIFA_UPLOAD_FILE_BYTES = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 512 * 1024

LANGUAGE_CODE = "ar"
LANGUAGES = [("ar", _("Arabic")), ("en", _("English"))]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
#: Dates, times and numbers as written in Jordan, one way in both languages (shifa/formats, ADR 0030)
FORMAT_MODULE_PATH = ["shifa.formats"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
SHIFA_DEFAULT_CLINIC_ZONE = "Asia/Amman"
LANGUAGE_COOKIE_NAME = "shifa_language"

STATIC_URL = "/static/"
# Static files are served by WhiteNoise: collected into STATIC_ROOT (`shifa run` does it at start) under hashed names
# with compressed copies, else straight from the apps under their plain names (docs/decisions/0028). They are built
# from the code, not data: `staticfiles/` beside the code in a source checkout, whatever the data folder.
STATIC_ROOT = os.environ.get("STATIC_ROOT") or str(
    _CHECKOUT / "staticfiles" if (_CHECKOUT / "pyproject.toml").exists() else DATA_DIR / "static"
)
MEDIA_ROOT = DATA_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "shifa.core.staticfiles.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Only the hashed names are kept (and compressed) in STATIC_ROOT; a plain name is served from the app's own file.
WHITENOISE_KEEP_ONLY_HASHED_FILES = True
WHITENOISE_AUTOREFRESH = DEBUG

REDIS_URL = os.environ.get("REDIS_URL")
MQTT_URL = os.environ.get("MQTT_URL") or None
if REDIS_URL:
    CHANNEL_LAYERS = {
        # No socket timeout: the layer's own 5-second blocking reads would race redis-py's default reply timeout
        # and drop connections (django/channels_redis#422).
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # A Redis that does not answer a connection is given up on within a second: the layer then loses live
            # events (pages poll instead), never writes.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None, "socket_connect_timeout": 1}]
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "shifa.core.channel_layer.ThrottledInMemoryChannelLayer"}}
# Rate-limit counters (searches: shifa.accounts.actions.search_count) in Redis, shared by every process, when
# there is one; otherwise in the single process's memory. While Redis cannot be reached the process's memory
# stands in (shifa.core.cache), so that a Redis outage costs shared counting, not sign-ins or searches.
#: The bearer token of the Prometheus scraper at /metrics; unset, /metrics does not exist (shifa.core.metrics).
SHIFA_METRICS_TOKEN = os.environ.get("SHIFA_METRICS_TOKEN", "")
#: Doctor searches allowed per minute per signed-in person, and per client address (shifa.accounts.lockout).
SHIFA_SEARCHES_PER_MINUTE = int(os.environ.get("SHIFA_SEARCHES_PER_MINUTE", "60"))
SHIFA_SEARCHES_PER_MINUTE_FROM_ADDRESS = int(os.environ.get("SHIFA_SEARCHES_PER_MINUTE_FROM_ADDRESS", "180"))
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "shifa.core.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }

# Video (shifa.telehealth.video): the built-in WebRTC needs nothing; LiveKit or Chime take over when chosen.
VIDEO_PROVIDER = os.environ.get("VIDEO_PROVIDER", "webrtc")
STUN_URLS = [u for u in os.environ.get("STUN_URLS", "").split(",") if u.strip()]
TURN_URLS = [u for u in os.environ.get("TURN_URLS", "").split(",") if u.strip()]
TURN_SECRET = os.environ.get("TURN_SECRET", "")
LIVEKIT_URL = os.environ.get("LIVEKIT_URL", "")
LIVEKIT_API_KEY = os.environ.get("LIVEKIT_API_KEY", "")
LIVEKIT_API_SECRET = os.environ.get("LIVEKIT_API_SECRET", "")
CHIME_REGION = os.environ.get("CHIME_REGION", "eu-central-1")
#: A video appointment's meeting may be joined from this long before it starts until this long after it ends.
MEETING_EARLY_MINUTES = 15
MEETING_LATE_MINUTES = 30
#: Join tokens and guests' one-time links live this long.
JOIN_TOKEN_SECONDS = 300
GUEST_LINK_MINUTES = 60
#: An urgent request waiting this long is escalated to every doctor on duty.
URGENT_ESCALATE_MINUTES = 10

# SMS (shifa.integrations.sms): "outbox" writes messages to files (offline default), "twilio" sends them.
SMS_BACKEND = os.environ.get("SMS_BACKEND", "outbox")
SMS_OUTBOX_DIR = DATA_DIR / "outbox" / "sms"
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM = os.environ.get("TWILIO_FROM", "")
TWILIO_BASE_URL = os.environ.get("TWILIO_BASE_URL", "https://api.twilio.com")
#: How long to wait for the SMS provider before giving up on the attempt (it is then tried again later).
SMS_TIMEOUT_SECONDS = 10.0

# Local simulators of outside services (shifa.simulators), served under /simulators/ when on.
SHIFA_SIMULATORS = env_bool("SHIFA_SIMULATORS", True)

# PayTabs PT2 (shifa.billing.paytabs; facts in docs/decisions/0018-online-payments.md). Unset, the local simulator
# stands in for PayTabs Jordan (https://secure-jordan.paytabs.com) with a generated server key.
PAYTABS_BASE_URL = os.environ.get("PAYTABS_BASE_URL", "").rstrip("/")
PAYTABS_PROFILE_ID = int(os.environ.get("PAYTABS_PROFILE_ID", "100001"))
PAYTABS_SERVER_KEY = os.environ.get("PAYTABS_SERVER_KEY") or ""
#: How long a hosted payment page may be used; the booking's hold is kept at least this long while paying.
PAYTABS_PAGE_MINUTES = 15
PAYTABS_TIMEOUT_SECONDS = 15
#: The local simulator answers refunds "approve"d at once, or "pending" (settled later through its control route).
PAYTABS_SIMULATOR_REFUNDS = os.environ.get("PAYTABS_SIMULATOR_REFUNDS", "approve")

# Email: SMTP when EMAIL_HOST is set, otherwise messages are written as files to the outbox (offline default).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    EMAIL_TIMEOUT = 10
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = DATA_DIR / "outbox" / "email"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Shifa <no-reply@shifa.jo>")
SHIFA_MAIL_DOMAIN = os.environ.get("SHIFA_MAIL_DOMAIN", "shifa.jo")  # right-hand side of our Message-IDs
# Links in messages (verification, invitations, password reset) point here.
SHIFA_PUBLIC_URL = os.environ.get(
    "SHIFA_PUBLIC_URL", f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
).rstrip("/")
if not PAYTABS_BASE_URL:  # the local simulator, sharing a generated server key with it
    PAYTABS_BASE_URL = SHIFA_PUBLIC_URL + "/simulators/paytabs"
    PAYTABS_SERVER_KEY = PAYTABS_SERVER_KEY or secrets.load_or_create(
        DATA_DIR, "paytabs_simulator_key", secrets.new_secret_key
    )
# What pages may load and do in the browser (docs/decisions/0031-security-headers.md); production.py builds it
# again for its own PayTabs origin.
CONTENT_SECURITY_POLICY = security.content_security_policy(
    public_url=SHIFA_PUBLIC_URL, paytabs_base_url=PAYTABS_BASE_URL
)
PERMISSIONS_POLICY = security.PERMISSIONS_POLICY

# Hakeem, Jordan's national EHR (shifa.integrations.hakeem; docs/decisions/0024-hakeem-sync.md): a FHIR R4 server
# and its bearer token. Unset, the local Hakeem simulator stands in, sharing a generated token with it.
HAKEEM_FHIR_URL = os.environ.get("HAKEEM_FHIR_URL", "").rstrip("/")
HAKEEM_TOKEN = os.environ.get("HAKEEM_TOKEN") or ""
HAKEEM_TIMEOUT_SECONDS = float(os.environ.get("HAKEEM_TIMEOUT_SECONDS", "10"))
#: Committed records are queued for Hakeem; off, nothing is queued (a deployment without an EHS agreement).
HAKEEM_SYNC = env_bool("HAKEEM_SYNC", True)
if not HAKEEM_FHIR_URL:
    HAKEEM_FHIR_URL = SHIFA_PUBLIC_URL + "/simulators/hakeem/fhir"
    HAKEEM_TOKEN = HAKEEM_TOKEN or secrets.load_or_create(
        DATA_DIR, "hakeem_simulator_token", secrets.new_secret_key
    )

# Patients' subscriptions (shifa.subscriptions; docs/decisions/0019-subscriptions.md).
#: App Store Server Notifications V2: our app, the one environment we accept (Production or Sandbox, never Xcode or
#: LocalTesting) and the roots a signing chain must lead to (PEM or DER files; Apple Root CA G3 ships with us).
APP_STORE_BUNDLE_ID = os.environ.get("APP_STORE_BUNDLE_ID", "jo.shifa.app")
APP_STORE_APP_APPLE_ID = int(os.environ.get("APP_STORE_APP_APPLE_ID") or 0) or None
APP_STORE_ENVIRONMENT = os.environ.get("APP_STORE_ENVIRONMENT", "Production")
APP_STORE_ROOT_CERTIFICATES = [
    p for p in os.environ.get("APP_STORE_ROOT_CERTIFICATES", "").split(os.pathsep) if p
] or [str(PACKAGE_DIR / "subscriptions" / "data" / "AppleRootCA-G3.pem")]
#: Google Play: the app's package, the Developer API and OAuth token endpoint (empty: Google's own, or the local
#: simulator under /simulators/google-play while SHIFA_SIMULATORS is on), the service account's JSON key file, and
#: how Pub/Sub pushes authenticate: a shared ?token= (generated for the simulator) and/or Google's OIDC token for
#: GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT with GOOGLE_PLAY_PUSH_AUDIENCE.
GOOGLE_PLAY_PACKAGE_NAME = os.environ.get("GOOGLE_PLAY_PACKAGE_NAME", "jo.shifa.app")
GOOGLE_PLAY_API_BASE_URL = os.environ.get("GOOGLE_PLAY_API_BASE_URL", "").rstrip("/")
GOOGLE_PLAY_TOKEN_URL = os.environ.get("GOOGLE_PLAY_TOKEN_URL", "")
GOOGLE_PLAY_SERVICE_ACCOUNT_FILE = os.environ.get("GOOGLE_PLAY_SERVICE_ACCOUNT_FILE", "")
GOOGLE_PLAY_PUSH_TOKEN = os.environ.get("GOOGLE_PLAY_PUSH_TOKEN", "")
GOOGLE_PLAY_PUSH_AUDIENCE = os.environ.get("GOOGLE_PLAY_PUSH_AUDIENCE", "")
GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT = os.environ.get("GOOGLE_PLAY_PUSH_SERVICE_ACCOUNT", "")
GOOGLE_PLAY_PUSH_JWKS_URL = "https://www.googleapis.com/oauth2/v3/certs"
#: PayTabs subscriptions: a declined renewal keeps access this many days (grace), then the subscription is on hold
#: while we retry, and expires after this many more days; retries wait these many hours between them.
SUBSCRIPTION_GRACE_DAYS = 3
SUBSCRIPTION_HOLD_DAYS = 14
SUBSCRIPTION_RETRY_HOURS = 24

# Identity (docs/decisions/0009-identity.md).
SHIFA_JWT_KEY = os.environ.get("JWT_SIGNING_KEY") or secrets.load_or_create(
    DATA_DIR, "jwt_signing_key", secrets.new_secret_key
)
SHIFA_ACCESS_TOKEN_SECONDS = 5 * 60
SHIFA_REFRESH_TOKEN_DAYS = 30
SHIFA_CODE_SECONDS = 5 * 60
SHIFA_CODE_ATTEMPTS = 5
SHIFA_CODE_RESEND_SECONDS = 60
SHIFA_CODES_PER_HOUR = 5
SHIFA_INVITATION_DAYS = 7
SHIFA_EMAIL_VERIFICATION_DAYS = 3
PASSWORD_RESET_TIMEOUT = 60 * 60
# OpenID Connect providers whose ID tokens sign people in. The audiences are our client ids, the web one first
# (then the native apps'); a provider without one is switched off.
SHIFA_OIDC_PROVIDERS = {
    "google": {
        "issuers": ["https://accounts.google.com", "accounts.google.com"],
        "jwks_url": os.environ.get("GOOGLE_JWKS_URL", "https://www.googleapis.com/oauth2/v3/certs"),
        "audiences": [a for a in os.environ.get("GOOGLE_CLIENT_IDS", "").split(",") if a],
        # Web sign-in: the browser goes to the provider and comes back with an ID token (form_post).
        "authorize_url": "https://accounts.google.com/o/oauth2/v2/auth",
        "response_type": "id_token",
        "scope": "openid email profile",
    },
    "apple": {
        "issuers": ["https://appleid.apple.com"],
        "jwks_url": os.environ.get("APPLE_JWKS_URL", "https://appleid.apple.com/auth/keys"),
        "audiences": [a for a in os.environ.get("APPLE_CLIENT_IDS", "").split(",") if a],
        "authorize_url": "https://appleid.apple.com/auth/authorize",
        "response_type": "code id_token",
        "scope": "name email",
    },
}

# Web Push (shifa.integrations.push): the VAPID key pair is generated into the data folder when unset.
VAPID_PRIVATE_KEY = os.environ.get("VAPID_PRIVATE_KEY") or secrets.load_or_create(
    DATA_DIR, "vapid_private_key.pem", secrets.new_vapid_private_key
)
VAPID_SUBJECT = os.environ.get("VAPID_SUBJECT", "mailto:support@shifa.jo")

PROCRASTINATE_ON_APP_READY = "shifa.core.jobs.on_app_ready"
SHIFA_RUN_WORKER = env_bool("SHIFA_RUN_WORKER", True)

# Audit context travels with each write as transaction-local settings (see docs/decisions/0006-audit.md).
PGHISTORY_JSON_ENCODER = "django.core.serializers.json.DjangoJSONEncoder"

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "shifa.core.logging.RequestIdFilter"},
        "secret_paths": {"()": "shifa.core.logging.SecretPathFilter"},
        # trace_id and span_id while a span is active, when tracing is on (shifa.core.tracing)
        "trace": {"()": "shifa.core.tracing.TraceContextFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id", "trace", "secret_paths"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "pgserver": {"level": "WARNING"},
        "uvicorn.access": {"level": "WARNING"},
    },
}

# Email uniqueness is a case-insensitive unique constraint (accounts_user_email_ci_unique), which this check
# cannot see.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]

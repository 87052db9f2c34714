"""What a production install must be given, checked before it serves anyone (docs/operations.md).

On one machine Shifa generates its keys into the data folder. In production that would be wrong twice over: every
container would make keys of its own (sessions, tokens and encrypted fields readable by one pod only), and a
container's folder dies with it, taking the only key to the encrypted fields along. So ``shifa.settings.production``
refuses to load until the keys and the shared services come from the environment (the secret store), and says
which are missing, all at once.

The providers (mail, SMS, PayTabs, Hakeem, TURN) are different: a clinic may go live before its Hakeem endpoint is
issued. Their absence is reported by ``shifa manage check --deploy`` as warnings, each naming what stays off.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from django.core import checks

#: Settings a production process cannot start without, with why.
REQUIRED = {
    "SECRET_KEY": "signs sessions and email links",
    "JWT_SIGNING_KEY": "signs API access tokens",
    "FIELD_ENCRYPTION_KEYS": "encrypts authenticator secrets",
    "FIELD_MASTER_KEYS": "wraps the keys of the encrypted clinical fields",
    "FIELD_BLIND_INDEX_KEY": "finds national IDs without storing them in clear",
    "VAPID_PRIVATE_KEY": "signs Web Push requests",
    "DATABASE_URL": "the PostgreSQL server every process shares",
    "REDIS_URL": "live events and counters shared by every process",
    "ALLOWED_HOSTS": "the host names the site answers to",
    "SHIFA_PUBLIC_URL": "the https:// address in links, mail and payment returns",
}


class ProductionSettingsError(RuntimeError):
    """A production process was started without what it needs."""


def problems(environ: Mapping[str, str]) -> list[str]:
    """Every reason the environment cannot run production, one line each; empty when it can."""
    found = [
        f"{name} is not set ({why})" for name, why in REQUIRED.items() if not environ.get(name, "").strip()
    ]
    public_url = environ.get("SHIFA_PUBLIC_URL", "").strip()
    if public_url:
        parts = urlsplit(public_url)
        if parts.scheme != "https" or not parts.hostname:
            found.append(f"SHIFA_PUBLIC_URL must be an https:// address, not {public_url!r}")
    hosts = [h.strip() for h in environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    if "*" in hosts:
        found.append("ALLOWED_HOSTS must name the site's hosts, not '*'")
    return found


def require(environ: Mapping[str, str]) -> None:
    """Raise with every problem listed when the environment cannot run production."""
    found = problems(environ)
    if found:
        raise ProductionSettingsError(
            "Shifa's production settings cannot start:\n  - "
            + "\n  - ".join(found)
            + "\nSet them from the secret store (docs/operations.md, 'Production settings')."
        )


@checks.register(checks.Tags.security, deploy=True)
def providers(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """What stays off because its provider is not configured (``shifa manage check --deploy``)."""
    from django.conf import settings

    found = []
    if not settings.EMAIL_HOST:
        found.append(
            checks.Warning(
                "EMAIL_HOST is not set: mail (sign-up links, receipts) is written to the data folder, not sent.",
                id="shifa.W001",
            )
        )
    if settings.SMS_BACKEND != "twilio":
        found.append(
            checks.Warning(
                "SMS_BACKEND is not 'twilio': texts (phone codes, reminders) are written to the data folder, "
                "not sent.",
                id="shifa.W002",
            )
        )
    if not settings.PAYTABS_SERVER_KEY or settings.PAYTABS_BASE_URL.startswith(settings.SHIFA_PUBLIC_URL):
        found.append(
            checks.Warning(
                "PAYTABS_SERVER_KEY is not set, or PayTabs is the built-in simulator: online payment is not real.",
                id="shifa.W003",
            )
        )
    if not settings.HAKEEM_FHIR_URL or settings.HAKEEM_FHIR_URL.startswith(settings.SHIFA_PUBLIC_URL):
        found.append(
            checks.Warning(
                "HAKEEM_FHIR_URL is not set, or Hakeem is the built-in simulator: committed records are not sent "
                "to the national EHR.",
                id="shifa.W004",
            )
        )
    if settings.VIDEO_PROVIDER == "webrtc" and not (settings.TURN_URLS and settings.TURN_SECRET):
        found.append(
            checks.Warning(
                "TURN_URLS and TURN_SECRET are not both set: video calls between networks that block direct "
                "connections (most mobile networks) will not connect.",
                id="shifa.W005",
            )
        )
    if settings.SHIFA_SIMULATORS:
        found.append(
            checks.Warning(
                "SHIFA_SIMULATORS is on: the simulated PayTabs, Hakeem and stores answer under /simulators/.",
                id="shifa.W006",
            )
        )
    return found

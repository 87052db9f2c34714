"""Where the Google Play client and push check find their settings: the configured values, or — while the local
simulators are on and nothing else is configured — the simulator under /simulators/google-play with a service
account key and a push token generated into the data folder (as the PayTabs simulator's key is)."""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings

from shifa.core import secrets

GOOGLE_API = "https://androidpublisher.googleapis.com"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
SIMULATOR_ACCOUNT = "shifa-play@simulator.invalid"


def simulated() -> bool:
    return bool(settings.SHIFA_SIMULATORS) and not settings.GOOGLE_PLAY_API_BASE_URL


def simulator_url() -> str:
    return settings.SHIFA_PUBLIC_URL + "/simulators/google-play"


def api_base_url() -> str:
    if settings.GOOGLE_PLAY_API_BASE_URL:
        return settings.GOOGLE_PLAY_API_BASE_URL
    return simulator_url() if simulated() else GOOGLE_API


def _new_rsa_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def service_account() -> dict:
    """The service account's key (Google's JSON key file: ``client_email``, ``private_key``, ``token_uri`` …)."""
    if settings.GOOGLE_PLAY_SERVICE_ACCOUNT_FILE:
        return json.loads(Path(settings.GOOGLE_PLAY_SERVICE_ACCOUNT_FILE).read_text())
    if simulated():
        key = secrets.load_or_create(settings.DATA_DIR, "google_play_simulator_key", _new_rsa_key)
        return {"client_email": SIMULATOR_ACCOUNT, "private_key": key, "token_uri": token_url()}
    return {}


def token_url() -> str:
    if settings.GOOGLE_PLAY_TOKEN_URL:
        return settings.GOOGLE_PLAY_TOKEN_URL
    if simulated():
        return simulator_url() + "/token"
    if settings.GOOGLE_PLAY_SERVICE_ACCOUNT_FILE:
        return service_account().get("token_uri") or GOOGLE_TOKEN_URL
    return GOOGLE_TOKEN_URL


def push_token() -> str:
    if settings.GOOGLE_PLAY_PUSH_TOKEN:
        return settings.GOOGLE_PLAY_PUSH_TOKEN
    if simulated():
        return secrets.load_or_create(settings.DATA_DIR, "google_play_push_token", secrets.new_secret_key)
    return ""

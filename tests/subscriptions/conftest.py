"""Fixtures of the subscription tests: plans, a patient with the app_account_token their app would pass to the
stores, Apple's signing played by a locally minted chain, and the outside services (Google Play and PayTabs
simulators) reached in-process with every request counted."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from shifa.core import timezones
from tests.support.app_store import APP_APPLE_ID, BUNDLE_ID, AppleSigner
from tests.support.inprocess import DjangoTransport


class CountingTransport(DjangoTransport):
    def __init__(self):
        super().__init__()
        self.paths: list[str] = []

    def handle_request(self, request):
        self.paths.append(f"{request.method} {request.url.path}")
        return super().handle_request(request)

    def count(self, fragment: str) -> int:
        return sum(1 for p in self.paths if fragment in p)


@pytest.fixture(scope="session")
def apple_signer() -> AppleSigner:
    return AppleSigner()


@pytest.fixture
def apple(settings, apple_signer) -> AppleSigner:
    """Our verifier trusts the test root, for our app in production."""
    settings.APP_STORE_ROOT_CERTIFICATES = [apple_signer.root_der]
    settings.APP_STORE_ENVIRONMENT = "Production"
    settings.APP_STORE_BUNDLE_ID = BUNDLE_ID
    settings.APP_STORE_APP_APPLE_ID = APP_APPLE_ID
    return apple_signer


@pytest.fixture
def outside(monkeypatch, settings) -> CountingTransport:
    """Google Play's API, Pub/Sub pushes and PayTabs go in-process to the simulators (inside the test's
    transaction), counted."""
    from shifa.billing import paytabs
    from shifa.simulators.googleplay import pubsub
    from shifa.simulators.paytabs import actions as paytabs_simulator
    from shifa.subscriptions import google_play

    settings.SHIFA_SIMULATORS = True
    settings.GOOGLE_PLAY_API_BASE_URL = ""
    settings.GOOGLE_PLAY_PUSH_TOKEN = ""
    settings.GOOGLE_PLAY_PUSH_AUDIENCE = ""
    transport = CountingTransport()
    for module in (google_play, pubsub, paytabs, paytabs_simulator):
        monkeypatch.setattr(module, "transport", transport)
    google_play._token_cache.clear()
    return transport


def make_plan(**overrides):
    from shifa.subscriptions.models import Plan

    values = {
        "name_en": "Shifa Plus",
        "name_ar": "شفاء بلس",
        "price": Decimal("9.900"),
        "period": "monthly",
        "family_doctor": True,
        "priority_urgent_care": True,
        "included_video_visits": 2,
        "app_store_product_id": "jo.shifa.plus.monthly",
        "google_play_product_id": "shifa_plus",
        **overrides,
    }
    return Plan.objects.create(**values)


@pytest.fixture
def plan(db):
    return make_plan()


@pytest.fixture
def account(cast):
    """The app_account_token of the cast's patient (what GET /me/subscription gives the app)."""
    from shifa.subscriptions.actions import store_account_ensure

    return store_account_ensure(patient=cast.patient)


def soon(days: int = 30) -> dt.datetime:
    return timezones.now() + dt.timedelta(days=days)

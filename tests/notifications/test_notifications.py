"""The notification service: one call, every channel, real transports on loopback (NT-1)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import jwt
import pytest
from channels.testing import WebsocketCommunicator
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings as django_settings
from django.db import transaction
from procrastinate.contrib.django.models import ProcrastinateJob

from shifa.asgi import router
from shifa.core import timezones
from shifa.notifications import kinds
from shifa.notifications.actions import delivery_attempt, notify, quiet_until
from shifa.notifications.models import Delivery, Notification, Preference, PushSubscription
from tests.conftest import time_machine
from tests.core.test_jobs import run_worker_until_idle
from tests.factories import UserFactory
from tests.support import smtp
from tests.support.push import Browser, PushService, unb64url

smtp_server = smtp.smtp_server

# Test kinds (test.everywhere, test.urgent_result, test.offer, test.text) are registered by tests/testapp.


@pytest.fixture
def sms_outbox(settings, tmp_path):
    settings.SMS_BACKEND = "outbox"
    settings.SMS_OUTBOX_DIR = tmp_path / "sms"
    return settings.SMS_OUTBOX_DIR


@pytest.fixture
def push_service():
    service = PushService()
    yield service
    service.close()


def person(**extra):
    defaults = {"phone": "+962791112233", "phone_verified_at": timezones.now(), "language": "en"}
    return UserFactory(**{**defaults, **extra})


def tell(user, kind="test.everywhere", key="event-1", **extra):
    with transaction.atomic():
        return notify(
            recipient=user,
            kind=kind,
            data={"provider": "Google", "email": "x@example.jo"},
            idempotency_key=key,
            url="/app",
            **extra,
        )


def statuses(notification) -> dict[str, str]:
    return dict(Delivery.objects.filter(notification=notification).values_list("channel", "status"))


@pytest.mark.django_db
def test_one_call_records_the_notification_and_queues_every_channel_once(sms_outbox):
    user = person()
    first = tell(user)
    again = tell(user)
    assert first.pk == again.pk
    assert Notification.objects.filter(recipient=user).count() == 1
    assert statuses(first) == dict.fromkeys(kinds.CHANNELS, "pending")
    jobs = ProcrastinateJob.objects.filter(task_name="notifications.deliver")
    assert jobs.count() == 4


@pytest.mark.django_db
def test_a_rolled_back_event_notifies_no_one(sms_outbox):
    user = person()
    with pytest.raises(RuntimeError), transaction.atomic():
        notify(recipient=user, kind="test.everywhere", data={}, idempotency_key="lost")
        raise RuntimeError("the event failed")
    assert not Notification.objects.exists()
    assert not ProcrastinateJob.objects.filter(task_name="notifications.deliver").exists()


def notify_and_work(user) -> None:
    from django.db import connections

    try:
        tell(user)
        run_worker_until_idle()
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_every_channel_delivers_through_its_real_transport(smtp_server, sms_outbox, push_service):
    user = person(email="huda@example.jo", language="ar")
    browser = Browser(push_service)
    PushSubscription.objects.create(
        user=user, endpoint=browser.endpoint, p256dh=browser.p256dh, auth=browser.auth
    )

    async def scenario():
        communicator = WebsocketCommunicator(
            router, "ws/notifications", headers=[(b"origin", b"http://127.0.0.1")]
        )
        communicator.scope["user"] = user
        connected, _ = await communicator.connect()
        assert connected
        assert (await communicator.receive_json_from())["type"] == "connected"
        await asyncio.to_thread(notify_and_work, user)
        message = await communicator.receive_json_from(timeout=5)
        await communicator.disconnect()
        return message

    live = asyncio.run(scenario())
    notification = Notification.objects.get(recipient=user)
    assert live["type"] == "notification.created" and live["data"]["id"] == str(notification.external_id)
    assert notification.title == "تم ربط حساب Google"
    assert statuses(notification) == dict.fromkeys(kinds.CHANNELS, "sent")

    # Email: a real SMTP conversation, in the recipient's language, with the delivery's key as Message-ID.
    [mail] = smtp_server.messages
    delivery = Delivery.objects.get(notification=notification, channel="email")
    assert mail.to == ["huda@example.jo"]
    assert mail.subject == "تم ربط حساب Google بحسابك في شفاء"
    assert delivery.key in mail.raw.decode("utf-8", "replace")

    # SMS: one message in the outbox under the delivery's key.
    [sms] = [json.loads(p.read_text()) for p in sms_outbox.glob("*.json")]
    assert sms["to"] == "+962791112233" and "Google" in sms["body"]

    # Web Push: the browser can decrypt the payload, and the VAPID signature is ours and for this service.
    [request] = push_service.received
    payload = json.loads(browser.decrypt(request["body"]))
    assert payload["title"] == notification.title and payload["url"] == "/app"
    assert payload["tag"] == Delivery.objects.get(notification=notification, channel="push").key
    scheme, _, params = request["headers"]["authorization"].partition(" ")
    assert scheme == "vapid"
    parts = dict(p.strip().split("=", 1) for p in params.split(","))
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
    claims = jwt.decode(parts["t"], public, algorithms=["ES256"], audience=push_service.origin)
    assert claims["sub"] == django_settings.VAPID_SUBJECT and claims["exp"] > timezones.now().timestamp()
    from shifa.integrations.push import public_key

    assert parts["k"] == public_key()
    assert request["headers"]["content-encoding"] == "aes128gcm"
    assert len(request["headers"]["topic"]) <= 32


@pytest.mark.django_db(transaction=True)
def test_a_push_subscription_the_browser_dropped_is_forgotten(sms_outbox, push_service):
    user = person()
    browser = Browser(push_service)
    PushSubscription.objects.create(
        user=user, endpoint=browser.endpoint, p256dh=browser.p256dh, auth=browser.auth
    )
    push_service.status = 410
    notification = tell(user, kind="security.password_changed")
    run_worker_until_idle()
    assert statuses(notification)["push"] == "failed"
    assert not PushSubscription.objects.exists()


@pytest.mark.django_db
def test_channels_without_an_address_are_not_sent_and_say_why(sms_outbox):
    user = person(phone="", phone_verified_at=None, email="unconfirmed@example.jo", email_verified_at=None)
    notification = tell(user)
    for channel in ("email", "sms", "push"):
        delivery = Delivery.objects.get(notification=notification, channel=channel)
        assert delivery_attempt(delivery_id=delivery.pk) == "failed"
        delivery.refresh_from_db()
        assert delivery.last_error


@pytest.mark.django_db
def test_a_mail_server_that_is_down_is_retried_then_given_up(smtp_server, settings, sms_outbox):
    from shifa.notifications.actions import MAX_ATTEMPTS, RetryLater

    settings.EMAIL_PORT = smtp.free_port()
    notification = tell(person(email="r@example.jo"))
    delivery = Delivery.objects.get(notification=notification, channel="email")
    for _ in range(MAX_ATTEMPTS - 1):
        with pytest.raises(RetryLater):
            delivery_attempt(delivery_id=delivery.pk)
        delivery.refresh_from_db()
        assert delivery.status == "pending" and delivery.last_error
    assert delivery_attempt(delivery_id=delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert delivery.attempts == MAX_ATTEMPTS


# --- Quiet hours and choices -------------------------------------------------------------------------------------

AMMAN_2330 = dt.datetime(2026, 11, 25, 21, 30, tzinfo=dt.UTC)  # 23:30 in Amman (UTC+3)


def quiet_person(**extra):
    user = person(email="q@example.jo", time_zone="Asia/Amman")
    Preference.objects.create(user=user, quiet_from=dt.time(22, 0), quiet_until=dt.time(7, 0), **extra)
    return user


@pytest.mark.django_db
def test_quiet_hours_hold_buzzing_channels_until_morning_in_the_persons_zone(sms_outbox):
    user = quiet_person()
    with time_machine(AMMAN_2330):
        notification = tell(user)
    morning = dt.datetime(2026, 11, 26, 4, 0, tzinfo=dt.UTC)  # 07:00 in Amman
    assert statuses(notification) == {
        "in_app": "pending",
        "email": "pending",
        "push": "deferred",
        "sms": "deferred",
    }
    held = Delivery.objects.filter(notification=notification, status="deferred")
    assert {d.scheduled_for for d in held} == {morning}
    jobs = ProcrastinateJob.objects.filter(task_name="notifications.deliver", scheduled_at__isnull=False)
    assert {j.scheduled_at for j in jobs} == {morning}
    # A job that runs early anyway (a clock drift, a manual retry) still holds back during quiet hours.
    with time_machine(AMMAN_2330 + dt.timedelta(minutes=20)):
        assert delivery_attempt(delivery_id=held.get(channel="sms").pk) == "deferred"
    assert not list(sms_outbox.glob("*.json"))
    with time_machine(morning + dt.timedelta(minutes=1)):
        assert delivery_attempt(delivery_id=held.get(channel="sms").pk) == "sent"


@pytest.mark.django_db
def test_urgent_clinical_alerts_come_through_quiet_hours_and_marketing_never_does(sms_outbox):
    user = quiet_person(marketing=True)
    with time_machine(AMMAN_2330):
        urgent = tell(user, kind="test.urgent_result", key="urgent")
        offer = tell(user, kind="test.offer", key="offer")
    assert statuses(urgent) == dict.fromkeys(kinds.CHANNELS, "pending")
    assert statuses(offer)["push"] == statuses(offer)["sms"] == "deferred"


@pytest.mark.django_db
def test_marketing_needs_consent_and_channels_follow_the_persons_choice(sms_outbox):
    user = person(email="c@example.jo")
    Preference.objects.create(user=user, sms=False, marketing=False)
    offer = tell(user, kind="test.offer", key="offer")
    assert statuses(offer) == {"in_app": "pending", "email": "skipped", "push": "skipped", "sms": "skipped"}
    alert = tell(user, kind="test.everywhere", key="alert")
    assert statuses(alert)["sms"] == "skipped" and statuses(alert)["email"] == "pending"


def test_quiet_hours_within_one_day_and_across_midnight():
    user = type("U", (), {"time_zone": "Asia/Amman"})()
    day = Preference(quiet_from=dt.time(13, 0), quiet_until=dt.time(15, 0))
    at = dt.datetime(2026, 11, 25, 11, 30, tzinfo=dt.UTC)  # 14:30 in Amman
    assert quiet_until(day, user, at) == dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
    assert quiet_until(day, user, at + dt.timedelta(hours=1)) is None
    night = Preference(quiet_from=dt.time(22, 0), quiet_until=dt.time(7, 0))
    early = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)  # 05:00 in Amman
    assert quiet_until(night, user, early) == dt.datetime(2026, 11, 25, 4, 0, tzinfo=dt.UTC)
    assert quiet_until(None, user, early) is None

"""One's notifications, preferences and push subscriptions through the API and the page."""

from __future__ import annotations

import uuid

from django.db import transaction
from django.test import Client

from shifa.notifications.actions import notify
from shifa.notifications.models import Notification, Preference, PushSubscription
from tests.conftest import sign_in_page


def tell(user, key):
    with transaction.atomic():
        return notify(recipient=user, kind="security.password_changed", data={}, idempotency_key=key)


def test_list_read_and_read_all(cast, api):
    user = cast.patient_user
    first, second = tell(user, "a"), tell(user, "b")
    tell(cast.other_patient_user, "c")
    client = api(user)
    page = client.get("/api/v1/me/notifications").json()
    assert [i["id"] for i in page["items"]] == [str(second.external_id), str(first.external_id)]
    assert page["unread"] == 2
    assert client.post(f"/api/v1/me/notifications/{first.external_id}/read").status_code == 204
    assert client.get("/api/v1/me/notifications?unread=true").json()["unread"] == 1
    # Another person's notification is not found, whoever asks.
    other = Notification.objects.get(recipient=cast.other_patient_user)
    assert client.post(f"/api/v1/me/notifications/{other.external_id}/read").status_code == 404
    assert client.post("/api/v1/me/notifications/read-all").status_code == 204
    assert client.get("/api/v1/me/notifications").json()["unread"] == 0
    assert Notification.objects.get(pk=other.pk).read_at is None


def test_preferences_round_trip_and_refuse_half_quiet_hours(cast, api):
    client = api(cast.patient_user)
    assert client.get("/api/v1/me/notification-preferences").json() == {
        "push": True,
        "email": True,
        "sms": True,
        "marketing": False,
        "quiet_from": None,
        "quiet_until": None,
        "time_zone": cast.patient_user.time_zone,
    }
    body = {
        "push": True,
        "email": False,
        "sms": True,
        "marketing": False,
        "quiet_from": "22:00",
        "quiet_until": "07:00",
    }
    saved = client.put("/api/v1/me/notification-preferences", body)
    assert saved.status_code == 200 and saved.json()["quiet_from"] == "22:00:00"
    half = client.put("/api/v1/me/notification-preferences", {**body, "quiet_until": None})
    assert half.status_code == 422 and half.json()["errors"][0]["field"] == "quiet_until"
    same = client.put("/api/v1/me/notification-preferences", {**body, "quiet_until": "22:00"})
    assert same.status_code == 422
    bad = client.put("/api/v1/me/notification-preferences", {**body, "quiet_from": "25:99"})
    assert bad.status_code == 422
    assert Preference.objects.get(user=cast.patient_user).email is False


def test_push_subscriptions_belong_to_their_person(cast, api):
    client = api(cast.patient_user)
    endpoint = f"https://push.example.jo/{uuid.uuid4().hex}"
    body = {"endpoint": endpoint, "keys": {"p256dh": "B" * 87, "auth": "a" * 22}}
    created = client.post("/api/v1/me/push-subscriptions", body)
    assert created.status_code == 201
    assert client.post("/api/v1/me/push-subscriptions", body).status_code == 201  # the same browser again
    assert PushSubscription.objects.filter(endpoint=endpoint).count() == 1
    assert (
        api(cast.other_patient_user)
        .delete(f"/api/v1/me/push-subscriptions/{created.json()['id']}")
        .status_code
        == 404
    )
    assert client.delete(f"/api/v1/me/push-subscriptions/{created.json()['id']}").status_code == 204
    bad = client.post("/api/v1/me/push-subscriptions", {**body, "endpoint": "javascript:alert(1)"})
    assert bad.status_code == 422
    key = client.get("/api/v1/push/public-key").json()["public_key"]
    assert len(key) == 87


def test_the_notifications_page_lists_and_saves_preferences(cast):
    user = cast.patient_user
    tell(user, "page")
    browser = sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="en"), user)
    page = browser.get("/accounts/notifications")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Your password was changed" in body and "1 unread" in body
    saved = browser.post(
        "/accounts/notifications",
        {"push": "on", "email": "on", "quiet_from": "23:00", "quiet_until": "06:30"},
    )
    assert saved.status_code == 302
    preference = Preference.objects.get(user=user)
    assert preference.sms is False and str(preference.quiet_until) == "06:30:00"
    half = browser.post("/accounts/notifications", {"quiet_from": "23:00"})
    assert half.status_code == 400 and "Give both ends of the quiet hours" in half.content.decode()
    assert browser.post("/accounts/notifications", {"step": "read-all"}).status_code == 302
    assert not Notification.objects.filter(recipient=user, read_at__isnull=True).exists()


def test_the_service_worker_is_served_from_the_root(db):
    response = Client().get("/sw.js")
    assert response.status_code == 200
    assert response["Service-Worker-Allowed"] == "/"
    assert b"showNotification" in response.content


def test_changing_the_password_tells_the_person(cast, settings):
    from shifa.accounts.actions import _set_new_password

    _set_new_password(cast.patient_user, "a-new-long-passphrase-2026")
    notification = Notification.objects.get(recipient=cast.patient_user)
    assert notification.kind == "security.password_changed"

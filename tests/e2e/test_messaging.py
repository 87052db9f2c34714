"""Messaging (TM-3) and Treat Me Now (TM-2) live, in two browsers at once, against the ASGI application (pages and
WebSockets) served by uvicorn.

* The patient writes in Arabic, right to left, and the nurse sees it appear without reloading, with "typing…"
  while the patient types; the nurse's answer appears on the patient's screen and the patient's message turns
  "Read"; pressing Enter twice quickly sends one message.
* A doctor on duty watches the queue: a patient's request appears in it by itself; the doctor accepts and the
  patient's waiting page turns into "Join the video call" without a reload."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from shifa.core import timezones
from shifa.telehealth.models import Conversation, Duty, Message, UrgentRequest
from tests.e2e.test_journeys import sign_in
from tests.factories import enrol_authenticator
from tests.support.records import in_care

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def asgi_url(transactional_db):
    """The whole ASGI application (HTTP with static files, and WebSockets) on a free port, in a thread."""
    import uvicorn
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.core.asgi import get_asgi_application

    from shifa.asgi import router

    pages = ASGIStaticFilesHandler(get_asgi_application())

    async def application(scope, receive, send):
        if scope["type"] == "http":
            return await pages(scope, receive, send)
        return await router(scope, receive, send)

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(application, host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    listener.close()


def listen(expected) -> list:
    """The frames the server sends on a page's new WebSocket (listened to before the page runs any further)."""
    frames: list = []
    expected.value.on("framereceived", lambda frame: frames.append(frame))
    return frames


def connected(page, frames: list) -> None:
    """Wait for the server's first frame ("connected"): the socket has joined its group and hears events."""
    deadline = time.monotonic() + 5
    while not frames and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert frames, "the page's WebSocket did not connect"


def test_a_patient_and_a_nurse_write_to_each_other_live(cast, browser, asgi_url, tmp_path):
    in_care(cast)
    conversation = Conversation.unscoped.create(
        clinic=cast.clinic_a, patient=cast.patient, started_by=cast.patient_user
    )
    type(cast.patient_user).objects.filter(pk=cast.patient_user.pk).update(language="ar")
    nurse_user = cast.staff_a["nurse"]
    contexts = []

    def open_page(locale: str):
        context = browser.new_context(locale=locale, base_url=asgi_url)
        contexts.append(context)
        return context.new_page()

    try:
        patient = open_page("ar")
        patient.set_viewport_size({"width": 412, "height": 915})
        sign_in(patient, cast.patient_user.email)
        patient.wait_for_url("**/app")
        patient.click("nav.tabbar a[href='/app/messages']")
        with patient.expect_websocket() as opened:
            patient.click(f"a[data-conversation='{conversation.external_id}']")
        patient_frames = listen(opened)
        patient.wait_for_url(f"**/app/messages/{conversation.external_id}")
        assert patient.get_attribute("html", "dir") == "rtl"

        nurse = open_page("en")
        sign_in(nurse, nurse_user.email, enrol_authenticator(nurse_user))
        nurse.wait_for_url("**/clinic")
        with nurse.expect_websocket() as opened:
            nurse.goto(f"/clinic/{cast.clinic_a.external_id}/messages/{conversation.external_id}")
        nurse_frames = listen(opened)
        connected(patient, patient_frames)
        connected(nurse, nurse_frames)

        for page in (patient, nurse):
            page.evaluate("() => { window.stayed = true; }")  # gone if the page loads again
        patient.fill("textarea[name=body]", "عندي حرارة منذ الصباح")
        nurse.wait_for_selector("[data-typing]:not(:empty)")
        patient.press("textarea[name=body]", "Enter")
        patient.press("textarea[name=body]", "Enter")  # a second press with nothing written sends nothing
        nurse.wait_for_selector("[data-message][data-side=patient]")
        assert "عندي حرارة منذ الصباح" in nurse.inner_text("[data-message][data-side=patient]")
        patient.wait_for_selector("[data-mine] [data-receipt=read]")  # the nurse's page read it as it arrived
        assert Message.unscoped.filter(conversation=conversation).count() == 1

        nurse.fill("textarea[name=body]", "Please measure your temperature and tell us.")
        nurse.click("button[data-send]")
        patient.wait_for_selector("[data-message][data-side=clinic]")
        assert "Please measure" in patient.inner_text("[data-message][data-side=clinic]")
        nurse.wait_for_selector("[data-mine][id^=message-] [data-receipt]")
        patient.screenshot(path=str(tmp_path / "conversation-ar.png"), full_page=True)
        for page in (patient, nurse):
            assert page.evaluate("() => window.stayed === true")  # sent over the socket, no form post
        sent = list(Message.unscoped.filter(conversation=conversation).order_by("pk"))
        assert [m.side for m in sent] == ["patient", "clinic"]
        assert sent[0].sender == cast.patient_user and sent[1].sender == nurse_user

        # A reload shows the same thread from the server, with the receipts.
        patient.reload()
        assert patient.locator("[data-message]").count() == 2
        assert patient.get_attribute("[data-mine] [data-receipt]", "data-receipt") == "read"
    finally:
        for context in contexts:
            context.close()


def test_a_doctor_on_duty_sees_a_request_arrive_and_the_patient_sees_the_acceptance(cast, browser, asgi_url):
    doctor_user = cast.staff_a["doctor"]
    Duty.unscoped.create(clinic=cast.clinic_a, doctor=doctor_user, on_duty=True, since=timezones.now())
    contexts = []

    def open_page(locale: str):
        context = browser.new_context(locale=locale, base_url=asgi_url)
        contexts.append(context)
        return context.new_page()

    try:
        doctor = open_page("en")
        sign_in(doctor, doctor_user.email, enrol_authenticator(doctor_user))
        doctor.wait_for_url("**/clinic")
        with doctor.expect_websocket() as opened:
            doctor.goto(f"/clinic/{cast.clinic_a.external_id}/urgent")
        queue_frames = listen(opened)
        doctor.wait_for_selector("[data-urgent-queue] [data-empty]")
        connected(doctor, queue_frames)

        patient = open_page("en")
        sign_in(patient, cast.patient_user.email)
        patient.wait_for_url("**/app")
        patient.goto("/app/urgent")
        patient.fill("textarea[name=complaint]", "High fever since this morning")
        with patient.expect_websocket() as opened:
            patient.click("form[data-ask] button[type=submit]")
        request_frames = listen(opened)
        patient.wait_for_selector("[data-urgent-status=waiting]")
        request = UrgentRequest.objects.get(patient=cast.patient)

        # Well before the 30-second poll: the socket's "queue.changed" brought it.
        row = doctor.wait_for_selector(f"tr[data-request='{request.external_id}']", timeout=5000)
        assert "High fever since this morning" in row.inner_text()
        connected(patient, request_frames)
        doctor.click(f"tr[data-request='{request.external_id}'] button[type=submit]")
        doctor.wait_for_url(f"**/clinic/{cast.clinic_a.external_id}/appointments/*/call")

        # Before the 10-second poll: the socket's "accepted" brought it.
        patient.wait_for_selector("[data-urgent-status=accepted] a[data-join]", timeout=5000)
        request.refresh_from_db()
        appointment = request.meeting.appointment
        assert (
            patient.get_attribute("a[data-join]", "href")
            == f"/app/appointments/{appointment.external_id}/call"
        )
        assert doctor_user.full_name in patient.inner_text("[data-doctor]")
    finally:
        for context in contexts:
            context.close()


def test_with_live_updates_down_the_conversation_page_catches_up_by_itself(cast, browser, asgi_url, settings):
    """Redis (the channel layer) unreachable: the page's WebSocket is closed with 4503, and the page asks for new
    messages every few seconds instead, so the nurse sees the patient's message without reloading."""
    from tests.conftest import ApiClient
    from tests.support.smtp import free_port

    in_care(cast)
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": f"redis://127.0.0.1:{free_port()}/0", "socket_connect_timeout": 1}]
            },
        }
    }
    conversation = Conversation.unscoped.create(
        clinic=cast.clinic_a, patient=cast.patient, started_by=cast.patient_user
    )
    Message.unscoped.create(
        clinic=cast.clinic_a,
        conversation=conversation,
        sender=cast.patient_user,
        side="patient",
        body="Hello",
    )
    nurse_user = cast.staff_a["nurse"]
    context = browser.new_context(locale="en", base_url=asgi_url)
    try:
        nurse = context.new_page()
        closes: list = []
        nurse.on("websocket", lambda ws: ws.on("close", lambda _ws: closes.append(True)))
        sign_in(nurse, nurse_user.email, enrol_authenticator(nurse_user))
        nurse.wait_for_url("**/clinic")
        nurse.goto(f"/clinic/{cast.clinic_a.external_id}/messages/{conversation.external_id}")
        nurse.wait_for_selector("[data-message][data-side=patient]")
        nurse.evaluate("() => { window.stayed = true; }")
        deadline = time.monotonic() + 10
        while not closes and time.monotonic() < deadline:
            nurse.wait_for_timeout(100)
        assert closes, "the WebSocket should be closed while the channel layer is down"

        sent = ApiClient(cast.patient_user).post(
            f"/api/v1/me/conversations/{conversation.external_id}/messages", {"body": "Are you there?"}
        )
        assert sent.status_code == 201
        nurse.wait_for_selector(f"#message-{sent.json()['id']}", timeout=15_000)
        assert nurse.evaluate("() => window.stayed === true")  # no reload: the page polled
        assert nurse.locator("[data-message]").count() == 2

        # Writing still works: without a socket the form posts, once however often it is pressed.
        nurse.fill("textarea[name=body]", "Yes, how can we help?")
        nurse.click("button[data-send]")
        nurse.wait_for_selector("[data-message][data-side=clinic]")
        assert Message.unscoped.filter(conversation=conversation, side="clinic").count() == 1
    finally:
        context.close()

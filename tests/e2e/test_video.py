"""Acceptance (TM-1): two headless Chromium pages with a fake camera and microphone — the doctor and the patient —
join a video visit through our signaling and each receives the other's media (WebRTC stats show inbound bytes);
switching to audio only keeps the call. The doctor also writes the visit's notes beside the video and ends the
visit for everyone.

The whole ASGI application (pages, API, WebSockets) runs in uvicorn on a loopback port (tests/support/live_asgi.py):
Django's live_server has no WebSockets."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.test import Client

from shifa.records.models import Visit
from shifa.telehealth.models import Attendee, Meeting
from tests.conftest import sign_in_page
from tests.e2e.conftest import CHROMIUM
from tests.support.live_asgi import live_asgi  # noqa: F401  (fixture)
from tests.telehealth.test_meetings import video_visit

pytestmark = pytest.mark.django_db(transaction=True)

INBOUND = """async () => {
  const totals = {};
  for (const pc of window.shifaCall.connections()) {
    (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp") totals[s.kind] = (totals[s.kind] || 0) + (s.bytesReceived || 0);
    });
  }
  return totals;
}"""
STATES = "() => window.shifaCall.connections().map((pc) => pc.connectionState)"


@pytest.fixture(scope="module")
def media_browser():
    """Chromium with a fake camera and microphone, allowed without asking; peer connections may use loopback."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                "--allow-loopback-in-peer-connection",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield browser
        browser.close()


def signed_in_page(browser, server, user, locale: str):
    """A browser page with a signed-in session (past the second factor) of ``user``."""
    type(user).objects.filter(pk=user.pk).update(language=locale)
    client = sign_in_page(Client(), user)
    context = browser.new_context(locale=locale, base_url=server.url)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": server.url}])
    return context.new_page()


def wait_until(page, predicate: str, arg=None, timeout: float = 20) -> object:
    """Poll ``predicate`` (a JS function, possibly async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(predicate, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {predicate}")
        page.wait_for_timeout(200)


def inbound(page) -> dict:
    return page.evaluate(INBOUND)


def receiving(page, kinds=("audio", "video")) -> dict:
    def ok():
        totals = inbound(page)
        return totals if all(totals.get(kind, 0) > 0 for kind in kinds) else None

    deadline = time.monotonic() + 20
    while (totals := ok()) is None:
        assert time.monotonic() < deadline, inbound(page)
        page.wait_for_timeout(250)
    return totals


def test_doctor_and_patient_see_and_hear_each_other_and_audio_only_keeps_the_call(
    cast,
    media_browser,
    live_asgi,  # noqa: F811
    tmp_path,
):
    appointment = video_visit(cast)
    doctor = signed_in_page(media_browser, live_asgi, cast.staff_a["doctor"], "ar")
    patient = signed_in_page(media_browser, live_asgi, cast.patient_user, "en")
    patient.set_viewport_size({"width": 412, "height": 915})  # the patient is on a phone
    doctor.on("dialog", lambda dialog: dialog.accept())

    doctor.goto(f"/clinic/{cast.clinic_a.external_id}/appointments/{appointment.external_id}/call")
    patient.goto(f"/app/appointments/{appointment.external_id}/call")
    assert doctor.get_attribute("html", "dir") == "rtl"
    for page in (doctor, patient):
        # The device check: the fake camera and microphone work, and the call service answers.
        page.wait_for_selector("[data-check=camera][data-state=ok]")
        page.wait_for_selector("[data-check=microphone][data-state=ok]")
        page.wait_for_selector("[data-check=connection][data-state]")
        assert page.get_attribute("[data-check=connection]", "data-state") != "failed"

    doctor.click("[data-join]")
    doctor.wait_for_selector("[data-stage=call]:not([hidden])")
    patient.click("[data-join]")
    patient.wait_for_selector("[data-banner]:not([hidden])")  # the waiting room
    doctor.click("[data-lobby] [data-admit]")
    patient.wait_for_selector("[data-banner]", state="hidden")

    for page in (doctor, patient):
        wait_until(
            page, "() => window.shifaCall.connections().some((pc) => pc.connectionState === 'connected')"
        )
        page.wait_for_selector("[data-remotes] [data-peer][data-video=on]")
    before = {"doctor": receiving(doctor), "patient": receiving(patient)}
    doctor.screenshot(path=str(tmp_path / "doctor-call-ar.png"), full_page=True)
    patient.screenshot(path=str(tmp_path / "patient-call-phone.png"), full_page=True)

    # The patient switches to audio only: they stop sending video, the doctor stops sending them video, and the
    # call goes on with sound both ways.
    patient.click("[data-action=audio-only]")
    patient.wait_for_selector("[data-action=audio-only][aria-pressed=true]")
    patient.wait_for_selector("[data-self-tile][data-video=off]")
    doctor.wait_for_selector("[data-remotes] [data-peer][data-video=off]")
    doctor.wait_for_timeout(1500)
    middle = {"doctor": inbound(doctor), "patient": inbound(patient)}
    doctor.wait_for_timeout(2000)
    after = {"doctor": inbound(doctor), "patient": inbound(patient)}
    for name, page in (("doctor", doctor), ("patient", patient)):
        assert page.evaluate(STATES) == ["connected"], name
        assert after[name]["audio"] > middle[name]["audio"] > before[name]["audio"], (name, before, after)
        assert after[name]["video"] == middle[name]["video"], (name, middle, after)  # no video any more

    # Beside the video, the doctor starts the visit and writes its notes without leaving the call.
    doctor.click("[data-open-visit] button")
    doctor.wait_for_selector("[data-notes] textarea[name=complaint]")
    doctor.fill("[data-notes] textarea[name=complaint]", "Cough for three days")
    doctor.fill("[data-notes] textarea[name=notes]", "Seen by video; chest sounds described as clear.")
    doctor.click("[data-notes] button[type=submit]")
    wait_until(doctor, "() => document.querySelector('[data-notes-status]').textContent.length > 0")
    assert doctor.evaluate(STATES) == ["connected"]
    visit = Visit.unscoped.get(appointment=appointment)
    assert visit.complaint == "Cough for three days" and "by video" in visit.notes

    # The doctor ends the visit for everyone.
    doctor.click("[data-action=end]")
    for page in (doctor, patient):
        page.wait_for_selector("[data-stage=over]:not([hidden])")
        assert page.evaluate("() => window.shifaCall.connections().length") == 0
    meeting = Meeting.unscoped.get(appointment=appointment)
    assert meeting.status == "ended" and meeting.ended_by == cast.staff_a["doctor"]
    patient_row = Attendee.unscoped.get(meeting=meeting, role="patient")
    assert patient_row.admitted_at is not None and patient_row.joined_at is not None
    for page in (doctor, patient):
        page.context.close()

"""Outside services slow or down, and a worker killed mid-job (issue 13, faults): after each, nothing is lost,
nothing is done twice, nothing is written in part, and the system recovers by itself.

"Slow" is tested two ways: a server that takes the connection and never answers (our wait must end, bounded by a
setting, and the attempt count as failed), and a service that did the work but whose answer came after we stopped
waiting (the retry must find that work rather than do it again).

The fault matrix, with the tests that cover each cell ("here": this module). What each asserts: L nothing lost (it
goes through once the service is back), D nothing done twice, P no partial write (no half-made row, the earlier
state kept), R recovery without a human (a job, the retry back-off, the reconciliation or the sweep), T the wait
is bounded, 503 the caller is told to try again.

SMTP down (nothing listens)
  503 P   tests/accounts/test_email_and_reset.py::test_sign_up_while_the_mail_server_is_down_says_so
  P L D   tests/accounts/test_email_and_reset.py::test_a_failed_sign_up_leaves_nothing_behind_and_can_simply_be_tried_again
  503 P   tests/accounts/test_email_and_reset.py::test_the_sign_up_page_reports_a_mail_failure_and_keeps_nothing
  503     tests/accounts/test_email_and_reset.py::test_reset_by_email_while_the_mail_server_is_down_is_a_503
  503 L   tests/tenancy/test_invitations.py::test_the_mail_server_being_down_is_a_503_and_a_retry_works
  P       tests/tenancy/test_invitations.py::test_a_failed_send_leaves_the_earlier_invitation_working
  R       tests/notifications/test_notifications.py::test_a_mail_server_that_is_down_is_retried_then_given_up
SMTP slow (takes the connection, never answers)
  T       here::test_the_settings_bound_the_wait_for_a_mail_server
  T 503 P L D  here::test_sign_up_with_a_mail_server_that_never_answers_is_a_prompt_503_then_a_retry_works
  T R L D here::test_a_mail_server_that_never_answers_holds_the_delivery_for_a_retry_that_sends_once
SMS down (refused, 429, 5xx) and slow
  R       tests/integrations/test_sms.py::test_twilio_refusals_and_outages_say_whether_to_retry (client: retryable?)
  T R L D here::test_an_sms_provider_slow_then_down_holds_the_delivery_until_it_is_back_then_sends_once
  T 503 P L  here::test_a_code_the_sms_provider_could_not_take_leaves_nothing_and_can_be_asked_again_at_once
SMS or SMTP took the message but its answer was lost: not covered, cannot be fully: Twilio takes no idempotency
  key and cannot be asked what it took, nor can an SMTP server (the retry keeps the Message-ID, so mail systems may
  recognise the repeat); the retry may send the message twice. The file outbox can be asked (test_crash below).
SMS: worker killed after the provider accepted, before we wrote it down
  R D     tests/notifications/test_crash.py::test_a_worker_killed_after_the_provider_accepted_sends_once
PayTabs down at checkout
  503 P L tests/billing/test_online_payments.py::test_paytabs_out_of_reach_keeps_the_hold_and_says_so
  503 P   tests/subscriptions/test_paytabs.py::test_paytabs_down_is_503_and_writes_nothing
PayTabs slow at checkout
  T 503 P L D  here::test_paytabs_not_answering_at_checkout_is_a_prompt_503_and_the_hold_is_kept_for_a_retry_that_charges_once
  503 P L D    here::test_a_payment_page_whose_answer_was_lost_is_never_charged_and_the_retry_charges_once
PayTabs down during a refund
  R L D   tests/billing/test_online_payments.py::test_a_refund_paytabs_never_received_is_tried_again
PayTabs slow during a refund (PayTabs gave the money back; the answer was lost)
  503 P R D  here::test_a_refund_whose_answer_was_lost_is_found_by_the_reconciliation_and_given_once
PayTabs callbacks lost, repeated, reordered or late
  R L     tests/billing/test_online_payments.py::test_a_lost_callback_is_found_by_the_reconciliation
  D       tests/billing/test_online_payments.py::test_duplicate_reordered_and_delayed_callbacks_credit_once
  R       tests/simulators/test_paytabs_simulator.py::test_a_callback_is_retried_until_the_merchant_answers_200
  R       tests/simulators/test_paytabs_simulator.py::test_an_unreachable_merchant_is_tried_again
PayTabs renewal charged but not recorded (a crash, or a timeout: both roll the run back)
  R D     tests/subscriptions/test_paytabs.py::test_a_repeated_charge_after_a_crash_asks_paytabs_instead_of_charging_again
  D       tests/subscriptions/test_paytabs.py::test_a_renewal_still_pending_is_asked_about_not_charged_again
Hakeem down (503, 500)
  R L D   tests/integrations/test_hakeem_sync.py::test_a_visit_committed_while_hakeem_is_down_is_sent_once_when_it_is_back
  L       tests/integrations/test_hakeem_sync.py::test_retry_sends_a_failed_record_now
  P       tests/integrations/test_hakeem_sync.py::test_hakeem_down_leaves_third_party_orders_as_they_were
  P L     tests/integrations/test_hakeem_import.py::test_hakeem_down_fails_the_import_then_a_new_one_succeeds
  L       tests/e2e/test_hakeem.py::test_the_platform_admin_sends_again_a_record_that_failed_while_hakeem_was_down
Hakeem slow
  R       tests/integrations/test_hakeem_sync.py::test_hakeem_not_answering_in_time_is_a_failure_to_retry (a mock timeout)
  T R     here::test_hakeem_that_never_answers_fails_the_send_in_bounded_time (a real wait)
  R L D   here::test_records_hakeem_stored_after_we_stopped_waiting_are_sent_again_and_held_once
  R D     here::test_a_patient_whose_answer_was_lost_is_still_ours_to_correct
Hakeem: worker killed after Hakeem stored the records, before we wrote it down (fault hakeem.after_transaction_answered)
  R L D P here::test_a_worker_killed_after_hakeem_stored_the_records_sends_them_again_and_hakeem_holds_each_once
Medication reminders: dispatcher killed mid-batch (SIGKILL)
  R L D P tests/adherence/test_dispatch_crash.py::test_a_dispatcher_killed_mid_batch_then_run_again_sends_every_dose_once
PostgreSQL restarting, Redis away: tests/faults/test_database_restart.py, tests/faults/test_redis_down.py
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import time
from decimal import Decimal

import httpx
import pytest
from django.db import transaction
from django.utils import timezone

from shifa.accounts.models import OneTimeCode, User
from shifa.billing import actions as billing
from shifa.billing import paytabs
from shifa.billing.models import LedgerEntry, OnlinePayment
from shifa.core import timezones
from shifa.core.errors import ServiceUnavailable
from shifa.integrations.hakeem import actions as hakeem
from shifa.integrations.hakeem import client as hakeem_client
from shifa.integrations.hakeem import fhir
from shifa.integrations.hakeem.models import SyncRecord, SyncState
from shifa.notifications.actions import RetryLater, delivery_attempt, notify
from shifa.notifications.models import Delivery
from shifa.simulators.hakeem import queries as on_hakeem
from shifa.simulators.paytabs import actions as paytabs_sim
from shifa.simulators.paytabs.models import SimTransaction
from tests.accounts.test_email_and_reset import sign_up, verification_key
from tests.billing import test_online_payments as payments
from tests.factories import UserFactory
from tests.integrations import test_sms
from tests.integrations.test_hakeem_fhir import _demo_visit, _video_visit
from tests.support import smtp
from tests.support.inprocess import DjangoTransport
from tests.support.worker import KILLED, ROOT, run_worker

# Fixtures of other modules, bound by assignment (an imported fixture used as an argument trips ruff's F811).
smtp_server = smtp.smtp_server
twilio = test_sms.twilio
clinic = payments.clinic

#: How long a test lets a silent server keep us waiting (the product's own waits are 10 to 15 s).
WAIT = 0.5
#: A wait bounded by ``WAIT`` ends well within this (slack for a loaded test machine).
PROMPT = 5.0


@contextlib.contextmanager
def silent_server():
    """A server that takes connections and never says a word: a hung SMTP, PayTabs, Twilio or Hakeem. (The kernel
    completes the handshake of queued connections; nobody ever reads or answers them.)"""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


class AnswerLost(httpx.BaseTransport):
    """The service does the work (the local simulator, in this process) but its answer reaches us after we
    stopped waiting, for the next ``times`` requests."""

    def __init__(self, times: int = 1):
        self.inner = DjangoTransport()
        self.times = times

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if self.times:
            self.times -= 1
            raise httpx.ReadTimeout("timed out", request=request)
        return response


@contextlib.contextmanager
def prompt():
    """The block (a wait on a silent server) ends within ``PROMPT`` seconds."""
    started = time.monotonic()
    yield
    assert time.monotonic() - started < PROMPT


# --- SMTP slow ---------------------------------------------------------------------------------------------------


def test_the_settings_bound_the_wait_for_a_mail_server(tmp_path):
    """With a mail server configured, every send waits at most EMAIL_TIMEOUT: without it, smtplib waits forever
    and a hung server would hang the request (or the job) that sends."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT / "src"),
        "SHIFA_DATA_DIR": str(tmp_path),
        "EMAIL_HOST": "mail.example.jo",
    }
    read = "from shifa.settings import base; print(base.EMAIL_BACKEND, base.EMAIL_TIMEOUT)"
    result = subprocess.run([sys.executable, "-c", read], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    backend, timeout = result.stdout.split()
    assert backend == "django.core.mail.backends.smtp.EmailBackend"
    assert 0 < float(timeout) <= 30


@pytest.mark.django_db
def test_sign_up_with_a_mail_server_that_never_answers_is_a_prompt_503_then_a_retry_works(
    smtp_server, settings
):
    settings.EMAIL_TIMEOUT = WAIT
    with silent_server() as port:
        settings.EMAIL_PORT = port
        with prompt():
            response = sign_up()
    assert response.status_code == 503 and response.json()["code"] == "mail_unavailable"
    assert not User.objects.filter(email="rana@example.jo").exists()  # nothing half made
    settings.EMAIL_PORT = smtp_server.port
    assert sign_up().status_code == 201
    verification_key(smtp_server)  # exactly one mail, with a working link


@pytest.mark.django_db
def test_a_mail_server_that_never_answers_holds_the_delivery_for_a_retry_that_sends_once(
    smtp_server, settings
):
    settings.EMAIL_TIMEOUT = WAIT
    user = UserFactory(email="hala@example.jo", language="en")
    with transaction.atomic():
        notification = notify(recipient=user, kind="test.everywhere", data={}, idempotency_key="slow-mail")
    email = Delivery.objects.get(notification=notification, channel="email")
    with silent_server() as port:
        settings.EMAIL_PORT = port
        with prompt(), pytest.raises(RetryLater):
            delivery_attempt(delivery_id=email.pk)
    email.refresh_from_db()
    assert email.status == "pending" and email.attempts == 1 and email.last_error.startswith("mail server")
    assert smtp_server.messages == []
    settings.EMAIL_PORT = smtp_server.port
    assert delivery_attempt(delivery_id=email.pk) == "sent"
    assert delivery_attempt(delivery_id=email.pk) == "sent"  # a repeated job sends nothing more
    (message,) = smtp_server.to("hala@example.jo")
    email.refresh_from_db()
    assert email.attempts == 2 and email.provider_id in message.raw.decode()


# --- SMS slow or down --------------------------------------------------------------------------------------------


@pytest.fixture
def twilio_sms(settings, twilio):
    """SMS go through the Twilio adapter to the local fake of Twilio (tests/integrations/test_sms.py)."""
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = test_sms.SID, test_sms.TOKEN
    settings.TWILIO_FROM = "+15005550006"
    settings.TWILIO_BASE_URL = twilio
    settings.SMS_TIMEOUT_SECONDS = WAIT
    return test_sms.FakeTwilio


@pytest.mark.django_db
def test_an_sms_provider_slow_then_down_holds_the_delivery_until_it_is_back_then_sends_once(
    settings, twilio_sms
):
    user = UserFactory(phone="+962795550001", phone_verified_at=timezones.now(), language="en")
    with transaction.atomic():
        notification = notify(recipient=user, kind="test.text", data={}, idempotency_key="slow-sms")
    sms = Delivery.objects.get(notification=notification, channel="sms")
    twilio = settings.TWILIO_BASE_URL

    with silent_server() as port:  # slow: takes the connection, never answers
        settings.TWILIO_BASE_URL = f"http://127.0.0.1:{port}"
        with prompt(), pytest.raises(RetryLater):
            delivery_attempt(delivery_id=sms.pk)
    sms.refresh_from_db()
    assert sms.status == "pending" and sms.attempts == 1 and "unreachable" in sms.last_error

    settings.TWILIO_BASE_URL = twilio
    twilio_sms.answer_status = 503  # down: answers, but takes nothing
    with pytest.raises(RetryLater):
        delivery_attempt(delivery_id=sms.pk)
    sms.refresh_from_db()
    assert sms.status == "pending" and sms.attempts == 2 and "503" in sms.last_error

    twilio_sms.answer_status = 201  # back
    refused = len(twilio_sms.received)
    assert delivery_attempt(delivery_id=sms.pk) == "sent"
    assert delivery_attempt(delivery_id=sms.pk) == "sent"  # a repeated job sends nothing more
    (sent,) = twilio_sms.received[refused:]
    assert sent["To"] == "+962795550001"
    sms.refresh_from_db()
    assert sms.attempts == 3 and sms.provider_id.startswith("SM") and sms.last_error == ""


@pytest.mark.django_db
def test_a_code_the_sms_provider_could_not_take_leaves_nothing_and_can_be_asked_again_at_once(
    settings, twilio_sms
):
    from django.test import Client

    def ask():
        body = {"phone": "+962795550002", "purpose": "sign_in"}
        return Client(REMOTE_ADDR="10.9.9.9").post(
            "/api/v1/auth/phone/codes", body, content_type="application/json"
        )

    twilio = settings.TWILIO_BASE_URL
    with silent_server() as port:
        settings.TWILIO_BASE_URL = f"http://127.0.0.1:{port}"
        with prompt():
            slow = ask()
    assert slow.status_code == 503 and slow.json()["code"] == "sms_unavailable"
    assert not OneTimeCode.objects.filter(phone="+962795550002").exists()  # no code nobody received

    settings.TWILIO_BASE_URL = twilio
    twilio_sms.answer_status = 503
    down = ask()
    assert down.status_code == 503 and down.json()["code"] == "sms_unavailable"
    assert not OneTimeCode.objects.filter(phone="+962795550002").exists()

    twilio_sms.answer_status = 201
    refused = len(twilio_sms.received)
    assert ask().status_code == 202  # at once: the failures did not count against the number
    (sent,) = twilio_sms.received[refused:]
    assert OneTimeCode.objects.filter(phone="+962795550002", consumed_at=None).count() == 1
    code = "".join(c for c in sent["Body"] if c.isdigit())[:6]
    answer = Client(REMOTE_ADDR="10.9.9.9").post(
        "/api/v1/auth/phone/tokens",
        {"phone": "+962795550002", "code": code, "full_name": "Sami Odeh"},
        content_type="application/json",
    )
    assert answer.status_code == 201, answer.content


@pytest.mark.django_db
def test_a_new_code_the_sms_provider_could_not_take_leaves_the_earlier_one_working(settings, twilio_sms):
    from django.test import Client

    from tests.conftest import time_machine

    phone = "+962795550003"

    def ask():
        body = {"phone": phone, "purpose": "sign_in"}
        return Client(REMOTE_ADDR="10.9.9.8").post(
            "/api/v1/auth/phone/codes", body, content_type="application/json"
        )

    start = timezones.now()
    with time_machine(start):
        assert ask().status_code == 202
    earlier = "".join(c for c in twilio_sms.received[-1]["Body"] if c.isdigit())[:6]
    twilio_sms.answer_status = 503
    with time_machine(start + dt.timedelta(seconds=settings.SHIFA_CODE_RESEND_SECONDS + 1)):
        assert ask().status_code == 503  # the new code never left
        answer = Client(REMOTE_ADDR="10.9.9.8").post(
            "/api/v1/auth/phone/tokens",
            {"phone": phone, "code": earlier, "full_name": "Rana Haddad"},
            content_type="application/json",
        )
    assert answer.status_code == 201, answer.content  # the code in the person's hand still works
    assert OneTimeCode.objects.filter(phone=phone).count() == 1


# --- PayTabs slow ------------------------------------------------------------------------------------------------


def _payment_entries(held) -> list:
    return [e for e in payments.entries(held["id"]) if e[0] == "payment"]


@pytest.mark.django_db
def test_paytabs_not_answering_at_checkout_is_a_prompt_503_and_the_hold_is_kept_for_a_retry_that_charges_once(
    cast, api, clinic, settings, monkeypatch
):
    held = payments.hold(api, cast.patient_user, clinic, payments.local(3, 9))
    normal = settings.PAYTABS_BASE_URL
    settings.PAYTABS_TIMEOUT_SECONDS = WAIT
    with silent_server() as port:
        settings.PAYTABS_BASE_URL = f"http://127.0.0.1:{port}"
        monkeypatch.setattr(paytabs, "transport", None)  # over the network, to the silent server
        with prompt():
            answer = payments.checkout(api, cast.patient_user, held["id"])
    assert answer.status_code == 503
    assert payments.status_of(held["id"]) == "held"  # the time is still the patient's
    (failed,) = OnlinePayment.unscoped.all()
    assert failed.status == "failed" and failed.tran_ref == "" and failed.redirect_url == ""
    assert _payment_entries(held) == []

    settings.PAYTABS_BASE_URL = normal
    monkeypatch.setattr(paytabs, "transport", DjangoTransport())
    page = payments.checkout(api, cast.patient_user, held["id"])
    assert page.status_code == 201 and page.json()["status"] == "page"
    tran_ref = payments.tran_ref_of(page.json())
    paytabs_sim.page_choose(tran_ref=tran_ref, choice="pay")
    payments.deliver_all(tran_ref)
    payments.deliver_all(tran_ref)
    assert payments.status_of(held["id"]) == "booked"
    assert [e[2] for e in _payment_entries(held)] == [tran_ref]
    assert SimTransaction.objects.filter(status="A").count() == 1


@pytest.mark.django_db
def test_a_payment_page_whose_answer_was_lost_is_never_charged_and_the_retry_charges_once(
    cast, api, clinic, monkeypatch
):
    held = payments.hold(api, cast.patient_user, clinic, payments.local(3, 10))
    monkeypatch.setattr(paytabs, "transport", AnswerLost())
    assert payments.checkout(api, cast.patient_user, held["id"]).status_code == 503
    (lost,) = SimTransaction.objects.all()  # PayTabs made a page we never heard of: nobody can open it
    assert OnlinePayment.unscoped.get().status == "failed"
    assert payments.status_of(held["id"]) == "held"

    page = payments.checkout(api, cast.patient_user, held["id"]).json()
    tran_ref = payments.tran_ref_of(page)
    assert tran_ref != lost.tran_ref
    paytabs_sim.page_choose(tran_ref=tran_ref, choice="pay")
    payments.deliver_all(tran_ref)
    # The lost page runs out; PayTabs says so, and the reconciliation asks about everything: nothing changes.
    later = timezones.now() + dt.timedelta(hours=1)
    assert paytabs_sim.pages_expire(now=later) == 1
    assert payments.deliver_all(lost.tran_ref) == ["delivered"]
    billing.payments_reconcile(now=later)
    assert payments.status_of(held["id"]) == "booked"
    assert [e[2] for e in _payment_entries(held)] == [tran_ref]
    assert sorted(OnlinePayment.unscoped.values_list("status", flat=True)) == ["authorised", "failed"]


@pytest.mark.django_db
def test_a_refund_whose_answer_was_lost_is_found_by_the_reconciliation_and_given_once(
    cast, api, clinic, monkeypatch
):
    held, body = payments.paid_video_visit(api, cast.patient_user, clinic, payments.local(5, 11))
    assert api(cast.patient_user).post(f"/api/v1/appointments/{held['id']}/cancel", {}).status_code == 200
    payment = OnlinePayment.unscoped.get(external_id=body["id"])
    assert payment.refund_due

    monkeypatch.setattr(paytabs, "transport", AnswerLost())
    with pytest.raises(ServiceUnavailable):  # the refund job: PayTabs gave the money back, we never heard
        billing.refund_lost_payment(payment_pk=payment.pk)
    (refund,) = OnlinePayment.unscoped.filter(refund_of=payment)
    assert refund.status == "pending" and not refund.entry_id
    assert "refund" not in [e[0] for e in payments.entries(held["id"])]
    assert billing.refund_lost_payment(payment_pk=payment.pk) is None  # the job again: not a second refund
    admin = cast.staff_a["clinic_admin"]
    path = f"/api/v1/clinics/{clinic.external_id}/online-payments/{body['id']}/refunds"
    assert api(admin).post(path, {}).json()["code"] == "exceeds_paid"  # nor by hand

    billing.payments_reconcile(now=timezones.now() + dt.timedelta(minutes=10))
    refund.refresh_from_db()
    assert refund.status == "authorised" and refund.entry_id
    refunds = [e for e in payments.entries(held["id"]) if e[0] == "refund"]
    assert refunds == [("refund", Decimal("15.500"), refund.tran_ref)]
    assert SimTransaction.objects.filter(tran_type="refund").count() == 1
    billing.payments_reconcile(now=timezones.now() + dt.timedelta(minutes=20))
    assert LedgerEntry.unscoped.filter(invoice=payment.invoice, kind="refund").count() == 1


# --- Hakeem slow -------------------------------------------------------------------------------------------------


def _records(visit):
    return SyncRecord.unscoped.filter(clinic_id=visit.clinic_id, patient_id=visit.patient_id)


def _stored_for(record) -> list:
    """The resources on Hakeem carrying the record's identifier."""
    token = f"{fhir.ID_SYSTEM}{hakeem.IDENTIFIER_KINDS[record.kind]}|{record.key}"
    return [r for r in on_hakeem.resources() if token in r.identifiers]


def _held_once_each(records) -> None:
    """Hakeem holds exactly one resource per record, at the id the record names; a record first sent as a
    conditional create is still at its first version. (One queued again before its first send goes as a
    conditional update: sent again, it makes a new version of the same resource, with the same content.)"""
    for record in records:
        (stored,) = _stored_for(record)
        assert record.state == SyncState.ACKNOWLEDGED, (record.kind, record.state, record.last_error)
        assert record.remote_id == f"{stored.resource_type}/{stored.fhir_id}"
        if record.version == 1:  # a conditional create, found on the resend: not even a new version
            assert stored.version_id == 1


@pytest.mark.django_db
def test_hakeem_that_never_answers_fails_the_send_in_bounded_time(settings, monkeypatch):
    video = _video_visit(_demo_visit())
    settings.HAKEEM_TIMEOUT_SECONDS = WAIT
    with silent_server() as port:
        settings.HAKEEM_FHIR_URL = f"http://127.0.0.1:{port}/fhir"
        monkeypatch.setattr(hakeem_client, "transport", None)
        with prompt():
            counts = hakeem.send_patient(clinic_id=video.clinic_id, patient_id=video.patient_id)
    assert counts["acknowledged"] == 0 and counts["failed"] == _records(video).count()
    for record in _records(video):
        assert record.state == SyncState.FAILED and record.last_error.startswith(
            "Hakeem did not answer within"
        )
        assert record.next_attempt_at > timezone.now()


@pytest.mark.django_db
def test_records_hakeem_stored_after_we_stopped_waiting_are_sent_again_and_held_once(monkeypatch):
    video = _video_visit(_demo_visit())
    monkeypatch.setattr(hakeem_client, "transport", AnswerLost())
    hakeem.send_patient(clinic_id=video.clinic_id, patient_id=video.patient_id)
    assert set(_records(video).values_list("state", flat=True)) == {SyncState.FAILED}
    stored = on_hakeem.counts()
    assert sum(stored.values()) >= _records(video).count()  # Hakeem has them all the same

    _records(video).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))  # the back-off is over
    hakeem.send_due(limit=1000)
    assert on_hakeem.counts() == stored  # found, not made again
    _held_once_each(_records(video))


@pytest.mark.django_db
def test_a_patient_whose_answer_was_lost_is_still_ours_to_correct(monkeypatch):
    from shifa.access import catalog
    from shifa.access.policies import Actor
    from shifa.integrations.hakeem.models import Kind
    from shifa.records import actions as records

    video = _video_visit(_demo_visit())
    monkeypatch.setattr(hakeem_client, "transport", AnswerLost())
    hakeem.send_patient(clinic_id=video.clinic_id, patient_id=video.patient_id)
    _records(video).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    hakeem.send_due(limit=1000)
    patient = _records(video).get(kind=Kind.PATIENT)
    assert not patient.matched  # Hakeem did not know them: we made them, a moment ago
    me = Actor(user=video.patient.user, roles=frozenset({catalog.PATIENT}))
    records.patient_identity_update(actor=me, changes={"full_name": "Ahmad Mahmoud Ali"})
    assert _records(video).get(kind=Kind.PATIENT).version == patient.version + 1  # the correction is owed


# --- A worker killed mid-job -------------------------------------------------------------------------------------

#: The worker's calls to Hakeem go to the local simulator in the worker's own process (and database); it runs the
#: jobs in the queue, not the periodic ones (the sweep would do what the recovered job does).
HAKEEM_IN_WORKER = """
from django.test.utils import setup_test_environment
setup_test_environment()  # the test client's host is allowed
from shifa.integrations.hakeem import client
from tests.support.inprocess import DjangoTransport
client.transport = DjangoTransport()
jobs.app.periodic_registry.periodic_tasks.clear()  # only the queued jobs run: no periodic job mixes in
"""


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_after_hakeem_stored_the_records_sends_them_again_and_hakeem_holds_each_once(
    tmp_path,
):
    from procrastinate.contrib.django.models import ProcrastinateJob

    video = _video_visit(_demo_visit())
    ours = _records(video)
    assert ours.filter(state=SyncState.PENDING).count() == ours.count() > 5
    crashed = run_worker(tmp_path, faults="hakeem.after_transaction_answered", prepare=HAKEEM_IN_WORKER)
    assert crashed.returncode == KILLED, crashed.stderr[-3000:]
    sending = list(SyncRecord.unscoped.filter(state=SyncState.SENDING))
    assert sending and not [r for r in sending if r.remote_id]  # claimed, never written down
    assert all(len(_stored_for(r)) == 1 for r in sending)  # yet Hakeem holds them
    untouched = SyncRecord.unscoped.exclude(state=SyncState.SENDING).count()
    stored = on_hakeem.counts()
    assert ProcrastinateJob.objects.filter(task_name="hakeem.send_patient", status="doing").count() == 1

    # A worker starts again and runs the dead one's job again. Records left "sending" longer than the product waits
    # for their sender to report (SENDING_STALE_AFTER: 5 minutes, here 1 s) are claimed again and sent as
    # conditional creates. (In production the job runs again after a minute, finds them not yet stale, and the
    # minute sweep, which claims the same way, sends them once the five minutes are over.)
    time.sleep(1.5)
    restarted = run_worker(
        tmp_path,
        stalled_after=1.0,
        prepare=HAKEEM_IN_WORKER
        + "import datetime\nfrom shifa.integrations.hakeem import actions\n"
        + "actions.SENDING_STALE_AFTER = datetime.timedelta(seconds=1)\n",
    )
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert "recovered 1" in restarted.stdout
    _held_once_each(SyncRecord.unscoped.all())  # every record acknowledged, each held once
    assert sum(on_hakeem.counts().values()) == sum(stored.values()) + untouched  # nothing made twice

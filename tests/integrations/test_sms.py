"""SMS: the offline outbox, and the Twilio adapter against a local server speaking Twilio's protocol."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from shifa.integrations.sms import SmsError, send_sms
from shifa.integrations.sms.base import mask
from shifa.integrations.sms.twilio import TwilioBackend

SID, TOKEN = "AC0123456789abcdef0123456789abcdef", "secret-token"


class FakeTwilio(BaseHTTPRequestHandler):
    """Twilio's Messages API as documented: Basic auth, form body, 201 with a sid, JSON errors."""

    received: list[dict] = []
    answer_status = 201

    def do_POST(self):
        expected = f"/2010-04-01/Accounts/{SID}/Messages.json"
        auth = base64.b64decode(self.headers.get("Authorization", "Basic ").split(" ", 1)[1] or b"").decode()
        form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
        type(self).received.append(form)
        if self.path != expected or auth != f"{SID}:{TOKEN}":
            return self._json(401, {"code": 20003, "message": "Authenticate", "status": 401})
        if not form.get("To", "").startswith("+"):
            return self._json(400, {"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400})
        if type(self).answer_status != 201:
            return self._json(type(self).answer_status, {"code": 20429, "message": "Too Many Requests"})
        return self._json(201, {"sid": "SM" + "a" * 32, "status": "queued", "to": form["To"]})

    def _json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        return None


@pytest.fixture
def twilio():
    FakeTwilio.received = []
    FakeTwilio.answer_status = 201
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTwilio)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def backend(url, **kwargs):
    return TwilioBackend(account_sid=SID, auth_token=TOKEN, sender="+15005550006", base_url=url, **kwargs)


def test_outbox_writes_the_message_and_logs_no_text(tmp_path, caplog, settings):
    settings.SMS_OUTBOX_DIR = tmp_path
    with caplog.at_level(logging.INFO):
        result = send_sms("+962791234567", "Your Shifa code is 482913")
    (path,) = tmp_path.iterdir()
    stored = json.loads(path.read_text())
    assert stored["to"] == "+962791234567" and stored["body"] == "Your Shifa code is 482913"
    assert stored["id"] == result.provider_id
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert "482913" not in caplog.text and "+962791234567" not in caplog.text
    assert mask("+962791234567") in caplog.text


def test_twilio_sends_with_basic_auth_and_returns_the_sid(twilio):
    from shifa.integrations.sms.base import SmsMessage

    sent = backend(twilio).send(SmsMessage(to="+962791234567", body="Your Shifa code is 482913"))
    assert sent.provider_id.startswith("SM")
    assert FakeTwilio.received == [
        {"To": "+962791234567", "From": "+15005550006", "Body": "Your Shifa code is 482913"}
    ]


def test_twilio_refusals_and_outages_say_whether_to_retry(twilio, settings):
    from shifa.integrations.sms.base import SmsMessage

    message = SmsMessage(to="+962791234567", body="hello")
    FakeTwilio.answer_status = 429
    with pytest.raises(SmsError) as busy:
        backend(twilio).send(message)
    assert busy.value.retryable
    wrong_key = TwilioBackend(account_sid=SID, auth_token="wrong", sender="+15005550006", base_url=twilio)
    with pytest.raises(SmsError) as refused:
        wrong_key.send(message)
    assert not refused.value.retryable and "401" in str(refused.value)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with pytest.raises(SmsError) as down:
        backend(f"http://127.0.0.1:{closed_port}", timeout=2).send(message)
    assert down.value.retryable


def test_bad_numbers_and_missing_settings_are_refused_before_sending(settings):
    with pytest.raises(SmsError) as bad:
        send_sms("0791234567", "hi")
    assert not bad.value.retryable
    settings.SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID = ""
    with pytest.raises(SmsError):
        send_sms("+962791234567", "hi")
    settings.SMS_BACKEND = "carrier-pigeon"
    with pytest.raises(SmsError):
        send_sms("+962791234567", "hi")

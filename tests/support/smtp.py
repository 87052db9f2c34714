"""A real SMTP server on loopback (aiosmtpd) so that mail is tested through Django's SMTP backend, end to end.

Tests import the fixture: ``from tests.support.smtp import smtp_server  # noqa: F401``. It points Django's mail
settings at the server for the test and yields a ``MailServer`` whose ``messages`` fill up as mail arrives
(the SMTP conversation finishes before ``send()`` returns, so no waiting is needed).
"""

from __future__ import annotations

import email
import email.policy
import re
import socket
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller

URL = re.compile(r"https?://[^\s\"'<>]+")


@dataclass
class Received:
    """One message as the server got it."""

    mail_from: str
    recipients: list[str]
    subject: str
    text: str
    html: str
    raw: bytes = field(repr=False)

    @property
    def to(self) -> list[str]:
        return self.recipients


def parse(mail_from: str, recipients: list[str], raw: bytes) -> Received:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    text = html = ""
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        if part.get_content_type() == "text/plain" and not text:
            text = part.get_content()
        elif part.get_content_type() == "text/html" and not html:
            html = part.get_content()
    return Received(
        mail_from=mail_from,
        recipients=list(recipients),
        subject=str(message.get("Subject", "")).strip(),  # folded headers keep a leading space
        text=text,
        html=html,
        raw=raw,
    )


class Handler:
    def __init__(self, store: list[Received]) -> None:
        self.store = store

    async def handle_DATA(self, server, session, envelope):
        self.store.append(parse(envelope.mail_from, envelope.rcpt_tos, envelope.original_content))
        return "250 Message accepted for delivery"


def free_port() -> int:
    """A port nothing listens on (bound and released at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MailServer:
    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.port = free_port()
        self.controller = Controller(
            Handler(self.messages), hostname="127.0.0.1", port=self.port, server_hostname="localhost"
        )

    def start(self) -> MailServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @staticmethod
    def link_in(message: Received) -> str:
        """The first http(s) URL in the message's text part."""
        found = URL.search(message.text)
        assert found is not None, f"no link in: {message.text!r}"
        return found.group(0)

    def to(self, address: str) -> list[Received]:
        """Messages sent to ``address``."""
        return [m for m in self.messages if address.lower() in (r.lower() for r in m.recipients)]


@pytest.fixture
def smtp_server(settings, monkeypatch):
    """Send this test's mail through a real SMTP server on 127.0.0.1."""
    from django.core.mail.utils import DNS_NAME

    # Django names itself (EHLO, Message-ID) with the machine's FQDN, a DNS lookup that can be slow.
    monkeypatch.setattr(DNS_NAME, "_fqdn", "localhost", raising=False)
    server = MailServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = server.port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    try:
        yield server
    finally:
        server.stop()

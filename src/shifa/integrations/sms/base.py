from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


class SmsError(Exception):
    """The message was not sent. ``retryable`` says whether trying again later may succeed."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class SmsMessage:
    to: str  # E.164
    body: str
    #: Sending the same key twice sends once, where the provider supports it (``already_accepted``).
    idempotency_key: str | None = None

    def __post_init__(self) -> None:
        if not _E164.match(self.to):
            raise SmsError(f"not an E.164 number: {mask(self.to)}", retryable=False)
        if not self.body or len(self.body) > 1600:
            raise SmsError("an SMS body has 1 to 1600 characters", retryable=False)


@dataclass(frozen=True)
class SmsResult:
    provider_id: str


class SmsBackend(Protocol):
    def send(self, message: SmsMessage) -> SmsResult: ...

    def already_accepted(self, idempotency_key: str) -> str | None:
        """The provider's id of a message it already accepted under this key; None if it did not, or if the
        provider cannot tell."""
        ...


BACKENDS = {
    "outbox": "shifa.integrations.sms.outbox.OutboxBackend",
    "twilio": "shifa.integrations.sms.twilio.TwilioBackend",
}


def backend() -> SmsBackend:
    name = settings.SMS_BACKEND
    if name not in BACKENDS:
        raise SmsError(f"unknown SMS_BACKEND {name!r}; choose one of {sorted(BACKENDS)}", retryable=False)
    return import_string(BACKENDS[name])()


def send_sms(to: str, body: str, *, idempotency_key: str | None = None) -> SmsResult:
    return backend().send(SmsMessage(to=to, body=body, idempotency_key=idempotency_key))


def mask(number: str) -> str:
    """``+962791234567`` → ``+9627*****567``: enough to tell numbers apart in logs, not to dial them."""
    if len(number) <= 7:
        return "*" * len(number)
    return number[:5] + "*" * (len(number) - 8) + number[-3:]

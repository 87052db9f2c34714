"""Twilio's Messages API (https://www.twilio.com/docs/messaging/api/message-resource)."""

from __future__ import annotations

import logging

import httpx
from django.conf import settings

from .base import SmsError, SmsMessage, SmsResult, mask

logger = logging.getLogger(__name__)


class TwilioBackend:
    def __init__(
        self,
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        sender: str | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.account_sid = account_sid or settings.TWILIO_ACCOUNT_SID
        self.auth_token = auth_token or settings.TWILIO_AUTH_TOKEN
        self.sender = sender or settings.TWILIO_FROM
        self.base_url = (base_url or settings.TWILIO_BASE_URL).rstrip("/")
        self.timeout = timeout if timeout is not None else settings.SMS_TIMEOUT_SECONDS
        if not (self.account_sid and self.auth_token and self.sender):
            raise SmsError(
                "Twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM", retryable=False
            )

    def already_accepted(self, idempotency_key: str) -> str | None:
        """Twilio's Messages API takes no idempotency key, so it cannot tell: a retry after an unknown outcome
        may send again (the caller limits that window to a crash between Twilio's answer and our commit)."""
        return None

    def send(self, message: SmsMessage) -> SmsResult:
        url = f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        sender_field = "MessagingServiceSid" if self.sender.startswith("MG") else "From"
        try:
            response = httpx.post(
                url,
                data={"To": message.to, sender_field: self.sender, "Body": message.body},
                auth=(self.account_sid, self.auth_token),
                timeout=self.timeout,
            )
        except httpx.HTTPError as exc:
            raise SmsError(f"Twilio unreachable: {type(exc).__name__}", retryable=True) from exc
        if response.status_code in (200, 201):
            sid = response.json().get("sid", "")
            logger.info("SMS to %s accepted by Twilio as %s", mask(message.to), sid)
            return SmsResult(provider_id=sid)
        try:
            detail = response.json()
        except ValueError:
            detail = {}
        retryable = response.status_code == 429 or response.status_code >= 500
        raise SmsError(
            f"Twilio refused the SMS to {mask(message.to)}: {response.status_code} "
            f"{detail.get('code', '')} {detail.get('message', '')}".strip(),
            retryable=retryable,
        )

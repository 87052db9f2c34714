"""Sending SMS through one small interface (ARCHITECTURE.md: every external system sits behind one).

``send_sms(to, body)`` uses the backend named by ``SMS_BACKEND``:

* ``outbox`` (default): writes each message to ``<data folder>/outbox/sms/`` so that ``make run`` works offline;
  the log line names the file and a masked number, never the text (one-time codes are never logged in clear).
* ``twilio``: Twilio's Messages API over HTTPS (``TWILIO_ACCOUNT_SID``, ``TWILIO_AUTH_TOKEN``, ``TWILIO_FROM``).

Both raise ``SmsError`` (with ``retryable``) when a message cannot be sent.
"""

from __future__ import annotations

from .base import SmsError, SmsMessage, SmsResult, backend, send_sms

__all__ = ["SmsError", "SmsMessage", "SmsResult", "backend", "send_sms"]

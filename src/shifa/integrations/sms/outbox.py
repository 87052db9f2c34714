"""The offline SMS backend: one JSON file per message in ``<data folder>/outbox/sms/``."""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path

from django.conf import settings

from shifa.core import timezones

from .base import SmsError, SmsMessage, SmsResult, mask

logger = logging.getLogger(__name__)


class OutboxBackend:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder or settings.SMS_OUTBOX_DIR)

    def _keyed_path(self, key: str) -> Path:
        return self.folder / f"key-{''.join(c for c in key if c.isalnum() or c in '-_')}.json"

    def already_accepted(self, idempotency_key: str) -> str | None:
        return idempotency_key if self._keyed_path(idempotency_key).exists() else None

    def send(self, message: SmsMessage) -> SmsResult:
        message_id = message.idempotency_key or uuid.uuid4().hex
        sent_at = timezones.now()
        if message.idempotency_key:
            path = self._keyed_path(message.idempotency_key)
            if path.exists():  # accepted before: the same key never sends twice
                return SmsResult(provider_id=message_id)
        else:
            path = self.folder / f"{sent_at:%Y%m%dT%H%M%S}-{message_id}.json"
        record = {
            "id": message_id,
            "to": message.to,
            "body": message.body,
            "sent_at": timezones.isoformat_z(sent_at),
        }
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # Written whole under a temporary name, then published under its own name in one step (a link
            # fails if the name exists): a reader never sees half a message, and a key is accepted once.
            temporary = self.folder / f".{uuid.uuid4().hex}.tmp"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle, ensure_ascii=False)
            try:
                os.link(temporary, path)
            except FileExistsError:
                return SmsResult(provider_id=message_id)
            finally:
                temporary.unlink(missing_ok=True)
        except OSError as exc:
            raise SmsError(f"cannot write the SMS outbox: {exc.strerror}", retryable=True) from exc
        logger.info("SMS to %s written to %s", mask(message.to), path)
        return SmsResult(provider_id=message_id)

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

    def send(self, message: SmsMessage) -> SmsResult:
        message_id = uuid.uuid4().hex
        sent_at = timezones.now()
        path = self.folder / f"{sent_at:%Y%m%dT%H%M%S}-{message_id}.json"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                json.dump(
                    {
                        "id": message_id,
                        "to": message.to,
                        "body": message.body,
                        "sent_at": timezones.isoformat_z(sent_at),
                    },
                    handle,
                    ensure_ascii=False,
                )
        except OSError as exc:
            raise SmsError(f"cannot write the SMS outbox: {exc.strerror}", retryable=True) from exc
        logger.info("SMS to %s written to %s", mask(message.to), path)
        return SmsResult(provider_id=message_id)

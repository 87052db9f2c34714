"""``shifa manage ingest_mqtt [--url mqtt://…]``: file devices' MQTT messages until stopped (CP-5)."""

from __future__ import annotations

import asyncio
import contextlib

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Subscribe to devices/+/readings and devices/+/doses on the MQTT broker and file what devices send."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default=None, help="the broker (default: MQTT_URL)")

    def handle(self, *args, **options) -> None:
        from shifa.adherence import mqtt

        url = options["url"] or settings.MQTT_URL
        if not url:
            raise CommandError("Set MQTT_URL or give --url mqtt://host:1883")
        try:
            mqtt.broker_of(url)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Filing device messages from {url} (Ctrl-C stops)")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(mqtt.serve(url))

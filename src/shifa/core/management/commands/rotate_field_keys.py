"""``shifa manage rotate_field_keys``: start a new data key and rewrap the older ones under the current master
key (see ``shifa.core.keys``)."""

from django.core.management.base import BaseCommand

from shifa.core import keys
from shifa.core.actions import field_keys_rotate


class Command(BaseCommand):
    help = "Start a new field-encryption data key and rewrap older data keys under the current master key."

    def handle(self, *args, **options):
        outcome = field_keys_rotate()
        self.stdout.write(
            f"New data key {outcome['data_key']}; {outcome['rewrapped']} older data keys rewrapped under master "
            f"key {keys.provider().current()!r}."
        )

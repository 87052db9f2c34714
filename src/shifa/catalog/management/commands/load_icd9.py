from django.core.management.base import BaseCommand

from shifa.catalog.actions import icd9_load


class Command(BaseCommand):
    help = "Load the ICD-9-CM diagnosis codes (CMS v32) shipped with Shifa; safe to run again."

    def handle(self, *args, **options):
        result = icd9_load()
        self.stdout.write(
            f"ICD-9-CM: {result['total']} codes ({result['created']} added, {result['updated']} updated)"
        )

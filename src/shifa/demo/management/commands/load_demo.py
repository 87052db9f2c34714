from django.core.management.base import BaseCommand

from shifa.demo.actions import load_demo


class Command(BaseCommand):
    help = "Load the demo institution, clinics, staff and patients (idempotent; demo only)."

    def handle(self, *args, **options):
        counts = load_demo()
        self.stdout.write(self.style.SUCCESS(f"demo data ready: {counts}"))

"""``shifa manage backup <folder>``: write a backup of the database and the stored files into a new folder inside
``<folder>`` (``shifa.core.backup``; docs/decisions/0037-backups.md)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from shifa.core import backup


class Command(BaseCommand):
    help = (
        "Back up the database (pg_dump) and every stored file into a new folder shifa-backup-<time> inside the "
        "given folder. The field-encryption keys are not included."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path, help="folder that receives the new backup folder")

    def handle(self, *args, folder: Path, **options):
        try:
            outcome = backup.backup_create(folder, say=self.stdout.write)
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from None
        files = outcome.manifest["files"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup written to {outcome.path}: the database and {files['count']} files ({files['bytes']} bytes)."
            )
        )
        self.stderr.write(self.style.WARNING(backup.KEYS_NOT_INCLUDED))

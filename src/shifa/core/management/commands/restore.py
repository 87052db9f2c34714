"""``shifa manage restore <backup folder>``: restore a backup made by ``shifa manage backup`` into an empty database
and the storage (``shifa.core.backup``; docs/decisions/0037-backups.md)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from shifa.core import backup as backups


class Command(BaseCommand):
    help = (
        "Restore a backup folder (shifa-backup-<time>) into an empty database and the stored files. The field keys "
        "of the backup must be configured first."
    )

    def add_arguments(self, parser):
        parser.add_argument("backup", type=Path, help="the backup folder, shifa-backup-<time>")
        parser.add_argument(
            "--skip-key-check",
            action="store_true",
            help="restore even though the configured field keys are not the backup's (its encrypted fields "
            "will not be readable)",
        )

    def handle(self, *args, backup: Path, skip_key_check: bool, **options):
        try:
            outcome = backups.backup_restore(backup, check_keys=not skip_key_check, say=self.stdout.write)
        except backups.BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {outcome.tables} tables and {outcome.restored_files} files "
                f"({outcome.present_files} were there already) from {outcome.path}."
            )
        )
        self.stdout.write(
            "Next: start Shifa (shifa run migrates when this version is newer than the backup's)."
        )

"""The job of a history import from Hakeem (HK-3). Procrastinate's Django autodiscovery imports the ``tasks``
module of each installed app (``shifa.integrations.hakeem.tasks``), not this sub-package's: ``actions`` imports
it, so that it is registered wherever an import can be started."""

from __future__ import annotations

from shifa.core.jobs import task


@task("hakeem.history_import")
def history_import(import_id: int) -> None:
    """A clinic started an import of a patient's history: find them on Hakeem and file what it holds."""
    from .actions import history_import_run

    history_import_run(import_id=import_id)

"""Background jobs of the Hakeem sync: sending a patient's records, the sweep that retries what is due, a clinic's
retry, and asking Hakeem how third-party orders are going."""

from __future__ import annotations

from shifa.core.jobs import periodic_task, task

from .history import tasks as history_tasks  # noqa: F401  (the import job; procrastinate finds app-level modules)


@task("hakeem.send_patient")
def send_patient(clinic_id: int, patient_id: int) -> None:
    """Records were just committed: send what the clinic owes Hakeem for this patient."""
    from .actions import send_patient as send

    send(clinic_id=clinic_id, patient_id=patient_id)


@task("hakeem.send_clinic")
def send_clinic(clinic_id: int) -> None:
    """A platform admin retried a clinic's failed records."""
    from .actions import clinic_send

    clinic_send(clinic_id=clinic_id)


@periodic_task("hakeem.sweep", cron="* * * * *")
def sweep(timestamp: int) -> None:
    """Every minute: send what is due (failed records whose wait is over, records stuck half sent)."""
    from .actions import send_due

    send_due()


@periodic_task("hakeem.poll_tasks", cron="*/5 * * * *")
def poll_tasks(timestamp: int) -> None:
    """Every five minutes: how are the third-party orders going at their Hakeem facilities?"""
    from .actions import tasks_poll

    tasks_poll()

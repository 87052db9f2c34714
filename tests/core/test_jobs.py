"""Jobs are deferred inside the caller's transaction and their writes are audited with the job's name."""

from __future__ import annotations

import asyncio

import pytest
from django.db import transaction
from procrastinate.contrib.django.models import ProcrastinateJob

from shifa.audit.models import AuditEvent
from shifa.core import jobs
from tests.factories import ClinicFactory
from tests.testapp.models import ClinicalNote
from tests.testapp.tasks import append_to_note

pytestmark = pytest.mark.django_db(transaction=True)


def run_worker_until_idle() -> None:
    async def run():
        worker_app = jobs._worker_app()
        async with worker_app.open_async():
            await worker_app.run_worker_async(wait=False, install_signal_handlers=False)

    asyncio.run(run())


def test_a_rolled_back_transaction_defers_no_job():
    note = ClinicalNote.unscoped.create(clinic=ClinicFactory(), text="x")
    with pytest.raises(RuntimeError), transaction.atomic():
        append_to_note.defer(note_id=note.pk, text="lost")
        raise RuntimeError("rollback")
    assert not ProcrastinateJob.objects.filter(task_name="testapp.append_to_note").exists()


def test_job_runs_and_its_writes_are_audited_with_its_name():
    note = ClinicalNote.unscoped.create(clinic=ClinicFactory(), text="Plan:")
    with transaction.atomic():
        append_to_note.defer(note_id=note.pk, text="review in 2 weeks")
    run_worker_until_idle()
    note.refresh_from_db()
    assert note.text == "Plan: review in 2 weeks"
    event = AuditEvent.objects.get(
        table_name="testapp_clinicalnote", entity_id=str(note.pk), operation="UPDATE"
    )
    assert event.source == "job:testapp.append_to_note"
    assert event.actor_id is None
    assert event.after["text"] == "Plan: review in 2 weeks"
    assert ProcrastinateJob.objects.get(task_name="testapp.append_to_note").status == "succeeded"


def test_async_jobs_are_refused_at_declaration():
    with pytest.raises(TypeError):

        @jobs.task("testapp.async_job")
        async def not_allowed():
            return None

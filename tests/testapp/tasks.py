"""A test-only job: proves that jobs run, that they are deferred with their transaction, and that their writes are
audited under the job's name."""

from shifa.core.jobs import task

from .models import ClinicalNote


@task("testapp.append_to_note")
def append_to_note(note_id: int, text: str) -> None:
    note = ClinicalNote.unscoped.get(pk=note_id)
    note.text = f"{note.text} {text}"
    note.save(update_fields=["text", "updated_at"])

"""Long work shown while it runs: a document being prepared, an import of a patient's history from Hakeem, a visit's
records on their way to Hakeem. Each page shows the job's state (waiting, in progress with its step or count, done
with a link to the result, failed with the reason and a retry) in a fragment that polls itself with htmx every two
seconds, answers 204 while nothing moved, and stops polling once the job is over; without JavaScript a refresh of
the page shows the same state."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from procrastinate.contrib.django.models import ProcrastinateJob

from shifa.core import timezones
from shifa.documents.models import Document, DocumentStatus
from shifa.integrations.hakeem.history import actions as import_actions
from shifa.integrations.hakeem.models import HistoryImport, ImportState, ImportStep, SyncRecord, SyncState
from shifa.records.models import Visit
from tests.conftest import sign_in_page
from tests.routes_hakeem_history import failed_import, give_national_id
from tests.support.records import in_care

pytestmark = pytest.mark.django_db

POLL = 'hx-trigger="every 2s"'
HTMX = {"HTTP_HX_REQUEST": "true"}


def _browser(user, language: str = "en") -> Client:
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE=language), user)


def _polls(html: str) -> bool:
    return "hx-trigger=" in html


# --- documents ----------------------------------------------------------------------------------------------------


def _document(clinic, author, *, status=DocumentStatus.PENDING, kind="letter", subject=None, error=""):
    document = Document(
        clinic=clinic,
        kind=kind,
        subject=subject,
        context={"recipient": "Dr. Rana Haddad", "body": "Please see."} if kind == "letter" else {},
        title="Referral letter",
        language="en",
        created_by=author,
        status=status,
        error=error,
    )
    if status == DocumentStatus.READY:
        document.file.save("x.pdf", ContentFile(b"%PDF-1.4 test"), save=False)
        document.ready_at = timezones.now()
    Document.unscoped.bulk_create([document])
    return document


def _doc_url(clinic, document, suffix="progress") -> str:
    return f"/clinic/{clinic.external_id}/documents/{document.external_id}/{suffix}"


def test_a_waiting_document_says_so_with_a_busy_bar_and_polls(cast):
    document = _document(cast.clinic_a, cast.staff_a["doctor"])
    html = _browser(cast.staff_a["secretary"]).get(_doc_url(cast.clinic_a, document), **HTMX).content.decode()
    assert 'data-status="pending"' in html and POLL in html
    assert f'hx-get="{_doc_url(cast.clinic_a, document)}?seen=pending"' in html
    assert "<progress" in html and "Waiting its turn to be prepared" in html
    assert "/file" not in html and "<html" not in html


def test_a_document_being_prepared_says_so_and_polls(cast):
    document = _document(cast.clinic_a, cast.staff_a["doctor"], status=DocumentStatus.RENDERING)
    html = _browser(cast.staff_a["secretary"]).get(_doc_url(cast.clinic_a, document), **HTMX).content.decode()
    assert 'data-status="rendering"' in html and POLL in html and "Being prepared" in html


def test_the_poll_answers_204_while_the_state_has_not_moved(cast):
    document = _document(cast.clinic_a, cast.staff_a["doctor"])
    browser = _browser(cast.staff_a["secretary"])
    same = browser.get(_doc_url(cast.clinic_a, document) + "?seen=pending", **HTMX)
    assert same.status_code == 204 and same.content == b""
    Document.unscoped.filter(pk=document.pk).update(status=DocumentStatus.RENDERING)
    moved = browser.get(_doc_url(cast.clinic_a, document) + "?seen=pending", **HTMX)
    assert moved.status_code == 200 and 'data-status="rendering"' in moved.content.decode()
    # Opened without htmx (a link followed by hand), the fragment is always given.
    assert browser.get(_doc_url(cast.clinic_a, document) + "?seen=rendering").status_code == 200


def test_a_ready_document_links_to_its_file_and_stops_polling(cast):
    document = _document(cast.clinic_a, cast.staff_a["doctor"], status=DocumentStatus.READY)
    html = _browser(cast.staff_a["secretary"]).get(_doc_url(cast.clinic_a, document), **HTMX).content.decode()
    assert 'data-status="ready"' in html and not _polls(html)
    assert f'href="{_doc_url(cast.clinic_a, document, "file")}"' in html and "<progress" not in html


def test_a_failed_document_gives_the_reason_and_a_retry_and_stops_polling(cast):
    document = _document(
        cast.clinic_a, cast.staff_a["doctor"], status=DocumentStatus.FAILED, error="ValueError"
    )
    html = _browser(cast.staff_a["secretary"]).get(_doc_url(cast.clinic_a, document), **HTMX).content.decode()
    assert 'data-status="failed"' in html and not _polls(html)
    assert "It could not be prepared (ValueError)." in html
    assert f'action="{_doc_url(cast.clinic_a, document, "retry")}"' in html and "data-retry" in html
    # A nurse sees the documents but does not prepare them: the reason, no button.
    nurse = _browser(cast.staff_a["nurse"]).get(_doc_url(cast.clinic_a, document), **HTMX).content.decode()
    assert "It could not be prepared" in nurse and "data-retry" not in nurse


def test_retrying_a_failed_document_queues_it_again_and_goes_back(cast):
    document = _document(
        cast.clinic_a, cast.staff_a["doctor"], status=DocumentStatus.FAILED, error="ValueError"
    )
    browser = _browser(cast.staff_a["secretary"])
    back = f"/clinic/{cast.clinic_a.external_id}/documents"
    answer = browser.post(_doc_url(cast.clinic_a, document, "retry"), {"next": back})
    assert answer.status_code == 302 and answer["Location"] == back
    document.refresh_from_db()
    assert document.status == DocumentStatus.PENDING and document.error == ""
    job = ProcrastinateJob.objects.get(task_name="documents.render")
    assert job.args == {"document_id": document.pk} and job.status == "todo"
    page = browser.get(back).content.decode()
    assert "being prepared again" in page and 'data-status="pending"' in page and POLL in page


def test_retrying_from_htmx_answers_the_fragment_polling_again(cast):
    document = _document(
        cast.clinic_a, cast.staff_a["doctor"], status=DocumentStatus.FAILED, error="ValueError"
    )
    answer = _browser(cast.staff_a["doctor"]).post(_doc_url(cast.clinic_a, document, "retry"), **HTMX)
    html = answer.content.decode()
    assert answer.status_code == 200 and 'data-status="pending"' in html and POLL in html


def test_a_document_that_did_not_fail_is_not_tried_again(cast):
    document = _document(cast.clinic_a, cast.staff_a["doctor"], status=DocumentStatus.READY)
    browser = _browser(cast.staff_a["secretary"])
    answer = browser.post(_doc_url(cast.clinic_a, document, "retry"))
    assert answer.status_code == 302
    followed = browser.get(answer["Location"]).content.decode()
    assert "Only a document that could not be prepared can be tried again." in followed
    shown = browser.post(_doc_url(cast.clinic_a, document, "retry"), **HTMX)  # htmx: how it is now
    assert shown.status_code == 200 and 'data-status="ready"' in shown.content.decode()
    assert not ProcrastinateJob.objects.filter(task_name="documents.render").exists()


def test_who_may_not_prepare_documents_may_not_retry_one(cast):
    document = _document(
        cast.clinic_a, cast.staff_a["doctor"], status=DocumentStatus.FAILED, error="ValueError"
    )
    assert _browser(cast.staff_a["nurse"]).post(_doc_url(cast.clinic_a, document, "retry")).status_code == 403
    document.refresh_from_db()
    assert document.status == DocumentStatus.FAILED


def test_another_clinics_document_is_404(cast):
    theirs = _document(cast.clinic_b, cast.doctor_b, status=DocumentStatus.FAILED, error="ValueError")
    browser = _browser(cast.staff_a["doctor"])
    # Clinic A in the path, clinic B's document: not found, and nothing queued.
    assert browser.get(_doc_url(cast.clinic_a, theirs), **HTMX).status_code == 404
    assert browser.post(_doc_url(cast.clinic_a, theirs, "retry")).status_code == 404
    # Clinic B in the path, for a member of clinic A only.
    assert browser.get(_doc_url(cast.clinic_b, theirs), **HTMX).status_code == 404
    assert browser.post(_doc_url(cast.clinic_b, theirs, "retry")).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == DocumentStatus.FAILED


def test_a_clinical_document_is_404_to_who_may_not_read_charts(cast):
    visit = Visit.unscoped.create(
        clinic=cast.clinic_a,
        patient=cast.patient,
        doctor=cast.staff_a["doctor"],
        origin="walk_in",
        started_at=timezones.now(),
        created_by=cast.staff_a["doctor"],
    )
    prescription = _document(
        cast.clinic_a,
        cast.staff_a["doctor"],
        kind="prescription",
        subject=visit.external_id,
        status=DocumentStatus.FAILED,
        error="ValueError",
    )
    secretary = _browser(cast.staff_a["secretary"])
    assert secretary.get(_doc_url(cast.clinic_a, prescription), **HTMX).status_code == 404
    assert secretary.post(_doc_url(cast.clinic_a, prescription, "retry")).status_code == 404
    doctor = (
        _browser(cast.staff_a["doctor"]).get(_doc_url(cast.clinic_a, prescription), **HTMX).content.decode()
    )
    assert "data-retry" in doctor


def test_the_documents_page_shows_each_documents_state_in_a_live_region(cast):
    waiting = _document(cast.clinic_a, cast.staff_a["doctor"])
    failed = _document(cast.clinic_a, cast.staff_a["doctor"], status=DocumentStatus.FAILED, error="OSError")
    html = (
        _browser(cast.staff_a["secretary"])
        .get(f"/clinic/{cast.clinic_a.external_id}/documents")
        .content.decode()
    )
    assert html.count('aria-live="polite"') >= 2
    assert f'hx-get="{_doc_url(cast.clinic_a, waiting)}?seen=pending"' in html
    assert f'action="{_doc_url(cast.clinic_a, failed, "retry")}"' in html
    assert html.count(POLL) == 1  # the failed one does not poll
    assert re.search(r'<input type="hidden" name="next" value="/clinic/[^"]+/documents#doc-', html)


@pytest.mark.django_db(transaction=True)
def test_a_requested_document_goes_from_waiting_to_ready(cast, api):
    from tests.core.test_jobs import run_worker_until_idle

    asked = api(cast.staff_a["doctor"]).post(
        f"/api/v1/clinics/{cast.clinic_a.external_id}/documents",
        {
            "kind": "letter",
            "title": "Referral letter",
            "language": "en",
            "context": {"recipient": "Dr. Rana Haddad", "body": "Please see."},
        },
    )
    document = Document.unscoped.get(external_id=asked.json()["id"])
    browser = _browser(cast.staff_a["secretary"])
    assert 'data-status="pending"' in browser.get(_doc_url(cast.clinic_a, document), **HTMX).content.decode()
    run_worker_until_idle()
    answer = browser.get(_doc_url(cast.clinic_a, document) + "?seen=pending", **HTMX)
    html = answer.content.decode()
    assert answer.status_code == 200 and 'data-status="ready"' in html and not _polls(html)
    assert browser.get(_doc_url(cast.clinic_a, document, "file")).status_code == 200


# --- history imports from Hakeem ------------------------------------------------------------------------------------


def _patient_on_file(cast):
    give_national_id(cast.patient)
    in_care(cast)
    return cast.patient


def _running(cast, **progress) -> HistoryImport:
    return HistoryImport.unscoped.create(
        clinic=cast.clinic_a,
        patient=_patient_on_file(cast),
        requested_by=cast.staff_a["doctor"],
        consent="in_person",
        consented_at=timezones.now(),
        state=ImportState.RUNNING,
        **progress,
    )


def _import_url(clinic, patient, row, suffix="") -> str:
    return f"/clinic/{clinic.external_id}/patients/{patient.external_id}/hakeem/imports/{row.external_id}{suffix}"


def test_an_import_waiting_for_the_worker_says_so_and_polls(cast):
    row = _running(cast)
    html = _browser(cast.staff_a["nurse"]).get(_import_url(cast.clinic_a, cast.patient, row), **HTMX)
    html = html.content.decode()
    assert 'data-hakeem-import-row="running"' in html and 'data-step="waiting"' in html and POLL in html
    assert "Waiting to start" in html and "<progress" in html and "max=" not in html


def test_an_import_filing_shows_the_count_on_a_progress_bar(cast, api):
    row = _running(cast, step=ImportStep.FILING, done=3, total=7)
    browser = _browser(cast.staff_a["doctor"])
    url = _import_url(cast.clinic_a, cast.patient, row)
    html = browser.get(url, **HTMX).content.decode()
    assert '<progress class="job__bar" max="7" value="3"' in html
    assert "Filing into the record: 3 of 7" in html and POLL in html
    assert "?seen=running-filing-3-7" in html
    assert browser.get(url + "?seen=running-filing-3-7", **HTMX).status_code == 204
    listed = api(cast.staff_a["doctor"]).get(
        f"/api/v1/clinics/{cast.clinic_a.external_id}/patients/{cast.patient.external_id}/hakeem-imports"
    )
    assert listed.json()["items"][0]["progress"] == {"step": "filing", "done": 3, "total": 7}
    HistoryImport.unscoped.filter(pk=row.pk).update(done=4)
    assert (
        "Filing into the record: 4 of 7"
        in browser.get(url + "?seen=running-filing-3-7", **HTMX).content.decode()
    )


def test_a_finished_import_shows_its_outcome_and_stops_polling(cast):
    row = _running(cast)
    HistoryImport.unscoped.filter(pk=row.pk).update(
        state=ImportState.DONE, finished_at=timezones.now(), summary={"found": False}
    )
    html = _browser(cast.staff_a["doctor"]).get(_import_url(cast.clinic_a, cast.patient, row), **HTMX)
    html = html.content.decode()
    assert 'data-hakeem-import-row="done"' in html and not _polls(html) and "<progress" not in html
    assert "Not found on Hakeem" in html


def test_a_failed_import_gives_the_reason_and_a_retry_on_the_same_consent(cast):
    row = failed_import(cast.clinic_a, _patient_on_file(cast), by=cast.staff_a["doctor"])
    browser = _browser(cast.staff_a["doctor"])
    html = browser.get(_import_url(cast.clinic_a, cast.patient, row), **HTMX).content.decode()
    assert 'data-hakeem-import-row="failed"' in html and not _polls(html)
    assert "Hakeem could not be reached" in html and "503" in html
    assert f'action="{_import_url(cast.clinic_a, cast.patient, row, "/retry")}"' in html

    answer = browser.post(_import_url(cast.clinic_a, cast.patient, row, "/retry"))
    assert answer.status_code == 302
    assert (
        answer["Location"]
        == f"/clinic/{cast.clinic_a.external_id}/patients/{cast.patient.external_id}/hakeem"
    )
    again = HistoryImport.unscoped.get(state=ImportState.RUNNING)
    assert again.consented_at == row.consented_at and again.requested_by == cast.staff_a["doctor"]
    assert ProcrastinateJob.objects.get(task_name="hakeem.history_import").args == {"import_id": again.pk}
    page = browser.get(answer["Location"]).content.decode()
    assert "started again" in page
    listed = browser.get(answer["Location"] + "?part=imports", **HTMX).content.decode()
    assert listed.count('data-hakeem-import-row="') == 2 and listed.count(POLL) == 1


def test_retrying_an_import_from_htmx_answers_the_list_with_the_new_one_polling(cast):
    row = failed_import(cast.clinic_a, _patient_on_file(cast), by=cast.staff_a["doctor"])
    answer = _browser(cast.staff_a["nurse"]).post(
        _import_url(cast.clinic_a, cast.patient, row, "/retry"), **HTMX
    )
    html = answer.content.decode()
    assert answer.status_code == 200 and "data-hakeem-imports" in html
    assert 'data-hakeem-import-row="running"' in html and 'data-hakeem-import-row="failed"' in html
    assert html.count(POLL) == 1


def test_an_import_consented_to_long_ago_asks_for_consent_again(cast):
    row = failed_import(cast.clinic_a, _patient_on_file(cast), by=cast.staff_a["doctor"])
    HistoryImport.unscoped.filter(pk=row.pk).update(consented_at=timezones.now() - dt.timedelta(days=1))
    browser = _browser(cast.staff_a["doctor"])
    html = browser.get(_import_url(cast.clinic_a, cast.patient, row), **HTMX).content.decode()
    assert "data-retry" not in html and "confirm the patient's consent above" in html
    answer = browser.post(_import_url(cast.clinic_a, cast.patient, row, "/retry"))
    assert answer.status_code == 302
    assert "ask them again" in browser.get(answer["Location"]).content.decode()
    assert not HistoryImport.unscoped.filter(state=ImportState.RUNNING).exists()


def test_an_import_that_did_not_fail_is_not_tried_again(cast):
    row = _running(cast)
    answer = _browser(cast.staff_a["doctor"]).post(
        _import_url(cast.clinic_a, cast.patient, row, "/retry"), **HTMX
    )
    assert answer.status_code == 409
    assert HistoryImport.unscoped.count() == 1


def test_import_progress_needs_the_import_permission(cast):
    row = failed_import(cast.clinic_a, _patient_on_file(cast), by=cast.staff_a["doctor"])
    secretary = _browser(cast.staff_a["secretary"])
    assert secretary.get(_import_url(cast.clinic_a, cast.patient, row), **HTMX).status_code == 403
    assert secretary.post(_import_url(cast.clinic_a, cast.patient, row, "/retry")).status_code == 403


def test_another_clinics_import_is_404(cast):
    patient = _patient_on_file(cast)
    in_care(cast, clinic=cast.clinic_b, doctor=cast.doctor_b)
    theirs = failed_import(cast.clinic_b, patient, by=cast.doctor_b)
    browser = _browser(cast.staff_a["doctor"])
    # Same patient, cared for by both clinics: clinic B's import is not clinic A's to see or to retry.
    assert browser.get(_import_url(cast.clinic_a, patient, theirs), **HTMX).status_code == 404
    assert browser.post(_import_url(cast.clinic_a, patient, theirs, "/retry")).status_code == 404
    assert browser.get(_import_url(cast.clinic_b, patient, theirs), **HTMX).status_code == 404
    assert not HistoryImport.unscoped.filter(state=ImportState.RUNNING).exists()


def test_the_job_writes_its_step_and_count_as_it_files(cast, monkeypatch):
    from tests.integrations.test_hakeem_import import _doctor, _on_hakeem

    _on_hakeem(cast)
    started = import_actions.history_import_start(
        actor=_doctor(cast), patient_id=cast.patient.external_id, consent=True
    )
    assert (started.step, started.done, started.total) == ("", 0, 0)  # waiting for the worker
    seen = []
    filing = import_actions._file

    def watch(row, item):
        current = HistoryImport.unscoped.get(pk=row.pk)
        seen.append((current.step, current.done, current.total))
        return filing(row, item)

    monkeypatch.setattr(import_actions, "_file", watch)
    monkeypatch.setattr(import_actions, "PROGRESS_WRITES", 1000)  # a write after each resource
    finished = import_actions.history_import_run(import_id=started.pk)
    assert finished.state == ImportState.DONE
    assert seen and {step for step, _done, _total in seen} == {ImportStep.FILING}
    total = seen[0][2]
    assert total >= len(seen) and [done for _step, done, _total in seen] == list(range(len(seen)))


# --- a visit's records on their way to Hakeem -------------------------------------------------------------------------


@pytest.fixture
def synced_visit(cast, api):
    from tests.integrations.test_hakeem_console import _failed_visit

    return _failed_visit(cast, api)


def _sync_url(clinic, visit) -> str:
    return f"/clinic/{clinic.external_id}/visits/{visit.external_id}/hakeem"


def test_a_failed_sync_gives_the_reason_and_when_it_is_tried_again(cast, synced_visit):
    html = (
        _browser(cast.staff_a["doctor"]).get(_sync_url(cast.clinic_a, synced_visit), **HTMX).content.decode()
    )
    assert 'data-hakeem="failed"' in html and "503" in html and "Next attempt at" in html
    assert 'hx-trigger="every 30s"' in html  # retried by itself: followed, slowly


def test_a_waiting_sync_counts_what_hakeem_acknowledged(cast, synced_visit):
    from shifa.integrations.hakeem.queries import visit_records_filter

    records = SyncRecord.unscoped.filter(visit_records_filter(synced_visit), clinic=cast.clinic_a).order_by(
        "pk"
    )
    total = records.count()
    first = list(records.values_list("pk", flat=True)[:2])
    records.filter(pk__in=first).update(state=SyncState.ACKNOWLEDGED, last_error="")
    records.exclude(pk__in=first).update(state=SyncState.PENDING, last_error="")
    browser = _browser(cast.staff_a["nurse"])
    url = _sync_url(cast.clinic_a, synced_visit)
    html = browser.get(url, **HTMX).content.decode()
    assert 'data-hakeem="waiting"' in html and POLL in html
    assert f'max="{total}" value="2"' in html and f"2 of {total} records acknowledged" in html
    token = re.search(r"seen=([\w-]+)", html).group(1)
    assert browser.get(f"{url}?seen={token}", **HTMX).status_code == 204
    records.update(state=SyncState.ACKNOWLEDGED)
    done = browser.get(f"{url}?seen={token}", **HTMX).content.decode()
    assert 'data-hakeem="acknowledged"' in done and not _polls(done)


def test_the_visit_page_follows_its_sync_in_a_live_region(cast, synced_visit):
    page = _browser(cast.staff_a["doctor"]).get(
        f"/clinic/{cast.clinic_a.external_id}/visits/{synced_visit.external_id}"
    )
    html = page.content.decode()
    assert re.search(r'<span aria-live="polite">\s*<span class="job" data-hakeem="failed"', html)
    assert f'hx-get="{_sync_url(cast.clinic_a, synced_visit)}?seen=' in html


def test_sync_progress_needs_the_sync_permission_and_the_clinics_own_visit(cast, synced_visit):
    assert (
        _browser(cast.staff_a["secretary"]).get(_sync_url(cast.clinic_a, synced_visit), **HTMX).status_code
        == 403
    )
    other = _browser(cast.doctor_b)
    assert other.get(_sync_url(cast.clinic_a, synced_visit), **HTMX).status_code == 404
    assert other.get(_sync_url(cast.clinic_b, synced_visit), **HTMX).status_code == 404


def test_a_visit_without_records_shows_nothing_and_does_not_poll(cast):
    in_care(cast)
    visit = Visit.unscoped.create(
        clinic=cast.clinic_a,
        patient=cast.patient,
        doctor=cast.staff_a["doctor"],
        origin="walk_in",
        started_at=timezones.now(),
        created_by=cast.staff_a["doctor"],
    )
    html = _browser(cast.staff_a["doctor"]).get(_sync_url(cast.clinic_a, visit), **HTMX).content.decode()
    assert 'data-hakeem="none"' in html and not _polls(html)


def test_the_clinic_hakeem_page_follows_records_on_their_way(cast):
    from tests.routes_hakeem import failed_record

    record = failed_record(cast.clinic_a)
    SyncRecord.unscoped.filter(pk=record.pk).update(state=SyncState.PENDING)
    browser = _browser(cast.staff_a["clinic_admin"])
    url = f"/clinic/{cast.clinic_a.external_id}/hakeem"
    html = browser.get(url).content.decode()
    assert POLL in html and 'hx-select="[data-records-live]"' in html
    assert "1 record shown here is on its way to Hakeem." in html
    poll = re.search(r'data-records-live hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert browser.get(poll, **HTMX).status_code == 204
    SyncRecord.unscoped.filter(pk=record.pk).update(state=SyncState.ACKNOWLEDGED, last_error="")
    done = browser.get(poll, **HTMX).content.decode()
    assert f'data-record="{record.external_id}" data-state="acknowledged"' in done
    assert not _polls(done) and "on its way" not in done
    # Another clinic's staff do not see it at all.
    assert _browser(cast.doctor_b).get(url).status_code == 404

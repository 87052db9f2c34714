"""The clinic console's clinical pages, through the test client: the doctor's day list, the visit screen with
keyboard entry of diagnoses and prescriptions, vitals, commit, amendment and printing, and the chart."""

from __future__ import annotations

import datetime as dt
import re

from django.test import Client

from shifa.core import timezones
from shifa.documents.actions import document_render
from shifa.documents.models import Document
from shifa.records.models import Prescription, Visit, VisitDiagnosis
from tests.conftest import sign_in_page
from tests.support.booking import open_for_booking
from tests.support.records import in_care


def browser(user, language="en"):
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE=language), user)


def _start(cast):
    """The doctor starts the visit of today's appointment from the day list; the visit page's URL."""
    open_for_booking(cast)
    appointment = in_care(cast)
    doctor = browser(cast.staff_a["doctor"])
    clinic = cast.clinic_a.external_id
    day_list = doctor.get(f"/clinic/{clinic}/visits")
    assert day_list.status_code == 200
    assert "Patient" in day_list.content.decode() and "Start the visit" in day_list.content.decode()
    opened = doctor.post(f"/clinic/{clinic}/visits/open", {"appointment_id": str(appointment.external_id)})
    assert opened.status_code == 302
    return doctor, opened.url


def test_a_doctor_documents_commits_and_prints_a_visit_from_the_keyboard(cast):
    doctor, url = _start(cast)
    write = f"{url}/write"
    assert (
        doctor.post(write, {"step": "notes", "complaint": "Fever", "notes": "Throat red"}).status_code == 302
    )
    # A code goes straight in, and the cursor is back in the diagnosis box.
    added = doctor.post(write, {"step": "diagnosis", "code": "401.9"})
    assert added.status_code == 302 and added.url.endswith("?focus=diagnosis")
    page = doctor.get(added.url).content.decode()
    assert re.search(r'<input[^>]*name="code"[^>]*autofocus', page)
    # Words show the matching codes; choosing one adds it.
    words = doctor.post(write, {"step": "diagnosis", "code": "acute bronchitis"})
    assert words.status_code == 200 and 'data-code="466.0"' in words.content.decode()
    assert doctor.post(write, {"step": "diagnosis", "code": "4660"}).status_code == 302
    line = {
        "step": "prescription",
        "medication": "amoxicillin",
        "strength": "500 mg",
        "dose": "1",
        "dose_unit": "capsule",
        "route": "oral",
        "frequency": "three_times_daily",
        "timing": "after_meals",
        "duration_days": "7",
        "instructions": "Finish the course",
    }
    assert doctor.post(write, line).status_code == 302
    visit = Visit.unscoped.get(external_id=url.rstrip("/").split("/")[-1])
    assert [d.diagnosis.code for d in VisitDiagnosis.unscoped.filter(visit=visit)] == ["4019", "4660"]
    assert Prescription.unscoped.get(visit=visit).duration_days == 7

    committed = doctor.post(f"{url}/commit", {"step": "commit"})
    assert committed.status_code == 302
    visit.refresh_from_db()
    assert visit.is_committed
    page = doctor.get(url).content.decode()
    assert "Committed" in page and 'name="step" value="notes"' not in page  # nothing left to edit

    printed = doctor.post(write, {"step": "document", "kind": "prescription", "language": "ar"})
    assert printed.status_code == 302
    document = Document.unscoped.get(subject=visit.external_id)
    document_render(document_id=document.pk)
    page = doctor.get(url).content.decode()
    assert f"/documents/{document.external_id}/file" in page


def test_bad_input_on_the_visit_screen_is_marked_and_nothing_is_saved(cast):
    doctor, url = _start(cast)
    write = f"{url}/write"
    bad = doctor.post(
        write,
        {
            "step": "prescription",
            "medication": "no-such",
            "strength": "1",
            "dose": "1",
            "dose_unit": "tablet",
            "route": "oral",
            "frequency": "once_daily",
            "duration_days": "3",
        },
    )
    assert bad.status_code == 400 and "Choose a medication from the list." in bad.content.decode()
    unknown = doctor.post(write, {"step": "diagnosis", "code": "zzzzqqq"})
    assert unknown.status_code == 400 and "No ICD-9-CM code matches" in unknown.content.decode()
    vitals = doctor.post(f"{url}/vitals", {"step": "vitals", "v_8480-6": "999"})
    assert vitals.status_code == 400
    early = doctor.post(f"{url}/commit", {"step": "commit"})
    assert early.status_code == 302  # refused with the reason shown on the page
    assert "Add the primary diagnosis before committing." in doctor.get(url).content.decode()
    visit_id = url.rstrip("/").split("/")[-1]
    assert not Prescription.unscoped.filter(visit__external_id=visit_id).exists()
    assert not Visit.unscoped.get(external_id=visit_id).is_committed


def test_a_nurse_takes_vitals_but_does_not_write_or_commit(cast):
    open_for_booking(cast)
    appointment = in_care(cast)
    nurse = browser(cast.staff_a["nurse"], language="ar")
    clinic = cast.clinic_a.external_id
    opened = nurse.post(f"/clinic/{clinic}/visits/open", {"appointment_id": str(appointment.external_id)})
    url = opened.url
    assert (
        nurse.post(f"{url}/vitals", {"step": "vitals", "v_8480-6": "150", "v_8462-4": "95"}).status_code
        == 302
    )
    page = nurse.get(url).content.decode()
    assert 'dir="rtl"' in page and "150" in page
    assert 'value="diagnosis"' not in page and 'value="commit"' not in page
    assert nurse.post(f"{url}/write", {"step": "diagnosis", "code": "401.9"}).status_code == 403
    assert nurse.post(f"{url}/commit", {"step": "commit"}).status_code == 403


def test_the_secretary_has_no_clinical_pages(cast):
    open_for_booking(cast)
    secretary = browser(cast.staff_a["secretary"])
    clinic = cast.clinic_a.external_id
    assert secretary.get(f"/clinic/{clinic}/visits").status_code == 403
    assert secretary.get(f"/clinic/{clinic}/patients/{cast.patient.external_id}").status_code == 403
    assert "Patients and visits" not in secretary.get(f"/clinic/{clinic}/desk").content.decode()


def test_an_amendment_is_started_from_the_page_and_shown_with_the_original(cast):
    doctor, url = _start(cast)
    doctor.post(f"{url}/write", {"step": "diagnosis", "code": "401.9"})
    doctor.post(f"{url}/commit", {"step": "commit"})
    started = doctor.post(f"{url}/commit", {"step": "amend", "reason": "Wrong code"})
    assert started.status_code == 302 and started.url != url
    amendment = doctor.get(started.url).content.decode()
    assert "Amendment" in amendment and "The original visit" in amendment and "Wrong code" in amendment
    original = doctor.get(url).content.decode()
    assert "Versions of this visit" in original and started.url.split("/")[-1] in original


def test_the_chart_shows_the_timeline_and_vitals_charts(cast):
    doctor, url = _start(cast)
    doctor.post(f"{url}/vitals", {"step": "vitals", "v_8480-6": "150", "v_8867-4": "72"})
    doctor.post(f"{url}/write", {"step": "diagnosis", "code": "401.9"})
    doctor.post(f"{url}/commit", {"step": "commit"})
    chart = doctor.get(f"/clinic/{cast.clinic_a.external_id}/patients/{cast.patient.external_id}")
    assert chart.status_code == 200
    page = chart.content.decode()
    assert 'data-vital-chart="8480-6"' in page and "<polyline" in page
    assert "401.9" in page and url.split("/")[-1] in page
    # Another clinic's doctor does not find the patient.
    other = browser(cast.doctor_b)
    assert (
        other.get(f"/clinic/{cast.clinic_b.external_id}/patients/{cast.patient.external_id}").status_code
        == 404
    )


def test_late_in_the_evening_todays_appointments_are_still_on_the_day_list(cast):
    """At 23:30 in Amman an appointment of the day is still today's, not tomorrow's."""
    from tests.conftest import time_machine

    late = timezones.local_datetime(timezones.now().date(), dt.time(23, 30), cast.clinic_a.time_zone)
    with time_machine(late):
        _start(cast)

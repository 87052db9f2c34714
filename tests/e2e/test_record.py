"""The clinical record in the browser (EHR-2, EHR-3, EHR-5, EHR-6): a doctor documents a visit with two diagnoses
and a prescription from the keyboard, commits it and prints the prescription; the patient reads it in the app in
Arabic, right to left."""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest

from shifa.records.models import Visit
from tests.core.test_jobs import run_worker_until_idle
from tests.e2e.test_journeys import sign_in
from tests.factories import enrol_authenticator
from tests.support.booking import open_for_booking
from tests.support.records import in_care

pytestmark = pytest.mark.django_db(transaction=True)


def _run_jobs() -> None:
    """The worker, in a thread of its own: Playwright's event loop owns this one."""
    import threading

    from django.db import connections

    def work():
        try:
            run_worker_until_idle()
        finally:
            connections.close_all()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(timeout=60)
    # The job ran in asgiref's thread for synchronous code: close the connection it opened there too.
    from asgiref.sync import SyncToAsync

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)


def test_a_doctor_documents_commits_and_prints_and_the_patient_reads_it_in_arabic(cast, page_for, tmp_path):
    open_for_booking(cast)
    in_care(cast)
    doctor_user = cast.staff_a["doctor"]
    type(doctor_user).objects.filter(pk=doctor_user.pk).update(language="en")
    type(cast.patient_user).objects.filter(pk=cast.patient_user.pk).update(language="ar")

    doctor = page_for("en")
    sign_in(doctor, doctor_user.email, enrol_authenticator(doctor_user))
    doctor.wait_for_url("**/clinic**")
    doctor.goto(f"/clinic/{cast.clinic_a.external_id}/visits")
    doctor.click("text=Start the visit")
    doctor.wait_for_url("**/visits/*-*")

    doctor.fill("textarea[name=complaint]", "Cough and fever for three days")
    doctor.fill("textarea[name=notes]", "Wheeze on the right; blood pressure high")
    doctor.click("button[value=notes]")
    doctor.wait_for_selector("text=Saved.")

    # Diagnoses from the keyboard: a code and Enter; then words, Enter, and the first match with Enter.
    doctor.fill("input[name=code]", "401.9")
    doctor.press("input[name=code]", "Enter")
    doctor.wait_for_selector("[data-diagnoses] li:has-text('401.9')")
    assert doctor.evaluate("document.activeElement.name") == "code"
    doctor.fill("input[name=code]", "acute bronchitis")
    doctor.fill("input[name=plain_words]", "Chest infection")
    doctor.press("input[name=code]", "Enter")
    doctor.wait_for_selector("button[data-code='466.0']")
    doctor.click("button[data-code='466.0']")
    doctor.wait_for_selector("[data-diagnoses] li:has-text('466.0')")

    doctor.fill("input[name=medication]", "amoxicillin")
    doctor.fill("input[name=strength]", "500 mg")
    doctor.fill("input[name=dose]", "1")
    doctor.select_option("select[name=dose_unit]", "capsule")
    doctor.select_option("select[name=frequency]", "three_times_daily")
    doctor.select_option("select[name=timing]", "after_meals")
    doctor.fill("input[name=duration_days]", "7")
    doctor.fill("input[name=instructions]", "Finish the whole course")
    doctor.press("input[name=instructions]", "Enter")
    doctor.wait_for_selector("[data-prescriptions] li:has-text('Amoxicillin')")
    assert "three times a day, after meals, for 7 days" in doctor.inner_text("[data-prescriptions]")

    doctor.click("button[value=commit]")
    doctor.wait_for_selector("[data-state=committed]")
    visit = Visit.unscoped.get(patient=cast.patient)
    assert visit.is_committed

    doctor.click("[data-print=prescription-ar]")
    doctor.wait_for_selector("[data-document=prescription-ar]")
    _run_jobs()
    doctor.wait_for_selector("[data-document=prescription-ar][data-status=ready] a", timeout=15000)
    with doctor.expect_download() as download:
        doctor.click("[data-document=prescription-ar] a")
    saved = tmp_path / "prescription-ar.pdf"
    download.value.save_as(saved)
    pdf = pdfium.PdfDocument(str(saved))
    text = " ".join("".join(p.get_textpage().get_text_range() for p in pdf).split())
    assert "وصفة طبية" in text and "أموكسيسيلين" in text and "ثلاث مرات في اليوم" in text
    pdf[0].render(scale=1.5).to_pil().save(tmp_path / "prescription-ar.png")

    patient = page_for("ar")
    sign_in(patient, cast.patient_user.email)
    patient.wait_for_url("**/app")
    patient.goto(f"/app/record/visits/{visit.external_id}")
    assert patient.get_attribute("html", "dir") == "rtl"
    main = patient.inner_text("main")
    assert "Chest infection" in main  # the doctor's plain words
    assert "أموكسيسيلين" in main and "ثلاث مرات في اليوم" in main and "بعد الأكل" in main
    assert "Finish the whole course" in main
    with patient.expect_download() as download:
        patient.click("a[href*='/app/record/documents/']")
    assert download.value.suggested_filename.endswith(".pdf")
    patient.screenshot(path=str(tmp_path / "patient-visit-ar.png"), full_page=True)

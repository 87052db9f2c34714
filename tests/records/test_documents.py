"""The record's PDFs (EHR-5): prescription, referral letter, sick leave and order sheet in Arabic and English, read
from the committed record at render time; clinical documents are hidden from secretaries and their reads logged."""

from __future__ import annotations

import pytest

from shifa.audit.models import RecordRead
from shifa.core import calendars, timezones
from shifa.documents.actions import document_render
from shifa.documents.models import Document
from shifa.records.models import Visit
from tests.documents.test_documents import pdf_text
from tests.support.booking import open_for_booking
from tests.support.records import base, document, in_care, open_visit


def _visit_with_everything(cast, api) -> dict:
    open_for_booking(cast)
    doctor = api(cast.staff_a["doctor"])
    visit = open_visit(doctor, cast.clinic_a, in_care(cast))
    document(doctor, cast.clinic_a, visit["id"], complaint="Chest pain on effort")
    url = f"{base(cast.clinic_a)}/visits/{visit['id']}"
    assert (
        doctor.post(f"{url}/orders", {"kind": "lab", "test": "718-7", "urgency": "urgent"}).status_code == 201
    )
    referral = {
        "specialty": "cardiology",
        "reason": "Please assess exertional chest pain",
        "urgency": "urgent",
    }
    assert doctor.post(f"{url}/referrals", referral).status_code == 201
    assert doctor.put(f"{url}/sick-leave", {"starts_on": "2026-11-26", "days": 3}).status_code == 201
    return visit


def _render(cast, api, visit_id: str, kind: str, language: str) -> str:
    doctor = api(cast.staff_a["doctor"])
    asked = doctor.post(
        f"{base(cast.clinic_a)}/visits/{visit_id}/documents", {"kind": kind, "language": language}
    )
    assert asked.status_code == 202, asked.content
    row = Document.unscoped.get(external_id=asked.json()["id"])
    assert document_render(document_id=row.pk) == "ready"
    response = doctor.get(f"{base(cast.clinic_a)}/documents/{row.external_id}/file")
    assert response.status_code == 200
    text, _ = pdf_text(b"".join(response.streaming_content))
    return " ".join(text.split())


def test_a_prescription_is_printed_in_english_and_arabic_from_the_committed_record(cast, api):
    visit = _visit_with_everything(cast, api)
    doctor = api(cast.staff_a["doctor"])
    url = f"{base(cast.clinic_a)}/visits/{visit['id']}/documents"
    early = doctor.post(url, {"kind": "prescription", "language": "en"})
    assert early.status_code == 409 and early.json()["code"] == "not_committed"
    doctor.post(f"{base(cast.clinic_a)}/visits/{visit['id']}/commit")

    english = _render(cast, api, visit["id"], "prescription", "en")
    assert "Prescription" in english and "Amoxicillin" in english and "500 mg" in english
    assert "1 capsule, by mouth, three times a day, after meals, for 7 days" in english
    assert "Finish the whole course" in english and "401.9" in english
    day = timezones.to_local(
        Visit.unscoped.get(external_id=visit["id"]).started_at, cast.clinic_a.time_zone
    ).date()
    assert f"Visit date {day.isoformat()} ({calendars.hijri(day, 'en')})" in english  # ADR 0026
    arabic = _render(cast, api, visit["id"], "prescription", "ar")
    assert "وصفة طبية" in arabic and "أموكسيسيلين" in arabic and "ثلاث مرات في اليوم" in arabic

    # The document row holds the visit's id, never the clinical text.
    for row in Document.unscoped.filter(subject=visit["id"]):
        assert set(row.context) == {"visit"} and "Finish" not in str(row.context)
    # Asking twice (a double click) gives the same document.
    again = doctor.post(url, {"kind": "prescription", "language": "en"}).json()["id"]
    assert Document.unscoped.filter(subject=visit["id"], kind="prescription", language="en").count() == 1
    assert again == str(
        Document.unscoped.get(subject=visit["id"], kind="prescription", language="en").external_id
    )


@pytest.mark.parametrize(
    "kind, words",
    [
        ("referral", ["Referral letter", "Cardiology", "Please assess exertional chest pain", "Urgent"]),
        ("sick_leave", ["Sick leave", "3 day(s), from 2026-11-26 to 2026-11-28"]),
        ("lab_order", ["Lab and imaging orders", "718-7", "Urgent"]),
    ],
)
def test_the_other_documents_say_what_the_record_says(cast, api, kind, words):
    visit = _visit_with_everything(cast, api)
    api(cast.staff_a["doctor"]).post(f"{base(cast.clinic_a)}/visits/{visit['id']}/commit")
    text = _render(cast, api, visit["id"], kind, "en")
    for word in words:
        assert word in text, (word, text[:400])


def test_clinical_documents_are_hidden_from_the_secretary_and_their_reads_logged(cast, api):
    visit = _visit_with_everything(cast, api)
    doctor = api(cast.staff_a["doctor"])
    doctor.post(f"{base(cast.clinic_a)}/visits/{visit['id']}/commit")
    _render(cast, api, visit["id"], "prescription", "en")
    row = Document.unscoped.get(subject=visit["id"])
    assert RecordRead.objects.filter(
        scope="document", subject=row.external_id, reader=cast.staff_a["doctor"]
    ).exists()
    secretary = api(cast.staff_a["secretary"])
    assert secretary.get(f"{base(cast.clinic_a)}/documents").json()["items"] == []
    assert secretary.get(f"{base(cast.clinic_a)}/documents/{row.external_id}/file").status_code == 404
    # Clinical kinds cannot be asked for through the generic endpoint.
    generic = doctor.post(
        f"{base(cast.clinic_a)}/documents",
        {"kind": "prescription", "title": "x", "language": "en", "context": {"visit": visit["id"]}},
    )
    assert generic.status_code == 422


def test_the_patient_downloads_their_documents(cast, api):
    visit = _visit_with_everything(cast, api)
    api(cast.staff_a["doctor"]).post(f"{base(cast.clinic_a)}/visits/{visit['id']}/commit")
    _render(cast, api, visit["id"], "sick_leave", "ar")
    me = api(cast.patient_user)
    listed = me.get(f"/api/v1/me/visits/{visit['id']}/documents").json()["items"]
    assert [d["kind"] for d in listed] == ["sick_leave"]
    response = me.get(f"/api/v1/me/documents/{listed[0]['id']}/file")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    other = api(cast.other_patient_user)
    assert other.get(f"/api/v1/me/documents/{listed[0]['id']}/file").status_code == 404


def test_nothing_to_print_is_a_field_error(cast, api):
    open_for_booking(cast)
    doctor = api(cast.staff_a["doctor"])
    visit = open_visit(doctor, cast.clinic_a, in_care(cast))
    url = f"{base(cast.clinic_a)}/visits/{visit['id']}"
    doctor.post(f"{url}/diagnoses", {"code": "401.9"})
    doctor.post(f"{url}/commit")
    response = doctor.post(f"{url}/documents", {"kind": "sick_leave", "language": "en"})
    assert response.status_code == 422 and response.json()["errors"][0]["code"] == "nothing_to_print"

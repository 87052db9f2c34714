"""The patient's own record in the app (EHR-6, ID-5), through the test client: the same queries and actions as the
patient's API (``/api/v1/me/…``)."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from shifa.audit.models import RecordRead
from shifa.core import timezones
from shifa.documents.actions import document_render
from shifa.documents.models import Document
from shifa.records.models import Grant, Patient
from tests.conftest import sign_in_page
from tests.support.booking import open_for_booking
from tests.support.records import base, committed_visit, document, in_care, open_visit

ARABIC_LINE = "1 كبسولة، عن طريق الفم، ثلاث مرات في اليوم، بعد الأكل، لمدة 7 أيام"


def browser(user, language="en"):
    type(user).objects.filter(pk=user.pk).update(language=language)
    user.language = language
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE=language), user)


def invalid(body: str, name: str) -> bool:
    """The form control ``name`` is marked invalid and linked to its error."""
    control = re.search(rf'<(?:input|select|textarea)[^>]*name="{name}"[^>]*>', body)
    return control is not None and 'aria-invalid="true"' in control.group(0) and f"id_{name}_error" in body


def _visit_with_results(cast, api) -> tuple[dict, str]:
    """Clinic A's committed visit (two diagnoses, amoxicillin) with a blood count whose haemoglobin is low, and a
    report file: the visit and the file's result id."""
    open_for_booking(cast)
    doctor = api(cast.staff_a["doctor"])
    visit = open_visit(doctor, cast.clinic_a, in_care(cast))
    document(doctor, cast.clinic_a, visit["id"])
    url = f"{base(cast.clinic_a)}/visits/{visit['id']}"
    order = doctor.post(f"{url}/orders", {"kind": "lab", "test": "718-7"})
    assert order.status_code == 201, order.content
    assert doctor.post(f"{url}/commit").status_code == 200
    nurse = api(cast.staff_a["nurse"])
    results = f"{base(cast.clinic_a)}/orders/{order.json()['orders'][0]['id']}/results"
    values = [{"name": "Haemoglobin", "value": "10.5", "unit": "g/dL", "low": "12", "high": "16"}]
    assert nurse.post(results, {"values": values, "summary": "Mild anaemia"}).status_code == 201
    upload = SimpleUploadedFile("cbc.pdf", b"%PDF-1.4 blood count", content_type="application/pdf")
    filed = nurse.client.post(
        f"{results}/file", {"file": upload}, HTTP_AUTHORIZATION=f"Bearer {nurse.token()}"
    )
    assert filed.status_code == 201, filed.content
    return visit, filed.json()["id"]


def test_the_record_shows_allergies_and_running_prescriptions(cast, api):
    visit = committed_visit(cast, api)
    allergy = {"substance": "Peanuts", "reaction": "Hives", "severity": "severe"}
    url = f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/allergies"
    assert api(cast.staff_a["doctor"]).post(url, allergy).status_code == 201
    me = browser(cast.patient_user)
    response = me.get("/app/record")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'href="/app/record" aria-current="page"' in body  # "My record" in the app's navigation
    allergies = re.findall(r"<li data-allergy>.*?</li>", body, re.S)
    assert len(allergies) == 1 and "Peanuts" in allergies[0] and "Hives" in allergies[0]
    prescriptions = re.findall(r"<li data-prescription>.*?</li>", body, re.S)
    assert len(prescriptions) == 1
    assert "Amoxicillin" in prescriptions[0] and "500 mg" in prescriptions[0]
    assert "1 capsule, by mouth, three times a day, after meals, for 7 days" in prescriptions[0]
    assert f"/app/record/visits/{visit['id']}" in body and "Chest infection" in body
    for link in ("/app/record/visits", "/app/record/reads", "/app/record/sharing", "/app/record/family"):
        assert f'href="{link}"' in body


def test_a_visit_in_arabic_says_the_diagnoses_in_plain_words_and_how_to_take_the_medicine(cast, api):
    visit = committed_visit(cast, api)
    me = browser(cast.patient_user, "ar")
    listed = me.get("/app/record/visits").content.decode()
    assert f"/app/record/visits/{visit['id']}" in listed and "Chest infection" in listed
    response = me.get(f"/app/record/visits/{visit['id']}")
    body = response.content.decode()
    assert response.status_code == 200 and 'dir="rtl"' in body
    diagnoses = re.findall(r"<li data-diagnosis>.*?</li>", body, re.S)
    # each in its own direction (English words on an Arabic page), the code aside
    assert [d.split(" <small")[0].removeprefix("<li data-diagnosis>") for d in diagnoses] == [
        "<bdi>Hypertension NOS</bdi>",
        "<bdi>Chest infection</bdi>",
    ]
    assert "401.9" in diagnoses[0] and "466.0" in diagnoses[1]  # the code aside, small
    assert "أموكسيسيلين" in body and ARABIC_LINE in body
    assert "Finish the whole course" in body
    # The patient's own reads are not in the read log.
    assert not RecordRead.objects.filter(reader=cast.patient_user).exists()


def test_results_documents_and_files_are_the_patients_alone(cast, api):
    visit, result_id = _visit_with_results(cast, api)
    doctor = api(cast.staff_a["doctor"])
    asked = doctor.post(
        f"{base(cast.clinic_a)}/visits/{visit['id']}/documents", {"kind": "prescription", "language": "ar"}
    )
    assert asked.status_code == 202, asked.content
    row = Document.unscoped.get(external_id=asked.json()["id"])
    assert document_render(document_id=row.pk) == "ready"

    me = browser(cast.patient_user)
    body = me.get(f"/app/record/visits/{visit['id']}").content.decode()
    assert "Haemoglobin" in body and 'data-flag="low"' in body and "Mild anaemia" in body
    assert f'href="/app/record/results/{result_id}"' in body
    assert f'href="/app/record/documents/{row.external_id}"' in body
    pdf = me.get(f"/app/record/documents/{row.external_id}")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    report = me.get(f"/app/record/results/{result_id}")
    assert report.status_code == 200 and b"".join(report.streaming_content) == b"%PDF-1.4 blood count"

    other = browser(cast.other_patient_user)
    for path in (
        f"/app/record/visits/{visit['id']}",
        f"/app/record/documents/{row.external_id}",
        f"/app/record/results/{result_id}",
        f"/app/record?patient={cast.patient.external_id}",
        f"/app/record/reads?patient={cast.patient.external_id}",
        f"/app/record/visits/{uuid.uuid4()}",
        "/app/record?patient=not-an-id",
    ):
        assert other.get(path).status_code == 404, path


def test_an_amended_visit_shows_its_versions_together(cast, api):
    visit = committed_visit(cast, api)
    doctor = api(cast.staff_a["doctor"])
    amendment = doctor.post(
        f"{base(cast.clinic_a)}/visits/{visit['id']}/amendments", {"reason": "Wrong diagnosis"}
    )
    assert amendment.status_code == 201, amendment.content
    corrected = amendment.json()["id"]
    assert doctor.post(f"{base(cast.clinic_a)}/visits/{corrected}/commit").status_code == 200
    me = browser(cast.patient_user)
    listed = me.get("/app/record/visits").content.decode()
    assert "data-amended" in listed and f"/app/record/visits/{corrected}" in listed
    latest = me.get(f"/app/record/visits/{corrected}").content.decode()
    assert "This visit was amended" in latest and "Wrong diagnosis" in latest
    assert f'href="/app/record/visits/{visit["id"]}"' in latest  # the original, linked
    original = me.get(f"/app/record/visits/{visit['id']}").content.decode()
    assert "You are reading an earlier version" in original
    assert f'href="/app/record/visits/{corrected}"' in original


def test_the_patient_sees_which_clinic_read_their_record(cast, api):
    committed_visit(cast, api)
    chart = f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}/chart"
    assert api(cast.staff_a["doctor"]).get(chart).status_code == 200
    body = browser(cast.patient_user).get("/app/record/reads").content.decode()
    rows = re.findall(r"<tr data-read>.*?</tr>", body, re.S)
    assert rows, body
    assert "Clinic A" in rows[0] and "Doctor" in rows[0] and "doctor of A" in rows[0]
    assert "The record summary" in rows[0]
    arabic = browser(cast.patient_user, "ar").get("/app/record/reads").content.decode()
    assert "عيادة أ" in arabic and "الطبيب" in arabic


def test_sharing_with_a_clinic_and_stopping_it(cast):
    me = browser(cast.patient_user)
    page = me.get("/app/record/sharing").content.decode()
    assert "Clinic B" in page and 'action="/app/record/sharing/grant"' in page
    clinic_b = str(cast.clinic_b.external_id)
    for days in ("0", "366"):
        refused = me.post("/app/record/sharing/grant", {"clinic_id": clinic_b, "days": days})
        assert refused.status_code == 400
        assert invalid(refused.content.decode(), "days")
        assert "Share for 1 to 365 days" in refused.content.decode()
    unknown = me.post("/app/record/sharing/grant", {"clinic_id": str(uuid.uuid4()), "days": "7"})
    assert unknown.status_code == 400 and invalid(unknown.content.decode(), "clinic_id")
    assert not Grant.objects.exists()

    shared = me.post("/app/record/sharing/grant", {"clinic_id": clinic_b, "days": "7"})
    assert shared.status_code == 302 and shared["Location"] == "/app/record/sharing"
    grant = Grant.objects.get(patient=cast.patient, clinic=cast.clinic_b)
    assert grant.expires_at > timezones.now() + dt.timedelta(days=6)
    page = me.get("/app/record/sharing").content.decode()
    assert "Your record is now shared with Clinic B." in page
    assert len(re.findall(r"data-grant", page)) == 1

    other = browser(cast.other_patient_user)
    assert other.post(f"/app/record/sharing/{grant.external_id}/revoke").status_code == 404
    stopped = me.post(f"/app/record/sharing/{grant.external_id}/revoke")
    assert stopped.status_code == 302 and stopped["Location"] == "/app/record/sharing"
    grant.refresh_from_db()
    assert grant.revoked_at is not None
    page = me.get("/app/record/sharing").content.decode()
    assert "Clinic B can no longer read this record." in page and "data-grant" not in page
    assert me.get("/app/record/sharing/grant").status_code in {403, 405}


def test_adding_a_dependant_and_opening_their_record(cast):
    me = browser(cast.patient_user)
    form = {
        "full_name": "Lina",
        "full_name_ar": "لينا",
        "date_of_birth": "2019-03-02",
        "sex": "female",
        "relation": "child",
    }
    future = (timezones.now().date() + dt.timedelta(days=3)).isoformat()
    refused = me.post("/app/record/family/add", {**form, "date_of_birth": future})
    assert refused.status_code == 400
    assert invalid(refused.content.decode(), "date_of_birth")
    assert "The date of birth cannot be in the future." in refused.content.decode()
    assert not Patient.objects.filter(guardian=cast.patient).exists()

    added = me.post("/app/record/family/add", form)
    assert added.status_code == 302 and added["Location"] == "/app/record/family"
    child = Patient.objects.get(guardian=cast.patient)
    assert (child.full_name, child.relation, child.date_of_birth) == ("Lina", "child", dt.date(2019, 3, 2))
    family = me.get("/app/record/family").content.decode()
    assert "Lina is added to your family." in family and f"?patient={child.external_id}" in family

    record = me.get(f"/app/record?patient={child.external_id}").content.decode()
    assert "Record of <bdi>Lina</bdi>" in record and "(me)" in record  # the switcher: me and Lina
    shared = me.post(
        "/app/record/sharing/grant",
        {"clinic_id": str(cast.clinic_a.external_id), "patient": str(child.external_id)},
    )
    assert shared["Location"] == f"/app/record/sharing?patient={child.external_id}"
    grant = Grant.objects.get(patient=child)
    assert grant.clinic == cast.clinic_a and grant.expires_at is None  # until stopped
    # Someone else's dependant is not theirs to open or share.
    other = browser(cast.other_patient_user)
    assert other.get(f"/app/record?patient={child.external_id}").status_code == 404
    assert (
        other.post(
            "/app/record/sharing/grant",
            {"clinic_id": str(cast.clinic_a.external_id), "patient": str(child.external_id)},
        ).status_code
        == 404
    )


def test_the_pages_need_the_patients_permission(cast):
    doctor = sign_in_page(Client(), cast.staff_a["doctor"])
    assert doctor.get("/app/record").status_code == 403
    assert Client().get("/app/record")["Location"].startswith("/accounts/sign-in?next=")

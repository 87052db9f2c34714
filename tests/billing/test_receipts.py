"""Receipts (PAY-1): one PDF per payment or refund, numbered after its invoice, in Arabic (right to left, shaped)
or English, for the clinic's desk and for the patient; never for anyone else."""

from __future__ import annotations

import uuid

import pypdfium2 as pdfium
import pytest

from tests.billing.test_api import base, open_invoice, pay
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db


def pdf_text(data: bytes) -> tuple[str, pdfium.PdfDocument]:
    document = pdfium.PdfDocument(data)
    return "".join(page.get_textpage().get_text_range() for page in document), document


def paid(cast, api, *, patient=None, charge="25.500", amount="12.500") -> tuple[dict, dict]:
    """An invoice with one cash payment: (the invoice as the API answers after paying, the payment entry)."""
    invoice = open_invoice(cast, api, charge, patient=patient)
    body = pay(api(cast.staff_a["secretary"]), cast, invoice["id"], amount).json()
    return body, body["entries"][-1]


def test_an_english_receipt_carries_its_number_amount_and_what_is_left(cast, api):
    invoice, payment = paid(cast, api)
    response = api(cast.staff_a["secretary"]).get(payment["receipt_url"] + "?language=en")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "private, no-store" and response["Content-Language"] == "en"
    number = f"{invoice['number']}-01"
    assert response["Content-Disposition"] == f'inline; filename="receipt-{number}.pdf"'
    assert response.content.startswith(b"%PDF")
    text, pdf = pdf_text(response.content)
    flat = " ".join(text.split())
    assert number in flat and "Receipt" in flat and "Clinic A" in flat and "Patient" in flat
    assert "JOD 12.500" in flat  # what was received
    assert "Still due JOD 13.000" in flat  # what was left after it
    assert "Cash" in flat and cast.staff_a["secretary"].full_name in flat
    start = text.index("Receipt")
    lefts = [pdf[0].get_textpage().get_charbox(start + i)[0] for i in range(5)]
    assert lefts == sorted(lefts)  # left to right


def test_an_arabic_receipt_is_shaped_and_reads_right_to_left(cast, api, tmp_path):
    patient = PatientFactory(full_name="أحمد علي", user=None, guardian=cast.patient)
    invoice, payment = paid(cast, api, patient=patient)
    response = api(cast.staff_a["secretary"]).get(payment["receipt_url"] + "?language=ar")
    assert response.status_code == 200 and response["Content-Language"] == "ar"
    text, pdf = pdf_text(response.content)
    flat = " ".join(text.split())
    assert "عيادة أ" in flat  # the clinic's Arabic name, in reading order
    assert "أحمد علي" in flat
    assert f"{invoice['number']}-01" in flat  # numbers stay left to right inside the Arabic page
    assert "12.500" in flat and "د.أ." in flat
    page = pdf[0]
    textpage = page.get_textpage()
    start = text.index("عيادة")
    lefts = [textpage.get_charbox(start + i)[0] for i in range(4)]
    assert lefts == sorted(lefts, reverse=True), lefts  # each letter left of the one before it
    image = page.render(scale=2).to_pil()
    image.save(tmp_path / "receipt-ar.png")
    assert image.size[0] > 1000


def test_a_receipt_is_in_the_readers_language_unless_asked_otherwise(cast, api):
    _invoice, payment = paid(cast, api)
    secretary = cast.staff_a["secretary"]
    secretary.language = "ar"
    secretary.save(update_fields=["language"])
    desk = api(secretary)
    assert desk.get(payment["receipt_url"])["Content-Language"] == "ar"
    assert desk.get(payment["receipt_url"] + "?language=en")["Content-Language"] == "en"
    assert desk.get(payment["receipt_url"], headers={"Accept-Language": "en"})["Content-Language"] == "en"
    assert desk.get(payment["receipt_url"] + "?language=fr").status_code == 422


def test_a_refund_has_its_own_receipt_numbered_after_the_payment(cast, api):
    invoice, _payment = paid(cast, api, charge="30.000", amount="30.000")
    admin = api(cast.staff_a["clinic_admin"])
    refunded = admin.post(
        f"{base(cast.clinic_a)}/{invoice['id']}/refunds",
        {"amount": "5.000", "method": "cash", "note": "Overpaid"},
    ).json()
    refund = refunded["entries"][-1]
    response = admin.get(refund["receipt_url"] + "?language=en")
    text, _pdf = pdf_text(response.content)
    flat = " ".join(text.split())
    assert "Refund receipt" in flat and f"{invoice['number']}-02" in flat and "Overpaid" in flat
    assert "JOD 5.000" in flat


def test_receipts_are_only_for_money_and_only_for_those_who_may_see_the_invoice(cast, api):
    invoice, payment = paid(cast, api)
    desk = api(cast.staff_a["secretary"])
    charge = invoice["entries"][0]
    receipts = f"{base(cast.clinic_a)}/{invoice['id']}/receipts"
    assert desk.get(f"{receipts}/{charge['id']}.pdf").status_code == 404  # a charge is not money received
    assert desk.get(f"{receipts}/{uuid.uuid4()}.pdf").status_code == 404
    other, _other_payment = paid(cast, api)
    assert desk.get(f"{base(cast.clinic_a)}/{other['id']}/receipts/{payment['id']}.pdf").status_code == 404
    assert api(cast.staff_a["nurse"]).get(payment["receipt_url"]).status_code == 403
    assert api(cast.doctor_b).get(payment["receipt_url"]).status_code == 404
    mine = f"/api/v1/me/invoices/{invoice['id']}/receipts/{payment['id']}.pdf"
    own = api(cast.patient_user).get(mine)
    assert own.status_code == 200 and own.content.startswith(b"%PDF")
    assert invoice["number"] in " ".join(pdf_text(own.content)[0].split())
    assert api(cast.other_patient_user).get(mine).status_code == 404
    assert api().get(mine).status_code == 401

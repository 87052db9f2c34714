"""PDF documents: rendered in the background with WeasyPrint, Arabic shaped right to left, stored through the
storage API, handed out only through permission checks or a five-minute signed link (EHR-5)."""

from __future__ import annotations

import datetime as dt
import io

import pypdfium2 as pdfium
import pytest
from django.test import Client

from shifa.core import timezones
from shifa.documents import rendering
from shifa.documents.models import Document
from tests.conftest import sign_in_page, time_machine
from tests.core.test_jobs import run_worker_until_idle

ARABIC_BODY = "يرجى متابعة حالة المريض أحمد علي وإجراء فحص الدم الشامل."


def url(cast, suffix=""):
    return f"/api/v1/clinics/{cast.clinic_a.external_id}/documents{suffix}"


def ask(cast, api, *, language="ar", body=ARABIC_BODY, by="doctor", **extra):
    payload = {
        "kind": "letter",
        "title": "رسالة تحويل" if language == "ar" else "Referral letter",
        "language": language,
        "context": {"recipient": "د. رنا حداد" if language == "ar" else "Dr. Rana Haddad", "body": body},
        **extra,
    }
    return api(cast.staff_a[by]).post(url(cast), payload)


def pdf_text(data: bytes) -> tuple[str, pdfium.PdfDocument]:
    document = pdfium.PdfDocument(data)
    return "".join(page.get_textpage().get_text_range() for page in document), document


@pytest.mark.django_db(transaction=True)
def test_an_arabic_letter_is_rendered_in_the_background_and_reads_in_logical_order(cast, api, tmp_path):
    asked = ask(cast, api)
    assert asked.status_code == 202 and asked.json()["status"] == "pending"
    document_id = asked.json()["id"]
    client = api(cast.staff_a["doctor"])
    assert client.get(url(cast, f"/{document_id}/file")).json()["code"] == "document_not_ready"
    run_worker_until_idle()
    status = client.get(url(cast, f"/{document_id}")).json()
    assert status["status"] == "ready" and status["size"] > 1000 and len(status["sha256"]) == 64
    response = client.get(url(cast, f"/{document_id}/file"))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    data = b"".join(response.streaming_content)
    assert data.startswith(b"%PDF")
    text, pdf = pdf_text(data)
    normalized = " ".join(text.split())
    assert "عيادة أ" in normalized  # the clinic's header, in the document's language
    assert ARABIC_BODY in normalized  # the words come out in reading order, not reversed
    assert "رسالة تحويل" in normalized and "د. رنا حداد" in normalized

    # Right to left: along the heading's logical order, each character sits left of the one before it.
    page = pdf[0]
    textpage = page.get_textpage()
    start = text.index("رسالة")
    boxes = [textpage.get_charbox(start + i) for i in range(5)]
    lefts = [box[0] for box in boxes]
    assert lefts == sorted(lefts, reverse=True), lefts
    # For a person to look at: the first page as a PNG.
    image = page.render(scale=2).to_pil()
    image.save(tmp_path / "letter-ar.png")
    assert image.size[0] > 1000


def test_arabic_letters_are_joined_by_shaping(tmp_path):
    """The same word with its letters kept apart (zero-width non-joiners) renders differently and wider:
    in the document they join as Arabic script requires."""

    def width_of(word: str) -> int:
        html = f'<html dir="rtl" lang="ar"><body style="font-family: Amiri; font-size: 40pt"><p>{word}</p></body></html>'
        page = pdfium.PdfDocument(rendering.html_to_pdf(html))[0]
        image = page.render(scale=1).to_pil().convert("L")
        dark = [x for x in range(image.width) for y in range(0, 200, 2) if image.getpixel((x, y)) < 128]
        image.save(tmp_path / f"{len(word)}.png")
        return max(dark) - min(dark)

    joined = width_of("شفاء")
    apart = width_of("\u200c".join("شفاء"))
    assert joined < apart


@pytest.mark.django_db(transaction=True)
def test_an_english_letter_reads_left_to_right(cast, api):
    asked = ask(cast, api, language="en", body="Please review the blood count.\n\nThank you.")
    run_worker_until_idle()
    document = Document.unscoped.get(external_id=asked.json()["id"])
    text, pdf = pdf_text(document.file.open("rb").read())
    assert "Clinic A" in text and "Please review the blood count." in text and "Page 1 / 1" in text
    start = text.index("Referral")
    lefts = [pdf[0].get_textpage().get_charbox(start + i)[0] for i in range(5)]
    assert lefts == sorted(lefts)


@pytest.mark.django_db
def test_bad_requests_get_field_errors_and_write_nothing(cast, api):
    assert ask(cast, api, kind="prescription").json()["errors"][0]["field"] == "kind"
    missing = ask(cast, api, body="   ")
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "context.body"
    long = ask(cast, api, body="x" * 10001)
    assert long.json()["errors"][0]["code"] == "too_long"
    assert ask(cast, api, language="fr").status_code == 422
    assert not Document.unscoped.exists()


@pytest.mark.django_db(transaction=True)
def test_downloads_are_permission_checked_and_links_expire(cast, api):
    document_id = ask(cast, api).json()["id"]
    run_worker_until_idle()
    # A nurse may read the clinic's documents but not prepare them; another clinic does not see them at all.
    assert api(cast.staff_a["nurse"]).get(url(cast, f"/{document_id}/file")).status_code == 200
    assert ask(cast, api, by="nurse").status_code == 403
    other = f"/api/v1/clinics/{cast.clinic_b.external_id}/documents/{document_id}"
    assert api(cast.doctor_b).get(other).status_code == 404
    assert api(cast.patient_user).get(url(cast, f"/{document_id}/file")).status_code == 404
    assert Client().get(url(cast, f"/{document_id}/file")).status_code == 401

    link = api(cast.staff_a["doctor"]).post(url(cast, f"/{document_id}/link")).json()
    response = Client().get(link["url"])
    assert response.status_code == 200 and b"".join(response.streaming_content).startswith(b"%PDF")
    with time_machine(timezones.now() + dt.timedelta(minutes=6)):
        import time
        from unittest import mock

        with mock.patch("django.core.signing.time.time", return_value=time.time() + 360):
            assert Client().get(link["url"]).status_code == 404
    assert Client().get(link["url"][:-3] + "xyz").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_a_document_that_cannot_be_rendered_is_marked_failed(cast, api, monkeypatch):
    def broken(html):
        raise ValueError("layout failed")

    monkeypatch.setattr(rendering, "html_to_pdf", broken)
    document_id = ask(cast, api).json()["id"]
    run_worker_until_idle()
    status = api(cast.staff_a["doctor"]).get(url(cast, f"/{document_id}")).json()
    assert status["status"] == "failed" and status["error"] == "ValueError"


def test_documents_load_nothing_from_outside():
    from tests.support.push import PushService

    server = PushService()  # any loopback HTTP server: it counts what reaches it
    try:
        html = f'<html><body><img src="{server.origin}/tracker.png"><p>x</p></body></html>'
        assert rendering.html_to_pdf(html).startswith(b"%PDF")
        assert server.received == []
    finally:
        server.close()


@pytest.mark.django_db(transaction=True)
def test_the_console_lists_documents_and_refreshes_while_one_is_being_prepared(cast, api):
    ask(cast, api)
    browser = sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="en"), cast.staff_a["secretary"])
    page = browser.get(f"/clinic/{cast.clinic_a.external_id}/documents").content.decode()
    assert "رسالة تحويل" in page and 'hx-trigger="every 2s"' in page
    run_worker_until_idle()
    page = browser.get(
        f"/clinic/{cast.clinic_a.external_id}/documents", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "every 2s" not in page and "/file" in page
    document = Document.unscoped.get()
    download = browser.get(f"/clinic/{cast.clinic_a.external_id}/documents/{document.external_id}/file")
    assert download.status_code == 200
    assert io.BytesIO(b"".join(download.streaming_content)).read(4) == b"%PDF"

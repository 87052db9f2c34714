"""Clinic onboarding: a clinic applies, the platform approves or rejects, a licence is issued and the General
Admin invited; licence states and what they allow (CL-7, PL-1)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from shifa.access.policies import user_roles
from shifa.core import timezones
from shifa.tenancy.models import Clinic, ClinicApplication, Institution, Licence, Plan
from shifa.tenancy.policies import licence_allows_bookings, licence_state

PDF = b"%PDF-1.4\n% a licence\n"


def form(**extra):
    data = {
        "institution_name_en": "Nour Medical Group",
        "institution_name_ar": "مجموعة نور الطبية",
        "clinic_name_en": "Nour Clinic Zarqa",
        "clinic_name_ar": "عيادة نور الزرقاء",
        "slug": "nour-zarqa",
        "city": "Zarqa",
        "moh_licence_number": "MOH-2026-0042",
        "contact_name": "Dr. Laila Nour",
        "contact_email": "laila@nour.jo",
        "contact_phone": "0795551212",
    }
    data.update(extra)
    return data


def apply(files=None, **extra):
    files = [SimpleUploadedFile("licence.pdf", PDF, "application/pdf")] if files is None else files
    return Client().post("/api/v1/clinic-applications", {**form(**extra), "documents": files})


@pytest.fixture
def plan(db):
    return Plan.objects.create(
        code="clinic", name_en="Clinic", name_ar="عيادة", price="40.000", period="monthly", seats=15
    )


def test_a_clinic_applies_with_its_licence_documents(db, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    response = apply()
    assert response.status_code == 201 and response.json()["status"] == "submitted"
    application = ClinicApplication.objects.get()
    assert application.contact_phone == "+962795551212" and application.slug == "nour-zarqa"
    [document] = application.documents
    assert document["content_type"] == "application/pdf" and (tmp_path / document["path"]).read_bytes() == PDF


@pytest.mark.parametrize(
    ("files", "extra", "field"),
    [
        ([], {}, "documents"),
        ([SimpleUploadedFile("x.txt", b"hello", "text/plain")], {}, "documents"),
        ([SimpleUploadedFile(f"{i}.pdf", PDF) for i in range(6)], {}, "documents"),
        (None, {"contact_email": "not-an-email"}, "contact_email"),
        (None, {"contact_phone": "12"}, "contact_phone"),
        (None, {"city": "  "}, "city"),
    ],
)
def test_bad_applications_get_field_errors_and_store_nothing(db, files, extra, field):
    response = apply(files, **extra)
    assert response.status_code == 422
    assert field in {e["field"] for e in response.json()["errors"]}
    assert not ClinicApplication.objects.exists()


def test_a_short_name_in_use_is_refused(db, cast):
    response = apply(slug=cast.clinic_a.slug)
    assert response.status_code == 422 and response.json()["errors"][0]["code"] == "taken"


def test_large_licence_scans_are_accepted_on_this_route_only(db):
    scan = SimpleUploadedFile("scan.pdf", PDF + b"0" * (3 * 1024 * 1024), "application/pdf")
    assert apply([scan]).status_code == 201
    big = Client().post("/api/v1/auth/tokens", "x" * (3 * 1024 * 1024), content_type="application/json")
    assert big.status_code == 413


def test_approval_creates_the_clinic_issues_the_licence_and_invites_the_general_admin(cast, api, plan):
    application_id = apply().json()["id"]
    approved = api(cast.platform_admin).post(
        f"/api/v1/platform/clinic-applications/{application_id}/approve", {"plan": "clinic", "months": 12}
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    clinic = Clinic.objects.get(slug="nour-zarqa")
    assert clinic.status == "active" and clinic.name_ar == "عيادة نور الزرقاء"
    assert clinic.institution.owner is None  # until the General Admin accepts
    licence = Licence.objects.for_clinic(clinic).get()
    assert licence.seats == 15 and licence_state(licence) == "active" and licence_allows_bookings(clinic)
    assert (licence.ends_on - licence.starts_on).days in range(364, 367)
    [invite] = mail.outbox
    assert invite.to == ["laila@nour.jo"]
    token = re.search(r"/accounts/invitations/(\S+)", invite.body).group(1)

    accepted = Client().post(
        "/api/v1/invitations/accept",
        {"token": token, "full_name": "Dr. Laila Nour", "password": "a-long-unusual-passphrase"},
        content_type="application/json",
    )
    assert accepted.status_code == 200 and accepted.json()["role"] == "general_admin"
    owner = Institution.objects.get(pk=clinic.institution_id).owner
    assert owner.email == "laila@nour.jo" and "general_admin" in user_roles(owner)

    again = api(cast.platform_admin).post(
        f"/api/v1/platform/clinic-applications/{application_id}/reject", {"reason": "late"}
    )
    assert again.status_code == 409 and again.json()["code"] == "application_decided"


def test_a_rejection_tells_the_applicant_why(cast, api):
    application_id = apply().json()["id"]
    response = api(cast.platform_admin).post(
        f"/api/v1/platform/clinic-applications/{application_id}/reject",
        {"reason": "The licence has expired."},
    )
    assert response.status_code == 200 and response.json()["decision_reason"] == "The licence has expired."
    assert not Clinic.objects.filter(slug="nour-zarqa").exists()
    assert "The licence has expired." in mail.outbox[0].body


def test_approval_needs_an_offered_plan_and_leaves_nothing_half_made(cast, api, plan):
    application_id = apply().json()["id"]
    bad = api(cast.platform_admin).post(
        f"/api/v1/platform/clinic-applications/{application_id}/approve", {"plan": "nope", "months": 12}
    )
    assert bad.status_code == 422
    assert not Clinic.objects.filter(slug="nour-zarqa").exists() and not mail.outbox


def test_licence_states_and_what_they_allow(cast, api, plan):
    today = dt.date(2026, 11, 25)
    licence = Licence.objects.for_clinic(cast.clinic_a).create(
        clinic=cast.clinic_a, plan=plan, seats=5, starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2027, 6, 1)
    )
    assert licence_state(licence, today) == "active"
    licence.ends_on = today + dt.timedelta(days=20)
    assert licence_state(licence, today) == "expiring"
    Licence.objects.for_clinic(cast.clinic_a).update(ends_on=today + dt.timedelta(days=20))
    assert licence_allows_bookings(cast.clinic_a, today)
    Licence.objects.for_clinic(cast.clinic_a).update(ends_on=today - dt.timedelta(days=1))
    assert not licence_allows_bookings(cast.clinic_a, today)
    assert not licence_allows_bookings(cast.clinic_b, today)  # no licence at all

    client = api(cast.platform_admin)
    suspended = client.post(
        f"/api/v1/platform/licences/{licence.external_id}/suspend", {"reason": "Unpaid invoice"}
    )
    assert suspended.status_code == 200 and suspended.json()["state"] == "suspended"
    assert not licence_allows_bookings(cast.clinic_a)
    # Existing records stay visible to the clinic's staff.
    assert (
        api(cast.staff_a["secretary"]).get(f"/api/v1/clinics/{cast.clinic_a.external_id}/members").status_code
        == 200
    )
    renewed = client.post(f"/api/v1/platform/licences/{licence.external_id}/renew", {"months": 12})
    body = renewed.json()
    assert body["state"] == "active" and dt.date.fromisoformat(body["ends_on"]) > timezones.now().date()
    assert licence_allows_bookings(cast.clinic_a)


def test_plans_are_defined_on_the_platform_with_money_to_three_places(cast, api):
    client = api(cast.platform_admin)
    body = {
        "code": "x",
        "name_en": "Pro",
        "name_ar": "احترافية",
        "price": "99.5",
        "period": "yearly",
        "seats": 50,
    }
    saved = client.put("/api/v1/platform/plans/pro", body)
    assert saved.status_code == 200 and saved.json()["price"] == "99.500" and saved.json()["code"] == "pro"
    assert client.put("/api/v1/platform/plans/pro", {**body, "price": "-1"}).status_code == 422
    assert client.put("/api/v1/platform/plans/pro", {**body, "period": "weekly"}).status_code == 422
    assert api(cast.staff_a["clinic_admin"]).get("/api/v1/platform/plans").status_code == 403


def test_the_application_page_and_the_platform_review_pages(cast, plan):
    page = Client(HTTP_ACCEPT_LANGUAGE="ar").get("/clinics/apply")
    assert page.status_code == 200 and 'dir="rtl"' in page.content.decode()
    data = {**form(), "documents": [SimpleUploadedFile("licence.pdf", PDF, "application/pdf")]}
    sent = Client(HTTP_ACCEPT_LANGUAGE="en").post("/clinics/apply", data)
    assert sent.status_code == 201 and "laila@nour.jo" in sent.content.decode()
    missing = Client(HTTP_ACCEPT_LANGUAGE="en").post(
        "/clinics/apply", {**form(slug="other"), "documents": []}
    )
    assert missing.status_code == 400 and "licence documents" in missing.content.decode()

    from tests.conftest import sign_in_page

    admin = sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="en"), cast.platform_admin)
    application = ClinicApplication.objects.get()
    listing = admin.get("/platform/applications").content.decode()
    assert "Nour Clinic Zarqa" in listing
    detail = admin.get(f"/platform/applications/{application.external_id}")
    assert detail.status_code == 200 and "MOH-2026-0042" in detail.content.decode()
    scan = admin.get(f"/platform/applications/{application.external_id}/documents/1")
    assert scan.status_code == 200 and b"".join(scan.streaming_content) == PDF
    assert admin.get(f"/platform/applications/{application.external_id}/documents/2").status_code == 404
    approved = admin.post(
        f"/platform/applications/{application.external_id}",
        {"step": "approve", "plan": "clinic", "months": "12"},
    )
    assert approved.status_code == 302
    assert Clinic.objects.filter(slug="nour-zarqa", status="active").exists()
    # Clinic staff cannot open the review pages.
    staff = sign_in_page(Client(), cast.staff_a["clinic_admin"])
    assert staff.get("/platform/applications").status_code == 403


def test_clinics_are_told_once_when_their_licence_is_about_to_expire(cast, plan):
    from shifa.notifications.models import Notification
    from shifa.tenancy.actions import licences_notify_expiring

    today = dt.date(2026, 11, 25)
    Licence.objects.for_clinic(cast.clinic_a).create(
        clinic=cast.clinic_a,
        plan=plan,
        seats=5,
        starts_on=dt.date(2026, 1, 1),
        ends_on=today + dt.timedelta(days=10),
    )
    Licence.objects.for_clinic(cast.clinic_b).create(
        clinic=cast.clinic_b,
        plan=plan,
        seats=5,
        starts_on=dt.date(2026, 1, 1),
        ends_on=today + dt.timedelta(days=90),
    )
    assert licences_notify_expiring(today) == 1
    told = set(
        Notification.objects.filter(kind="clinic.licence_expiring").values_list("recipient", flat=True)
    )
    assert told == {cast.general_admin.pk, cast.staff_a["clinic_admin"].pk}
    assert licences_notify_expiring(today) == 0  # once per licence period


def test_licence_lengths_count_calendar_months():
    from shifa.tenancy.actions import months_after

    assert months_after(dt.date(2026, 1, 31), 1) == dt.date(2026, 2, 28)
    assert months_after(dt.date(2026, 11, 25), 12) == dt.date(2027, 11, 25)
    assert months_after(dt.date(2026, 12, 1), 2) == dt.date(2027, 2, 1)

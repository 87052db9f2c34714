"""The onboarding journey in Arabic, right to left: a clinic applies, the platform approves, the General Admin
accepts, sets up the clinic (hours, a service priced for all three visit types, a home-visit area, an insurer)
and invites a doctor (CL-1..CL-7, PL-1)."""

from __future__ import annotations

import re

import pyotp
import pytest
from django.core import mail
from playwright.sync_api import expect

from shifa.catalog.actions import reference_list_load
from shifa.directory.models import InsurancePartner, Price, ServiceArea
from shifa.scheduling.models import OpeningInterval
from shifa.tenancy.models import Clinic, Invitation, Plan
from tests.e2e.test_journeys import sign_in
from tests.factories import enrol_authenticator

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_clinic_applies_is_approved_and_set_up_in_arabic(cast, page_for, tmp_path):
    reference_list_load("insurers")
    Plan.objects.create(
        code="clinic", name_en="Clinic", name_ar="عيادة", price="40.000", period="monthly", seats=15
    )
    licence = tmp_path / "licence.pdf"
    licence.write_bytes(b"%PDF-1.4\n% licence\n")

    applicant = page_for("ar")
    applicant.goto("/clinics/apply")
    assert applicant.get_attribute("html", "dir") == "rtl"
    for name, value in {
        "institution_name_ar": "مجموعة نور الطبية",
        "institution_name_en": "Nour Medical Group",
        "clinic_name_ar": "عيادة نور الزرقاء",
        "clinic_name_en": "Nour Clinic Zarqa",
        "slug": "nour-zarqa",
        "city": "الزرقاء",
        "moh_licence_number": "MOH-2026-0042",
        "contact_name": "د. ليلى نور",
        "contact_email": "laila@nour.jo",
        "contact_phone": "0795551212",
    }.items():
        applicant.fill(f"input[name={name}]", value)
    applicant.set_input_files("input[name=documents]", str(licence))
    applicant.click("main button[type=submit]")
    assert "وصل الطلب" in applicant.locator("h1").inner_text()

    type(cast.platform_admin).objects.filter(pk=cast.platform_admin.pk).update(language="ar")
    admin = page_for("ar")
    sign_in(admin, cast.platform_admin.email, enrol_authenticator(cast.platform_admin))
    admin.wait_for_url("**/platform")
    admin.goto("/platform/applications")
    admin.click("text=عيادة نور الزرقاء")
    admin.select_option("select[name=plan]", "clinic")
    admin.click("form:has(input[value=approve]) button[type=submit]")
    admin.wait_for_url("**/platform/applications")
    clinic = Clinic.objects.get(slug="nour-zarqa")
    link = re.search(r"http://\S+(/accounts/invitations/\S+)", mail.outbox[-1].body).group(1)

    owner = page_for("ar")
    owner.goto(link)
    owner.fill("input[name=full_name]", "د. ليلى نور")
    owner.fill("input[name=password]", "a-long-and-unusual-passphrase")
    owner.click("main button[type=submit]")
    owner.wait_for_url("**/accounts/security")
    owner.click("main form button[type=submit]")  # set up an authenticator app
    secret = owner.locator("[data-testid=totp-secret]").inner_text().strip()
    owner.fill("input[name=code]", pyotp.TOTP(secret).now())
    owner.click("main button[type=submit]")
    expect(owner.locator("[data-testid=recovery-codes] li")).to_have_count(
        10
    )  # waits for the page after the click

    base = f"/clinic/{clinic.external_id}/settings"
    owner.goto(f"{base}/hours")
    assert owner.get_attribute("html", "dir") == "rtl"
    owner.fill("input[name=day_6]", "08:30-13:00, 14:00-18:00")  # Sunday
    owner.fill("input[name=day_0]", "08:30-13:00, 14:00-18:00")
    owner.click("main button[type=submit]")
    owner.wait_for_selector("text=حُفظت ساعات العمل.")

    owner.goto(f"{base}/services")
    for name, value in {
        "name_ar": "كشف عام",
        "name_en": "General consultation",
        "office": "20",
        "video": "15.5",
        "home": "35",
    }.items():
        owner.fill(f"input[name={name}]", value)
    owner.click("main button[type=submit]")
    owner.wait_for_selector("text=حُفظت الخدمة.")

    owner.goto(f"{base}/areas")
    for name, value in {
        "name": "الزرقاء",
        "center_lat": "32.06",
        "center_lng": "36.09",
        "radius_km": "8",
    }.items():
        owner.fill(f"input[name={name}]", value)
    owner.click("main button[type=submit]")
    owner.wait_for_selector("text=حُفظت منطقة الزيارات المنزلية.")

    owner.goto(f"{base}/insurance")
    owner.select_option("select[name=insurer]", "jic")
    owner.fill("input[name=copay_percent]", "20")
    owner.check("input[name=pre_approval_required]")
    owner.click("main button[type=submit]")
    owner.wait_for_selector("text=حُفظت شركة التأمين.")

    owner.goto(f"/clinic/{clinic.external_id}/invitations")
    owner.fill("input[name=email]", "dr.sami@nour.jo")
    owner.select_option("select[name=role]", "doctor")
    owner.click("main form button[type=submit]")
    owner.wait_for_selector("text=dr.sami@nour.jo")

    assert OpeningInterval.objects.for_clinic(clinic).count() == 4
    assert Price.objects.for_clinic(clinic).count() == 3
    assert ServiceArea.objects.for_clinic(clinic).count() == 1
    assert InsurancePartner.objects.for_clinic(clinic).get().pre_approval_required
    assert Invitation.objects.for_clinic(clinic).filter(email="dr.sami@nour.jo", role__code="doctor").exists()

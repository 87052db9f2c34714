"""The screenshots of the user guides (docs/guides/): for each section of each guide, the right user opens the page
in Arabic (right to left) and in English and the page is saved as an image. Patients' pages on a phone, the
consoles on a desktop.

The images go to the folder named by SHIFA_GUIDE_SCREENSHOTS (``make guides`` sets docs/guides/screenshots), else
to the test's own temporary folder, so that ``make test`` leaves the repository alone. The guides and the images
cannot drift apart: every image a guide shows is one taken here, and every image taken here is shown by a guide.

The data is the demo's (``make run`` loads the same cast: Dr. Sami Odeh, Ahmad Ali …) with a working day around
it: appointments at the desk, invoices, an insurance claim, records sent to Hakeem and one that failed, a family
doctor request, an urgent video request, a prescription printed in both languages, a clinic application and a
rating to review."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from shifa.accounts.models import User
from tests.conftest import sign_in_page

pytestmark = pytest.mark.heavy(80)

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ROOT / "docs" / "guides"
LANGUAGES = ("ar", "en")
#: What Chromium draws itself (a file field's "Choose file", a date's dd/mm/yyyy, a time's hours) is in the
#: browser's own language: Jordanian Arabic, and British English for the 24-hour clock. Chromium on Linux reads it
#: from the environment (it ignores ``--lang``; the context's ``locale`` only changes navigator.language and Intl),
#: and has no language but American English without Debian's chromium-l10n.
BROWSER_LOCALES = {"ar": "ar-JO", "en": "en-GB"}
PHONE = {"width": 412, "height": 915}
DESKTOP = {"width": 1280, "height": 800}
JPEG_QUALITY = 70

#: Who signs in, by the demo's e-mail addresses (shifa.demo).
USERS = {
    "patient": "patient1@demo.shifa.jo",
    "general_admin": "general.admin@demo.shifa.jo",
    "clinic_admin": "clinic.admin@demo.shifa.jo",
    "secretary": "secretary@demo.shifa.jo",
    "assistant_doctor": "assistant@demo.shifa.jo",
    "nurse": "nurse@demo.shifa.jo",
    "doctor": "doctor@demo.shifa.jo",
    "platform_admin": "admin@demo.shifa.jo",
}


@dataclass(frozen=True)
class Shot:
    """One screenshot: ``name`` (the image is ``<name>.<language>.jpg``), who takes it, the page (a path with
    ``{ids}`` of the world), what must be on it (a selector with at least one match: no empty list where the
    guide describes content), and what to do on the page first."""

    name: str
    who: str
    path: str
    shows: str
    phone: bool = False
    prepare: Callable | None = field(default=None, compare=False)


#: Scroll the element (with its heading, when a heading comes just before it) to the top of the screen, a little
#: space above it but nothing of what comes before: no shot starts half-way through a label or a button.
SCROLL_TO = """el => {
  const heading = el.previousElementSibling;
  const target = heading && /^H[1-6]$/.test(heading.tagName) ? heading : el;
  const before = target.previousElementSibling;
  const top = target.getBoundingClientRect().top;
  const room = before ? top - before.getBoundingClientRect().bottom : 16;
  window.scrollBy(0, top - Math.max(0, Math.min(16, room - 1)));
  // Near the end of the page the part stops lower down: then start at the field (or line) cut by the top edge.
  const cut = [...document.querySelectorAll('main :is(label, input, select, textarea, button, h1, h2, h3, p, a, li, dt, dd, th, td)')]
    .map((n) => (n.closest('.field') || n).getBoundingClientRect())
    .filter((box) => box.top < 0 && box.bottom > 0 && box.height > 0);
  if (cut.length) window.scrollBy(0, Math.min(...cut.map((box) => box.top)) - 8);
}"""


def _scroll_to(selector: str) -> Callable:
    """For a shot of one part of a long page (said in the guide's text): bring that part to the top."""

    def run(page) -> None:
        page.locator(selector).first.evaluate(SCROLL_TO)

    return run


PATIENT = [
    Shot("patient-home", "patient", "/app", "main h1", phone=True),
    Shot(
        "patient-search",
        "patient",
        "/app/search",
        "a[href*='/app/doctors/']",
        phone=True,
        prepare=_scroll_to("section:has(a[href*='/app/doctors/'])"),  # the results, below a phone's screen
    ),
    Shot(
        "patient-doctor",
        "patient",
        "/app/doctors/{amman}/{doctor}",
        "button[data-slot], [data-slot]",
        phone=True,
    ),
    Shot("patient-appointments", "patient", "/app/appointments", "a[href*='/app/appointments/']", phone=True),
    Shot("patient-appointment", "patient", "/app/appointments/{upcoming}", "main h1", phone=True),
    Shot("patient-record", "patient", "/app/record", "a[href*='/app/record/visits/']", phone=True),
    Shot("patient-visit", "patient", "/app/record/visits/{visit}", "main h1", phone=True),
    Shot("patient-sharing", "patient", "/app/record/sharing", "main li, main tr", phone=True),
    Shot("patient-plan", "patient", "/app/plans/{plan}", "[data-step]", phone=True),
    Shot("patient-medicines", "patient", "/app/medicines", "main li, main article", phone=True),
    Shot("patient-readings", "patient", "/app/readings", "main form", phone=True),
    Shot("patient-messages", "patient", "/app/messages/{conversation}", "main p", phone=True),
    Shot("patient-urgent", "patient", "/app/urgent", "main form", phone=True),
    Shot("patient-invoices", "patient", "/app/invoices", "a[href*='/app/invoices/']", phone=True),
    Shot("patient-invoice", "patient", "/app/invoices/{due_invoice}", "main h1", phone=True),
    Shot("patient-subscription", "patient", "/app/subscription", "main form, main article", phone=True),
    Shot("patient-security", "patient", "/accounts/security", "main form", phone=True),
]

GENERAL_ADMIN = [
    Shot("general-admin-clinics", "general_admin", "/clinic", "main a[href^='/clinic/']"),
    Shot("general-admin-dashboard", "general_admin", "/clinic/{amman}/dashboard", "[data-chart]"),
    Shot(
        "general-admin-roles",
        "general_admin",
        "/clinic/{amman}/roles",
        "#role-secretary",
    ),
]
CLINIC_ADMIN = [
    Shot("clinic-admin-staff", "clinic_admin", "/clinic/{amman}/staff", "tbody tr"),
    Shot("clinic-admin-invitations", "clinic_admin", "/clinic/{amman}/invitations", "main form"),
    Shot("clinic-admin-hours", "clinic_admin", "/clinic/{amman}/settings/hours", "main form"),
    Shot("clinic-admin-services", "clinic_admin", "/clinic/{amman}/settings/services", "main table, main li"),
    Shot("clinic-admin-doctor", "clinic_admin", "/clinic/{amman}/doctors/{doctor}", "main form"),
    Shot("clinic-admin-profile", "clinic_admin", "/clinic/{amman}/settings/profile", "main form"),
    Shot("clinic-admin-hakeem", "clinic_admin", "/clinic/{amman}/hakeem", "main table"),
]
SECRETARY = [
    Shot("secretary-desk", "secretary", "/clinic/{amman}/desk", "article[data-appointment]"),
    Shot(
        "secretary-book",
        "secretary",
        "/clinic/{amman}/desk",
        "form[action$='/desk/book']",
        prepare=_scroll_to("form[action$='/desk/book']"),  # with its heading, "Book a walk-in or a caller"
    ),
    Shot("secretary-billing", "secretary", "/clinic/{amman}/billing", "tbody tr"),
    Shot("secretary-invoice", "secretary", "/clinic/{amman}/billing/{due_invoice}", "main form"),
    Shot("secretary-claims", "secretary", "/clinic/{amman}/insurance/claims/{claim}", "tbody tr"),
    Shot("secretary-messages", "secretary", "/clinic/{amman}/messages", "main a[href*='/messages/']"),
]
NURSE = [
    Shot("nurse-visits", "nurse", "/clinic/{amman}/visits", "main table, main li"),
    Shot("nurse-vitals", "nurse", "/clinic/{amman}/visits/{open_visit}", "main form"),
    Shot("nurse-patient", "nurse", "/clinic/{amman}/patients/{ahmad}", "main h1"),
    Shot("nurse-alerts", "nurse", "/clinic/{amman}/alerts", "main table, main li"),
]
ASSISTANT_DOCTOR = [
    Shot("assistant-visit", "assistant_doctor", "/clinic/{amman}/visits/{open_visit}", "main form"),
    Shot(
        "assistant-hakeem-import", "assistant_doctor", "/clinic/{amman}/patients/{khaled}/hakeem", "main form"
    ),
    Shot("assistant-documents", "assistant_doctor", "/clinic/{amman}/documents", "tbody tr"),
]
DOCTOR = [
    Shot("doctor-dashboard", "doctor", "/clinic/{amman}/dashboard", "[data-chart]"),
    Shot("doctor-visit", "doctor", "/clinic/{amman}/visits/{open_visit}", "main form"),
    Shot("doctor-committed-visit", "doctor", "/clinic/{amman}/visits/{visit}", "main h1"),
    Shot("doctor-new-plan", "doctor", "/clinic/{amman}/patients/{maryam}/plans/new", "main form"),
    Shot("doctor-plan", "doctor", "/clinic/{amman}/plans/{plan}", "main h1"),
    Shot("doctor-alerts", "doctor", "/clinic/{amman}/alerts", "main table, main li"),
    Shot("doctor-messages", "doctor", "/clinic/{amman}/messages/{conversation}", "main p"),
    Shot("doctor-urgent", "doctor", "/clinic/{amman}/urgent", "tr[data-request]"),
    Shot("doctor-family", "doctor", "/clinic/{amman}/family-doctor", "main form"),
]
PLATFORM_ADMIN = [
    Shot("platform-home", "platform_admin", "/platform", "main table"),
    Shot("platform-dashboard", "platform_admin", "/platform/dashboard", "[data-chart]"),
    Shot("platform-applications", "platform_admin", "/platform/applications/{application}", "main form"),
    Shot("platform-clinic", "platform_admin", "/platform/clinics/{amman}", "main form"),
    Shot("platform-hakeem", "platform_admin", "/platform/hakeem", "tr[data-record]"),
    Shot("platform-ratings", "platform_admin", "/platform/ratings", "main form"),
    Shot("platform-audit", "platform_admin", "/platform/audit", "tbody tr"),
    Shot("platform-reference", "platform_admin", "/platform/reference/medications", "tbody tr"),
    Shot("platform-subscription-plans", "platform_admin", "/platform/subscription-plans", "tbody tr"),
    Shot("platform-revenue", "platform_admin", "/platform/revenue", "tbody tr"),
]

#: Guide file → the screenshots it shows.
GUIDE_SHOTS = {
    "patient.md": PATIENT,
    "patient.ar.md": PATIENT,
    "general-admin.md": GENERAL_ADMIN,
    "clinic-admin.md": CLINIC_ADMIN,
    "secretary.md": SECRETARY,
    "nurse.md": NURSE,
    "assistant-doctor.md": ASSISTANT_DOCTOR,
    "doctor.md": DOCTOR,
    "platform-admin.md": PLATFORM_ADMIN,
}
SHOTS = [
    *PATIENT,
    *GENERAL_ADMIN,
    *CLINIC_ADMIN,
    *SECRETARY,
    *NURSE,
    *ASSISTANT_DOCTOR,
    *DOCTOR,
    *PLATFORM_ADMIN,
]
IMAGE = re.compile(r"\]\((?:\./)?screenshots/([^)\s]+)\)|src=\"(?:\./)?screenshots/([^\"]+)\"")


def image_name(shot: Shot, language: str) -> str:
    return f"{shot.name}.{language}.jpg"


def expected_images() -> set[str]:
    return {image_name(shot, language) for shot in SHOTS for language in LANGUAGES}


def referenced_images(guide: Path) -> set[str]:
    return {a or b for a, b in IMAGE.findall(guide.read_text(encoding="utf-8"))}


# --- the world ---------------------------------------------------------------------------------------------------


def _local(clinic, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ZoneInfo(clinic.time_zone))


def build_world() -> dict[str, str]:
    """The demo plus a working day at the Amman clinic; the ids the pages need."""
    from shifa.access import catalog
    from shifa.access.policies import Actor, clinic_roles
    from shifa.accounts.models import User
    from shifa.billing import actions as billing
    from shifa.careplans import actions as careplans
    from shifa.careplans.models import CarePlan
    from shifa.catalog.models import InsuranceCompany
    from shifa.core import timezones
    from shifa.demo.actions import load_demo
    from shifa.directory.models import Rating, Service
    from shifa.documents.actions import document_render
    from shifa.family.models import FamilyDoctor
    from shifa.insurance import actions as insurance
    from shifa.integrations.hakeem import actions as hakeem
    from shifa.integrations.hakeem.history.actions import history_import_run, history_import_start
    from shifa.records import actions as records
    from shifa.records.models import Patient, Visit
    from shifa.scheduling.actions import appointment_check_in
    from shifa.scheduling.models import Appointment
    from shifa.simulators.hakeem import actions as simulator
    from shifa.subscriptions.models import Plan as SubscriptionPlan
    from shifa.subscriptions.models import Subscription
    from shifa.telehealth.models import Conversation, UrgentRequest
    from shifa.tenancy.actions import invitation_create
    from shifa.tenancy.models import Clinic

    load_demo()
    users = {key: User.objects.get(email=email) for key, email in USERS.items()}
    amman = Clinic.objects.get(slug="amman")

    def actor(key: str) -> Actor:
        return Actor(user=users[key], clinic=amman, roles=clinic_roles(users[key], amman))

    ahmad = Patient.objects.get(user__email="patient1@demo.shifa.jo")
    maryam = Patient.objects.get(user__email="patient2@demo.shifa.jo")
    khaled = Patient.objects.get(user__email="patient3@demo.shifa.jo")
    doctor = users["doctor"]
    records.grant_create(
        actor=Actor(user=maryam.user, roles=frozenset({catalog.PATIENT})), clinic_id=amman.external_id
    )

    now = timezones.now()
    today = timezones.to_local(now, amman.time_zone).date()

    def appointment(
        patient, day, hour, minute=0, *, status="booked", visit_type="office", channel="desk", **extra
    ):
        starts = _local(amman, day, hour, minute)
        return Appointment.unscoped.create(
            clinic=amman,
            doctor=doctor,
            patient=patient,
            service=amman_service,
            visit_type=visit_type,
            starts_at=starts,
            ends_at=starts + dt.timedelta(minutes=30),
            status=status,
            channel=channel,
            price=Decimal("20.000") if visit_type == "office" else Decimal("15.000"),
            **extra,
        )

    amman_service = Service.unscoped.get(clinic=amman, name_en="Consultation")
    jic = InsuranceCompany.objects.get(code="jic")
    # Today at the desk: Maryam (insured with JIC) is in with the doctor, Khaled has arrived, Ahmad comes later.
    maryam_today = appointment(maryam, today, 9, 30, reason="Sore throat", insurer=jic)
    khaled_today = appointment(khaled, today, 10, 30, reason="Knee pain")
    appointment(ahmad, today, 11, 30, reason="Blood pressure review")
    upcoming = appointment(
        ahmad, today + dt.timedelta(days=3), 10, 0, visit_type="video", channel="app", reason="Follow-up"
    )
    appointment_check_in(actor=actor("secretary"), appointment_id=khaled_today.external_id)
    # The nurse opens Maryam's visit and takes her vital signs; the doctor writes it (not committed yet).
    open_visit = records.visit_open(actor=actor("nurse"), appointment_id=maryam_today.external_id)
    records.vitals_record(
        actor=actor("nurse"),
        visit_id=open_visit.external_id,
        readings={"8480-6": 118, "8462-4": 76, "8867-4": 88, "8310-5": 38.4},
    )
    records.visit_update(
        actor=actor("doctor"),
        visit_id=open_visit.external_id,
        changes={"complaint": "Sore throat and fever since yesterday", "notes": "Red tonsils, no exudate"},
    )
    records.diagnosis_add(actor=actor("doctor"), visit_id=open_visit.external_id, code="462", rank="primary")

    # Invoices: Maryam's visit (JIC pays 80%, she owes her co-pay, JIC's share goes into a claim); Ahmad's
    # consultation, paid in cash at the desk, and his HbA1c test, still to pay.
    maryam_invoice, _new = billing.desk_invoice_for_appointment(
        actor=actor("secretary"), appointment_id=maryam_today.external_id
    )
    insurance.apply_coverage(actor=actor("secretary"), invoice=maryam_invoice)
    claim = insurance.claim_open(
        actor=actor("secretary"), insurer="jic", period_start=today - dt.timedelta(days=30), period_end=today
    )
    insurance.claim_lines_fill(actor=actor("secretary"), claim_id=claim.external_id)
    ahmad_visit = Visit.unscoped.get(patient=ahmad, clinic=amman, is_committed=True)
    paid = billing.invoice_open(
        actor=actor("secretary"),
        patient_id=ahmad.external_id,
        lines=[{"description": "Consultation", "amount": "20.000"}],
    )
    billing.desk_entry_post(
        actor=actor("secretary"), invoice_id=paid.external_id, kind="payment", amount="20.000", method="cash"
    )
    due = billing.invoice_open(
        actor=actor("secretary"),
        patient_id=ahmad.external_id,
        lines=[{"description": "HbA1c test", "amount": "12.500"}],
    )

    # A care plan template of the clinic's, and Ahmad's plan (the demo's).
    careplans.template_save(
        actor=actor("doctor"),
        name="Type 2 diabetes follow-up",
        goal="HbA1c below 7%",
        items=[
            {
                "kind": "task",
                "task": "vital",
                "vital_code": "2339-0",
                "title": "Blood sugar",
                "count": 30,
                "every_days": 1,
            },
            {"kind": "visit", "title": "Follow-up visit", "count": 4, "every_days": 90, "first_in_days": 90},
        ],
    )
    plan = CarePlan.unscoped.get(patient=ahmad)

    # Hakeem: Ahmad's record went through; Hakeem was down when Khaled's knee condition was sent.
    hakeem.send_patient(clinic_id=amman.pk, patient_id=ahmad.pk)
    simulator.switch_set("down")
    records.condition_record(
        actor=actor("nurse"), patient_id=khaled.external_id, code="715.16", note="Both knees"
    )
    hakeem.send_patient(clinic_id=amman.pk, patient_id=khaled.pk)
    simulator.switch_set("normal")

    # Khaled agreed: the assistant imported his history from Hakeem (his care at Al Bashir Hospital).
    imported = history_import_start(
        actor=actor("assistant_doctor"), patient_id=khaled.external_id, consent=True
    )
    history_import_run(import_id=imported.pk)
    # A nurse invited to the clinic, who has not signed up yet.
    invitation_create(actor=actor("clinic_admin"), email="rania.khoury@example.jo", role_code="nurse")

    # Ahmad's prescription, printed in Arabic and in English from his visit.
    for language in LANGUAGES:
        document = records.visit_document_request(
            actor=actor("doctor"), visit_id=ahmad_visit.external_id, kind="prescription", language=language
        )
        document_render(document_id=document.pk)

    # Khaled asks for urgent video care; Maryam asks Dr. Sami Odeh to be her family doctor.
    UrgentRequest.objects.create(
        patient=khaled, requested_by=khaled.user, complaint="Chest tightness since this morning"
    )
    Subscription.objects.create(  # Maryam pays for Shifa Plus, which includes a family doctor
        patient=maryam,
        plan=SubscriptionPlan.objects.get(name_en="Shifa Plus"),
        source="paytabs",
        state="active",
        current_period_start=now - dt.timedelta(days=3),
        current_period_end=now + dt.timedelta(days=27),
        as_of=now,
    )
    FamilyDoctor.unscoped.create(clinic=amman, patient=maryam, doctor=doctor, requested_by=maryam.user)

    # A clinic that applied to join Shifa; a rating waiting for review.
    application = _application()
    completed = appointment(ahmad, today - dt.timedelta(days=7), 12, 0, status="completed")
    Rating.unscoped.create(
        clinic=amman,
        appointment=completed,
        doctor=doctor,
        patient=ahmad,
        stars=5,
        comment="Dr. Sami explained everything clearly and did not rush.",
    )

    return {
        "amman": str(amman.external_id),
        "doctor": str(doctor.external_id),
        "ahmad": str(ahmad.external_id),
        "maryam": str(maryam.external_id),
        "khaled": str(khaled.external_id),
        "upcoming": str(upcoming.external_id),
        "visit": str(ahmad_visit.external_id),
        "open_visit": str(open_visit.external_id),
        "plan": str(plan.external_id),
        "conversation": str(Conversation.unscoped.get(patient=ahmad).external_id),
        "due_invoice": str(due.external_id),
        "claim": str(claim.external_id),
        "application": str(application.external_id),
    }


def _application():
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from shifa.tenancy.models import ClinicApplication

    path = default_storage.save("applications/guides/licence.pdf", ContentFile(b"%PDF-1.4 licence"))
    return ClinicApplication.objects.create(
        documents=[
            {
                "name": "moh-licence.pdf",
                "path": path,
                "size": 16,
                "content_type": "application/pdf",
                "sha256": "",
            }
        ],
        institution_name_en="Zarqa Family Health",
        institution_name_ar="الزرقاء لصحة العائلة",
        clinic_name_en="Zarqa Family Clinic",
        clinic_name_ar="عيادة الزرقاء للعائلة",
        slug="zarqa-family",
        city="Zarqa",
        moh_licence_number="MOH-2026-1187",
        contact_name="Dr. Nour Hamdan",
        contact_email="nour.hamdan@example.jo",
        contact_phone="+962795550123",
    )


# --- the tests ---------------------------------------------------------------------------------------------------


def _screenshots_dir(tmp_path: Path) -> Path:
    chosen = os.environ.get("SHIFA_GUIDE_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path / "screenshots"
    if not folder.is_absolute():
        folder = ROOT / folder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_every_guide_shows_the_screenshots_taken_and_only_those():
    shown: set[str] = set()
    for guide, shots in GUIDE_SHOTS.items():
        images = referenced_images(GUIDES / guide)
        own = {image_name(shot, language) for shot in shots for language in LANGUAGES}
        assert images == own, (guide, sorted(images ^ own))
        shown |= images
    for guide in GUIDES.glob("*.md"):
        shown |= referenced_images(guide)
    assert shown == expected_images()
    assert len({shot.name for shot in SHOTS}) == len(SHOTS)
    assert set(GUIDE_SHOTS) | {"README.md"} == {p.name for p in GUIDES.glob("*.md")}


#: The faces of the web font that the page does not draw its text in. They use ``font-display: optional``: a face
#: that arrives late (the first time, before the browser has it in its cache) is left out for the life of the page,
#: and the fallback is drawn. Once every face has loaded, text measured in "Plex Arabic" and in the fallback alone
#: is as wide only if the fallback is drawn.
FONTS_LEFT_OUT = """async () => {
  await document.fonts.ready;
  await Promise.all([...document.fonts].map(face => face.load().catch(() => null)));
  const width = (family, weight, text) => {
    const probe = document.createElement('span');
    probe.textContent = text;
    probe.style.cssText = `position: absolute; visibility: hidden; white-space: nowrap; font: ${weight} 40px ${family}`;
    document.body.append(probe);
    const found = probe.getBoundingClientRect().width;
    probe.remove();
    return found;
  };
  const left = [];
  for (const weight of [400, 600]) {
    for (const text of ['Shifa clinic', 'عيادة شفاء']) {
      if (width('"Plex Arabic", monospace', weight, text) === width('monospace', weight, text)) {
        left.push(`${weight} ${text}`);
      }
    }
  }
  return left;
}"""


def _open(page, shot: Shot, url: str, language: str) -> list[str]:
    """Open ``url`` and say what is wrong with it: an error page, a redirect, the wrong language, nothing to show,
    text not in the web font."""
    response = page.goto(url)
    fonts_left_out = page.evaluate(FONTS_LEFT_OUT)
    for _again in range(2):
        if not fonts_left_out:
            break
        response = page.goto(url)  # the font is in the browser's cache now: drawn from the start
        fonts_left_out = page.evaluate(FONTS_LEFT_OUT)
    if page.locator("[hx-trigger*='load'], [hx-trigger*='every']").count():
        page.wait_for_load_state("networkidle")  # parts of the page that load after it
    page.evaluate("window.scrollTo(0, 0)")  # the top of the page, even on a second visit to the same address
    status = response.status if response is not None else None
    if status != 200:
        return [f"answered {status}"]
    problems = [f"not in the web font: {face}" for face in fonts_left_out]
    if not page.url.split("?")[0].endswith(url.split("?")[0]):
        problems.append(f"ended at {page.url}")
    if page.get_attribute("html", "lang") != language:
        problems.append(f"in {page.get_attribute('html', 'lang')}")
    if page.get_attribute("html", "dir") != ("rtl" if language == "ar" else "ltr"):
        problems.append("wrong direction")
    if page.locator("[role=alert] h1").count():
        problems.append("an error page")
    if page.locator(shot.shows).count() == 0:
        problems.append(f"nothing matches {shot.shows!r}")
    return problems


def _browser_in(chromium, locale: str):
    """Chromium speaking ``locale`` ("ar-JO") in what it draws itself; as tests/e2e/conftest.py starts it otherwise."""
    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    posix = locale.replace("-", "_")
    return chromium.launch(
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        env={**os.environ, "LANGUAGE": posix, "LANG": f"{posix}.UTF-8"},
    )


@pytest.mark.django_db(transaction=True)
def test_guide_screenshots(request, live_server, tmp_path):
    folder = _screenshots_dir(tmp_path)
    ids = build_world()
    # The browser starts after the world is built: Playwright's event loop would refuse the Channels events that
    # the actions above send on commit. One browser per language, for its own controls (BROWSER_LOCALES).
    chromium = request.getfixturevalue("browser").browser_type
    browsers = {language: _browser_in(chromium, BROWSER_LOCALES[language]) for language in LANGUAGES}
    cookie = settings.SESSION_COOKIE_NAME
    sessions = {
        key: sign_in_page(Client(), User.objects.get(email=email)).cookies[cookie].value
        for key, email in USERS.items()
    }
    taken: set[str] = set()
    problems: dict[str, list[str]] = {}
    pages = {}
    try:
        for language in LANGUAGES:
            for shot in SHOTS:
                key = (shot.who, shot.phone, language)
                if key not in pages:
                    context = browsers[language].new_context(
                        locale=BROWSER_LOCALES[language],
                        base_url=live_server.url,
                        viewport=PHONE if shot.phone else DESKTOP,
                        is_mobile=shot.phone,
                        has_touch=shot.phone,
                    )
                    context.add_cookies(
                        [
                            {"name": cookie, "value": sessions[shot.who], "url": live_server.url},
                            {
                                "name": settings.LANGUAGE_COOKIE_NAME,
                                "value": language,
                                "url": live_server.url,
                            },
                        ]
                    )
                    pages[key] = context.new_page()
                page = pages[key]
                url = shot.path.format(**ids)
                name = image_name(shot, language)
                found = _open(page, shot, url, language)
                if not found and shot.prepare is not None:
                    shot.prepare(page)
                page.screenshot(
                    path=str(folder / name), type="jpeg", quality=JPEG_QUALITY
                )  # even if wrong: to look at
                taken.add(name)
                if found:
                    problems[f"{name} {url}"] = found
    finally:
        for page in pages.values():
            page.context.close()
        for browser in browsers.values():
            browser.close()
    for stale in {p.name for p in folder.glob("*.[ae][rn].jpg")} - expected_images():
        (folder / stale).unlink()  # a shot no longer taken
    assert problems == {}
    assert taken == expected_images()

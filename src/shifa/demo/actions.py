"""Demo data for ``make run``: one institution with clinics in Amman and Irbid, one user per staff role, three
patients (one with a medical record) and a platform admin. Idempotent: running it again changes nothing. Demo only — never in production.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from shifa.access import catalog
from shifa.accounts.actions import user_create
from shifa.accounts.models import TotpDevice, User
from shifa.audit.context import audit_context
from shifa.core import crypto, timezones
from shifa.records.actions import patient_create
from shifa.records.models import Patient
from shifa.tenancy.actions import clinic_create, institution_create, membership_grant
from shifa.tenancy.models import Clinic, ClinicStatus, Institution, Licence, Plan

from .constants import DEMO_PASSWORD, DEMO_TOTP_SECRET

STAFF = [
    # email, name, role, clinic slugs
    ("general.admin@demo.shifa.jo", "Rana Haddad", catalog.GENERAL_ADMIN, ()),
    ("clinic.admin@demo.shifa.jo", "Omar Khalil", catalog.CLINIC_ADMIN, ("amman", "irbid")),
    ("secretary@demo.shifa.jo", "Lina Saleh", catalog.SECRETARY, ("amman",)),
    ("assistant@demo.shifa.jo", "Dr. Yousef Nasser", catalog.ASSISTANT_DOCTOR, ("amman",)),
    ("nurse@demo.shifa.jo", "Huda Farouk", catalog.NURSE, ("amman",)),
    ("doctor@demo.shifa.jo", "Dr. Sami Odeh", catalog.DOCTOR, ("amman", "irbid")),
]

PATIENTS = [
    ("patient1@demo.shifa.jo", "Ahmad Ali", "أحمد علي", dt.date(1985, 3, 14), "male", "+962791000001"),
    ("patient2@demo.shifa.jo", "Maryam Yasin", "مريم ياسين", dt.date(1992, 7, 2), "female", "+962791000002"),
    ("patient3@demo.shifa.jo", "Khaled Zoubi", "خالد الزعبي", dt.date(1958, 11, 30), "male", "+962791000003"),
]

#: Khaled's national number: Hakeem (the local simulator) holds his history from Al Bashir Hospital, to import.
NATIONAL_IDS = {"patient3@demo.shifa.jo": "9581001234"}

PLATFORM_ADMIN = ("admin@demo.shifa.jo", "Platform Admin")


def _user(email: str, name: str, **extra) -> User:
    existing = User.objects.filter(email=email).first()
    return existing or user_create(
        email=email, full_name=name, password=DEMO_PASSWORD, email_verified=True, **extra
    )


def _with_authenticator(user: User) -> User:
    """Staff must use a second factor; demo staff share one published secret."""
    if not TotpDevice.objects.filter(user=user).exists():
        TotpDevice.objects.create(
            user=user, secret_encrypted=crypto.encrypt(DEMO_TOTP_SECRET), confirmed_at=timezones.now()
        )
    return user


def load_demo() -> dict[str, int]:
    """Create the demo cast if missing; return how many of each there are."""
    with audit_context(source="demo"), transaction.atomic():
        _with_authenticator(_user(*PLATFORM_ADMIN, is_platform_admin=True, language="en"))
        general = _with_authenticator(_user(STAFF[0][0], STAFF[0][1]))
        institution = Institution.objects.filter(owner=general).first() or institution_create(
            owner=general, name_en="Shifa Demo Medical Group", name_ar="مجموعة شفاء الطبية التجريبية"
        )
        clinics = {}
        for slug, name_en, name_ar, city in [
            ("amman", "Shifa Amman Clinic", "عيادة شفاء عمّان", "Amman"),
            ("irbid", "Shifa Irbid Clinic", "عيادة شفاء إربد", "Irbid"),
        ]:
            clinics[slug] = Clinic.objects.filter(slug=slug).first() or clinic_create(
                institution=institution,
                slug=slug,
                name_en=name_en,
                name_ar=name_ar,
                city=city,
                status=ClinicStatus.ACTIVE,
            )
        plan = Plan.objects.filter(code="clinic").first() or Plan.objects.create(
            code="clinic", name_en="Clinic", name_ar="عيادة", price="40.000", period="monthly", seats=25
        )
        for clinic in clinics.values():
            if not Licence.objects.for_clinic(clinic).exists():
                Licence.objects.for_clinic(clinic).create(
                    clinic=clinic,
                    plan=plan,
                    seats=plan.seats,
                    starts_on=dt.date(2026, 1, 1),
                    ends_on=dt.date(2027, 12, 31),
                )
        for email, name, role, slugs in STAFF[1:]:
            user = _with_authenticator(_user(email, name))
            for slug in slugs:
                membership_grant(clinic=clinics[slug], user=user, role_code=role)
        for email, name, name_ar, born, sex, phone in PATIENTS:
            user = _user(email, name, phone=phone, phone_verified=True)
            if not Patient.objects.filter(user=user).exists():
                patient_create(
                    user=user,
                    full_name=name,
                    full_name_ar=name_ar,
                    date_of_birth=born,
                    sex=sex,
                    phone=phone,
                    national_id=NATIONAL_IDS.get(email, ""),
                )
        _demo_record(clinics["amman"])
        _demo_care(clinics["amman"])
        _demo_telehealth(clinics["amman"])
        _demo_booking(clinics["amman"])
        _demo_plans()
        _demo_hakeem(clinics["amman"])
    return {
        "users": User.objects.filter(email__endswith="@demo.shifa.jo").count(),
        "clinics": Clinic.objects.filter(slug__in=clinics).count(),
        "patients": Patient.objects.filter(user__email__endswith="@demo.shifa.jo").count(),
    }


def _demo_record(clinic: Clinic) -> None:
    """Ahmad Ali's record at the Amman clinic: he shares it with the clinic; a penicillin allergy, hypertension, and
    one committed visit by Dr. Sami Odeh with vital signs, two diagnoses and a prescription. Through the same
    actions as the product (needs the reference data, loaded before the demo)."""
    from shifa.access.policies import Actor
    from shifa.catalog.actions import reference_list_load
    from shifa.catalog.models import Diagnosis
    from shifa.records import actions as records

    patient = Patient.objects.filter(user__email=PATIENTS[0][0]).select_related("user").first()
    doctor = User.objects.filter(email=STAFF[-1][0]).first()
    if patient is None or doctor is None or not Diagnosis.objects.filter(code="4019").exists():
        return
    from shifa.records.models import Visit

    if Visit.unscoped.filter(patient=patient).exists():
        return
    records.grant_create(
        actor=Actor(user=patient.user, roles=frozenset({catalog.PATIENT})), clinic_id=clinic.external_id
    )
    staff = Actor(user=doctor, clinic=clinic, roles=frozenset({catalog.DOCTOR}))
    pid = patient.external_id
    records.allergy_record(
        actor=staff, patient_id=pid, medication="amoxicillin", reaction="Rash", severity="moderate"
    )
    records.condition_record(actor=staff, patient_id=pid, code="401.9", since=dt.date(2019, 1, 1))
    visit = records.visit_open(actor=staff, patient_id=pid, doctor_id=doctor.external_id)
    records.vitals_record(
        actor=staff, visit_id=visit.external_id, readings={"8480-6": 148, "8462-4": 92, "8867-4": 78}
    )
    records.visit_update(
        actor=staff,
        visit_id=visit.external_id,
        changes={
            "complaint": "Cough and fever for three days",
            "notes": "Wheeze on the right base; BP above target",
        },
    )
    records.diagnosis_add(
        actor=staff, visit_id=visit.external_id, code="466.0", rank="primary", plain_words="Chest infection"
    )
    records.diagnosis_add(
        actor=staff, visit_id=visit.external_id, code="401.9", plain_words="High blood pressure"
    )
    records.prescription_add(
        actor=staff,
        visit_id=visit.external_id,
        data={
            "medication": "azithromycin",
            "strength": "500 mg",
            "dose": "1",
            "dose_unit": "tablet",
            "route": "oral",
            "frequency": "once_daily",
            "timing": "",
            "duration_days": 3,
            "instructions": "Take it at the same time each day",
        },
    )
    reference_list_load("facilities")
    records.order_add(  # a third-party order: the HbA1c is drawn at the public health laboratories
        actor=staff,
        visit_id=visit.external_id,
        kind="lab",
        test="4548-4",
        note="Fasting not needed",
        facility="central-public-health-lab",
    )
    records.visit_commit(actor=staff, visit_id=visit.external_id)


def _demo_hakeem(clinic: Clinic) -> None:
    """Khaled Zoubi shares his record with the Amman clinic, and Hakeem (the local simulator) holds his earlier
    care at Al Bashir Hospital: the clinic can import it with his consent."""
    from django.conf import settings

    from shifa.access.policies import Actor
    from shifa.records import actions as records
    from shifa.records.models import Grant

    email = "patient3@demo.shifa.jo"
    patient = Patient.objects.filter(user__email=email).select_related("user").first()
    if patient is None or not patient.national_id:
        return
    if not Grant.objects.filter(patient=patient, clinic=clinic).exists():
        records.grant_create(
            actor=Actor(user=patient.user, roles=frozenset({catalog.PATIENT})), clinic_id=clinic.external_id
        )
    if settings.SHIFA_SIMULATORS:
        from shifa.integrations.hakeem.fhir import NATIONAL_ID_SYSTEM
        from shifa.simulators.hakeem.actions import history_seed

        history_seed(
            national_id=patient.national_id,
            national_id_system=NATIONAL_ID_SYSTEM,
            full_name=patient.full_name,
            full_name_ar=patient.full_name_ar,
            birth_date=patient.date_of_birth,
            gender=patient.sex,
        )


def _demo_care(clinic: Clinic) -> None:
    """Ahmad Ali's blood-pressure care plan at the Amman clinic (a reading every day for a month, a kidney function
    test in three months, and monthly follow-ups when the doctor takes bookings), with two readings from home, the
    second above the plan's limit: it raises an alert for Dr. Sami Odeh."""
    from shifa.access.policies import Actor
    from shifa.adherence import actions as adherence
    from shifa.careplans import actions as careplans
    from shifa.careplans.models import CarePlan
    from shifa.directory.queries import doctor_profile
    from shifa.records.models import Visit

    patient = Patient.objects.filter(user__email=PATIENTS[0][0]).select_related("user").first()
    doctor = User.objects.filter(email=STAFF[-1][0]).first()
    if patient is None or doctor is None or CarePlan.unscoped.filter(patient=patient).exists():
        return
    visit = Visit.unscoped.filter(patient=patient, clinic=clinic, is_committed=True).first()
    items = [
        {
            "kind": "task",
            "task": "vital",
            "vital_code": "8480-6",
            "title": "Blood pressure at home",
            "count": 30,
            "every_days": 1,
        },
        {
            "kind": "task",
            "task": "lab",
            "title": "Kidney function test",
            "first_in_days": 90,
            "window_days": 14,
        },
    ]
    profile = doctor_profile(clinic=clinic, doctor=doctor)
    if profile is not None and "office" in profile.visit_types:
        items.append(
            {"kind": "visit", "title": "Follow-up visit", "count": 3, "every_days": 30, "first_in_days": 30}
        )
    staff = Actor(user=doctor, clinic=clinic, roles=frozenset({catalog.DOCTOR}))
    careplans.plan_create(
        actor=staff,
        patient_id=patient.external_id,
        title="Blood pressure control",
        goal="Keep blood pressure below 140/90",
        items=items,
        visit_id=visit.external_id if visit else None,
        thresholds={"8480-6": {"high": 140}, "8462-4": {"high": 90}},
    )
    own = Actor(user=patient.user, roles=frozenset({catalog.PATIENT}))
    now = timezones.now()
    adherence.readings_record(
        actor=own, readings={"8480-6": 136, "8462-4": 86}, taken_at=now - dt.timedelta(hours=20)
    )
    adherence.readings_record(
        actor=own, readings={"8480-6": 152, "8462-4": 95}, taken_at=now - dt.timedelta(hours=1)
    )


def _demo_telehealth(clinic: Clinic) -> None:
    """Ahmad Ali's conversation with the Amman clinic's care team (a question about his readings and Dr. Sami Odeh's
    answer), and Dr. Sami Odeh on duty for urgent video requests."""
    from shifa.access.policies import Actor
    from shifa.telehealth import actions as telehealth
    from shifa.telehealth.models import Conversation

    patient = Patient.objects.filter(user__email=PATIENTS[0][0]).select_related("user").first()
    doctor = User.objects.filter(email=STAFF[-1][0]).first()
    if patient is None or doctor is None or Conversation.unscoped.filter(patient=patient).exists():
        return
    staff = Actor(user=doctor, clinic=clinic, roles=frozenset({catalog.DOCTOR}))
    me = Actor(user=patient.user, roles=frozenset({catalog.PATIENT}))
    conversation = telehealth.my_conversation_start(actor=me, clinic_id=clinic.external_id)
    telehealth.message_send(
        actor=me,
        conversation=conversation,
        side="patient",
        body="My blood pressure was 152/95 this morning. Should I take an extra tablet?",
        client_id="demo-1",
    )
    telehealth.message_send(
        actor=staff,
        conversation=conversation,
        side="clinic",
        body="Please do not take an extra tablet. Rest for ten minutes and measure again; if it stays above 150, "
        "book a video visit today.",
        client_id="demo-2",
    )
    telehealth.duty_set(actor=staff, on_duty=True)


def _demo_booking(clinic: Clinic) -> None:
    """The Amman clinic takes bookings: open 08:00-20:00 every day, Dr. Sami Odeh (a family physician) offers
    30-minute office and 20-minute video visits, a consultation costs 20.000 (office) or 15.000 JOD (video), and the
    clinic accepts JIC with a 20% co-pay. Patients book and pay online (the PayTabs simulator's page)."""
    from decimal import Decimal

    from shifa.catalog.actions import reference_list_load
    from shifa.catalog.models import InsuranceCompany, Specialty
    from shifa.directory.actions import listings_refresh
    from shifa.directory.models import ClinicProfile, DoctorProfile, InsurancePartner, Price, Service
    from shifa.scheduling.models import DoctorInterval, OpeningInterval

    doctor = User.objects.filter(email=STAFF[-1][0]).first()
    if doctor is None or DoctorProfile.unscoped.filter(clinic=clinic, doctor=doctor).exists():
        return
    for day in range(7):
        OpeningInterval.unscoped.create(clinic=clinic, weekday=day, opens=dt.time(8), closes=dt.time(20))
        DoctorInterval.unscoped.create(
            clinic=clinic, doctor=doctor, weekday=day, starts=dt.time(8), ends=dt.time(20)
        )
    profile = DoctorProfile.unscoped.create(
        clinic=clinic, doctor=doctor, gender="male", minutes={"office": 30, "video": 20}
    )
    if not Specialty.objects.exists():
        reference_list_load("specialties")
    family = Specialty.objects.filter(code="family-medicine").first() or Specialty.objects.first()
    if family is not None:
        profile.specialties.set([family])
    service = Service.unscoped.create(clinic=clinic, name_ar="كشف", name_en="Consultation")
    for visit_type, amount in (("office", "20.000"), ("video", "15.000")):
        Price.unscoped.create(clinic=clinic, service=service, visit_type=visit_type, amount=Decimal(amount))
    if not InsuranceCompany.objects.exists():
        reference_list_load("insurers")
    jic = InsuranceCompany.objects.filter(code="jic").first()
    if jic is not None:
        InsurancePartner.unscoped.create(clinic=clinic, insurer=jic, copay_percent=Decimal("20"))
    if not ClinicProfile.unscoped.filter(clinic=clinic).exists():
        ClinicProfile.unscoped.create(
            clinic=clinic,
            address_ar="شارع الملكة رانيا، عمّان",
            address_en="Queen Rania Street, Amman",
            latitude=Decimal("31.975000"),
            longitude=Decimal("35.870000"),
            languages=["ar", "en"],
        )
    listings_refresh(clinic_pk=clinic.pk)


def _demo_plans() -> None:
    """The patients' subscription plan on sale: Shifa Plus (Family Doctor, Treat Me Now priority, two video visits
    a month)."""
    from decimal import Decimal

    from shifa.subscriptions.models import Plan as SubscriptionPlan

    if SubscriptionPlan.objects.exists():
        return
    SubscriptionPlan.objects.create(
        name_en="Shifa Plus",
        name_ar="شفاء بلس",
        price=Decimal("9.900"),
        period="monthly",
        family_doctor=True,
        priority_urgent_care=True,
        included_video_visits=2,
        app_store_product_id="jo.shifa.plus.monthly",
        google_play_product_id="shifa_plus",
    )

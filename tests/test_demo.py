"""Demo data: the cast README promises, loaded idempotently."""

from __future__ import annotations

from shifa.access import catalog
from shifa.access.policies import clinic_roles
from shifa.accounts.models import User
from shifa.audit.models import AuditEvent
from shifa.demo.actions import load_demo
from shifa.demo.constants import DEMO_PASSWORD
from shifa.tenancy.models import Clinic


def test_demo_data_is_complete_and_idempotent(db):
    first = load_demo()
    events = AuditEvent.objects.count()
    assert load_demo() == first == {"users": 10, "clinics": 2, "patients": 3}
    assert AuditEvent.objects.count() == events  # the second run changed nothing
    amman, irbid = Clinic.objects.get(slug="amman"), Clinic.objects.get(slug="irbid")
    assert {amman.city, irbid.city} == {"Amman", "Irbid"}
    assert amman.institution_id == irbid.institution_id
    held = set()
    for user in User.objects.filter(email__endswith="@demo.shifa.jo"):
        assert user.check_password(DEMO_PASSWORD)
        held |= clinic_roles(user, amman)
    assert held == set(catalog.STAFF_ROLES)
    assert User.objects.get(email="admin@demo.shifa.jo").is_platform_admin


def test_demo_writes_are_audited_as_demo(db):
    load_demo()
    assert AuditEvent.objects.filter(table_name="tenancy_clinic", source="demo").count() == 2


def test_demo_staff_sign_in_with_the_published_authenticator_secret(db):
    import pyotp
    from django.test import Client

    from shifa.demo.constants import DEMO_TOTP_SECRET

    load_demo()
    for email in ("admin@demo.shifa.jo", "doctor@demo.shifa.jo", "clinic.admin@demo.shifa.jo"):
        first = Client().post(
            "/api/v1/auth/tokens",
            {"email": email, "password": DEMO_PASSWORD},
            content_type="application/json",
        )
        assert first.status_code == 202, email
        second = Client().post(
            "/api/v1/auth/tokens/mfa",
            {"mfa_token": first.json()["mfa_token"], "code": pyotp.TOTP(DEMO_TOTP_SECRET).now()},
            content_type="application/json",
        )
        assert second.status_code == 201, email
    patient = User.objects.get(email="patient1@demo.shifa.jo")
    assert patient.phone_verified and patient.email_verified and not patient.has_mfa


def test_the_demo_patient_has_a_committed_visit_to_look_at(db):
    from shifa.records.models import Allergy, Prescription, Visit

    load_demo()
    load_demo()
    visit = Visit.unscoped.get(patient__user__email="patient1@demo.shifa.jo")
    assert visit.is_committed and visit.doctor.email == "doctor@demo.shifa.jo"
    assert [d.diagnosis.code for d in visit.diagnoses.order_by("position")] == ["4660", "4019"]
    assert Prescription.unscoped.get(visit=visit).medication.code == "azithromycin"
    assert Allergy.unscoped.filter(patient=visit.patient).count() == 1


def test_the_demo_patient_follows_a_care_plan_with_an_alert_to_look_at(db):
    from shifa.adherence.models import Alert, Reading
    from shifa.careplans.models import CarePlan

    load_demo()
    load_demo()
    plan = CarePlan.unscoped.get(patient__user__email="patient1@demo.shifa.jo")
    assert plan.doctor.email == "doctor@demo.shifa.jo" and plan.visit is not None and plan.status == "active"
    assert plan.steps.count() >= 31
    assert Reading.objects.filter(patient=plan.patient).count() == 4
    alert = Alert.unscoped.get(plan=plan, reading__kind__code="8480-6")
    assert alert.reading.value == 152 and alert.flag == "high"
    assert Alert.unscoped.filter(plan=plan).count() == 2  # 152/95: both above the plan's limits

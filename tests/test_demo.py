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

"""The fixed cast used everywhere (STYLE.md): staff of clinic A in every role, a doctor of clinic B, patients,
a platform admin and anonymous callers, plus helpers to call the API as any of them."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass

import pytest
from django.test import Client

from shifa.access import catalog
from shifa.access.models import Role
from shifa.accounts.actions import TOKEN_PREFIX, hash_token
from shifa.accounts.models import ApiToken
from shifa.core import timezones
from tests.factories import (
    ClinicFactory,
    InstitutionFactory,
    MembershipFactory,
    PatientFactory,
    UserFactory,
)

TOKEN_TTL = dt.timedelta(hours=1)


class ApiClient:
    """Calls the API as one user with a bearer token (or anonymously)."""

    def __init__(self, user=None):
        self.user = user
        self.client = Client()
        self._token = None

    def token(self) -> str:
        if self._token is None:
            self._token = TOKEN_PREFIX + secrets.token_urlsafe(24)
            ApiToken.objects.create(
                user=self.user, token_hash=hash_token(self._token), expires_at=timezones.now() + TOKEN_TTL
            )
        return self._token

    def request(self, method: str, path: str, body=None, *, headers=None, raw: bytes | str | None = None):
        extra = {}
        if self.user is not None:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {self.token()}"
        for name, value in (headers or {}).items():
            extra["HTTP_" + name.upper().replace("-", "_")] = value
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        kwargs = {"content_type": "application/json"} if data is not None else {}
        fn = getattr(self.client, method.lower())
        if data is not None:
            return fn(path, data, **kwargs, **extra)
        return fn(path, **extra)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@dataclass
class Cast:
    clinic_a: object
    clinic_b: object
    staff_a: dict  # role code → user (each staff role in clinic A)
    doctor_b: object
    membership_b: object
    general_admin: object  # owns clinic A's institution
    patient_user: object
    patient: object
    other_patient_user: object
    platform_admin: object
    outsider: object  # signed in, no role anywhere

    def user_for(self, role: str):
        if role == catalog.PLATFORM_ADMIN:
            return self.platform_admin
        if role == catalog.PATIENT:
            return self.patient_user
        if role == catalog.GENERAL_ADMIN:
            return self.general_admin
        return self.staff_a[role]


@pytest.fixture
def cast(db) -> Cast:
    general_admin = UserFactory(full_name="General Admin")
    institution = InstitutionFactory(owner=general_admin)
    clinic_a = ClinicFactory(institution=institution, slug="clinic-a", name_en="Clinic A", name_ar="عيادة أ")
    clinic_b = ClinicFactory(slug="clinic-b", name_en="Clinic B", name_ar="عيادة ب", city="Irbid")
    staff_a = {}
    for role in catalog.STAFF_ROLES:
        if role == catalog.GENERAL_ADMIN:
            continue
        user = UserFactory(full_name=f"{role} of A")
        MembershipFactory(clinic=clinic_a, user=user, role=Role.objects.get(code=role))
        staff_a[role] = user
    doctor_b = UserFactory(full_name="Doctor of B")
    membership_b = MembershipFactory(clinic=clinic_b, user=doctor_b, role=Role.objects.get(code="doctor"))
    patient_user = UserFactory(full_name="Patient")
    patient = PatientFactory(user=patient_user, full_name="Patient")
    other_patient_user = UserFactory(full_name="Other patient")
    PatientFactory(user=other_patient_user, full_name="Other patient")
    return Cast(
        clinic_a=clinic_a,
        clinic_b=clinic_b,
        staff_a=staff_a,
        doctor_b=doctor_b,
        membership_b=membership_b,
        general_admin=general_admin,
        patient_user=patient_user,
        patient=patient,
        other_patient_user=other_patient_user,
        platform_admin=UserFactory(full_name="Platform Admin", is_platform_admin=True),
        outsider=UserFactory(full_name="Outsider"),
    )


@pytest.fixture
def api():
    """``api(user)`` → an ApiClient for that user; ``api()`` → anonymous."""
    return ApiClient


@pytest.fixture
def anon() -> ApiClient:
    return ApiClient()

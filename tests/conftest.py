"""The fixed cast used everywhere (STYLE.md): staff of clinic A in every role, a doctor of clinic B, patients,
a platform admin and anonymous callers, plus helpers to call the API as any of them."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from dataclasses import dataclass

import pytest
from django.test import Client

from shifa.access import catalog
from shifa.access.models import Role
from shifa.accounts.actions import SESSION_MFA_PASSED, SESSION_SIGNED_IN_AT, token_pair_issue
from shifa.core import timezones
from tests.factories import (
    ClinicFactory,
    InstitutionFactory,
    MembershipFactory,
    PatientFactory,
    UserFactory,
)


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "heavy(seconds): the file starts servers, browsers or whole Shifa processes and takes about this long on "
        "an idle machine; heavy files run first, the heaviest first (see pytest_collection_modifyitems)",
    )


def pytest_collection_modifyitems(config, items):
    """Order the files for `make test`'s two workers (pytest-xdist, ``--dist loadfile --no-loadscope-reorder``),
    which take them in this order, one file at a time as each gets free: the heavy files first, the heaviest first,
    then the others from the most tests to the fewest. Left to the end, a few files that each take minutes would
    run on one worker while the other one has nothing left to do."""
    files: dict[str, list] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)

    def order(tests: list) -> tuple[float, int]:
        marks = [t.get_closest_marker("heavy") for t in tests]
        return (-max((m.args[0] for m in marks if m), default=0), -len(tests))

    items[:] = [item for tests in sorted(files.values(), key=order) for item in tests]


def _reference_models() -> list:
    """The tables ``reference_data_ensure`` fills, in an order their foreign keys allow."""
    from shifa.catalog.actions import SHIPPED_LISTS
    from shifa.catalog.models import Diagnosis, VaccineDose

    return [Diagnosis, *SHIPPED_LISTS.values(), VaccineDose]


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database holds the reference data Shifa ships (ICD-9-CM, medications, tests, vaccines, vital
    signs …), as every real database does after its first start."""
    from django.apps import apps
    from django.db import connection, connections, transaction
    from django.db.models.signals import post_migrate

    from shifa.audit.context import audit_context
    from shifa.catalog.actions import reference_data_ensure

    with django_db_blocker.unblock():
        reference_data_ensure()
        # The rows as loaded, table by table in PostgreSQL's COPY format, to put back after each flush
        copies = {}
        with connection.cursor() as cursor:
            for model in _reference_models():
                with cursor.cursor.copy(f'COPY "{model._meta.db_table}" TO STDOUT') as copy:
                    copies[model] = b"".join(bytes(block) for block in copy)

    def reload(using="default", **kwargs):
        """The same rows again, as ``reference_data_ensure`` would load them (its audit trail included), in one
        COPY per table: reading the shipped files again took seconds for each transactional test."""
        models = _reference_models()
        if any(model.objects.using(using).exists() for model in models):
            reference_data_ensure()  # not emptied by a flush: add only what lacks
            return
        with (
            audit_context(source="reference-data"),
            transaction.atomic(using=using),
            connections[using].cursor() as cursor,
        ):
            # a write through Django's cursor sets the audit context for the transaction (pghistory); COPY
            # goes around Django's cursor and would not set it
            cursor.execute(f'DELETE FROM "{models[0]._meta.db_table}" WHERE false')
            for model in models:
                with cursor.cursor.copy(f'COPY "{model._meta.db_table}" FROM STDIN') as copy:
                    copy.write(copies[model])

    # A transactional test ends by emptying every table (Django's flush), which then sends post_migrate: the
    # reference data comes back before the next test.
    post_migrate.connect(
        reload, sender=apps.get_app_config("catalog"), weak=False, dispatch_uid="test-reference"
    )


@pytest.fixture(autouse=True)
def _fresh_field_keys():
    """Each test starts without remembered data keys (a key made by an earlier test may have been rolled back)."""
    from shifa.core import keys

    keys.keyring.clear()
    yield


@pytest.fixture(autouse=True)
def _fresh_rate_counters():
    """Each test starts with no requests counted against rate limits (searches are counted in the cache)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _paytabs_in_process(monkeypatch):
    """No test calls PayTabs over the network: the client and the simulator's callbacks go to this process's
    Django (the local simulator and our own callback route) through the test client."""
    from shifa.billing import paytabs
    from shifa.simulators.paytabs import actions as simulator
    from tests.support.inprocess import DjangoTransport

    monkeypatch.setattr(paytabs, "transport", DjangoTransport())
    monkeypatch.setattr(simulator, "transport", DjangoTransport())


@pytest.fixture(autouse=True)
def _hakeem_in_process(monkeypatch):
    """No test calls Hakeem over the network: the client talks to the local Hakeem simulator in this process."""
    from shifa.integrations.hakeem import client
    from tests.support.inprocess import DjangoTransport

    monkeypatch.setattr(client, "transport", DjangoTransport())


@pytest.fixture(autouse=True)
def _empty_job_queue_after_transactional_tests(request):
    """Procrastinate's tables are not Django-managed, so a ``transaction=True`` test's flush leaves the jobs it
    queued; empty them so that the next test on this worker starts with no jobs."""
    yield
    marker = request.node.get_closest_marker("django_db")
    if "transactional_db" in request.fixturenames or (marker and marker.kwargs.get("transaction")):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM procrastinate_jobs")


@pytest.fixture(scope="session", autouse=True)
def oidc_keys():
    """Google and Apple as far as sign-in can tell: a JWKS on loopback and ID tokens signed with its key."""
    from django.conf import settings

    from tests.support.oidc import KeyServer

    server = KeyServer()
    previous = settings.SHIFA_OIDC_PROVIDERS
    settings.SHIFA_OIDC_PROVIDERS = server.providers()
    yield server
    settings.SHIFA_OIDC_PROVIDERS = previous
    server.close()


@contextlib.contextmanager
def time_machine(at: dt.datetime):
    """Run the block with the product's clock (``timezones.now``) stopped at ``at``."""
    from unittest import mock

    from shifa.core import timezones

    with mock.patch.object(timezones, "now", lambda: at):
        yield


def sign_in_page(client: Client, user, *, mfa: bool = True) -> Client:
    """A web session for ``user``; ``mfa`` says whether it passed the second factor (staff pages need it):
    if so, the user gets an authenticator app (when they have none) and the session remembers it."""
    from shifa.accounts.queries import second_factor_marker
    from tests.factories import enrol_authenticator

    client.force_login(user)
    session = client.session
    if mfa and second_factor_marker(user) is None:
        enrol_authenticator(user)
    session[SESSION_MFA_PASSED] = second_factor_marker(user) if mfa else False
    session[SESSION_SIGNED_IN_AT] = timezones.now().timestamp()
    session.save()
    return client


class ApiClient:
    """Calls the API as one user with a bearer access token (or anonymously). By default the token's sign-in
    passed the second factor, as staff sign-ins must; ``mfa=False`` gives a password-only sign-in."""

    def __init__(self, user=None, *, mfa: bool = True):
        self.user = user
        self.mfa = mfa
        self.client = Client()
        self._token = None

    def token(self) -> str:
        if self._token is None:
            self._token = token_pair_issue(user=self.user, mfa=self.mfa)["access_token"]
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

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)

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

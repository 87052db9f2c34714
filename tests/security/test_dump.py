"""No sensitive value is in clear in a dump of the database (issue 13, PRODUCT.md §11): ``pg_dump --data-only`` of
the test database, after a day of the product's work, holds none of them in any table, the audit log's row images,
Hakeem sync state, notifications, stored idempotent answers, the search read model and the job queue included.

* Every ``EncryptedTextField`` of every model (found through the app registry, so a field added later is checked
  too) gets a value of its own, written through the product's actions and API where there is one; the test then
  reads each back through the ORM and finds none of them in the dump, while their sealed forms are there.
* Secrets are never stored as they are given out: authenticator secrets, recovery codes, refresh and access tokens,
  one-time codes, device secrets, invitation tokens, push subscription keys, PayTabs card tokens.
* The check can fail: a value written in clear on purpose (a clinic's name) is found in the dump, in its table and
  in the audit log's row image of it.

Two simulators of outside systems keep what Shifa sent them, as the real services do: the Hakeem simulator's FHIR
store holds the patient's national ID and clinical text, the PayTabs simulator holds the card token it issued. Their
tables (``SIMULATOR_TABLES``) and the audit rows of those tables are left out of the check, by name and nothing else;
the test shows that those values are indeed there, so that leaving them out is what it claims to be.
"""

from __future__ import annotations

import re
import uuid

import pyotp
import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from shifa.access import catalog
from shifa.access.policies import Actor
from shifa.catalog.models import Diagnosis, Facility, LabTest, Medication, Specialty, Vaccine
from shifa.core import timezones
from shifa.core.fields import EncryptedTextField
from shifa.directory.actions import listings_refresh
from tests.conftest import ApiClient
from tests.support.booking import open_for_booking
from tests.support.records import base

from . import dump as pgdump

pytestmark = pytest.mark.django_db(transaction=True)

#: Tables of the local simulators of outside systems (what Hakeem and PayTabs themselves keep), left out of the
#: check together with their audit rows.
SIMULATOR_TABLES = {
    "sim_hakeem_simresource",
    "sim_hakeem_simresourceversion",
    "sim_paytabs_simtransaction",
    "sim_paytabs_simdelivery",
}


#: Tables holding copies or by-products of what people write, each expected to have rows after the day's work.
DERIVED_TABLES = (
    "audit_event",  # the audit trigger's row images (before and after) of every write
    "core_idempotentrequest",  # answers kept for repeated requests (the API's writes above send a key)
    "hakeem_syncrecord",  # the sync state of each record sent to Hakeem
    "hakeem_thirdpartyorder",
    "notifications_notification",  # rendered titles and bodies of what people are told
    "notifications_delivery",  # one per channel (push, email, SMS)
    "procrastinate_jobs",  # the job queue's arguments
    "directory_doctorlisting",  # the search read model
    "accounts_totpdevice",
    "accounts_recoverycode",
    "accounts_refreshtoken",
    "accounts_onetimecode",
    "adherence_device",
    "tenancy_invitation",
    "notifications_pushsubscription",
    "subscriptions_subscription",
)


def encrypted_fields() -> list[tuple[type, EncryptedTextField]]:
    return [
        (model, f)
        for model in apps.get_models(include_auto_created=True)
        for f in model._meta.concrete_fields
        if isinstance(f, EncryptedTextField)
    ]


def _name(model, f) -> str:
    return f"{model._meta.label}.{f.name}"


def _marker(name: str) -> str:
    return f"SECRET-{name}-{uuid.uuid4().hex[:12]}"


class Markers:
    """The values written into encrypted fields (by field) and the secrets given out (by what they are)."""

    def __init__(self):
        self.fields: dict[str, list[str]] = {}
        self.secrets: dict[str, str] = {}
        self.short_code = ""

    def new(self, model_label: str, field_name: str) -> str:
        name = f"{model_label}.{field_name}"
        value = _marker(name)
        self.fields.setdefault(name, []).append(value)
        return value

    def add(self, name: str, value: str) -> str:
        self.fields.setdefault(name, []).append(value)
        return value


def _ok(response, status: int | None = None):
    expected = (status,) if status else (200, 201)
    assert response.status_code in expected, response.content[:800]
    return response.json()


def _key() -> dict:
    return {"Idempotency-Key": uuid.uuid4().hex}


# --- the day's work ------------------------------------------------------------------------------------------------


def _national_id() -> str:
    return "9" + f"{uuid.uuid4().int % 10**9:09d}"


def _identity(cast, m: Markers) -> None:
    """The patient gives their national number; a dependant is added with one of their own."""
    patient = ApiClient(cast.patient_user)
    nid = m.add("records.Patient.national_id", _national_id())
    _ok(patient.patch(f"/api/v1/me/patients/{cast.patient.external_id}", {"national_id": nid}))
    child = m.add("records.Patient.national_id", _national_id())
    _ok(
        patient.post(
            "/api/v1/me/dependants",
            {
                "full_name": "Dependant Child",
                "date_of_birth": "2018-03-04",
                "sex": "female",
                "relation": "child",
                "national_id": child,
            },
            headers=_key(),
        )
    )


def _chart(cast, m: Markers) -> None:
    """Clinic A's doctor records allergies, a condition, a medicine and an immunization (Idempotency-Key sent)."""
    doctor = ApiClient(cast.staff_a["doctor"])
    url = f"{base(cast.clinic_a)}/patients/{cast.patient.external_id}"
    facts = {
        "allergies": ("records.Allergy", {"substance": "Latex", "severity": "mild"}),
        "conditions": ("records.Condition", {"code": Diagnosis.objects.get(code="25000").display_code}),
        "medications": ("records.MedicationStatement", {"medication": Medication.objects.first().code}),
        "immunizations": (
            "records.Immunization",
            {"vaccine": Vaccine.objects.first().code, "given_on": "2020-01-01"},
        ),
    }
    for path, (label, body) in facts.items():
        _ok(doctor.post(f"{url}/{path}", {**body, "note": m.new(label, "note")}, headers=_key()), 201)


def _home_visit(cast, m: Markers):
    """The patient books a home visit in the app, saying why and where (Idempotency-Key sent), and confirms it;
    the visit documented below is this one, so its reason goes to Hakeem too. Too long a reason or address is
    refused with a field error, as when they were columns of bounded length."""
    import datetime as dt

    from shifa.scheduling.models import Appointment

    patient = ApiClient(cast.patient_user)
    zone = cast.clinic_a.time_zone
    day = timezones.to_local(timezones.now(), zone).date() + dt.timedelta(days=2)
    A = "scheduling.Appointment"
    body = {
        "clinic_id": str(cast.clinic_a.external_id),
        "doctor_id": str(cast.staff_a["doctor"].external_id),
        "visit_type": "home",
        "starts_at": timezones.isoformat_z(timezones.local_datetime(day, dt.time(9, 30), zone)),
        "reason": "x" * 501,
        "home": {"latitude": 31.95, "longitude": 35.88, "address": "x" * 301},
    }
    refused = patient.post("/api/v1/appointments", body, headers=_key())
    assert refused.status_code == 422, refused.content[:800]
    assert {e["field"] for e in refused.json()["errors"]} == {"reason", "home.address"}
    body["reason"] = m.new(A, "reason")
    body["home"]["address"] = m.new(A, "home_address")
    held = _ok(patient.post("/api/v1/appointments", body, headers=_key()), 201)
    assert held["reason"] == body["reason"] and held["home"]["address"] == body["home"]["address"]
    _ok(patient.post(f"/api/v1/appointments/{held['id']}/confirm"))
    return Appointment.unscoped.get(external_id=held["id"])


def _visit(cast, m: Markers, appointment) -> dict:
    """A visit documented in every part, committed, given a result, amended and committed again."""
    doctor = ApiClient(cast.staff_a["doctor"])
    clinic = base(cast.clinic_a)
    visit = _ok(doctor.post(f"{clinic}/visits", {"appointment_id": str(appointment.external_id)}), 201)
    url = f"{clinic}/visits/{visit['id']}"
    V = "records.Visit"
    _ok(doctor.patch(url, {"complaint": m.new(V, "complaint"), "notes": m.new(V, "notes")}))
    _ok(doctor.post(f"{url}/triage", {"triage": "urgent", "note": m.new(V, "triage_note")}))
    parts = [
        (
            "diagnoses",
            {
                "code": "401.9",
                "rank": "primary",
                "plain_words": m.new("records.VisitDiagnosis", "plain_words"),
            },
        ),
        (
            "prescriptions",
            {
                "medication": "amoxicillin",
                "form": "capsule",
                "strength": "500 mg",
                "dose": "1",
                "dose_unit": "capsule",
                "frequency": "three_times_daily",
                "duration_days": 7,
                "instructions": m.new("records.Prescription", "instructions"),
            },
        ),
        (
            "orders",
            {
                "kind": "lab",
                "test": LabTest.objects.first().code,
                "note": m.new("records.Order", "note"),
                "facility": Facility.objects.first().code,
            },
        ),
        (
            "referrals",
            {"specialty": Specialty.objects.first().code, "reason": m.new("records.Referral", "reason")},
        ),
    ]
    for path, body in parts:
        _ok(doctor.post(f"{url}/{path}", body, headers=_key()), 201)
    today = timezones.now().date().isoformat()
    _ok(
        doctor.put(
            f"{url}/sick-leave", {"starts_on": today, "days": 2, "note": m.new("records.SickLeave", "note")}
        )
    )
    committed = _ok(doctor.post(f"{url}/commit"))
    order_id = committed["orders"][0]["id"]
    _ok(
        doctor.post(
            f"{clinic}/orders/{order_id}/results",
            {"summary": m.new("records.OrderResult", "summary"), "values": []},
            headers=_key(),
        ),
        201,
    )
    amendment = _ok(doctor.post(f"{url}/amendments", {"reason": m.new(V, "amendment_reason")}), 201)
    _ok(doctor.post(f"{clinic}/visits/{amendment['id']}/commit"))
    return committed


def _hakeem(cast) -> None:
    """Everything queued for Hakeem is sent to the simulator and acknowledged."""
    from shifa.integrations.hakeem import actions as hakeem
    from shifa.integrations.hakeem.models import SyncRecord, SyncState

    hakeem.send_due(limit=1000)
    records = list(SyncRecord.unscoped.values_list("kind", "state", "last_error"))
    assert records and {state for _kind, state, _error in records} == {SyncState.ACKNOWLEDGED}, records


def _telehealth(cast, m: Markers) -> None:
    """The patient writes to clinic A and the team answers (the unread notice runs); the patient asks for an
    urgent consultation."""
    from shifa.telehealth.actions import notify_unread
    from shifa.telehealth.models import Message

    patient = ApiClient(cast.patient_user)
    conversation = _ok(
        patient.post("/api/v1/me/conversations", {"clinic_id": str(cast.clinic_a.external_id)})
    )
    mine = f"/api/v1/me/conversations/{conversation['id']}/messages"
    _ok(patient.post(mine, {"body": m.new("telehealth.Message", "body")}, headers=_key()), 201)
    team = f"{base(cast.clinic_a)}/conversations/{conversation['id']}/messages"
    nurse = ApiClient(cast.staff_a["nurse"])
    _ok(nurse.post(team, {"body": m.new("telehealth.Message", "body")}, headers=_key()), 201)
    for message in Message.unscoped.all():
        notify_unread(message_id=message.pk)
    other = ApiClient(cast.other_patient_user)
    _ok(
        other.post(
            "/api/v1/me/urgent-requests", {"complaint": m.new("telehealth.UrgentRequest", "complaint")}
        ),
        201,
    )


def _idempotent_answer(cast, m: Markers) -> None:
    """An answer kept for repeats of a request (the API's responses above are kept the same way)."""
    from shifa.core.actions import idempotent_call

    value = m.new("core.IdempotentRequest", "sealed_response")
    idempotent_call(
        user=cast.patient_user, key=uuid.uuid4().hex, fingerprint="f" * 64, run=lambda: (201, {"v": value})
    )


def _subscription(cast, m: Markers) -> None:
    """The patient subscribes by card on the PayTabs simulator: the card token comes back for renewals."""
    from decimal import Decimal

    from shifa.billing import paytabs
    from shifa.subscriptions import actions
    from shifa.subscriptions.models import Plan, Subscription
    from tests.support.paytabs import choose

    plan = Plan.objects.create(
        name_en="Plus", name_ar="بلس", price=Decimal("9.900"), period="monthly", priority_urgent_care=True
    )
    made = _ok(
        ApiClient(cast.patient_user).post(
            "/api/v1/me/subscription/paytabs", {"plan_id": str(plan.external_id)}
        ),
        201,
    )
    choose(made["payment_url"], "pay")
    subscription = Subscription.objects.get(external_id=made["subscription"]["id"])
    actions.paytabs_result(
        paytabs.PayTabs().query(cart_id=actions.cart_id(subscription, 1, subscription.page_attempts))
    )
    subscription.refresh_from_db()
    assert subscription.paytabs_token
    m.add("subscriptions.Subscription.paytabs_token", subscription.paytabs_token)
    m.secrets["PayTabs card token"] = subscription.paytabs_token


def _secrets(cast, m: Markers, sms_outbox) -> None:
    """Sign-in secrets given out to people and devices."""
    from shifa.accounts import actions as accounts
    from shifa.adherence.actions import device_register
    from shifa.notifications.actions import push_subscribe
    from shifa.tenancy.actions import invitation_create

    staff = cast.staff_a[catalog.SECRETARY]
    begun = accounts.totp_begin(user=staff)
    m.secrets["authenticator secret"] = begun["secret"]
    codes = accounts.totp_confirm(user=staff, code=pyotp.TOTP(begun["secret"]).now())
    for i, code in enumerate(codes):
        m.secrets[f"recovery code {i}"] = code
        m.secrets[f"recovery code {i}, as typed"] = code.replace("-", "")
    pair = accounts.token_pair_issue(user=cast.patient_user, name="phone")
    m.secrets["refresh token"] = pair["refresh_token"]
    m.secrets["access token"] = pair["access_token"]
    rotated = accounts.token_refresh(refresh_token=pair["refresh_token"])
    m.secrets["refresh token, rotated"] = rotated["refresh_token"]
    _device, secret = device_register(
        actor=Actor(user=cast.patient_user, roles=frozenset({catalog.PATIENT})), kind="glucometer"
    )
    m.secrets["device secret"] = secret
    _invitation, token = invitation_create(
        actor=Actor(
            user=cast.staff_a["clinic_admin"], clinic=cast.clinic_a, roles=frozenset({catalog.CLINIC_ADMIN})
        ),
        email="new.nurse@example.jo",
        role_code="nurse",
    )
    m.secrets["invitation token"] = token
    auth = uuid.uuid4().hex[:22]
    push_subscribe(
        user=cast.patient_user,
        endpoint=f"https://push.example.org/send/{uuid.uuid4().hex}",
        p256dh="B" + uuid.uuid4().hex * 2,
        auth=auth,
    )
    m.secrets["push subscription auth secret"] = auth
    accounts.phone_code_send(phone="+962791234567", purpose="sign_in")
    (message,) = sms_outbox()
    m.short_code = re.search(r"\b(\d{6})\b", message["body"]).group(1)


def _fill_the_rest(m: Markers) -> None:
    """A field encrypted later and not yet written by the day's work gets its value through the ORM, in a row of
    its own model that may still be changed (a committed row may not)."""
    for model, f in encrypted_fields():
        name = _name(model, f)
        if name in m.fields:
            continue
        value = m.new(model._meta.label, f.name)
        for pk in model._base_manager.values_list("pk", flat=True)[:20]:
            try:
                with transaction.atomic():
                    model._base_manager.filter(pk=pk).update(**{f.name: value})
                break
            except DatabaseError:  # a committed row refuses the change: try the next one
                continue
        else:
            pytest.fail(f"{name} is encrypted but nothing in this test writes it: add it to the day's work")


# --- the test --------------------------------------------------------------------------------------------------------


def _found(tables: dict[str, pgdump.Table], value: str, *, pattern: re.Pattern | None = None) -> list[str]:
    """Where ``value`` is in the dump (``table`` or ``audit_event:<table>``), simulators left out."""
    where = []
    for table in tables.values():
        for row in table.rows:
            hit = pattern.search(row) if pattern else value in row
            if not hit:
                continue
            if table.name in SIMULATOR_TABLES:
                continue
            if table.name == "audit_event":
                audited = table.values(row)["table_name"]
                if audited in SIMULATOR_TABLES:
                    continue
                where.append(f"audit_event:{audited}")
            else:
                where.append(table.name or "(outside any table)")
    return sorted(set(where))


def _read_back(m: Markers) -> dict[str, list[str]]:
    """Each written value reads back through the ORM; returns each field's stored (sealed) texts, read raw."""
    stored = {}
    quote = connection.ops.quote_name
    for model, f in encrypted_fields():
        name = _name(model, f)
        plain = list(model._base_manager.values_list(f.name, flat=True))
        for value in m.fields[name]:
            assert any(p and value in p for p in plain), f"{name} does not read back {value!r}"
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {quote(f.column)} FROM {quote(model._meta.db_table)} WHERE {quote(f.column)} <> ''"
            )
            stored[name] = [raw for (raw,) in cursor.fetchall()]
    return stored


def test_no_sensitive_value_is_in_clear_in_a_database_dump(cast, settings, tmp_path):
    import json

    settings.SMS_BACKEND = "outbox"
    settings.SMS_OUTBOX_DIR = tmp_path

    def sms_outbox():
        return [json.loads(p.read_text()) for p in sorted(tmp_path.glob("*.json"))]

    m = Markers()
    control = f"CLEAR-control-{uuid.uuid4().hex[:12]}"
    cast.clinic_a.name_en = control
    cast.clinic_a.save(update_fields=["name_en", "updated_at"])
    open_for_booking(cast)
    listings_refresh(clinic_pk=cast.clinic_a.pk)  # the search read model, as its job would
    appointment = _home_visit(cast, m)
    _identity(cast, m)
    _chart(cast, m)
    _visit(cast, m, appointment)
    _hakeem(cast)
    _telehealth(cast, m)
    _idempotent_answer(cast, m)
    _subscription(cast, m)
    _secrets(cast, m, sms_outbox)
    _fill_the_rest(m)

    stored = _read_back(m)
    tables = pgdump.tables(pgdump.dump(connection))

    # The copies where a value could leak are all in the dump, with the rows this test made.
    for table in DERIVED_TABLES:
        assert tables.get(table) and tables[table].rows, f"{table} has no rows in the dump"
    # The check can fail: the value written in clear is found, in its table and in the audit log's image of it.
    assert {"tenancy_clinic", "audit_event:tenancy_clinic"} <= set(_found(tables, control))
    # Every encrypted field holds its values sealed, and the sealed text is what the dump has.
    every_row = "\n".join(row for t in tables.values() for row in t.rows)
    for name, sealed in stored.items():
        assert sealed and all(s.startswith("g1.") for s in sealed), name
        assert all(s in every_row for s in sealed), name

    leaks = {}
    for name, values in m.fields.items():
        for value in values:
            if where := _found(tables, value):
                leaks[f"{name} = {value}"] = where
    for what, value in m.secrets.items():
        if where := _found(tables, value):
            leaks[what] = where
    # A six-digit code is found in timestamps by chance: it is looked for as a value of its own table's rows.
    code = re.compile(rf"(?<![\d.:]){m.short_code}(?![\d])")
    otp = {"accounts_onetimecode": tables["accounts_onetimecode"]}
    otp["audit_event"] = pgdump.Table(
        "audit_event",
        tables["audit_event"].columns,
        [
            r
            for r in tables["audit_event"].rows
            if tables["audit_event"].values(r)["table_name"] == "accounts_onetimecode"
        ],
    )
    assert otp["accounts_onetimecode"].rows and otp["audit_event"].rows
    if where := _found(otp, m.short_code, pattern=code):
        leaks["one-time code"] = where
    assert leaks == {}

    # What the simulators keep is really left out, not missing: Hakeem holds the national ID, PayTabs its token.
    simulators = "\n".join(
        row for name in SIMULATOR_TABLES for row in tables.get(name, pgdump.Table("", [])).rows
    )
    assert m.fields["records.Patient.national_id"][0] in simulators
    assert m.secrets["PayTabs card token"] in simulators


@pytest.mark.django_db  # in the test's transaction: the schema goes back by rolling back, without a flush
def test_push_auth_secrets_stored_in_clear_before_are_encrypted_by_the_migration(cast):
    """``notifications.0003`` converts the rows written while the auth secret was a plain column."""
    from django.db.migrations.executor import MigrationExecutor

    from shifa.notifications.models import PushSubscription

    executor = MigrationExecutor(connection)
    before, after = (
        [("notifications", "0002_lighter_indexes")],
        executor.loader.graph.leaf_nodes("notifications"),
    )
    auth = uuid.uuid4().hex[:22]
    executor.migrate(before)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO notifications_pushsubscription (external_id, created_at, updated_at, user_id, "
                "endpoint, p256dh, auth, user_agent) VALUES (gen_random_uuid(), now(), now(), %s, %s, %s, %s, '')",
                [cast.patient_user.pk, "https://push.example.org/send/old", "B" * 40, auth],
            )
            # no deferred foreign-key check may be pending when the migration alters the table
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(after)
    with connection.cursor() as cursor:
        cursor.execute("SELECT auth FROM notifications_pushsubscription")
        ((stored,),) = cursor.fetchall()
    assert stored.startswith("g1.") and auth not in stored
    assert PushSubscription.objects.get().auth == auth
    # and back: the secret is plain again
    MigrationExecutor(connection).migrate(before)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT auth FROM notifications_pushsubscription")
            assert cursor.fetchall() == [(auth,)]
    finally:
        MigrationExecutor(connection).migrate(after)


@pytest.mark.django_db  # in the test's transaction: the schema goes back by rolling back, without a flush
def test_appointment_reasons_and_addresses_stored_in_clear_before_are_encrypted_by_the_migration(cast):
    """``scheduling.0005`` converts the reasons and home addresses written while they were plain columns, those of a
    completed (committed) appointment too, whose guard against changes is on again afterwards; and back."""
    from django.db.migrations.executor import MigrationExecutor

    from shifa.audit.models import AuditEvent
    from shifa.scheduling.models import Appointment

    executor = MigrationExecutor(connection)
    before, after = [("scheduling", "0004_waitlist")], executor.loader.graph.leaf_nodes("scheduling")
    tag = uuid.uuid4().hex[:8]
    written = {  # status: (reason, home address)
        "completed": (f"Chest pain since Monday {tag}", f"Abdoun, building 12 {tag}"),
        "booked": (f"Follow-up of the sugar {tag}", ""),
    }

    def stored() -> dict[str, tuple[str, str]]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT status, reason, home_address FROM scheduling_appointment")
            return {status: (reason, address) for status, reason, address in cursor.fetchall()}

    def guarded() -> bool:
        try:
            with transaction.atomic():
                Appointment.unscoped.filter(status="completed").update(status="cancelled")
        except DatabaseError:
            return True
        return False

    executor.migrate(before)
    try:
        with connection.cursor() as cursor:
            for hours, (status, (reason, address)) in enumerate(written.items(), start=1):
                cursor.execute(
                    "INSERT INTO scheduling_appointment (external_id, created_at, updated_at, clinic_id, doctor_id, "
                    "patient_id, is_committed, committed_at, visit_type, starts_at, ends_at, status, channel, "
                    "reason, home_latitude, home_longitude, home_address, travel_minutes, cancellation_reason) "
                    "VALUES (gen_random_uuid(), now(), now(), %s, %s, %s, %s, CASE WHEN %s THEN now() END, 'home', "
                    "now() + %s * interval '2 hours', now() + %s * interval '2 hours' + interval '45 minutes', "
                    "%s, 'app', %s, 31.95, 35.88, %s, 0, '')",
                    [
                        cast.clinic_a.pk,
                        cast.staff_a["doctor"].pk,
                        cast.patient.pk,
                        status == "completed",
                        status == "completed",
                        hours,
                        hours,
                        status,
                        reason,
                        address,
                    ],
                )
            # no deferred foreign-key check may be pending when the migration alters the table
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        assert stored() == written and guarded()
    finally:
        MigrationExecutor(connection).migrate(after)
    sealed = stored()
    assert sealed["booked"][1] == ""  # nothing written stays empty
    for status, values in written.items():
        for plain, kept in zip(values, sealed[status], strict=True):
            assert not plain or (kept.startswith("g1.") and tag not in kept), (status, kept)
        appointment = Appointment.unscoped.get(status=status)
        assert (appointment.reason, appointment.home_address) == values
    # the committed row was converted with its guard switched off for that only: it is on again
    assert guarded()
    # and the conversion is in the audit log, as this migration's work
    assert AuditEvent.objects.filter(
        table_name="scheduling_appointment",
        operation="UPDATE",
        entity_id=str(Appointment.unscoped.get(status="completed").pk),
        source="migration scheduling.0005_sealed_reason_and_home_address",
        changed_fields=["home_address", "reason"],
    ).exists()
    # and back: the text is plain again, still guarded
    MigrationExecutor(connection).migrate(before)
    try:
        assert stored() == written and guarded()
    finally:
        MigrationExecutor(connection).migrate(after)

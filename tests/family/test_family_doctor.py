"""Family Doctor (TM-4): a subscriber asks a listed doctor, who accepts; then, and only then, the doctor's clinic
reads the shared record and the two write to each other. The entitlement lapsing pauses it."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from shifa.access import entitlements
from shifa.family import actions
from shifa.family.models import FamilyDoctor
from shifa.records.models import Grant
from shifa.telehealth.models import Conversation, Message
from tests.factories import MembershipFactory, PatientFactory, UserFactory
from tests.family.support import listed, subscribe

ME = "/api/v1/me/family-doctor"


class Subscribers:
    """Stands in for the subscriptions work: who holds FAMILY_DOCTOR now."""

    def __init__(self):
        self.patients: set[int] = set()

    def __call__(self, patient, code):
        assert code in entitlements.KNOWN
        return code == entitlements.FAMILY_DOCTOR and patient.pk in self.patients


@pytest.fixture
def subscribers(monkeypatch):
    holders = Subscribers()
    monkeypatch.setattr(entitlements, "has_entitlement", holders)
    return holders


@pytest.fixture
def world(cast, subscribers):
    doctor = listed(cast.clinic_a, cast.staff_a["doctor"])
    listed(cast.clinic_b, cast.doctor_b)
    subscribers.patients.add(cast.patient.pk)
    return doctor


def ask(api, cast, doctor=None, clinic=None, **extra):
    doctor = doctor or cast.staff_a["doctor"]
    clinic = clinic or cast.clinic_a
    return api(cast.patient_user).post(
        ME, {"clinic_id": str(clinic.external_id), "doctor_id": str(doctor.external_id), **extra}
    )


def chart(api, user, clinic, patient):
    return api(user).get(f"/api/v1/clinics/{clinic.external_id}/patients/{patient.external_id}/chart")


def accept(api, user, clinic, family_id):
    return api(user).post(f"/api/v1/clinics/{clinic.external_id}/family-doctor/requests/{family_id}/accept")


def test_a_patient_without_the_entitlement_is_refused(cast, api, subscribers):
    listed(cast.clinic_a, cast.staff_a["doctor"])

    response = ask(api, cast)

    assert response.status_code == 403 and response.json()["code"] == "entitlement_required"
    assert not FamilyDoctor.unscoped.exists()
    assert api(cast.patient_user).get(ME).json() == {"entitled": False, "family_doctor": None}


def test_the_record_is_shared_only_once_the_doctor_accepts(cast, api, world):
    doctor = cast.staff_a["doctor"]
    asked = ask(api, cast, note="I have diabetes")
    assert asked.status_code == 201
    family_id = asked.json()["id"]
    requests = (
        api(doctor).get(f"/api/v1/clinics/{cast.clinic_a.external_id}/family-doctor/requests").json()["items"]
    )
    assert [r["id"] for r in requests] == [family_id] and requests[0]["note"] == "I have diabetes"

    assert chart(api, doctor, cast.clinic_a, cast.patient).status_code == 404  # not before

    accepted = accept(api, doctor, cast.clinic_a, family_id)

    assert accepted.status_code == 200 and accepted.json()["status"] == "active"
    assert accepted.json()["record_shared"] is True
    assert chart(api, doctor, cast.clinic_a, cast.patient).status_code == 200  # after
    grant = Grant.objects.get(patient=cast.patient, clinic=cast.clinic_a, revoked_at__isnull=True)
    assert grant.granted_by == cast.patient_user and grant.expires_at is None
    conversation = Conversation.unscoped.get(clinic=cast.clinic_a, patient=cast.patient)
    assert accepted.json()["conversation_id"] == str(conversation.external_id)
    [opening] = Message.unscoped.filter(conversation=conversation)
    assert opening.sender == doctor and opening.side == "clinic"
    mine = api(cast.patient_user).get(ME).json()
    assert mine["family_doctor"]["conversation_id"] == str(conversation.external_id)
    # the patient can write to the doctor in that conversation
    sent = api(cast.patient_user).post(
        f"/api/v1/me/conversations/{conversation.external_id}/messages", {"body": "Hello doctor"}
    )
    assert sent.status_code == 201
    assert (
        api(doctor)
        .get(f"/api/v1/clinics/{cast.clinic_a.external_id}/family-doctor/patients")
        .json()["items"][0]["id"]
        == family_id
    )


def test_accepting_twice_shares_and_writes_once(cast, api, world):
    family_id = ask(api, cast).json()["id"]

    first = accept(api, cast.staff_a["doctor"], cast.clinic_a, family_id)
    second = accept(api, cast.staff_a["doctor"], cast.clinic_a, family_id)

    assert (first.status_code, second.status_code) == (200, 200)
    assert Grant.objects.filter(patient=cast.patient, clinic=cast.clinic_a).count() == 1
    assert Message.unscoped.filter(conversation__patient=cast.patient).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_accepts_share_and_write_once(cast, subscribers):
    from shifa.access.policies import Actor

    doctor = listed(cast.clinic_a, cast.staff_a["doctor"])
    subscribers.patients.add(cast.patient.pk)
    relation, _new = actions.family_request(
        actor=Actor(user=cast.patient_user), clinic_id=cast.clinic_a.external_id, doctor_id=doctor.external_id
    )
    actor = Actor(user=doctor, clinic=cast.clinic_a, roles=frozenset({"doctor"}))
    barrier = threading.Barrier(2)
    outcomes = []

    def run():
        try:
            barrier.wait(timeout=10)
            outcomes.append(actions.family_accept(actor=actor, family_id=relation.external_id).status)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert outcomes == ["active", "active"]
    assert Grant.objects.filter(patient=cast.patient, clinic=cast.clinic_a).count() == 1
    assert Message.unscoped.filter(conversation__patient=cast.patient).count() == 1


def test_another_clinics_doctor_cannot_accept(cast, api, world):
    family_id = ask(api, cast).json()["id"]

    own_path = accept(api, cast.doctor_b, cast.clinic_b, family_id)
    their_path = accept(api, cast.doctor_b, cast.clinic_a, family_id)

    assert (own_path.status_code, their_path.status_code) == (404, 404)
    assert FamilyDoctor.unscoped.get(external_id=family_id).status == "requested"
    assert not Grant.objects.filter(patient=cast.patient).exists()


def test_only_the_doctor_asked_can_answer(cast, api, world):
    from shifa.access.models import Role

    colleague = UserFactory(full_name="Another doctor of A")
    MembershipFactory(clinic=cast.clinic_a, user=colleague, role=Role.objects.get(code="doctor"))
    family_id = ask(api, cast).json()["id"]

    assert accept(api, colleague, cast.clinic_a, family_id).status_code == 404
    assert api(colleague).get(
        f"/api/v1/clinics/{cast.clinic_a.external_id}/family-doctor/requests"
    ).json() == {"items": []}


@pytest.mark.parametrize("role", ["secretary", "nurse", "clinic_admin"])
def test_other_roles_cannot_answer(cast, api, world, role):
    family_id = ask(api, cast).json()["id"]

    assert accept(api, cast.staff_a[role], cast.clinic_a, family_id).status_code == 403


def test_one_family_doctor_at_a_time(cast, api, world):
    first = ask(api, cast)
    same_again = ask(api, cast)
    other = ask(api, cast, doctor=cast.doctor_b, clinic=cast.clinic_b)

    assert (first.status_code, same_again.status_code) == (201, 200)
    assert same_again.json()["id"] == first.json()["id"]
    assert other.status_code == 409 and other.json()["code"] == "family_doctor_exists"


@pytest.mark.parametrize("who", ["unlisted", "assistant", "nobody"])
def test_the_doctor_must_be_a_doctor_listed_on_shifa(cast, api, world, who):
    from shifa.directory.models import DoctorListing

    doctor = cast.staff_a["doctor"]
    if who == "unlisted":
        DoctorListing.unscoped.filter(doctor=doctor).update(bookable=False)
    elif who == "assistant":
        doctor = listed(cast.clinic_a, cast.staff_a["assistant_doctor"])
    else:
        doctor = cast.outsider

    response = ask(api, cast, doctor=doctor)

    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "doctor_id"


def test_a_declined_request_stays_declined(cast, api, world):
    family_id = ask(api, cast).json()["id"]
    base = f"/api/v1/clinics/{cast.clinic_a.external_id}/family-doctor/requests/{family_id}"

    declined = api(cast.staff_a["doctor"]).post(f"{base}/decline", {"reason": "My list is full"})
    late = accept(api, cast.staff_a["doctor"], cast.clinic_a, family_id)

    assert declined.json()["status"] == "declined"
    assert late.status_code == 409 and late.json()["code"] == "not_requested"
    mine = api(cast.patient_user).get(ME).json()["family_doctor"]
    assert mine["status"] == "declined" and mine["decline_reason"] == "My list is full"
    assert (
        ask(api, cast, doctor=cast.doctor_b, clinic=cast.clinic_b).status_code == 201
    )  # free to ask another


def test_ending_it_revokes_the_sharing(cast, api, world):
    doctor = cast.staff_a["doctor"]
    family_id = ask(api, cast).json()["id"]
    accept(api, doctor, cast.clinic_a, family_id)

    ended = api(cast.patient_user).post(f"{ME}/end", {})

    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    assert not Grant.objects.filter(patient=cast.patient, revoked_at__isnull=True).exists()
    assert chart(api, doctor, cast.clinic_a, cast.patient).status_code == 404
    assert api(cast.patient_user).post(f"{ME}/end", {}).status_code == 404


def test_withdrawing_a_request(cast, api, world):
    family_id = ask(api, cast).json()["id"]

    withdrawn = api(cast.patient_user).post(f"{ME}/end", {})

    assert withdrawn.json()["status"] == "withdrawn"
    assert accept(api, cast.staff_a["doctor"], cast.clinic_a, family_id).status_code == 409


def test_a_sharing_the_patient_gave_on_their_own_outlives_the_relationship(cast, api, world):
    own = api(cast.patient_user).post("/api/v1/me/grants", {"clinic_id": str(cast.clinic_a.external_id)})
    assert own.status_code in {200, 201}, own.content
    family_id = ask(api, cast).json()["id"]
    accept(api, cast.staff_a["doctor"], cast.clinic_a, family_id)

    api(cast.patient_user).post(f"{ME}/end", {})

    assert (
        Grant.objects.filter(patient=cast.patient, clinic=cast.clinic_a, revoked_at__isnull=True).count() == 1
    )


def test_a_lapsed_entitlement_pauses_and_a_renewed_one_resumes(cast, api, world, subscribers):
    doctor = cast.staff_a["doctor"]
    family_id = ask(api, cast).json()["id"]
    accept(api, doctor, cast.clinic_a, family_id)

    subscribers.patients.clear()
    assert actions.entitlements_review() == 1
    relation = FamilyDoctor.unscoped.get(external_id=family_id)
    assert relation.status == "suspended"
    assert chart(api, doctor, cast.clinic_a, cast.patient).status_code == 404
    assert actions.entitlements_review() == 0  # nothing more to do

    subscribers.patients.add(cast.patient.pk)
    assert actions.entitlement_changed(patient=cast.patient) == 1
    relation.refresh_from_db()
    assert relation.status == "active"
    assert chart(api, doctor, cast.clinic_a, cast.patient).status_code == 200


def test_a_lapsed_patient_cannot_be_accepted(cast, api, world, subscribers):
    family_id = ask(api, cast).json()["id"]
    subscribers.patients.clear()

    response = accept(api, cast.staff_a["doctor"], cast.clinic_a, family_id)

    assert response.status_code == 409 and response.json()["code"] == "entitlement_lapsed"
    assert not Grant.objects.filter(patient=cast.patient).exists()


def test_a_guardian_chooses_for_a_dependant(cast, api, world, subscribers):
    child = PatientFactory(user=None, guardian=cast.patient, full_name="Child", relation="child")
    subscribers.patients.add(child.pk)

    asked = ask(api, cast, patient_id=str(child.external_id))
    accept(api, cast.staff_a["doctor"], cast.clinic_a, asked.json()["id"])

    assert asked.status_code == 201 and asked.json()["patient"]["id"] == str(child.external_id)
    assert chart(api, cast.staff_a["doctor"], cast.clinic_a, child).status_code == 200
    other = api(cast.other_patient_user).get(f"{ME}?patient_id={child.external_id}")
    assert other.status_code == 404


def test_staff_cannot_use_the_patients_side(cast, api, world):
    assert api(cast.staff_a["doctor"]).get(ME).status_code == 403


def test_with_a_real_subscription_and_its_lapse(cast, api):
    """The entitlement read from shifa.subscriptions: granted while paid, paused once the paid period is over."""
    import datetime as dt

    from shifa.core import timezones
    from tests.conftest import time_machine

    listed(cast.clinic_a, cast.staff_a["doctor"])
    subscribe(cast.patient, days=3)
    family_id = ask(api, cast).json()["id"]
    assert accept(api, cast.staff_a["doctor"], cast.clinic_a, family_id).json()["status"] == "active"

    with time_machine(timezones.now() + dt.timedelta(days=4)):
        assert actions.entitlements_review() == 1

    assert FamilyDoctor.unscoped.get(external_id=family_id).status == "suspended"
    assert not Grant.objects.filter(patient=cast.patient, revoked_at__isnull=True).exists()

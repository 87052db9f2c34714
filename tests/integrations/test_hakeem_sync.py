"""Sending committed records to Hakeem (issue 11, HK-1, HK-2), against the local Hakeem simulator: per-record sync
state, back-off, nothing lost and nothing sent twice, amendments as updates of the same resource, third-party
orders with their Task."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from django.utils import timezone

from shifa.access import catalog
from shifa.access.policies import Actor
from shifa.catalog.models import Facility, LabTest
from shifa.integrations.hakeem import actions, client, fhir
from shifa.integrations.hakeem.models import Kind, SyncRecord, SyncState, ThirdPartyOrder
from shifa.records import actions as records
from shifa.records.models import Order, Referral, VisitDiagnosis
from shifa.simulators.hakeem import actions as simulator
from shifa.simulators.hakeem import queries as on_hakeem
from tests.integrations.test_hakeem_fhir import _demo_visit, _video_visit

pytestmark = pytest.mark.django_db


def _doctor(visit) -> Actor:
    return Actor(user=visit.doctor, clinic=visit.clinic, roles=frozenset({catalog.DOCTOR}))


def _send(visit) -> dict:
    return actions.send_patient(clinic_id=visit.clinic_id, patient_id=visit.patient_id)


def _records(visit):
    return SyncRecord.unscoped.filter(clinic_id=visit.clinic_id, patient_id=visit.patient_id)


def _on_hakeem(kind: str, key) -> list:
    """The resources on the simulator carrying our identifier ``kind|key``."""
    token = f"{fhir.ID_SYSTEM}{kind}|{key}"
    return [r for r in on_hakeem.resources() if token in r.identifiers]


def _wait_is_over(visit) -> None:
    _records(visit).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))


def test_committing_a_visit_queues_every_record_it_holds():
    video = _video_visit(_demo_visit())
    kinds = sorted(_records(video).values_list("kind", flat=True))
    assert kinds.count(Kind.PATIENT) == 1
    assert {
        Kind.APPOINTMENT,
        Kind.VISIT,
        Kind.DIAGNOSIS,
        Kind.PRESCRIPTION,
        Kind.ORDER,
        Kind.REFERRAL,
    } <= set(kinds)
    visit_record = _records(video).get(kind=Kind.VISIT, key=video.external_id)
    assert visit_record.resource_type == "Encounter"
    assert visit_record.state == SyncState.PENDING and visit_record.attempts == 0


def test_everything_the_demo_data_produces_is_accepted_by_hakeem():
    _video_visit(_demo_visit())
    assert SyncRecord.unscoped.count() > 10
    actions.send_due(limit=1000)
    failed = list(SyncRecord.unscoped.exclude(state=SyncState.ACKNOWLEDGED).values_list("kind", "last_error"))
    assert failed == []
    sent = {r.resource_type for r in SyncRecord.unscoped.all()}
    assert {"Patient", "Encounter", "Condition", "MedicationRequest", "ServiceRequest", "CarePlan"} <= sent
    assert {"Appointment", "Observation"} <= sent
    for record in SyncRecord.unscoped.all():
        assert record.remote_id.startswith(record.resource_type + "/")
        (stored,) = _on_hakeem(actions.IDENTIFIER_KINDS[record.kind], record.key)
        assert f"{stored.resource_type}/{stored.fhir_id}" == record.remote_id


def test_a_visit_committed_while_hakeem_is_down_is_sent_once_when_it_is_back():
    demo = _demo_visit()
    simulator.switch_set("down")
    video = _video_visit(demo)
    counts = _send(video)
    assert counts["acknowledged"] == 0 and counts["failed"] == _records(video).count()
    for record in _records(video):
        assert record.state == SyncState.FAILED and record.attempts == 1
        assert "503" in record.last_error
        assert record.next_attempt_at > timezone.now()
    assert _on_hakeem("visit", video.external_id) == []

    actions.send_due()  # not due yet: nothing is tried again before its time
    assert set(_records(video).values_list("attempts", flat=True)) == {1}

    simulator.switch_set("normal")
    _wait_is_over(video)
    actions.send_due(limit=1000)
    assert set(_records(video).values_list("state", flat=True)) == {SyncState.ACKNOWLEDGED}
    assert set(_records(video).values_list("attempts", flat=True)) == {0}
    (encounter,) = _on_hakeem("visit", video.external_id)
    assert encounter.version_id == 1
    for diagnosis in video.diagnoses.all():
        assert len(_on_hakeem("diagnosis", diagnosis.external_id)) == 1

    # An answer lost on the way back: the same records are sent again, as first sends. Nothing is duplicated.
    _records(video).update(state=SyncState.PENDING, remote_id="", sent_version=0, next_attempt_at=None)
    _send(video)
    assert len(_on_hakeem("visit", video.external_id)) == 1
    assert _on_hakeem("visit", video.external_id)[0].version_id == 1
    assert set(_records(video).values_list("state", flat=True)) == {SyncState.ACKNOWLEDGED}


def test_failures_back_off_exponentially_with_jitter():
    first = [actions.backoff(1).total_seconds() for _ in range(50)]
    assert all(15 <= s <= 30 for s in first) and len(set(first)) > 1
    assert all(60 <= actions.backoff(3).total_seconds() <= 120 for _ in range(20))
    assert all(3 * 3600 <= actions.backoff(30).total_seconds() <= 6 * 3600 for _ in range(20))


def test_a_second_failure_waits_longer(monkeypatch):
    video = _video_visit(_demo_visit())
    simulator.switch_set("error")
    _send(video)
    _wait_is_over(video)
    _send(video)
    record = _records(video).get(kind=Kind.VISIT, key=video.external_id)
    assert record.attempts == 2 and "500" in record.last_error
    assert record.next_attempt_at - timezone.now() > dt.timedelta(seconds=25)


def test_hakeem_not_answering_in_time_is_a_failure_to_retry(monkeypatch):
    def too_slow(request):
        raise httpx.ReadTimeout("timed out", request=request)

    monkeypatch.setattr(client, "transport", httpx.MockTransport(too_slow))
    video = _video_visit(_demo_visit())
    _send(video)
    record = _records(video).get(kind=Kind.VISIT, key=video.external_id)
    assert record.state == SyncState.FAILED and "did not answer" in record.last_error


def test_retry_sends_a_failed_record_now():
    video = _video_visit(_demo_visit())
    simulator.switch_set("down")
    _send(video)
    record = _records(video).get(kind=Kind.VISIT, key=video.external_id)
    assert record.state == SyncState.FAILED
    simulator.switch_set("normal")
    retried = actions.record_retry(actor=None, record_id=record.external_id)
    assert retried.state == SyncState.ACKNOWLEDGED and retried.remote_id.startswith("Encounter/")
    assert set(_records(video).values_list("state", flat=True)) == {SyncState.ACKNOWLEDGED}


def test_an_amended_diagnosis_updates_the_same_condition():
    video = _video_visit(_demo_visit())
    staff = _doctor(video)
    _send(video)
    primary = video.diagnoses.get(rank="primary")
    condition_record = _records(video).get(kind=Kind.DIAGNOSIS, key=primary.external_id)
    remote_id = condition_record.remote_id
    (before,) = _on_hakeem("diagnosis", primary.external_id)
    assert before.content["code"]["coding"][0]["code"] == "401.9" and before.version_id == 1

    amendment = records.visit_amend(actor=staff, visit_id=video.external_id, reason="Wrong code")
    copy = VisitDiagnosis.unscoped.get(visit=amendment, rank="primary")
    assert copy.lineage == primary.external_id
    records.diagnosis_update(
        actor=staff, visit_id=amendment.external_id, part_id=copy.external_id, code="401.1"
    )
    records.visit_commit(actor=staff, visit_id=amendment.external_id)
    assert _records(video).get(kind=Kind.DIAGNOSIS, key=primary.external_id).state == SyncState.PENDING
    _send(video)

    (after,) = _on_hakeem("diagnosis", primary.external_id)
    assert f"Condition/{after.fhir_id}" == remote_id
    assert after.version_id == 2 and after.content["code"]["coding"][0]["code"] == "401.1"
    (encounter,) = _on_hakeem("visit", video.external_id)
    assert encounter.version_id == 2  # the same encounter, corrected
    for original in video.diagnoses.all():  # one Condition per diagnosis; the amendment's copies made none
        assert len(_on_hakeem("diagnosis", original.external_id)) == 1
    for corrected in VisitDiagnosis.unscoped.filter(visit=amendment):
        assert _on_hakeem("diagnosis", corrected.external_id) == []
    assert _records(video).get(kind=Kind.DIAGNOSIS, key=primary.external_id).sent_version == 2


def test_a_diagnosis_an_amendment_takes_out_is_marked_entered_in_error():
    demo = _demo_visit()
    video = _video_visit(demo)
    _send(video)
    staff = _doctor(video)
    amendment = records.visit_amend(actor=staff, visit_id=video.external_id, reason="Not a referral case")
    extra = records.diagnosis_add(actor=staff, visit_id=amendment.external_id, code="250.00")
    copied = Referral.unscoped.get(visit=amendment)
    records.visit_part_remove(actor=staff, model=Referral, part_id=copied.external_id)
    records.visit_commit(actor=staff, visit_id=amendment.external_id)
    _send(video)
    assert set(_records(video).values_list("state", flat=True)) == {SyncState.ACKNOWLEDGED}
    (withdrawn,) = _on_hakeem("referral", copied.lineage)
    assert withdrawn.content["status"] == "entered-in-error" and withdrawn.version_id == 2
    (added,) = _on_hakeem("diagnosis", extra.external_id)
    assert added.content["verificationStatus"]["coding"][0]["code"] == "confirmed"


def test_a_record_queued_again_while_it_is_sent_is_sent_again():
    video = _video_visit(_demo_visit())
    claimed = actions._claim(video.clinic_id, video.patient_id, timezone.now(), force=False)
    record, version = next((r, v) for r, v in claimed if r.kind == Kind.VISIT)
    actions._queue(video.clinic_id, video.patient_id, Kind.VISIT, record.key)  # an amendment, meanwhile
    actions._finish(record, version, answer={"response": {"location": "Encounter/abc/_history/1"}})
    record.refresh_from_db()
    assert (
        record.state == SyncState.PENDING and record.version == version + 1 and record.sent_version == version
    )


def test_nothing_is_queued_when_sync_is_off(settings):
    settings.HAKEEM_SYNC = False
    video = _video_visit(_demo_visit())
    assert not _records(video).exists()


def _facility() -> Facility:
    from shifa.catalog.actions import reference_list_load

    reference_list_load("facilities")
    return Facility.objects.get(code="central-public-health-lab")


def test_a_third_party_order_goes_with_a_task_whose_progress_comes_back():
    demo = _demo_visit()
    staff = _doctor(demo)
    place = _facility()
    visit = records.visit_open(actor=staff, patient_id=demo.patient.external_id)
    records.diagnosis_add(actor=staff, visit_id=visit.external_id, code="250.00", rank="primary")
    order = records.order_add(
        actor=staff,
        visit_id=visit.external_id,
        kind="lab",
        test=LabTest.objects.first().code,
        facility=place.code,
    )
    records.visit_commit(actor=staff, visit_id=visit.external_id)
    tpo = ThirdPartyOrder.unscoped.get(key=order.external_id)
    assert tpo.status == "requested" and tpo.facility == place and tpo.kind == Kind.ORDER_TASK
    _send(visit)
    assert set(_records(visit).values_list("state", flat=True)) == {SyncState.ACKNOWLEDGED}

    (task,) = _on_hakeem("order-task", order.external_id)
    (request,) = _on_hakeem("order", order.external_id)
    assert task.content["status"] == "requested"
    assert task.content["focus"]["reference"] == f"ServiceRequest/{request.fhir_id}"
    assert task.content["owner"]["identifier"] == {"system": fhir.HAKEEM_FACILITY_SYSTEM, "value": place.code}
    assert request.content["performer"][0]["identifier"]["value"] == place.code

    simulator.task_status_set(task.fhir_id, "in-progress", business_status="Sample taken")
    assert actions.tasks_poll() == 1
    tpo.refresh_from_db()
    assert tpo.status == "in-progress" and tpo.business_status == "Sample taken"
    assert actions.tasks_poll() == 0  # nothing new

    simulator.task_status_set(task.fhir_id, "completed")
    actions.tasks_poll()
    tpo.refresh_from_db()
    assert tpo.status == "completed"
    _send(visit)  # a completed order is not sent again: the facility's status stays
    (task,) = _on_hakeem("order-task", order.external_id)
    assert task.content["status"] == "completed"


def test_hakeem_down_leaves_third_party_orders_as_they_were():
    demo = _demo_visit()
    staff = _doctor(demo)
    place = _facility()
    visit = records.visit_open(actor=staff, patient_id=demo.patient.external_id)
    records.diagnosis_add(actor=staff, visit_id=visit.external_id, code="250.00", rank="primary")
    records.order_add(
        actor=staff,
        visit_id=visit.external_id,
        kind="lab",
        test=LabTest.objects.first().code,
        facility=place.code,
    )
    records.visit_commit(actor=staff, visit_id=visit.external_id)
    _send(visit)
    simulator.switch_set("down")
    assert actions.tasks_poll() == 0
    assert ThirdPartyOrder.unscoped.get(visit=visit).status == "requested"


def test_an_unknown_facility_is_a_field_error():
    from shifa.core.errors import ValidationFailed

    demo = _demo_visit()
    staff = _doctor(demo)
    visit = records.visit_open(actor=staff, patient_id=demo.patient.external_id)
    with pytest.raises(ValidationFailed) as caught:
        records.order_add(
            actor=staff,
            visit_id=visit.external_id,
            kind="lab",
            test=LabTest.objects.first().code,
            facility="nowhere",
        )
    assert caught.value.errors[0].field == "facility"


def test_a_corrected_name_updates_the_patient_on_hakeem():
    video = _video_visit(_demo_visit())
    _send(video)
    patient = video.patient
    me = Actor(user=patient.user, roles=frozenset({catalog.PATIENT}))
    sent = _records(video).get(kind=Kind.PATIENT).version
    (before,) = _on_hakeem("patient", patient.external_id)
    records.patient_identity_update(actor=me, changes={"full_name": "Ahmad Mahmoud Ali"})
    record = _records(video).get(kind=Kind.PATIENT)
    assert record.state == SyncState.PENDING and record.version == sent + 1
    _send(video)
    (stored,) = _on_hakeem("patient", patient.external_id)
    assert stored.pk == before.pk and stored.version_id == before.version_id + 1
    assert stored.content["name"][0]["text"] == "Ahmad Mahmoud Ali"


def test_one_record_hakeem_refuses_does_not_hold_back_the_others(monkeypatch):
    demo = _demo_visit()
    real = fhir.chronic_condition

    def pointing_nowhere(
        fact,
    ):  # a reference Hakeem cannot resolve: it refuses the transaction over this entry
        resource = real(fact)
        resource["encounter"] = {
            "reference": f"Encounter?identifier={fhir.ID_SYSTEM}visit|{demo.patient.external_id}"
        }
        return resource

    monkeypatch.setattr(fhir, "chronic_condition", pointing_nowhere)
    counts = _send(demo)
    refused = _records(demo).get(kind=Kind.CONDITION)
    assert refused.state == SyncState.FAILED and "matches no resource" in refused.last_error
    assert counts["failed"] == 1
    others = _records(demo).exclude(pk=refused.pk)
    assert set(others.values_list("state", flat=True)) == {SyncState.ACKNOWLEDGED}


def test_an_absolute_location_gives_the_resource_its_id():
    video = _video_visit(_demo_visit())
    record = _records(video).get(kind=Kind.VISIT, key=video.external_id)
    location = "https://hakeem.example.jo/fhir/R4/Encounter/8a1-b2/_history/3"
    actions._finish(
        record, record.version, answer={"response": {"status": "201 Created", "location": location}}
    )
    record.refresh_from_db()
    assert (record.remote_id, record.remote_version) == ("Encounter/8a1-b2", "3")
    assert record.state == SyncState.ACKNOWLEDGED


def test_vitals_taken_in_an_amendment_are_sent_too():
    video = _video_visit(_demo_visit())
    _send(video)
    staff = _doctor(video)
    amendment = records.visit_amend(
        actor=staff, visit_id=video.external_id, reason="Pulse was not written down"
    )
    (pulse,) = records.vitals_record(actor=staff, visit_id=amendment.external_id, readings={"8867-4": 96})
    records.visit_commit(actor=staff, visit_id=amendment.external_id)
    _send(video)
    record = _records(video).get(kind=Kind.VITAL, key=pulse.external_id)
    assert record.state == SyncState.ACKNOWLEDGED
    (stored,) = _on_hakeem("vital", pulse.external_id)
    (encounter,) = _on_hakeem("visit", video.external_id)
    assert stored.content["encounter"]["reference"] == f"Encounter/{encounter.fhir_id}"


def test_a_finished_third_party_order_taken_out_later_keeps_the_facilitys_task():
    demo = _demo_visit()
    staff = _doctor(demo)
    place = _facility()
    visit = records.visit_open(actor=staff, patient_id=demo.patient.external_id)
    records.diagnosis_add(actor=staff, visit_id=visit.external_id, code="250.00", rank="primary")
    order = records.order_add(
        actor=staff,
        visit_id=visit.external_id,
        kind="lab",
        test=LabTest.objects.first().code,
        facility=place.code,
    )
    records.visit_commit(actor=staff, visit_id=visit.external_id)
    _send(visit)
    (task,) = _on_hakeem("order-task", order.external_id)
    simulator.task_status_set(task.fhir_id, "completed", business_status="Result issued")
    actions.tasks_poll()

    amendment = records.visit_amend(actor=staff, visit_id=visit.external_id, reason="Ordered twice")
    copy = Order.unscoped.get(visit=amendment)
    records.visit_part_remove(actor=staff, model=Order, part_id=copy.external_id)
    records.visit_commit(actor=staff, visit_id=amendment.external_id)
    _send(visit)
    tpo = ThirdPartyOrder.unscoped.get(key=order.external_id)
    assert tpo.withdrawn and tpo.status == "completed"
    (task,) = _on_hakeem("order-task", order.external_id)
    assert task.content["status"] == "completed" and task.content["businessStatus"]["text"] == "Result issued"
    (request,) = _on_hakeem("order", order.external_id)
    assert request.content["status"] == "entered-in-error"


def test_a_patient_hakeem_knows_by_national_id_is_not_created_again():
    demo = _demo_visit()
    patient = demo.patient
    me = Actor(user=patient.user, roles=frozenset({catalog.PATIENT}))
    records.patient_identity_update(actor=me, changes={"national_id": "9851003333"})
    known = simulator.history_seed(
        national_id="9851003333",
        national_id_system=fhir.NATIONAL_ID_SYSTEM,
        full_name=patient.full_name,
        birth_date=patient.date_of_birth,
        gender=patient.sex,
    )
    _send(demo)
    record = _records(demo).get(kind=Kind.PATIENT)
    assert record.state == SyncState.ACKNOWLEDGED and record.matched
    assert record.remote_id == f"Patient/{known}"
    people = [
        r for r in on_hakeem.resources("Patient") if f"{fhir.NATIONAL_ID_SYSTEM}|9851003333" in r.identifiers
    ]
    assert len(people) == 1
    (encounter,) = _on_hakeem("visit", demo.external_id)
    assert encounter.content["subject"]["reference"] == f"Patient/{known}"
    # Hakeem's registry keeps the identity of a person it knew: a name corrected on Shifa is not pushed over it.
    records.patient_identity_update(actor=me, changes={"full_name": "Ahmad M. Ali"})
    assert _records(demo).get(kind=Kind.PATIENT).version == record.version

"""The local Hakeem simulator: a FHIR R4 server that must behave like one (transactions all or nothing,
conditional create/update/references, versions, searches, OperationOutcome errors, a bearer token) and fail on
demand the way a real one does."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest
from django.test import Client

from shifa.core import timezones
from shifa.simulators.hakeem import actions, queries
from shifa.simulators.hakeem.models import SimResource, SimResourceVersion

pytestmark = pytest.mark.django_db

BASE = "/simulators/hakeem/fhir"
TOKEN = "hakeem-test-token"
NI = "http://jo.gov/fhir/id/national-id"
SHIFA_PATIENT = "https://shifa.jo/fhir/id/patient"
SHIFA_CONDITION = "https://shifa.jo/fhir/id/condition"


@pytest.fixture(autouse=True)
def _token(settings):
    settings.HAKEEM_TOKEN = TOKEN
    settings.HAKEEM_FHIR_URL = "http://testserver" + BASE


@pytest.fixture
def fhir():
    return Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")


def post_bundle(client: Client, entries: list[dict], *, path: str = BASE):
    body = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    return client.post(path, json.dumps(body), content_type="application/fhir+json")


def patient(national_id="9861012345", number="P-1", **extra) -> dict:
    return {
        "resourceType": "Patient",
        "identifier": [
            {"system": SHIFA_PATIENT, "value": number},
            {"system": NI, "value": national_id},
        ],
        "name": [{"text": "Layla Haddad"}],
        "gender": "female",
        **extra,
    }


def create_patient_entry(number="P-1", **extra) -> dict:
    return {
        "resource": patient(number=number, **extra),
        "request": {
            "method": "POST",
            "url": "Patient",
            "ifNoneExist": f"identifier={SHIFA_PATIENT}|{number}",
        },
    }


def condition(number="C-1", patient_number="P-1", code="401.9") -> dict:
    return {
        "resourceType": "Condition",
        "identifier": [{"system": SHIFA_CONDITION, "value": number}],
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-9-cm", "code": code}]},
        "subject": {"reference": f"Patient?identifier={SHIFA_PATIENT}|{patient_number}"},
    }


def upsert_condition_entry(number="C-1", **kwargs) -> dict:
    return {
        "resource": condition(number, **kwargs),
        "request": {"method": "PUT", "url": f"Condition?identifier={SHIFA_CONDITION}|{number}"},
    }


def location_id(response_entry: dict) -> str:
    return response_entry["response"]["location"].split("/")[1]


def outcome_of(response) -> dict:
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return body["issue"][0]


# Transactions ---------------------------------------------------------------------------------------------------


def test_conditional_create_twice_keeps_one_resource(fhir):
    first = post_bundle(fhir, [create_patient_entry()])
    assert first.status_code == 200, first.content
    answer = first.json()
    assert answer["type"] == "transaction-response"
    assert answer["entry"][0]["response"]["status"] == "201 Created"
    pid = location_id(answer["entry"][0])
    assert answer["entry"][0]["response"]["location"] == f"Patient/{pid}/_history/1"
    assert answer["entry"][0]["response"]["etag"] == 'W/"1"'

    again = post_bundle(fhir, [create_patient_entry(gender="male")]).json()
    assert again["entry"][0]["response"]["status"] == "200 OK"
    assert location_id(again["entry"][0]) == pid
    assert SimResource.objects.filter(resource_type="Patient").count() == 1
    assert queries.resource_get("Patient", pid).content["gender"] == "female"  # a match is not changed


def test_base_url_answers_with_and_without_trailing_slash(fhir):
    assert post_bundle(fhir, [create_patient_entry("P-1")], path=BASE).status_code == 200
    assert post_bundle(fhir, [create_patient_entry("P-2")], path=BASE + "/").status_code == 200
    assert queries.counts() == {"Patient": 2}


def test_ifnoneexist_matching_several_is_412(fhir):
    post_bundle(fhir, [create_patient_entry("P-1"), create_patient_entry("P-2")])
    entry = {
        "resource": patient(),
        "request": {"method": "POST", "url": "Patient", "ifNoneExist": f"identifier={NI}|9861012345"},
    }
    response = post_bundle(fhir, [entry])
    assert response.status_code == 412
    assert "Bundle.entry[0]" in outcome_of(response)["diagnostics"]


def test_conditional_update_makes_version_2_of_the_same_resource(fhir):
    first = post_bundle(fhir, [create_patient_entry(), upsert_condition_entry()]).json()
    assert [e["response"]["status"] for e in first["entry"]] == ["201 Created", "201 Created"]
    cid = location_id(first["entry"][1])

    second = post_bundle(fhir, [create_patient_entry(), upsert_condition_entry(code="250.00")]).json()
    assert second["entry"][1]["response"]["status"] == "200 OK"
    assert second["entry"][1]["response"]["location"] == f"Condition/{cid}/_history/2"
    assert SimResource.objects.filter(resource_type="Condition").count() == 1

    current = fhir.get(f"{BASE}/Condition/{cid}")
    assert current.status_code == 200
    assert current["ETag"] == 'W/"2"'
    assert current.json()["meta"]["versionId"] == "2"
    assert current.json()["code"]["coding"][0]["code"] == "250.00"
    v1 = fhir.get(f"{BASE}/Condition/{cid}/_history/1").json()
    assert v1["code"]["coding"][0]["code"] == "401.9"
    assert v1["meta"]["versionId"] == "1"
    history = fhir.get(f"{BASE}/Condition/{cid}/_history").json()
    assert history["type"] == "history"
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    assert fhir.get(f"{BASE}/Condition/{cid}/_history/3").status_code == 404


def test_conditional_reference_is_resolved_to_the_stored_id(fhir):
    answer = post_bundle(fhir, [create_patient_entry(), upsert_condition_entry()]).json()
    pid, cid = location_id(answer["entry"][0]), location_id(answer["entry"][1])
    stored = fhir.get(f"{BASE}/Condition/{cid}").json()
    assert stored["subject"] == {"reference": f"Patient/{pid}"}
    assert queries.resource_get("Condition", cid).subject == f"Patient/{pid}"


def test_reference_by_identifier_only_is_left_alone(fhir):
    post_bundle(fhir, [create_patient_entry()])
    resource = condition()
    resource["asserter"] = {"identifier": {"system": "https://shifa.jo/fhir/id/practitioner", "value": "D-1"}}
    answer = post_bundle(fhir, [{"resource": resource, "request": {"method": "POST", "url": "Condition"}}])
    assert answer.status_code == 200, answer.content
    stored = queries.resources("Condition")[0].content
    assert stored["asserter"] == {
        "identifier": {"system": "https://shifa.jo/fhir/id/practitioner", "value": "D-1"}
    }


def test_unresolved_reference_rolls_back_the_whole_transaction(fhir):
    response = post_bundle(fhir, [create_patient_entry(), upsert_condition_entry(patient_number="P-404")])
    assert response.status_code == 400
    issue = outcome_of(response)
    assert issue["code"] == "not-found"
    assert issue["diagnostics"].startswith("Bundle.entry[1]")
    assert SimResource.objects.count() == 0
    assert SimResourceVersion.objects.count() == 0


def test_reference_matching_several_is_400(fhir):
    post_bundle(fhir, [create_patient_entry("P-1"), create_patient_entry("P-2")])
    resource = condition()
    resource["subject"] = {"reference": f"Patient?identifier={NI}|9861012345"}
    response = post_bundle(fhir, [{"resource": resource, "request": {"method": "POST", "url": "Condition"}}])
    assert response.status_code == 400
    assert outcome_of(response)["code"] == "multiple-matches"
    assert queries.counts() == {"Patient": 2}


def test_literal_reference_to_an_unknown_resource_is_400(fhir):
    resource = condition()
    resource["subject"] = {"reference": "Patient/nobody"}
    response = post_bundle(fhir, [{"resource": resource, "request": {"method": "POST", "url": "Condition"}}])
    assert response.status_code == 400
    assert "Patient/nobody" in outcome_of(response)["diagnostics"]


def test_urn_uuid_placeholders_are_resolved_forwards_and_back(fhir):
    """An Encounter names its diagnosis (a later entry) and the Condition its Encounter (an earlier one)."""
    patient_url, encounter_url, condition_url = (
        f"urn:uuid:0d3c7e0e-0000-4000-8000-00000000000{n}" for n in (1, 2, 3)
    )
    encounter = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": patient_url},
        "diagnosis": [{"condition": {"reference": condition_url}}],
    }
    diagnosis = condition()
    diagnosis["subject"] = {"reference": patient_url}
    diagnosis["encounter"] = {"reference": encounter_url}
    entries = [
        {"fullUrl": patient_url, **create_patient_entry()},
        {"fullUrl": encounter_url, "resource": encounter, "request": {"method": "POST", "url": "Encounter"}},
        {
            "fullUrl": condition_url,
            "resource": diagnosis,
            "request": {"method": "PUT", "url": f"Condition?identifier={SHIFA_CONDITION}|C-1"},
        },
    ]
    answer = post_bundle(fhir, entries)
    assert answer.status_code == 200, answer.content
    pid, eid, cid = (location_id(e) for e in answer.json()["entry"])
    stored_encounter = queries.resource_get("Encounter", eid).content
    stored_condition = queries.resource_get("Condition", cid).content
    assert stored_encounter["subject"] == {"reference": f"Patient/{pid}"}
    assert stored_encounter["diagnosis"][0]["condition"] == {"reference": f"Condition/{cid}"}
    assert stored_condition["encounter"] == {"reference": f"Encounter/{eid}"}

    # Sent again, the conditional create and update find what the first Bundle made.
    again = post_bundle(fhir, entries).json()
    assert [e["response"]["status"] for e in again["entry"]] == ["200 OK", "201 Created", "200 OK"]
    assert location_id(again["entry"][2]) == cid
    assert queries.counts() == {"Condition": 1, "Encounter": 2, "Patient": 1}


def test_placeholder_that_names_no_entry_is_400(fhir):
    resource = condition()
    resource["subject"] = {"reference": "urn:uuid:0d3c7e0e-0000-4000-8000-000000000009"}
    response = post_bundle(fhir, [{"resource": resource, "request": {"method": "POST", "url": "Condition"}}])
    assert response.status_code == 400
    assert outcome_of(response)["code"] == "not-found"


def test_invalid_resource_is_400_operation_outcome_and_nothing_is_stored(fhir):
    bad = condition()
    bad["code"] = {"text": 42}
    response = post_bundle(
        fhir,
        [create_patient_entry(), {"resource": bad, "request": {"method": "POST", "url": "Condition"}}],
    )
    assert response.status_code == 400
    issue = outcome_of(response)
    assert issue["severity"] == "error"
    assert issue["code"] == "invalid"
    assert "Bundle.entry[1]" in issue["diagnostics"]
    assert "Condition.code.text" in issue["diagnostics"]
    assert SimResource.objects.count() == 0


def test_unknown_status_code_is_refused(fhir):
    task = {"resourceType": "Task", "status": "done", "intent": "order"}
    response = post_bundle(fhir, [{"resource": task, "request": {"method": "POST", "url": "Task"}}])
    assert response.status_code == 400
    assert outcome_of(response)["code"] == "code-invalid"


def test_unsupported_type_in_a_transaction_is_404(fhir):
    claim = {"resourceType": "Claim", "status": "active"}
    response = post_bundle(fhir, [{"resource": claim, "request": {"method": "POST", "url": "Claim"}}])
    assert response.status_code == 404
    assert "Bundle.entry[0]" in outcome_of(response)["diagnostics"]


def test_put_by_id_creates_then_updates(fhir):
    resource = {"resourceType": "Practitioner", "name": [{"text": "Dr Omar"}]}
    entry = {"resource": resource, "request": {"method": "PUT", "url": "Practitioner/dr-omar"}}
    first = post_bundle(fhir, [entry]).json()["entry"][0]["response"]
    second = post_bundle(fhir, [entry]).json()["entry"][0]["response"]
    assert (first["status"], first["location"]) == ("201 Created", "Practitioner/dr-omar/_history/1")
    assert (second["status"], second["location"]) == ("200 OK", "Practitioner/dr-omar/_history/2")
    assert len(queries.versions("Practitioner", "dr-omar")) == 2


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        json.dumps({"resourceType": "Bundle", "type": "batch", "entry": []}).encode(),
        json.dumps({"resourceType": "Patient"}).encode(),
    ],
    ids=["malformed", "batch", "not-a-bundle"],
)
def test_only_transaction_bundles_are_accepted(fhir, body):
    response = fhir.post(BASE, body, content_type="application/fhir+json")
    assert response.status_code == 400
    assert outcome_of(response)["severity"] == "error"


# Single interactions --------------------------------------------------------------------------------------------


def test_create_read_and_update_outside_a_transaction(fhir):
    created = fhir.post(
        f"{BASE}/Patient",
        json.dumps(patient()),
        content_type="application/fhir+json",
        HTTP_IF_NONE_EXIST=f"identifier={SHIFA_PATIENT}|P-1",
    )
    assert created.status_code == 201
    pid = created.json()["id"]
    assert created["Location"].endswith(f"/Patient/{pid}/_history/1")
    again = fhir.post(
        f"{BASE}/Patient",
        json.dumps(patient()),
        content_type="application/fhir+json",
        HTTP_IF_NONE_EXIST=f"identifier={SHIFA_PATIENT}|P-1",
    )
    assert (again.status_code, again.json()["id"]) == (200, pid)
    changed = {**patient(), "id": pid, "gender": "other"}
    updated = fhir.put(f"{BASE}/Patient/{pid}", json.dumps(changed), content_type="application/fhir+json")
    assert (updated.status_code, updated["ETag"]) == (200, 'W/"2"')
    upserted = fhir.put(
        f"{BASE}/Patient?identifier={SHIFA_PATIENT}|P-1",
        json.dumps(patient(gender="male")),
        content_type="application/fhir+json",
    )
    assert (upserted.status_code, upserted.json()["id"], upserted.json()["meta"]["versionId"]) == (
        200,
        pid,
        "3",
    )
    assert fhir.get(f"{BASE}/Patient/{pid}").json()["gender"] == "male"


def test_read_of_unknown_resource_or_type_is_404(fhir):
    assert outcome_of(fhir.get(f"{BASE}/Patient/nobody"))["code"] == "not-found"
    response = fhir.get(f"{BASE}/Claim")
    assert response.status_code == 404
    assert outcome_of(response)["code"] == "not-supported"


# The token ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN], ids=str)
def test_without_the_token_is_401(header):
    client = Client(HTTP_AUTHORIZATION=header) if header else Client()
    response = post_bundle(client, [create_patient_entry()])
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert outcome_of(response)["code"] == "login"
    assert SimResource.objects.count() == 0
    assert client.get(f"{BASE}/Patient").status_code == 401
    assert client.get(f"{BASE}/Patient/x").status_code == 401
    assert client.get(f"{BASE}/Patient/x/$everything").status_code == 401


def test_metadata_is_open_and_a_valid_capability_statement():
    from fhir.resources.R4B.capabilitystatement import CapabilityStatement

    response = Client().get(f"{BASE}/metadata")
    assert response.status_code == 200
    body = response.json()
    CapabilityStatement.model_validate(body)
    assert body["fhirVersion"] == "4.0.1"
    types = {r["type"] for r in body["rest"][0]["resource"]}
    assert {"Patient", "Condition", "Task", "Immunization"} <= types
    assert {"code": "transaction"} in body["rest"][0]["interaction"]


# Searches -------------------------------------------------------------------------------------------------------


def _seed_two_patients(fhir) -> tuple[str, str]:
    answer = post_bundle(
        fhir,
        [
            create_patient_entry("P-1", identifier=[{"system": SHIFA_PATIENT, "value": "P-1"}]),
            create_patient_entry("P-2", identifier=[{"system": SHIFA_PATIENT, "value": "P-2"}]),
            upsert_condition_entry("C-1", patient_number="P-1"),
            upsert_condition_entry("C-2", patient_number="P-2"),
        ],
    ).json()
    return location_id(answer["entry"][0]), location_id(answer["entry"][1])


def test_search_by_identifier(fhir):
    p1, p2 = _seed_two_patients(fhir)
    one = fhir.get(f"{BASE}/Patient", {"identifier": f"{SHIFA_PATIENT}|P-1"}).json()
    assert one["type"] == "searchset"
    assert one["total"] == 1
    assert one["entry"][0]["resource"]["id"] == p1
    assert one["entry"][0]["search"] == {"mode": "match"}
    assert one["entry"][0]["fullUrl"].endswith(f"/Patient/{p1}")
    both = fhir.get(f"{BASE}/Patient", {"identifier": f"{SHIFA_PATIENT}|P-1,{SHIFA_PATIENT}|P-2"}).json()
    assert {e["resource"]["id"] for e in both["entry"]} == {p1, p2}
    assert fhir.get(f"{BASE}/Patient", {"identifier": "P-2"}).json()["total"] == 1  # any system
    assert fhir.get(f"{BASE}/Patient", {"identifier": f"{SHIFA_PATIENT}|"}).json()["total"] == 2
    assert fhir.get(f"{BASE}/Patient", {"identifier": f"{SHIFA_PATIENT}|P-3"}).json()["total"] == 0


def test_search_by_patient_or_subject(fhir):
    p1, _p2 = _seed_two_patients(fhir)
    for params in ({"patient": p1}, {"patient": f"Patient/{p1}"}, {"subject": f"Patient/{p1}"}):
        found = fhir.get(f"{BASE}/Condition", params).json()
        assert found["total"] == 1, params
        assert found["entry"][0]["resource"]["identifier"][0]["value"] == "C-1"


def test_search_by_last_updated_and_unknown_params_are_ignored(fhir):
    _seed_two_patients(fhir)
    cut = timezones.now()
    time.sleep(0.01)
    post_bundle(fhir, [upsert_condition_entry("C-1", patient_number="P-1", code="250.00")])
    later = fhir.get(f"{BASE}/Condition", {"_lastUpdated": f"gt{timezones.isoformat_z(cut)}", "foo": "bar"})
    assert later.status_code == 200
    assert [e["resource"]["identifier"][0]["value"] for e in later.json()["entry"]] == ["C-1"]
    earlier = fhir.get(f"{BASE}/Condition", {"_lastUpdated": f"le{cut.isoformat()}"}).json()
    assert [e["resource"]["identifier"][0]["value"] for e in earlier["entry"]] == ["C-2"]
    today = timezones.now().date().isoformat()
    assert fhir.get(f"{BASE}/Condition", {"_lastUpdated": today}).json()["total"] == 2
    assert fhir.get(f"{BASE}/Condition", {"_lastUpdated": "gtsoon"}).status_code == 400


def test_search_by_status_id_and_count(fhir):
    task = {"resourceType": "Task", "status": "requested", "intent": "order"}
    answer = post_bundle(
        fhir, [{"resource": task, "request": {"method": "POST", "url": "Task"}} for _ in range(3)]
    ).json()
    ids = [location_id(e) for e in answer["entry"]]
    actions.task_status_set(ids[0], "accepted")
    assert fhir.get(f"{BASE}/Task", {"status": "requested"}).json()["total"] == 2
    assert fhir.get(f"{BASE}/Task", {"status": "accepted,completed"}).json()["total"] == 1
    assert fhir.get(f"{BASE}/Task", {"_id": ids[1]}).json()["entry"][0]["resource"]["id"] == ids[1]
    page = fhir.get(f"{BASE}/Task", {"_count": "2"}).json()
    assert (page["total"], len(page["entry"])) == (3, 2)
    assert any(link["relation"] == "next" for link in page["link"])


def test_everything_returns_the_patient_and_their_resources(fhir):
    p1, _p2 = _seed_two_patients(fhir)
    bundle = fhir.get(f"{BASE}/Patient/{p1}/$everything").json()
    assert bundle["type"] == "searchset"
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == ["Patient", "Condition"]
    assert bundle["entry"][0]["resource"]["id"] == p1
    assert bundle["total"] == 2
    assert fhir.get(f"{BASE}/Patient/nobody/$everything").status_code == 404


# The switch -----------------------------------------------------------------------------------------------------


def test_switch_down_answers_503_everywhere(fhir):
    actions.switch_set("down")
    for response in (post_bundle(fhir, [create_patient_entry()]), fhir.get(f"{BASE}/metadata")):
        assert response.status_code == 503
        assert outcome_of(response)["code"] == "transient"
    assert SimResource.objects.count() == 0


def test_switch_error_answers_500(fhir):
    actions.switch_set("error")
    response = fhir.get(f"{BASE}/Patient")
    assert response.status_code == 500
    assert outcome_of(response)["code"] == "exception"
    actions.switch_set("normal")
    assert fhir.get(f"{BASE}/Patient").status_code == 200


def test_switch_slow_waits_then_answers(fhir):
    actions.switch_set("slow", 0.05)
    started = time.monotonic()
    response = post_bundle(fhir, [create_patient_entry()])
    assert time.monotonic() - started >= 0.05
    assert response.status_code == 200
    assert actions.switch_get().mode == "slow"


def test_switch_refuses_unknown_mode_or_delay():
    with pytest.raises(ValueError):
        actions.switch_set("broken")
    with pytest.raises(ValueError):
        actions.switch_set("slow", -1)


# What a facility does -------------------------------------------------------------------------------------------


def _task(fhir) -> str:
    post_bundle(fhir, [create_patient_entry()])
    task = {
        "resourceType": "Task",
        "identifier": [{"system": "https://shifa.jo/fhir/id/referral", "value": "R-1"}],
        "status": "requested",
        "intent": "order",
        "description": "Cardiology referral",
        "for": {"reference": f"Patient?identifier={SHIFA_PATIENT}|P-1"},
    }
    answer = post_bundle(fhir, [{"resource": task, "request": {"method": "POST", "url": "Task"}}]).json()
    return location_id(answer["entry"][0])


def test_task_status_set_makes_a_new_task_version(fhir):
    tid = _task(fhir)
    actions.task_status_set(tid, "accepted", business_status="Appointment booked", note="Seen on Sunday")
    current = fhir.get(f"{BASE}/Task/{tid}").json()
    assert current["status"] == "accepted"
    assert current["businessStatus"] == {"text": "Appointment booked"}
    assert current["note"][0]["text"] == "Seen on Sunday"
    assert current["meta"]["versionId"] == "2"
    versions = queries.versions("Task", tid)
    assert [v["status"] for v in versions] == ["requested", "accepted"]
    assert "lastModified" not in versions[0]
    assert versions[0]["meta"]["lastUpdated"] < current["lastModified"] <= current["meta"]["lastUpdated"]
    with pytest.raises(ValueError):
        actions.task_status_set(tid, "done")
    with pytest.raises(SimResource.DoesNotExist):
        actions.task_status_set("nobody", "accepted")


def test_history_seed_is_a_realistic_idempotent_history(fhir):
    seeded = dict(
        national_id="9861099999",
        national_id_system=NI,
        full_name="Omar Khalil Nasser",
        full_name_ar="عمر خليل ناصر",
        birth_date=dt.date(1968, 4, 2),
        gender="male",
    )
    pid = actions.history_seed(**seeded)
    counts = queries.counts()
    assert counts == {
        "AllergyIntolerance": 1,
        "Condition": 2,
        "Encounter": 1,
        "Immunization": 1,
        "MedicationStatement": 1,
        "Observation": 3,
        "Organization": 1,
        "Patient": 1,
    }
    assert actions.history_seed(**seeded) == pid
    assert queries.counts() == counts
    assert SimResourceVersion.objects.count() == sum(counts.values())

    bundle = fhir.get(f"{BASE}/Patient/{pid}/$everything").json()
    by_type: dict[str, list[dict]] = {}
    for entry in bundle["entry"]:
        by_type.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    ni = by_type["Patient"][0]["identifier"][0]
    assert ni["type"]["coding"][0]["code"] == "NI"
    assert (ni["system"], ni["value"]) == (NI, "9861099999")
    assert {c["code"]["coding"][0]["code"] for c in by_type["Condition"]} == {"401.9", "250.00"}
    assert by_type["AllergyIntolerance"][0]["criticality"] == "high"
    assert by_type["AllergyIntolerance"][0]["reaction"][0]["manifestation"][0]["text"] == "Rash"
    assert by_type["Immunization"][0]["vaccineCode"]["coding"][0]["code"] == "09"
    loincs = {o["code"]["coding"][0]["code"] for o in by_type["Observation"]}
    assert loincs == {"29463-7", "8867-4", "85354-9"}
    assert by_type["Encounter"][0]["serviceProvider"]["display"] == "Al Bashir Hospital"
    for resources in by_type.values():
        for resource in resources:
            if resource["resourceType"] != "Patient":
                assert resource.get("subject", resource.get("patient")) == {"reference": f"Patient/{pid}"}
            systems = {i["system"] for i in resource["identifier"]} - {NI}
            assert systems and all(s.startswith("https://hakeem.jo/fhir/id/") for s in systems)

    # Our own client then finds Hakeem's patient by the national ID.
    found = fhir.get(f"{BASE}/Patient", {"identifier": f"{NI}|9861099999"}).json()
    assert found["total"] == 1


# The control page -----------------------------------------------------------------------------------------------


def test_control_page_shows_the_switch_counts_and_tasks(fhir):
    tid = _task(fhir)
    page = Client().get("/simulators/hakeem/")
    assert page.status_code == 200
    html = page.content.decode()
    assert tid in html
    assert "Cardiology referral" in html
    assert f"/simulators/hakeem/control/tasks/{tid}/status" in html
    assert 'data-mode="normal"' in html
    resource = Client().get(f"/simulators/hakeem/control/resources/Task/{tid}")
    assert resource.json()["id"] == tid


def test_control_routes_set_the_switch_and_a_task_status(fhir):
    tid = _task(fhir)
    browser = Client()
    response = browser.post("/simulators/hakeem/control/switch", {"mode": "slow", "delay_seconds": "0.5"})
    assert response.status_code == 302
    assert queries.switch_state() == ("slow", 0.5)
    bad = browser.post("/simulators/hakeem/control/switch", {"mode": "sideways"})
    assert bad.status_code == 400
    response = browser.post(
        "/simulators/hakeem/control/switch",
        json.dumps({"mode": "normal"}),
        content_type="application/json",
    )
    assert response.json() == {"mode": "normal", "delay_seconds": 0.0}

    response = browser.post(
        f"/simulators/hakeem/control/tasks/{tid}/status",
        json.dumps({"status": "completed", "business_status": "Report sent"}),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    response = browser.post(f"/simulators/hakeem/control/tasks/{tid}/status", {"status": "in-progress"})
    assert response.status_code == 302
    assert queries.resource_get("Task", tid).content["status"] == "in-progress"
    assert queries.resource_get("Task", tid).version_id == 3
    assert (
        browser.post(f"/simulators/hakeem/control/tasks/{tid}/status", {"status": "done"}).status_code == 400
    )
    assert (
        browser.post("/simulators/hakeem/control/tasks/nobody/status", {"status": "accepted"}).status_code
        == 404
    )


def test_control_forms_need_the_csrf_token():
    browser = Client(enforce_csrf_checks=True)
    assert browser.post("/simulators/hakeem/control/switch", {"mode": "down"}).status_code == 403
    assert queries.switch_state()[0] == "normal"


def test_reset_forgets_everything(fhir):
    _task(fhir)
    actions.switch_set("down")
    actions.reset()
    assert queries.counts() == {}
    assert queries.switch_state() == ("normal", 0.0)


def test_huge_numbers_are_refused_not_a_server_error(client):
    from django.conf import settings

    headers = {"Authorization": f"Bearer {settings.HAKEEM_TOKEN}"}
    offset = client.get("/simulators/hakeem/fhir/Patient?_offset=99999999999999999999", headers=headers)
    assert offset.status_code == 400 and offset.json()["resourceType"] == "OperationOutcome"
    version = client.get("/simulators/hakeem/fhir/Patient/x/_history/99999999999999999999", headers=headers)
    assert version.status_code == 404

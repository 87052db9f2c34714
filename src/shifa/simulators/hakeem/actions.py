"""Writes of the Hakeem simulator: FHIR create, update and transaction as a FHIR server does them, what a Hakeem
facility does to the records (a Task's status, a patient's earlier history), and the simulator's switch."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, connection, transaction

from shifa.core import timezones

from . import protocol, queries
from .models import SimResource, SimResourceVersion, SimSwitch, SwitchMode
from .protocol import FhirError

#: How slow "slow" may be made (seconds).
MAX_DELAY_SECONDS = 300
#: Identifier systems of Hakeem's own records (a facility's medical record number, its encounters …).
HAKEEM_ID = "https://hakeem.jo/fhir/id/"


@dataclass(frozen=True)
class Stored:
    """What a create or update did: made a new resource (``201 Created``) or not (``200 OK``)."""

    resource: SimResource
    created: bool

    @property
    def status(self) -> str:
        return "201 Created" if self.created else "200 OK"

    def response(self) -> dict:
        r = self.resource
        return protocol.entry_response(self.status, r.resource_type, r.fhir_id, r.version_id, r.last_updated)


def _new_id() -> str:
    return secrets.token_hex(8)


def _lock(key: str) -> None:
    """Serialise, until the transaction ends, writes that decide on the same criteria or the same id (two
    conditional creates of one identifier must not both create)."""
    number = int.from_bytes(hashlib.sha256(f"sim_hakeem|{key}".encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [number])


def _store(resource_type: str, fhir_id: str, resource: dict, existing: SimResource | None) -> Stored:
    """Validate and save a new version of ``resource_type/fhir_id`` (the first when ``existing`` is None)."""
    now = timezones.now()
    version = existing.version_id + 1 if existing else 1
    meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
    content = {
        "resourceType": resource_type,
        "id": fhir_id,
        "meta": {**meta, "versionId": str(version), "lastUpdated": protocol.instant(now)},
        **{k: v for k, v in resource.items() if k not in {"resourceType", "id", "meta"}},
    }
    protocol.validate(resource_type, content)
    fields = {
        "version_id": version,
        "content": content,
        "identifiers": protocol.identifier_tokens(content),
        "subject": protocol.subject_of(resource_type, fhir_id, content)[:120],
        "last_updated": now,
    }
    if existing is None:
        stored = SimResource.objects.create(resource_type=resource_type, fhir_id=fhir_id, **fields)
    else:
        stored = existing
        for name, value in fields.items():
            setattr(stored, name, value)
        stored.save(update_fields=[*fields, "updated_at"])
    SimResourceVersion.objects.create(resource=stored, version_id=version, content=content, recorded_at=now)
    return Stored(stored, existing is None)


def _resolve(resource: dict, placeholders: dict[str, str], targets: set[str]) -> dict:
    """A copy of ``resource`` whose references all point at resources: a transaction's ``urn:uuid:`` placeholders
    (``fullUrl`` of any of its entries) and conditional references (``Patient?identifier=…``, matched against what
    is stored, earlier entries included) replaced by ``Type/id``; literal references to this server checked (a
    server keeps referential integrity; ``targets`` are what the transaction itself writes). References by
    ``identifier`` only are left alone."""
    resolved = copy.deepcopy(resource)
    for holder in protocol.references(resolved):
        reference = holder["reference"]
        conditional = protocol.CONDITIONAL.fullmatch(reference)
        if conditional:
            target_type, query = conditional.groups()
            if target_type not in protocol.RESOURCE_TYPES:
                raise FhirError(400, "not-found", f"Reference {reference!r}: unknown resource type")
            token = protocol.read_criteria(query, what="Reference")
            matches = list(
                queries.identifier_matches(target_type, token).values_list("fhir_id", flat=True)[:2]
            )
            if not matches:
                raise FhirError(400, "not-found", f"Reference {reference!r} matches no resource")
            if len(matches) > 1:
                raise FhirError(400, "multiple-matches", f"Reference {reference!r} matches several resources")
            holder["reference"] = f"{target_type}/{matches[0]}"
        elif reference.startswith(("urn:uuid:", "urn:oid:")):
            if reference not in placeholders:
                raise FhirError(400, "not-found", f"Reference {reference!r} is not the fullUrl of an entry")
            holder["reference"] = placeholders[reference]
        else:
            local = protocol.local_reference(reference)
            if local is None:
                continue  # a contained resource (#id) or another server's
            target_type, _, target_id = local.partition("/")
            if (
                target_type in protocol.RESOURCE_TYPES
                and local not in targets
                and queries.resource_get(target_type, target_id) is None
            ):
                raise FhirError(400, "not-found", f"Reference {reference!r}: resource {local} is not known")
            if reference.startswith(protocol.base_url()):
                holder["reference"] = local
    return resolved


def _body(resource_type: str, resource) -> dict:
    if not isinstance(resource, dict):
        raise FhirError(400, "required", f"A {resource_type} resource is required")
    if resource.get("resourceType") != resource_type:
        raise FhirError(
            400,
            "invalid",
            f"The resource is a {resource.get('resourceType')!r}, the URL names {resource_type!r}",
        )
    return resource


def _id(fhir_id) -> str:
    if not isinstance(fhir_id, str) or not protocol.FHIR_ID.fullmatch(fhir_id):
        raise FhirError(400, "invalid", f"{fhir_id!r} is not a FHIR id")
    return fhir_id


@dataclass(frozen=True)
class _Step:
    """What one entry will do: write ``resource`` as ``resource_type/fhir_id`` (a new resource, or a new version
    if it exists by then), or nothing (``resource`` None: a conditional create that found its match)."""

    resource_type: str
    fhir_id: str
    resource: dict | None

    @property
    def target(self) -> str:
        return f"{self.resource_type}/{self.fhir_id}"


#: (type, id) → identifier tokens, of what the steps planned so far will write.
Planned = dict[tuple[str, str], list[str]]


def _matching_ids(resource_type: str, token: str, planned: Planned) -> list[str]:
    """Ids carrying the identifier once the entries planned so far are written (stored ones, less those that
    these entries overwrite without it, plus those they write with it)."""
    _lock(f"{resource_type}?{token}")
    found = set(queries.identifier_matches(resource_type, token).values_list("fhir_id", flat=True))
    for (kind, fhir_id), tokens in planned.items():
        if kind == resource_type:
            if token in tokens:
                found.add(fhir_id)
            else:
                found.discard(fhir_id)
    return sorted(found)


def _split(url) -> tuple[str, str, str]:
    """An entry's ``request.url`` → (type, id, query): ``Patient``, ``Patient/abc``, ``Patient?identifier=…``
    (relative, or absolute under our base)."""
    if not isinstance(url, str) or not url:
        raise FhirError(400, "required", "request.url is required")
    base = protocol.base_url() + "/"
    if url.startswith(base):
        url = url[len(base) :]
    path, _, query = url.lstrip("/").partition("?")
    resource_type, _, fhir_id = path.partition("/")
    protocol.require_type(resource_type)
    return resource_type, fhir_id, query


def _plan(entry: dict, planned: Planned) -> _Step:
    """Decide an entry's target, as its turn in the transaction will find things:

    * ``POST Type`` (``ifNoneExist``: none matches → create; one → nothing to do, 200; several → 412);
    * ``PUT Type/id`` (a new version, or created with that id);
    * ``PUT Type?identifier=…`` (none → create; one → a new version of it; several → 412)."""
    request = entry.get("request")
    if not isinstance(request, dict):
        raise FhirError(400, "required", "request is required")
    method = str(request.get("method") or "").upper()
    resource_type, fhir_id, query = _split(request.get("url"))
    if method == "POST" and not fhir_id and not query:
        resource = _body(resource_type, entry.get("resource"))
        if_none_exist = request.get("ifNoneExist") or ""
        if not isinstance(if_none_exist, str):
            raise FhirError(400, "invalid", "request.ifNoneExist must be a string")
        if if_none_exist:
            token = protocol.read_criteria(if_none_exist, what="ifNoneExist")
            matches = _matching_ids(resource_type, token, planned)
            if len(matches) > 1:
                raise FhirError(
                    412, "multiple-matches", f"ifNoneExist {if_none_exist!r} matches several resources"
                )
            if matches:
                return _Step(resource_type, matches[0], None)
        return _Step(resource_type, _new_id(), resource)
    if method == "PUT" and fhir_id and not query:
        resource = _body(resource_type, entry.get("resource"))
        _id(fhir_id)
        if resource.get("id") is not None and resource.get("id") != fhir_id:
            raise FhirError(
                400, "invalid", f"The resource's id {resource.get('id')!r} is not the URL's {fhir_id!r}"
            )
        return _Step(resource_type, fhir_id, resource)
    if method == "PUT" and not fhir_id and query:
        resource = _body(resource_type, entry.get("resource"))
        token = protocol.read_criteria(query, what="Conditional update")
        matches = _matching_ids(resource_type, token, planned)
        if len(matches) > 1:
            raise FhirError(412, "multiple-matches", f"{resource_type}?{query} matches several resources")
        given = resource.get("id")
        if matches and given is not None and given != matches[0]:
            raise FhirError(
                400, "invalid", f"The resource's id {given!r} is not that of the match ({matches[0]!r})"
            )
        if matches:
            return _Step(resource_type, matches[0], resource)
        return _Step(resource_type, _id(given) if given is not None else _new_id(), resource)
    raise FhirError(
        400, "not-supported", f"{method or '(no method)'} {request.get('url')} is not supported here"
    )


def _execute(step: _Step, placeholders: dict[str, str], targets: set[str]) -> Stored:
    if step.resource is None:
        return Stored(SimResource.objects.get(resource_type=step.resource_type, fhir_id=step.fhir_id), False)
    _lock(step.target)
    existing = (
        SimResource.objects.select_for_update()
        .filter(resource_type=step.resource_type, fhir_id=step.fhir_id)
        .first()
    )
    resolved = _resolve(step.resource, placeholders, targets)
    return _store(step.resource_type, step.fhir_id, resolved, existing)


def _entry_error(exc: FhirError, index: int, named: bool) -> FhirError:
    return exc.at_entry(index) if named else exc


def _run(entries: list[dict], *, named: bool = True) -> list[Stored]:
    """Entries in order, all or nothing. Every entry's target is decided first (so that ``urn:uuid:``
    placeholders may point forwards and back, an Encounter to its Conditions and a Condition to its Encounter),
    then each is written in its turn; the first failure rolls everything back and is the answer."""
    planned: Planned = {}
    placeholders: dict[str, str] = {}
    steps: list[_Step] = []
    for index, entry in enumerate(entries):
        try:
            step = _plan(entry, planned)
        except FhirError as exc:
            raise _entry_error(exc, index, named) from None
        if step.resource is not None:
            planned[(step.resource_type, step.fhir_id)] = protocol.identifier_tokens(step.resource)
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str) and full_url:
            placeholders[full_url] = step.target
        steps.append(step)
    targets = {step.target for step in steps if step.resource is not None}
    results = []
    for index, step in enumerate(steps):
        try:
            results.append(_execute(step, placeholders, targets))
        except FhirError as exc:
            raise _entry_error(exc, index, named) from None
    return results


def _atomically(work):
    try:
        with transaction.atomic():
            return work()
    except IntegrityError:
        raise FhirError(409, "conflict", "A concurrent change got there first; try again") from None


def transaction_process(entries: list[dict]) -> dict:
    """A transaction Bundle's entries, all or nothing: the first failing entry rolls everything back and is the
    answer (its diagnostics name it). Returns the ``transaction-response`` Bundle, entries in the same order."""
    stored = _atomically(lambda: _run(entries))
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [{"response": s.response()} for s in stored],
    }


def resource_create(resource_type: str, resource: dict, *, if_none_exist: str = "") -> Stored:
    """``POST Type`` outside a transaction (``If-None-Exist`` header: ``identifier=<system>|<value>``)."""
    request = {"method": "POST", "url": resource_type, "ifNoneExist": if_none_exist}
    return _atomically(lambda: _run([{"resource": resource, "request": request}], named=False))[0]


def resource_update(resource_type: str, fhir_id: str, resource: dict) -> Stored:
    """``PUT Type/id`` outside a transaction: a new version, or the resource created with that id."""
    request = {"method": "PUT", "url": f"{resource_type}/{fhir_id}"}
    return _atomically(lambda: _run([{"resource": resource, "request": request}], named=False))[0]


def resource_conditional_update(resource_type: str, query: str, resource: dict) -> Stored:
    """``PUT Type?identifier=…`` outside a transaction."""
    request = {"method": "PUT", "url": f"{resource_type}?{query}"}
    return _atomically(lambda: _run([{"resource": resource, "request": request}], named=False))[0]


# What a Hakeem facility does ------------------------------------------------------------------------------------


def task_status_set(
    task_fhir_id: str, status: str, *, business_status: str = "", note: str = ""
) -> SimResource:
    """A facility works on a Task (a referral we sent): a new version with its FHIR ``status``, optionally a
    ``businessStatus`` text and a note, and ``lastModified`` now. ValueError for a status FHIR does not know;
    ``SimResource.DoesNotExist`` for an unknown Task."""
    if status not in protocol.TASK_STATUSES:
        raise ValueError(
            f"unknown Task status {status!r}; one of {', '.join(sorted(protocol.TASK_STATUSES))}"
        )
    with transaction.atomic():
        task = SimResource.objects.select_for_update().get(resource_type="Task", fhir_id=task_fhir_id)
        content = copy.deepcopy(task.content)
        now = protocol.instant(timezones.now())
        content["status"] = status
        if business_status:
            content["businessStatus"] = {"text": business_status}
        if note:
            content["note"] = [*(content.get("note") or []), {"text": note, "time": now}]
        content["lastModified"] = now
        try:
            return _store("Task", task.fhir_id, content, task).resource
        except FhirError as exc:
            raise ValueError(exc.diagnostics) from None


GENDERS = ("male", "female", "other", "unknown")


def _medical_record_number(national_id_system: str, national_id: str) -> str:
    """The facility's MRN of a person: stable for a national ID, and not the ID itself."""
    digest = hashlib.sha256(f"{national_id_system}|{national_id}".encode()).hexdigest()
    return f"BH-{int(digest[:12], 16) % 10**8:08d}"


def _coded(system: str, code: str, display: str, text: str = "") -> dict:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": text or display}


def _vital(mrn: str, n: int, at: str, code: str, display: str, **value) -> dict:
    return {
        "resourceType": "Observation",
        "identifier": [{"system": HAKEEM_ID + "observation", "value": f"{mrn}-OBS-{n}"}],
        "status": "final",
        "category": [
            _coded("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs", "Vital Signs")
        ],
        "code": _coded("http://loinc.org", code, display),
        "effectiveDateTime": at,
        **value,
    }


def _quantity(value: str, unit: str, code: str) -> dict:
    return {"value": Decimal(value), "unit": unit, "system": "http://unitsofmeasure.org", "code": code}


def history_seed(
    *,
    national_id: str,
    national_id_system: str,
    full_name: str,
    full_name_ar: str = "",
    birth_date: dt.date | None = None,
    gender: str = "unknown",
) -> str:
    """A patient's earlier care as Hakeem holds it, recorded by Al Bashir Hospital: the Patient (found by the
    national ID if Hakeem knows them already), a visit a year ago, hypertension and type 2 diabetes, a penicillin
    allergy, metformin, a Td vaccination and that visit's vital signs. Identifiers are the hospital's, in Hakeem's
    systems. Seeding the same national ID again changes nothing. Returns the Patient's id."""
    if gender not in GENDERS:
        raise ValueError(f"gender must be one of {', '.join(GENDERS)}")
    if not national_id or not national_id_system or not full_name.strip():
        raise ValueError("national_id, national_id_system and full_name are required")
    mrn = _medical_record_number(national_id_system, national_id)
    now = timezones.now()
    visit = (now - dt.timedelta(days=365)).replace(hour=9, minute=30, second=0, microsecond=0)
    at = protocol.instant(visit)
    patient_ref = {"reference": f"Patient?identifier={national_id_system}|{national_id}"}
    encounter_ref = {"reference": f"Encounter?identifier={HAKEEM_ID}encounter|{mrn}-ENC-1"}
    hospital = {
        "reference": f"Organization?identifier={HAKEEM_ID}facility|BASHIR",
        "display": "Al Bashir Hospital",
    }
    words = full_name.split()
    names = [{"use": "official", "text": full_name, "family": words[-1], "given": words[:-1] or words}]
    if full_name_ar:
        names.append(
            {
                "use": "usual",
                "text": full_name_ar,
                "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/language", "valueCode": "ar"}],
            }
        )
    patient = {
        "resourceType": "Patient",
        "identifier": [
            {
                "use": "official",
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "NI"}]
                },
                "system": national_id_system,
                "value": national_id,
            },
            {
                "use": "usual",
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]
                },
                "system": HAKEEM_ID + "mrn",
                "value": mrn,
            },
        ],
        "active": True,
        "name": names,
        "gender": gender,
        "managingOrganization": hospital,
    }
    if birth_date:
        patient["birthDate"] = birth_date.isoformat()
    condition_base = {
        "resourceType": "Condition",
        "clinicalStatus": _coded(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"
        ),
        "verificationStatus": _coded(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed", "Confirmed"
        ),
        "category": [
            _coded(
                "http://terminology.hl7.org/CodeSystem/condition-category",
                "problem-list-item",
                "Problem List Item",
            )
        ],
        "subject": patient_ref,
        "encounter": encounter_ref,
        "onsetDateTime": at,
        "recordedDate": at,
    }
    icd9 = "http://hl7.org/fhir/sid/icd-9-cm"
    resources = [
        {
            "resourceType": "Organization",
            "identifier": [{"system": HAKEEM_ID + "facility", "value": "BASHIR"}],
            "active": True,
            "name": "Al Bashir Hospital",
            "alias": ["مستشفى البشير"],
            "address": [{"city": "Amman", "country": "JO"}],
        },
        patient,
        {
            "resourceType": "Encounter",
            "identifier": [{"system": HAKEEM_ID + "encounter", "value": f"{mrn}-ENC-1"}],
            "status": "finished",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "AMB",
                "display": "ambulatory",
            },
            "type": [{"text": "Internal medicine outpatient visit"}],
            "subject": patient_ref,
            "period": {"start": at, "end": protocol.instant(visit + dt.timedelta(minutes=40))},
            "serviceProvider": hospital,
        },
        {
            **condition_base,
            "identifier": [{"system": HAKEEM_ID + "condition", "value": f"{mrn}-DX-1"}],
            "code": _coded(icd9, "401.9", "Unspecified essential hypertension", "Essential hypertension"),
        },
        {
            **condition_base,
            "identifier": [{"system": HAKEEM_ID + "condition", "value": f"{mrn}-DX-2"}],
            "code": _coded(
                icd9,
                "250.00",
                "Diabetes mellitus without mention of complication, type II or unspecified type, "
                "not stated as uncontrolled",
                "Type 2 diabetes mellitus",
            ),
        },
        {
            "resourceType": "AllergyIntolerance",
            "identifier": [{"system": HAKEEM_ID + "allergy", "value": f"{mrn}-AL-1"}],
            "clinicalStatus": _coded(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active", "Active"
            ),
            "verificationStatus": _coded(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                "confirmed",
                "Confirmed",
            ),
            "type": "allergy",
            "category": ["medication"],
            "criticality": "high",
            "code": _coded("http://snomed.info/sct", "764146007", "Penicillin", "Penicillin"),
            "patient": patient_ref,
            "encounter": encounter_ref,
            "recordedDate": at,
            "reaction": [
                {"manifestation": [_coded("http://snomed.info/sct", "271807003", "Eruption of skin", "Rash")]}
            ],
        },
        {
            "resourceType": "MedicationStatement",
            "identifier": [{"system": HAKEEM_ID + "medication-statement", "value": f"{mrn}-MS-1"}],
            "status": "active",
            "medicationCodeableConcept": {"text": "Metformin 500 mg"},
            "subject": patient_ref,
            "context": encounter_ref,
            "effectivePeriod": {"start": at},
            "dateAsserted": at,
            "dosage": [{"text": "500 mg twice daily"}],
        },
        {
            "resourceType": "Immunization",
            "identifier": [{"system": HAKEEM_ID + "immunization", "value": f"{mrn}-IM-1"}],
            "status": "completed",
            "vaccineCode": _coded(
                "http://hl7.org/fhir/sid/cvx", "09", "Td (adult), adsorbed", "Tetanus and diphtheria (Td)"
            ),
            "patient": patient_ref,
            "encounter": encounter_ref,
            "occurrenceDateTime": at,
            "primarySource": True,
        },
        {
            **_vital(mrn, 1, at, "29463-7", "Body weight", valueQuantity=_quantity("84.0", "kg", "kg")),
            "subject": patient_ref,
            "encounter": encounter_ref,
        },
        {
            **_vital(mrn, 2, at, "8867-4", "Heart rate", valueQuantity=_quantity("78", "/min", "/min")),
            "subject": patient_ref,
            "encounter": encounter_ref,
        },
        {
            **_vital(
                mrn,
                3,
                at,
                "85354-9",
                "Blood pressure panel with all children optional",
                component=[
                    {
                        "code": _coded("http://loinc.org", "8480-6", "Systolic blood pressure"),
                        "valueQuantity": _quantity("145", "mmHg", "mm[Hg]"),
                    },
                    {
                        "code": _coded("http://loinc.org", "8462-4", "Diastolic blood pressure"),
                        "valueQuantity": _quantity("92", "mmHg", "mm[Hg]"),
                    },
                ],
            ),
            "subject": patient_ref,
            "encounter": encounter_ref,
        },
    ]
    entries = []
    for resource in resources:
        if resource["resourceType"] == "Patient":
            criteria = f"identifier={national_id_system}|{national_id}"
        else:
            first = resource["identifier"][0]
            criteria = f"identifier={first['system']}|{first['value']}"
        entries.append(
            {
                "resource": _plain(resource),
                "request": {"method": "POST", "url": resource["resourceType"], "ifNoneExist": criteria},
            }
        )
    answer = transaction_process(entries)
    location = answer["entry"][1]["response"]["location"]  # Patient/<id>/_history/<n>
    return location.split("/")[1]


def _plain(node):
    """JSON-ready: decimals as numbers."""
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, Decimal):
        return int(node) if node == node.to_integral_value() else float(node)
    return node


# The switch and the control page --------------------------------------------------------------------------------


def switch_get() -> SimSwitch:
    """The switch (made, set to normal, the first time it is asked for)."""
    switch, _ = SimSwitch.objects.get_or_create(singleton=1)
    return switch


def switch_set(mode: str, delay_seconds: float = 0) -> SimSwitch:
    """Make every FHIR endpoint work normally, answer 503 (``down``), 500 (``error``), or wait ``delay_seconds``
    first (``slow``). ValueError for an unknown mode or a delay outside 0 to 300 s."""
    if mode not in SwitchMode.values:
        raise ValueError(f"mode must be one of {', '.join(SwitchMode.values)}")
    try:
        delay = Decimal(str(delay_seconds))
    except ArithmeticError:
        raise ValueError("delay_seconds must be a number") from None
    if not delay.is_finite() or not 0 <= delay <= MAX_DELAY_SECONDS:
        raise ValueError(f"delay_seconds must be between 0 and {MAX_DELAY_SECONDS}")
    with transaction.atomic():
        switch, _ = SimSwitch.objects.select_for_update().get_or_create(singleton=1)
        switch.mode = mode
        switch.delay_seconds = delay.quantize(Decimal("0.001"))
        switch.save(update_fields=["mode", "delay_seconds", "updated_at"])
    return switch


def reset() -> None:
    """Forget every resource and put the switch back to normal."""
    with transaction.atomic():
        SimResourceVersion.objects.all().delete()
        SimResource.objects.all().delete()
        SimSwitch.objects.all().delete()

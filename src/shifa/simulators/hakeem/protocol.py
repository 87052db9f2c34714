"""FHIR R4 as the Hakeem simulator speaks it: the resource types it keeps, errors as OperationOutcome, reading
request bodies and search criteria, validating resources with ``fhir.resources``, and the Bundle shapes it answers.

Messages here are the protocol's (``diagnostics``), in English like any FHIR server's, not the product's UI."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl

from django.conf import settings
from pydantic import ValidationError

from shifa.core import timezones

FHIR_JSON = "application/fhir+json; charset=utf-8"
FHIR_VERSION = "4.0.1"

#: The resource types the simulator keeps (any other type answers 404, as on a server that does not support it).
RESOURCE_TYPES = (
    "Patient",
    "Encounter",
    "Condition",
    "MedicationRequest",
    "MedicationStatement",
    "ServiceRequest",
    "CarePlan",
    "Appointment",
    "Observation",
    "Task",
    "AllergyIntolerance",
    "Immunization",
    "Organization",
    "Practitioner",
)

#: FHIR's task-status codes, in the order a facility goes through them.
TASK_STATUS_ORDER = (
    "draft",
    "requested",
    "received",
    "accepted",
    "rejected",
    "ready",
    "in-progress",
    "on-hold",
    "completed",
    "cancelled",
    "failed",
    "entered-in-error",
)
TASK_STATUSES = frozenset(TASK_STATUS_ORDER)

#: ``status`` codes of the types whose ``status`` has a required binding (R4); ``fhir.resources`` checks only
#: the syntax of a code, a validating server also its value set.
STATUS_CODES: dict[str, frozenset[str]] = {
    "Encounter": frozenset(
        [
            "planned",
            "arrived",
            "triaged",
            "in-progress",
            "onleave",
            "finished",
            "cancelled",
            "entered-in-error",
            "unknown",
        ]
    ),
    "MedicationRequest": frozenset(
        ["active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown"]
    ),
    "MedicationStatement": frozenset(
        ["active", "completed", "entered-in-error", "intended", "stopped", "on-hold", "unknown", "not-taken"]
    ),
    "ServiceRequest": frozenset(
        ["draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"]
    ),
    "CarePlan": frozenset(
        ["draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"]
    ),
    "Appointment": frozenset(
        [
            "proposed",
            "pending",
            "booked",
            "arrived",
            "fulfilled",
            "cancelled",
            "noshow",
            "entered-in-error",
            "checked-in",
            "waitlist",
        ]
    ),
    "Observation": frozenset(
        [
            "registered",
            "preliminary",
            "final",
            "amended",
            "corrected",
            "cancelled",
            "entered-in-error",
            "unknown",
        ]
    ),
    "Immunization": frozenset(["completed", "entered-in-error", "not-done"]),
    "Task": TASK_STATUSES,
}

FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
#: ``Patient?identifier=…``: a conditional reference, a conditional update's URL.
CONDITIONAL = re.compile(r"([A-Z][A-Za-z]+)\?(.*)", re.DOTALL)
#: ``Patient/abc`` or ``Patient/abc/_history/2`` (relative), possibly after our own base URL.
LITERAL = re.compile(r"([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/\d+)?")
#: The prefixes of a date search (``eq`` when none).
DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")


class FhirError(Exception):
    """An answer the way a FHIR server gives it: an HTTP status and an OperationOutcome issue."""

    def __init__(self, status: int, code: str, diagnostics: str, *, severity: str = "error"):
        super().__init__(f"{status} {code}: {diagnostics}")
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.severity = severity

    def at_entry(self, index: int) -> FhirError:
        """The same error, naming the transaction entry it came from."""
        return FhirError(self.status, self.code, f"Bundle.entry[{index}]: {self.diagnostics}")

    def outcome(self) -> dict:
        return operation_outcome(self.code, self.diagnostics, severity=self.severity)


def operation_outcome(code: str, diagnostics: str, *, severity: str = "error") -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def unknown_type(resource_type: str) -> FhirError:
    return FhirError(404, "not-supported", f"Unknown resource type '{resource_type}'")


def require_type(resource_type: str) -> str:
    """``resource_type`` if the simulator keeps it; 404 otherwise (its list is public in ``metadata``)."""
    if resource_type not in RESOURCE_TYPES:
        raise unknown_type(resource_type)
    return resource_type


def not_found(resource_type: str, fhir_id: str, version: int | None = None) -> FhirError:
    what = f"{resource_type}/{fhir_id}" + (f"/_history/{version}" if version is not None else "")
    return FhirError(404, "not-found", f"Resource {what} is not known")


def base_url() -> str:
    return settings.HAKEEM_FHIR_URL.rstrip("/")


def instant(value: dt.datetime) -> str:
    """A FHIR ``instant`` (UTC, ``Z``, always to the microsecond so that stored times sort as text too)."""
    return (
        timezones.require_aware(value)
        .astimezone(dt.UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


def etag(version: int) -> str:
    return f'W/"{version}"'


# Bodies ---------------------------------------------------------------------------------------------------------


def read_json(body: bytes) -> dict:
    """A request body that must be one JSON object; 400 (``structure``) otherwise."""
    try:
        data = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError):
        raise FhirError(400, "structure", "The body is not valid JSON") from None
    if not isinstance(data, dict):
        raise FhirError(400, "structure", "The body must be a JSON object (a FHIR resource)")
    return data


def read_transaction(body: bytes) -> list[dict]:
    """The entries of a transaction Bundle; 400 for anything else (a batch, another resource, no JSON)."""
    bundle = read_json(body)
    if bundle.get("resourceType") != "Bundle":
        raise FhirError(400, "invalid", "Only a Bundle may be POSTed to the base URL")
    if bundle.get("type") != "transaction":
        raise FhirError(
            400, "not-supported", f"Bundle.type must be 'transaction', not {bundle.get('type')!r}"
        )
    entries = bundle.get("entry", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise FhirError(400, "structure", "Bundle.entry must be a list of objects")
    return entries


def read_criteria(query: str, *, what: str) -> str:
    """The ``<system>|<value>`` token of ``identifier=…`` criteria (the only ones the simulator resolves)."""
    pairs = parse_qsl(query.lstrip("?"), keep_blank_values=True)
    if len(pairs) != 1 or pairs[0][0] != "identifier" or not pairs[0][1]:
        raise FhirError(
            400,
            "not-supported",
            f"{what} {query!r}: only 'identifier=<system>|<value>' criteria are supported",
        )
    token = pairs[0][1]
    if "|" not in token or token.startswith("|") or token.endswith("|"):
        raise FhirError(400, "invalid", f"{what} {query!r}: the identifier needs both a system and a value")
    return token


def identifier_tokens(resource: dict) -> list[str]:
    """``"<system>|<value>"`` of each identifier of a resource (``"|value"`` when it has no system)."""
    found = resource.get("identifier") or []
    if isinstance(found, dict):
        found = [found]
    tokens = []
    for identifier in found:
        if isinstance(identifier, dict) and identifier.get("value"):
            tokens.append(f"{identifier.get('system') or ''}|{identifier['value']}")
    return tokens


def local_reference(reference: str) -> str | None:
    """``Type/id`` of a literal reference to this server (relative, or absolute under our base), else None."""
    base = base_url() + "/"
    if reference.startswith(base):
        reference = reference[len(base) :]
    match = LITERAL.fullmatch(reference)
    return f"{match.group(1)}/{match.group(2)}" if match else None


def subject_of(resource_type: str, fhir_id: str, resource: dict) -> str:
    """The patient a resource is about (``Patient/<id>``), as the Patient compartment puts it."""
    if resource_type == "Patient":
        return f"Patient/{fhir_id}"
    for name in ("subject", "patient", "for"):
        ref = resource.get(name)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            return local_reference(ref["reference"]) or ref["reference"][:120]
    for participant in resource.get("participant") or []:  # an Appointment
        actor = participant.get("actor") if isinstance(participant, dict) else None
        target = local_reference(actor.get("reference") or "") if isinstance(actor, dict) else None
        if target and target.startswith("Patient/"):
            return target
    return ""


def references(node) -> Iterator[dict]:
    """Every object with a string ``reference`` anywhere in a resource."""
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for value in node:
            yield from references(value)


def validate(resource_type: str, resource: dict) -> None:
    """Parse the resource with its ``fhir.resources`` R4B model; 400 (``invalid``) with what is wrong."""
    from fhir.resources.R4B import get_fhir_model_class

    try:
        get_fhir_model_class(resource_type).model_validate(resource)
    except ValidationError as exc:
        problems = "; ".join(
            f"{resource_type}.{'.'.join(str(p) for p in error['loc']) or '(root)'}: {error['msg']}"
            for error in exc.errors()[:10]
        )
        raise FhirError(400, "invalid", f"Invalid {resource_type}: {problems}") from None
    status = resource.get("status")
    codes = STATUS_CODES.get(resource_type)
    if codes is not None and status not in codes:
        raise FhirError(400, "code-invalid", f"{resource_type}.status: unknown code {status!r}")


# Search parameters ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateBound:
    """One ``_lastUpdated`` criterion: the stored instant must be ``op`` (gt, ge, lt, le) ``value``."""

    op: str
    value: dt.datetime


def date_bounds(raw: str) -> list[DateBound]:
    """``_lastUpdated=gt2026-01-02T10:00:00Z`` (or a date: the whole day, UTC) as bounds; 400 if unreadable."""
    raw = raw.strip().replace(" ", "+")  # an unencoded "+" of the offset arrives as a space
    prefix = raw[:2] if raw[:2] in DATE_PREFIXES else "eq"
    text = raw[2:] if raw[:2] in DATE_PREFIXES else raw
    if prefix not in {"eq", "gt", "ge", "lt", "le"}:
        raise FhirError(400, "not-supported", f"_lastUpdated: the prefix {prefix!r} is not supported")
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            start = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
            end = start + dt.timedelta(days=1)
        else:
            start = end = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            if start.tzinfo is None:
                raise ValueError("no zone")
    except ValueError:
        raise FhirError(
            400, "invalid", f"_lastUpdated: {raw!r} is not a date or an instant with its zone"
        ) from None
    if start != end:  # a day: [start, end)
        return {
            "eq": [DateBound("ge", start), DateBound("lt", end)],
            "gt": [DateBound("ge", end)],
            "ge": [DateBound("ge", start)],
            "lt": [DateBound("lt", start)],
            "le": [DateBound("lt", end)],
        }[prefix]
    return [DateBound("ge", start), DateBound("le", start)] if prefix == "eq" else [DateBound(prefix, start)]


def patient_reference(value: str) -> str:
    """``patient=abc`` or ``patient=Patient/abc`` (or our absolute URL) → ``Patient/abc``."""
    return local_reference(value) or (value if "/" in value else f"Patient/{value}")


# Answers --------------------------------------------------------------------------------------------------------


def searchset(resources: list[dict], total: int, *, self_url: str = "", next_url: str = "") -> dict:
    links = [{"relation": "self", "url": self_url}] if self_url else []
    if next_url:
        links.append({"relation": "next", "url": next_url})
    bundle: dict = {
        "resourceType": "Bundle",
        "type": "searchset",
        "meta": {"lastUpdated": instant(timezones.now())},
        "total": total,
    }
    if links:
        bundle["link"] = links
    bundle["entry"] = [
        {
            "fullUrl": f"{base_url()}/{r['resourceType']}/{r['id']}",
            "resource": r,
            "search": {"mode": "match"},
        }
        for r in resources
    ]
    return bundle


def entry_response(status: str, resource_type: str, fhir_id: str, version: int, updated: dt.datetime) -> dict:
    return {
        "status": status,
        "location": f"{resource_type}/{fhir_id}/_history/{version}",
        "etag": etag(version),
        "lastModified": instant(updated),
    }


def capability_statement() -> dict:
    """What the simulator supports, as ``GET metadata`` answers it."""
    search_params = [
        {"name": "_id", "type": "token"},
        {"name": "_lastUpdated", "type": "date"},
        {"name": "identifier", "type": "token"},
        {"name": "patient", "type": "reference"},
        {"name": "subject", "type": "reference"},
        {"name": "status", "type": "token"},
    ]
    interactions = ["read", "vread", "update", "create", "search-type", "history-instance"]
    resources = []
    for resource_type in RESOURCE_TYPES:
        entry: dict = {
            "type": resource_type,
            "interaction": [{"code": code} for code in interactions],
            "versioning": "versioned",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalUpdate": True,
            "searchParam": search_params,
        }
        if resource_type == "Patient":
            entry["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": timezones.now().date().isoformat(),
        "publisher": "Shifa",
        "kind": "instance",
        "software": {"name": "Hakeem simulator (Shifa)"},
        "implementation": {"description": "A local stand-in for Hakeem's FHIR R4 API", "url": base_url()},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": {"description": "A bearer token in the Authorization header."},
                "resource": resources,
                "interaction": [{"code": "transaction"}],
            }
        ],
    }

"""Reads of the Hakeem simulator: reads, versions and searches as the FHIR API answers them, and what the control
page and the tests look at."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from urllib.parse import urlencode

from django.db.models import Count, Q, QuerySet, TextField
from django.db.models.functions import Cast

from . import protocol
from .models import SimResource, SimResourceVersion, SimSwitch, SwitchMode
from .protocol import FhirError

DEFAULT_COUNT = 100
MAX_COUNT = 500


def switch_state() -> tuple[str, float]:
    """The switch's mode and delay (``normal`` while nobody has set it)."""
    switch = SimSwitch.objects.filter(singleton=1).first()
    if switch is None:
        return SwitchMode.NORMAL, 0.0
    return switch.mode, float(switch.delay_seconds or Decimal(0))


def resource_get(resource_type: str, fhir_id: str) -> SimResource | None:
    return SimResource.objects.filter(resource_type=resource_type, fhir_id=fhir_id).first()


def resource_read(resource_type: str, fhir_id: str) -> SimResource:
    """``GET Type/id``: the current version; 404 if none."""
    found = resource_get(resource_type, fhir_id)
    if found is None:
        raise protocol.not_found(resource_type, fhir_id)
    return found


def version_read(resource_type: str, fhir_id: str, version: int) -> SimResourceVersion:
    """``GET Type/id/_history/N``; 404 if the resource or that version does not exist."""
    if not 0 < version <= MAX_NUMBER:
        raise protocol.not_found(resource_type, fhir_id, version)
    found = (
        SimResourceVersion.objects.select_related("resource")
        .filter(resource__resource_type=resource_type, resource__fhir_id=fhir_id, version_id=version)
        .first()
    )
    if found is None:
        raise protocol.not_found(resource_type, fhir_id, version)
    return found


def history(resource_type: str, fhir_id: str) -> list[SimResourceVersion]:
    """Every version of a resource, newest first."""
    resource = resource_read(resource_type, fhir_id)
    return list(resource.versions.order_by("-version_id"))


def history_bundle(resource_type: str, fhir_id: str) -> dict:
    """``GET Type/id/_history``: a ``history`` Bundle, newest version first."""
    versions = history(resource_type, fhir_id)
    base = protocol.base_url()
    return {
        "resourceType": "Bundle",
        "type": "history",
        "total": len(versions),
        "entry": [
            {
                "fullUrl": f"{base}/{resource_type}/{fhir_id}",
                "resource": v.content,
                "request": {
                    "method": "POST" if v.version_id == 1 else "PUT",
                    "url": resource_type if v.version_id == 1 else f"{resource_type}/{fhir_id}",
                },
                "response": {
                    "status": "201 Created" if v.version_id == 1 else "200 OK",
                    "etag": protocol.etag(v.version_id),
                    "lastModified": protocol.instant(v.recorded_at),
                },
            }
            for v in versions
        ],
    }


def _json_text(value: str) -> str:
    """``value`` as it appears inside a JSON string in PostgreSQL's text form of ``jsonb``."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


def identifier_filter(token: str) -> Q:
    """FHIR token search on ``identifier``: ``system|value``, ``|value`` (no system), ``system|`` (any value of
    that system) or ``value`` (in any system)."""
    if "|" not in token:
        return Q(identifiers_text__contains=f'|{_json_text(token)}"')
    system, _, value = token.partition("|")
    if system and not value:
        return Q(identifiers_text__contains=f'"{_json_text(system)}|')
    return Q(identifiers__contains=[f"{system}|{value}"])


def _with_text(found: QuerySet) -> QuerySet:
    return found.annotate(identifiers_text=Cast("identifiers", TextField()))


def identifier_matches(resource_type: str, token: str) -> QuerySet[SimResource]:
    """Resources of a type carrying the identifier ``system|value`` (conditional create, update, reference)."""
    return _with_text(SimResource.objects.filter(resource_type=resource_type)).filter(
        identifier_filter(token)
    )


def _any_of(values: Sequence[str]) -> list[str]:
    """The comma-separated alternatives of every occurrence of a parameter (``a,b`` means a OR b)."""
    return [v for v in values if v]


def _search_filter(params: Mapping[str, Sequence[str]]) -> Q:
    """The criteria the simulator understands; any other parameter is ignored, as many servers do."""
    criteria = Q()
    for raw in params.get("identifier", []):
        alternatives = Q()
        for token in _any_of(raw.split(",")):
            alternatives |= identifier_filter(token)
        criteria &= alternatives
    for name in ("patient", "subject"):
        for raw in params.get(name, []):
            criteria &= Q(subject__in=[protocol.patient_reference(v) for v in _any_of(raw.split(","))])
    for raw in params.get("_id", []):
        criteria &= Q(fhir_id__in=_any_of(raw.split(",")))
    for raw in params.get("status", []):
        codes = [v.partition("|")[2] or v for v in _any_of(raw.split(","))]  # a token may name its system
        criteria &= Q(content__status__in=codes)
    for raw in params.get("_lastUpdated", []):
        for bound in protocol.date_bounds(raw):
            lookup = {"gt": "gt", "ge": "gte", "lt": "lt", "le": "lte"}[bound.op]
            criteria &= Q(**{f"last_updated__{lookup}": bound.value})
    return criteria


#: Larger numbers (an offset, a version) cannot be stored: they are refused, not passed to the database.
MAX_NUMBER = 2**31 - 1


def _number(params: Mapping[str, Sequence[str]], name: str, default: int) -> int:
    values = params.get(name) or []
    if not values or values[-1] == "":
        return default
    try:
        number = int(values[-1])
    except ValueError:
        raise FhirError(400, "invalid", f"{name}: {values[-1]!r} is not a number") from None
    if not 0 <= number <= MAX_NUMBER:
        raise FhirError(400, "invalid", f"{name} must be between 0 and {MAX_NUMBER}")
    return number


def search(resource_type: str, params: Mapping[str, Sequence[str]]) -> dict:
    """``GET Type?…``: a ``searchset`` Bundle with ``total`` and one page of matches (oldest change first;
    ``_count`` per page, 100 by default and at most 500; ``_offset`` for the next pages)."""
    protocol.require_type(resource_type)
    count = min(_number(params, "_count", DEFAULT_COUNT), MAX_COUNT)
    offset = _number(params, "_offset", 0)
    found = (
        _with_text(SimResource.objects.filter(resource_type=resource_type))
        .filter(_search_filter(params))
        .order_by("last_updated", "pk")
    )
    total = found.count()
    page = [r.content for r in found[offset : offset + count]] if count else []
    kept = {k: list(v) for k, v in params.items() if k not in {"_offset"}}
    base = f"{protocol.base_url()}/{resource_type}"
    self_url = base + ("?" + urlencode(kept, doseq=True) if kept else "")
    next_url = ""
    if count and offset + count < total:
        next_url = base + "?" + urlencode({**kept, "_offset": [str(offset + count)]}, doseq=True)
    return protocol.searchset(page, total, self_url=self_url, next_url=next_url)


def everything(patient_id: str) -> dict:
    """``GET Patient/id/$everything``: the Patient and every resource about them."""
    patient = resource_read("Patient", patient_id)
    others = (
        SimResource.objects.filter(subject=f"Patient/{patient_id}")
        .exclude(pk=patient.pk)
        .order_by("resource_type", "last_updated", "pk")
    )
    found = [patient.content, *(r.content for r in others)]
    return protocol.searchset(
        found, len(found), self_url=f"{protocol.base_url()}/Patient/{patient_id}/$everything"
    )


# The control page and tests -------------------------------------------------------------------------------------


def resources(resource_type: str | None = None, *, limit: int | None = None) -> list[SimResource]:
    """Stored resources, the latest change first (of one type, or all)."""
    found = SimResource.objects.all()
    if resource_type:
        found = found.filter(resource_type=resource_type)
    found = found.order_by("-last_updated", "-pk")
    return list(found[:limit] if limit else found)


def counts() -> dict[str, int]:
    """How many resources of each type are stored."""
    rows = SimResource.objects.values("resource_type").annotate(n=Count("pk")).order_by("resource_type")
    return {row["resource_type"]: row["n"] for row in rows}


def versions(resource_type: str, fhir_id: str) -> list[dict]:
    """The content of every version of a resource, oldest first (for tests)."""
    return [
        v.content
        for v in SimResourceVersion.objects.filter(
            resource__resource_type=resource_type, resource__fhir_id=fhir_id
        ).order_by("version_id")
    ]

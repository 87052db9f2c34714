"""Reference data lookups for staff (diagnosis codes for the record, and the like)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from shifa.access.declare import operation
from shifa.core.schemas import ERRORS

from . import queries

router = Router(tags=["reference data"])


class DiagnosisOut(Schema):
    code: str = Field(..., alias="display_code", description="With its dot, e.g. 250.00")
    title: str
    short_title: str


class DiagnosisQuery(Schema):
    q: str = Field(..., min_length=1, max_length=100, description="A code prefix (250, 250.0) or words")
    limit: int = Field(20, ge=1, le=50)


@router.get(
    "/reference/diagnoses",
    response={200: list[DiagnosisOut], **ERRORS},
    operation_id="catalog_search_diagnoses",
    summary="Search ICD-9-CM diagnosis codes by code prefix or words (typos tolerated)",
    **operation("catalog.view"),
)
def search_diagnoses(request: HttpRequest, params: Query[DiagnosisQuery]):
    return queries.diagnosis_search(params.q, limit=params.limit)


class ReferenceQuery(Schema):
    q: str = Field("", max_length=100, description="Words that every entry returned contains")
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


class ReferencePage(Schema):
    items: list[dict[str, Any]]
    next_cursor: str | None


@router.get(
    "/reference/{kind}",
    response={200: ReferencePage, **ERRORS},
    operation_id="catalog_list_reference",
    summary="Entries in use of a reference list: specialties, medications, vaccines, immunization-schedule, "
    "vital-signs, lab-tests, imaging-studies, insurers",
    **operation("catalog.view"),
)
def list_reference(request: HttpRequest, kind: str, params: Query[ReferenceQuery]):
    from shifa.core.pagination import paginate

    spec = queries.reference_list(kind)
    page = paginate(
        queries.reference_entries(spec, query=params.q, active_only=True),
        cursor=params.cursor,
        limit=params.limit,
    )
    return {
        "items": [queries.reference_entry_data(spec, e) for e in page.items],
        "next_cursor": page.next_cursor,
    }

"""Reference data lookups for staff (diagnosis codes for the record, and the like)."""

from __future__ import annotations

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

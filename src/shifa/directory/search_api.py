"""Finding a doctor (BK-1) and what a visit will cost (the patient's share with their insurer): public reads."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from shifa.access.declare import operation
from shifa.accounts.actions import client_address, search_count
from shifa.core.errors import NotFound
from shifa.core.schemas import ERRORS, ProblemOut

from . import queries

router = Router(tags=["search"])
PUBLIC = operation(public=True, auth=None)


class SearchQuery(Schema):
    q: str = Field("", max_length=100, description="Doctor, clinic or specialty, in Arabic or English")
    specialty: str | None = Field(None, max_length=60, description="A specialty code")
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    radius_km: float = Field(10.0, gt=0, le=200)
    date: dt.date | None = Field(None, description="A local day with a free slot")
    visit_type: str | None = Field(None, pattern="^(office|video|home)$")
    insurer: str | None = Field(None, max_length=40)
    language: str | None = Field(None, max_length=8)
    gender: str | None = Field(None, pattern="^(female|male)$")
    min_rating: Decimal | None = Field(None, ge=1, le=5)
    sort: str = Field("relevance", pattern="^(relevance|distance|rating|earliest|price)$")
    cursor: str | None = None
    limit: int = Field(20, ge=1, le=50)


class Place(Schema):
    id: uuid.UUID
    name: str
    city: str


class Person(Schema):
    id: uuid.UUID
    name: str


class Money(Schema):
    amount: str
    currency: str = "JOD"


class PerVisitType(Schema):
    office: Money | None = None
    video: Money | None = None
    home: Money | None = None


class NextFree(Schema):
    office: dt.datetime | None = None
    video: dt.datetime | None = None
    home: dt.datetime | None = None


class ListingOut(Schema):
    clinic: Place
    doctor: Person
    specialties: list[str]
    gender: str
    languages: list[str]
    visit_types: list[str]
    rating: str | None
    rating_count: int
    distance_km: float | None
    prices: PerVisitType
    next_available: NextFree
    zone: str


class ListingPage(Schema):
    items: list[ListingOut]
    next_cursor: str | None


def _money(amount) -> dict | None:
    return {"amount": f"{amount:.3f}", "currency": "JOD"} if amount is not None else None


def listing_out(listing, language: str) -> dict:
    distance = getattr(listing, "distance", None)
    return {
        "clinic": {
            "id": listing.clinic.external_id,
            "name": listing.clinic_name_ar if language == "ar" else listing.clinic_name_en,
            "city": listing.city,
        },
        "doctor": {"id": listing.doctor.external_id, "name": listing.doctor_name},
        "specialties": listing.specialties,
        "gender": listing.gender,
        "languages": listing.languages,
        "visit_types": listing.visit_types,
        "rating": f"{listing.rating:.2f}" if listing.rating is not None else None,
        "rating_count": listing.rating_count,
        "distance_km": round(float(distance), 2) if distance is not None else None,
        "prices": {v: _money(getattr(listing, f"price_{v}")) for v in ("office", "video", "home")},
        "next_available": {v: getattr(listing, f"next_{v}") for v in ("office", "video", "home")},
        "zone": listing.clinic.time_zone,
    }


@router.get(
    "/search/doctors",
    response={200: ListingPage, 429: ProblemOut, **ERRORS},
    operation_id="directory_search_doctors",
    summary="Find doctors across every clinic by words, specialty, place, free day, visit type, insurer, "
    "language, gender and rating",
    **PUBLIC,
)
def search_doctors(request: HttpRequest, filters: Query[SearchQuery]):
    search_count(user=getattr(request, "user", None), address=client_address(request))
    data = filters.dict()
    cursor, limit = data.pop("cursor"), data.pop("limit")
    page = queries.doctor_search(queries.Search(**data), cursor=cursor, limit=limit)
    language = getattr(request, "LANGUAGE_CODE", "en")
    return {"items": [listing_out(item, language) for item in page.items], "next_cursor": page.next_cursor}


class QuoteQuery(Schema):
    clinic: uuid.UUID
    doctor: uuid.UUID
    visit_type: str = Field("office", pattern="^(office|video|home)$")
    service: uuid.UUID | None = None
    insurer: str | None = Field(None, max_length=40, description="The patient's insurer code")


class Insurer(Schema):
    code: str
    name: str


class QuoteOut(Schema):
    service: Person | None
    price: Money | None
    insurer: Insurer | None
    covered: bool
    copay_percent: str | None
    patient_pays: Money | None
    insurer_pays: Money | None
    pre_approval_required: bool


@router.get(
    "/quote",
    response={200: QuoteOut, **ERRORS},
    operation_id="directory_quote_visit",
    summary="What a visit costs, and the patient's estimated share with their insurer",
    **PUBLIC,
)
def quote_visit(request: HttpRequest, filters: Query[QuoteQuery]):
    from shifa.tenancy.queries import bookable_clinic, clinic_doctor

    from .models import Service

    clinic = bookable_clinic(filters.clinic)
    doctor = clinic_doctor(clinic, filters.doctor) if clinic else None
    if doctor is None:
        raise NotFound()
    service = None
    if filters.service is not None:
        service = (
            Service.objects.for_clinic(clinic).filter(external_id=filters.service, is_active=True).first()
        )
        if service is None:
            raise NotFound()
    found = queries.estimate(
        clinic=clinic,
        doctor=doctor,
        visit_type=filters.visit_type,
        service=service,
        insurer_code=filters.insurer,
    )
    language = getattr(request, "LANGUAGE_CODE", "en")
    return {
        "service": {"id": found["service"].external_id, "name": found["service"].display_name(language)}
        if found["service"]
        else None,
        "price": _money(found["amount"]),
        "insurer": {"code": found["insurer"].code, "name": found["insurer"].display_name(language)}
        if found["insurer"]
        else None,
        "covered": found["covered"],
        "copay_percent": f"{found['copay_percent']:.2f}" if found["copay_percent"] is not None else None,
        "patient_pays": _money(found["patient_pays"]),
        "insurer_pays": _money(found["insurer_pays"]),
        "pre_approval_required": found["pre_approval_required"],
    }

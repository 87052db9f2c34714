"""A clinic's services and prices."""

from __future__ import annotations

import uuid

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from shifa.access.declare import operation
from shifa.core.schemas import ERRORS

from . import actions, queries

router = Router(tags=["services"])


class PriceIn(Schema):
    visit_type: str = Field(..., description="office, video or home")
    amount: str = Field(..., max_length=20, description='JOD as a string with up to three decimals: "25.500"')
    doctor_id: uuid.UUID | None = Field(
        None, description="For one doctor's own price; empty for the clinic's"
    )


class ServiceIn(Schema):
    name_ar: str = Field(..., max_length=200)
    name_en: str = Field(..., max_length=200)
    is_active: bool = True
    prices: list[PriceIn] = Field(default_factory=list, max_length=60)


class PriceOut(Schema):
    visit_type: str
    amount: str
    currency: str = "JOD"
    doctor_id: uuid.UUID | None


class ServiceOut(Schema):
    id: uuid.UUID
    name_ar: str
    name_en: str
    is_active: bool
    prices: list[PriceOut]


def _out(service) -> dict:
    return {
        "id": service.external_id,
        "name_ar": service.name_ar,
        "name_en": service.name_en,
        "is_active": service.is_active,
        "prices": [
            {
                "visit_type": p.visit_type,
                "amount": f"{p.amount:.3f}",
                "doctor_id": p.doctor.external_id if p.doctor else None,
            }
            for p in service.prices.all()
        ],
    }


@router.get(
    "/clinics/{clinic_id}/services",
    response={200: list[ServiceOut], **ERRORS},
    operation_id="directory_list_services",
    summary="The clinic's services and their prices",
    **operation("tenancy.view_clinic"),
)
def list_services(request: HttpRequest, clinic_id: uuid.UUID):
    return [_out(s) for s in queries.service_list(actor=request.actor, include_retired=True)]


def _saved(request, service) -> dict:
    return _out(
        next(s for s in queries.service_list(actor=request.actor, include_retired=True) if s.pk == service.pk)
    )


@router.post(
    "/clinics/{clinic_id}/services",
    response={201: ServiceOut, **ERRORS},
    operation_id="directory_add_service",
    summary="Add a service with its prices per visit type (clinic-wide or per doctor)",
    **operation("clinic.configure"),
)
def add_service(request: HttpRequest, clinic_id: uuid.UUID, payload: ServiceIn):
    data = payload.dict()
    data["prices"] = [p for p in data["prices"]]
    service = actions.service_save(actor=request.actor, **data)
    return Status(201, _saved(request, service))


@router.put(
    "/clinics/{clinic_id}/services/{service_id}",
    response={200: ServiceOut, **ERRORS},
    operation_id="directory_change_service",
    summary="Change a service and replace its prices",
    **operation("clinic.configure"),
)
def change_service(request: HttpRequest, clinic_id: uuid.UUID, service_id: uuid.UUID, payload: ServiceIn):
    service = actions.service_save(actor=request.actor, service_id=service_id, **payload.dict())
    return _saved(request, service)


class AreaIn(Schema):
    name: str = Field(..., max_length=100)
    shape: str = Field(..., description="polygon or radius")
    polygon: list[list[float]] = Field(default_factory=list, max_length=500, description="[[lat, lng], …]")
    center_lat: float | None = None
    center_lng: float | None = None
    radius_km: float | None = None
    travel_buffer_minutes: int = 30


class AreaOut(Schema):
    id: uuid.UUID = Field(..., alias="external_id")
    name: str
    shape: str
    polygon: list[list[float]]
    center_lat: float | None
    center_lng: float | None
    radius_km: float | None
    travel_buffer_minutes: int


class CoverageOut(Schema):
    covered: bool
    area: AreaOut | None


@router.get(
    "/clinics/{clinic_id}/service-areas",
    response={200: list[AreaOut], **ERRORS},
    operation_id="directory_list_areas",
    summary="Where the clinic makes home visits",
    **operation("tenancy.view_clinic"),
)
def list_areas(request: HttpRequest, clinic_id: uuid.UUID):
    return queries.service_area_list(actor=request.actor)


@router.post(
    "/clinics/{clinic_id}/service-areas",
    response={201: AreaOut, **ERRORS},
    operation_id="directory_add_area",
    summary="Add a home-visit area (a polygon or a radius around a point)",
    **operation("clinic.configure"),
)
def add_area(request: HttpRequest, clinic_id: uuid.UUID, payload: AreaIn):
    return Status(201, actions.service_area_save(actor=request.actor, **payload.dict()))


@router.get(
    "/clinics/{clinic_id}/service-areas/coverage",
    response={200: CoverageOut, **ERRORS},
    operation_id="directory_area_coverage",
    summary="Whether a point (a patient's address) lies in one of the clinic's home-visit areas",
    **operation("tenancy.view_clinic"),
)
def coverage(
    request: HttpRequest,
    clinic_id: uuid.UUID,
    lat: float = Query(..., ge=-90, le=90),
    lng: float = Query(..., ge=-180, le=180),
):
    area = queries.home_visit_area(clinic=request.actor.require_clinic(), lat=lat, lng=lng)
    return {"covered": area is not None, "area": area}


class PartnerIn(Schema):
    insurer: str = Field(..., max_length=40, description="The insurer's code from the platform list")
    copay_percent: str = Field(..., max_length=10, description='The patient\'s share, e.g. "20" or "12.5"')
    covered_services: list[uuid.UUID] = Field(default_factory=list, description="Empty: every service")
    pre_approval_required: bool = False
    is_active: bool = True


class PartnerOut(Schema):
    insurer: str
    insurer_name_en: str
    insurer_name_ar: str
    copay_percent: str
    covered_services: list[uuid.UUID]
    pre_approval_required: bool
    is_active: bool


def _partner_out(partner) -> dict:
    return {
        "insurer": partner.insurer.code,
        "insurer_name_en": partner.insurer.name_en,
        "insurer_name_ar": partner.insurer.name_ar,
        "copay_percent": f"{partner.copay_percent:.2f}",
        "covered_services": [s.external_id for s in partner.covered_services.all()],
        "pre_approval_required": partner.pre_approval_required,
        "is_active": partner.is_active,
    }


@router.get(
    "/clinics/{clinic_id}/insurance-partners",
    response={200: list[PartnerOut], **ERRORS},
    operation_id="directory_list_partners",
    summary="The insurers the clinic accepts, and on what terms",
    **operation("tenancy.view_clinic"),
)
def list_partners(request: HttpRequest, clinic_id: uuid.UUID):
    return [_partner_out(p) for p in queries.insurance_partner_list(actor=request.actor)]


@router.put(
    "/clinics/{clinic_id}/insurance-partners",
    response={200: PartnerOut, **ERRORS},
    operation_id="directory_save_partner",
    summary="Accept an insurer, or change its terms (co-pay, covered services, pre-approval)",
    **operation("clinic.configure"),
)
def save_partner(request: HttpRequest, clinic_id: uuid.UUID, payload: PartnerIn):
    partner = actions.insurance_partner_save(
        actor=request.actor,
        insurer_code=payload.insurer,
        copay_percent=payload.copay_percent,
        covered_service_ids=payload.covered_services,
        pre_approval_required=payload.pre_approval_required,
        is_active=payload.is_active,
    )
    return _partner_out(partner)


class ProfileIn(Schema):
    gender: str
    specialties: list[str] = Field(..., max_length=10, description="Specialty codes from the platform list")
    qualifications: str = Field("", max_length=2000)
    languages: list[str] = Field(..., max_length=10, description='ISO 639-1 codes, e.g. ["ar", "en"]')
    bio_ar: str = Field("", max_length=4000)
    bio_en: str = Field("", max_length=4000)
    minutes: dict[str, int] = Field(
        ..., description='Consultation length per visit type offered: {"office": 20}'
    )
    on_duty: bool = False


class ProfileOut(Schema):
    doctor_id: uuid.UUID
    gender: str
    specialties: list[str]
    qualifications: str
    languages: list[str]
    bio_ar: str
    bio_en: str
    minutes: dict[str, int]
    visit_types: list[str]
    on_duty: bool


def _profile_out(profile) -> dict:
    return {
        "doctor_id": profile.doctor.external_id,
        "gender": profile.gender,
        "specialties": sorted(s.code for s in profile.specialties.all()),
        "qualifications": profile.qualifications,
        "languages": profile.languages,
        "bio_ar": profile.bio_ar,
        "bio_en": profile.bio_en,
        "minutes": profile.minutes,
        "visit_types": profile.visit_types,
        "on_duty": profile.on_duty,
    }


@router.get(
    "/clinics/{clinic_id}/doctors/{doctor_id}/profile",
    response={200: ProfileOut, **ERRORS},
    operation_id="directory_get_doctor_profile",
    summary="How a doctor is presented and booked at the clinic",
    **operation("tenancy.view_clinic"),
)
def get_profile(request: HttpRequest, clinic_id: uuid.UUID, doctor_id: uuid.UUID):
    from shifa.core.errors import NotFound
    from shifa.tenancy.queries import clinic_doctor

    clinic = request.actor.require_clinic()
    doctor = clinic_doctor(clinic, doctor_id)
    profile = queries.doctor_profile(clinic=clinic, doctor=doctor) if doctor is not None else None
    if profile is None:
        raise NotFound()
    return _profile_out(profile)


@router.put(
    "/clinics/{clinic_id}/doctors/{doctor_id}/profile",
    response={200: ProfileOut, **ERRORS},
    operation_id="directory_save_doctor_profile",
    summary="How a doctor is presented and booked at the clinic",
    **operation("clinic.configure"),
)
def save_profile(request: HttpRequest, clinic_id: uuid.UUID, doctor_id: uuid.UUID, payload: ProfileIn):
    data = payload.dict()
    profile = actions.doctor_profile_save(
        actor=request.actor, doctor_id=doctor_id, specialty_codes=data.pop("specialties"), **data
    )
    return _profile_out(profile)


class ClinicProfileIn(Schema):
    address_ar: str = Field(..., max_length=300)
    address_en: str = Field(..., max_length=300)
    latitude: float
    longitude: float
    phone: str = Field("", max_length=32)
    languages: list[str] = Field(..., max_length=10)
    facilities: list[str] = Field(default_factory=list, max_length=20)


class ClinicProfileOut(Schema):
    address_ar: str
    address_en: str
    latitude: float
    longitude: float
    phone: str
    languages: list[str]
    facilities: list[str]


@router.put(
    "/clinics/{clinic_id}/profile",
    response={200: ClinicProfileOut, **ERRORS},
    operation_id="directory_save_clinic_profile",
    summary="The clinic's address, map location, phone, languages and facilities",
    **operation("clinic.configure"),
)
def save_clinic_profile(request: HttpRequest, clinic_id: uuid.UUID, payload: ClinicProfileIn):
    return actions.clinic_profile_save(actor=request.actor, **payload.dict())

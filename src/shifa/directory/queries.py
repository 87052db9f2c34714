"""Reads of the directory: a clinic's services and the price that applies, home-visit areas, insurers, profiles;
the doctor search across clinics (from its read model) and what a visit costs the patient."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Prefetch
from django.utils.translation import gettext as _

from shifa.core.errors import FieldError, ValidationFailed
from shifa.core.pagination import Page

from .models import Price, Service, VisitType


def service_list(*, actor, include_retired: bool = False) -> list[Service]:
    clinic = actor.require_clinic()
    qs = Service.objects.for_clinic(clinic).prefetch_related(
        Prefetch(
            "prices",
            queryset=Price.objects.for_clinic(clinic).select_related("doctor").order_by("visit_type"),
        )
    )
    return list(qs if include_retired else qs.filter(is_active=True))


def price_for(*, clinic, service, visit_type: str, doctor=None):
    """The doctor's own price for this visit type if there is one, else the clinic's; None if not offered."""
    prices = Price.objects.for_clinic(clinic).filter(service=service, visit_type=visit_type)
    own = prices.filter(doctor=doctor).first() if doctor is not None else None
    return own or prices.filter(doctor__isnull=True).first()


def service_area_list(*, actor):
    from .models import ServiceArea

    return list(
        ServiceArea.objects.for_clinic(actor.require_clinic()).filter(is_active=True).order_by("name")
    )


def home_visit_area(*, clinic, lat: float, lng: float):
    """The clinic's home-visit area covering the point, if any (the booking issue calls this)."""
    from . import geometry
    from .models import ServiceArea

    for area in ServiceArea.objects.for_clinic(clinic).filter(is_active=True).order_by("pk"):
        if geometry.contains(area, lat, lng):
            return area
    return None


def insurance_partner_list(*, actor):
    from .models import InsurancePartner

    return list(
        InsurancePartner.objects.for_clinic(actor.require_clinic())
        .select_related("insurer")
        .prefetch_related("covered_services")
        .order_by("insurer__name_en")
    )


def clinic_photo_list(*, clinic):
    from .models import ClinicPhoto

    return list(ClinicPhoto.objects.for_clinic(clinic).order_by("position", "pk"))


def clinic_photo_file(*, photo_id):
    """A clinic photo's file for anyone (photos are shown to patients), while the clinic is active."""
    from django.core.files.storage import default_storage

    from shifa.core.errors import NotFound
    from shifa.tenancy.models import ClinicStatus

    from .models import ClinicPhoto

    photo = (
        ClinicPhoto.unscoped.filter(external_id=photo_id, clinic__status=ClinicStatus.ACTIVE)
        .only("image")
        .first()
    )
    if photo is None:
        raise NotFound()
    return default_storage.open(photo.image, "rb")


def clinic_profile(*, clinic):
    from .models import ClinicProfile

    return ClinicProfile.objects.for_clinic(clinic).first()


def doctor_profile(*, clinic, doctor):
    """How ``doctor`` is presented at ``clinic``, with specialties, or None before it is first written."""
    from .models import DoctorProfile

    return (
        DoctorProfile.objects.for_clinic(clinic).filter(doctor=doctor).prefetch_related("specialties").first()
    )


def clinic_doctors(*, actor) -> list[dict]:
    """Every active doctor and assistant doctor of the acting clinic with their profile here (or None)."""
    from shifa.access import catalog
    from shifa.accounts.models import User

    from .models import DoctorProfile

    clinic = actor.require_clinic()
    doctors = (
        User.objects.filter(
            memberships__clinic=clinic,
            memberships__role__code__in=[catalog.DOCTOR, catalog.ASSISTANT_DOCTOR],
            memberships__is_active=True,
        )
        .distinct()
        .order_by("full_name", "pk")
    )
    profiles = {
        p.doctor_id: p
        for p in DoctorProfile.objects.for_clinic(clinic)
        .prefetch_related("specialties")
        .filter(doctor__in=doctors)
    }
    return [{"doctor": d, "profile": profiles.get(d.pk)} for d in doctors]


# --- search (BK-1) ------------------------------------------------------------------------------------------------

SORTS = ("relevance", "distance", "rating", "earliest", "price")


@dataclass(frozen=True)
class Search:
    q: str = ""
    specialty: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    radius_km: float = 10.0
    date: dt.date | None = None
    visit_type: str | None = None
    insurer: str | None = None
    language: str | None = None
    gender: str | None = None
    min_rating: Decimal | None = None
    sort: str = "relevance"


#: Haversine distance in km from a point (two parameters, degrees) to the listing's clinic: one SQL expression,
#: cheaper to build than the same formula in ORM functions.
_HAVERSINE = (
    "2 * %s * asin(sqrt(power(sin(radians(latitude::float8 - %s) / 2), 2)"
    " + cos(radians(%s)) * cos(radians(latitude::float8))"
    " * power(sin(radians(longitude::float8 - %s) / 2), 2)))"
)


def _distance_km(lat: float, lng: float):
    """Haversine distance from the point to the listing's clinic, as a SQL expression."""
    from django.db.models import FloatField  # noqa: TID251 - trigonometry runs in double precision
    from django.db.models.expressions import RawSQL

    from .geometry import EARTH_RADIUS_KM

    # a constant expression; the point travels as parameters
    return RawSQL(_HAVERSINE, (EARTH_RADIUS_KM, lat, lat, lng), output_field=FloatField())  # noqa: S611


#: Listing columns the search filters on but no result shows.
LISTING_FILTER_ONLY_FIELDS = ("search_text", "days_office", "days_video", "days_home", "home_box")


def doctor_search(search: Search, *, cursor: str | None = None, limit: int = 20) -> Page:
    """Doctors patients can book, across every clinic, from the search read model: filtered by words (typo
    tolerant, Arabic or English), specialty, distance, a free day, visit type, insurer, language, gender and
    rating; sorted by relevance, distance, rating, earliest free slot or price."""
    from django.contrib.postgres.search import TrigramWordSimilarity
    from django.db.models import F, Q

    from shifa.core.pagination import check_limit, decode_cursor, encode_cursor

    from . import geometry
    from .models import DoctorListing

    check_limit(limit)
    qs = DoctorListing.unscoped.filter(bookable=True)
    words = " ".join(search.q.lower().split())
    if words:
        # every word must be found, as written or (four letters or more) with a typo
        every_word = Q()
        for word in words.split(" "):
            found = Q(search_text__contains=word)
            if len(word) >= 4:
                found |= Q(search_text__trigram_word_similar=word)
            every_word &= found
        qs = qs.annotate(similarity=TrigramWordSimilarity(words, "search_text")).filter(every_word)
    if search.specialty:
        qs = qs.filter(specialties__contains=[search.specialty])
    visit_type = search.visit_type
    if visit_type:
        qs = qs.filter(visit_types__contains=[visit_type])
    if search.date:
        if visit_type:
            qs = qs.filter(**{f"days_{visit_type}__contains": [search.date]})
        else:
            qs = qs.filter(
                Q(days_office__contains=[search.date])
                | Q(days_video__contains=[search.date])
                | Q(days_home__contains=[search.date])
            )
    if search.insurer:
        qs = qs.filter(insurers__contains=[search.insurer])
    if search.language:
        qs = qs.filter(languages__contains=[search.language])
    if search.gender:
        qs = qs.filter(gender=search.gender)
    if search.min_rating is not None:
        qs = qs.filter(rating__gte=search.min_rating)
    near = search.latitude is not None and search.longitude is not None
    if near and visit_type == VisitType.HOME:
        # the clinic must come to the patient: their place lies in the box of its areas (exact check below)
        qs = qs.filter(
            home_box__south__lte=search.latitude,
            home_box__north__gte=search.latitude,
            home_box__west__lte=search.longitude,
            home_box__east__gte=search.longitude,
        )
    elif near:
        south, west, north, east = geometry.box_around(search.latitude, search.longitude, search.radius_km)
        qs = qs.filter(latitude__gte=south, latitude__lte=north, longitude__gte=west, longitude__lte=east)
    if near:
        qs = qs.annotate(distance=_distance_km(search.latitude, search.longitude))
        if visit_type != VisitType.HOME:
            qs = qs.filter(distance__lte=search.radius_km)
    next_field = f"next_{visit_type}" if visit_type else "next_any"
    price_field = f"price_{visit_type or 'office'}"
    order = {
        "relevance": ([F("similarity").desc()] if words else []) + [F(next_field).asc(nulls_last=True)],
        "distance": [F("distance").asc()] if near else [F(next_field).asc(nulls_last=True)],
        "rating": [F("rating").desc(nulls_last=True), F("rating_count").desc()],
        "earliest": [F(next_field).asc(nulls_last=True)],
        "price": [F(price_field).asc(nulls_last=True)],
    }[search.sort if search.sort in SORTS else "relevance"]
    qs = qs.order_by(*order, "pk")
    offset = 0
    if cursor:
        offset = decode_cursor(cursor).get("offset")
        if not isinstance(offset, int) or offset < 0:
            raise ValidationFailed(errors=[FieldError("cursor", "invalid", _("This cursor is not valid."))])
    # the page's ids first (the filters, the order and the limit use the listing's own indexes), then those rows
    # with their clinic and doctor: joining before the limit would join every candidate
    fields = ("pk", "distance") if near else ("pk",)
    page = list(qs.values_list(*fields)[offset : offset + limit + 1])
    next_cursor = encode_cursor({"offset": offset + limit}) if len(page) > limit else None
    page = page[:limit]
    # without the columns only the filters read (free days, search words, home-visit bounds): a page of listings
    # would otherwise parse thousands of dates it never shows
    loaded = (
        DoctorListing.unscoped.select_related("clinic", "doctor")
        .defer(*LISTING_FILTER_ONLY_FIELDS)
        .in_bulk([found[0] for found in page])
    )
    rows = []
    for found in page:
        row = loaded[found[0]]
        if near:
            row.distance = found[1]
        rows.append(row)
    if near and visit_type == VisitType.HOME:
        rows = [
            r for r in rows if home_visit_area(clinic=r.clinic, lat=search.latitude, lng=search.longitude)
        ]
    return Page(items=rows, next_cursor=next_cursor)


def estimate(*, clinic, doctor, visit_type: str, service=None, insurer_code: str | None = None) -> dict:
    """What a visit costs and, with the patient's insurer, how much of it the patient pays: the clinic's co-pay
    for that insurer when it accepts it and covers the service, else the whole price (the rule of ``coverage``)."""
    from . import coverage

    if service is None:
        options = [
            (p, s)
            for s in service_list_for(clinic)
            if (p := price_for(clinic=clinic, service=s, visit_type=visit_type, doctor=doctor))
        ]
        price, service = min(options, key=lambda o: o[0].amount) if options else (None, None)
    else:
        price = price_for(clinic=clinic, service=service, visit_type=visit_type, doctor=doctor)
    amount = price.amount if price else None
    answer = {
        "service": service,
        "amount": amount,
        "insurer": None,
        "covered": False,
        "copay_percent": None,
        "patient_pays": amount,
        "insurer_pays": Decimal("0.000") if amount is not None else None,
        "pre_approval_required": False,
    }
    if not insurer_code or amount is None:
        return answer
    terms = coverage.terms_for(clinic=clinic, service=service, insurer_code=insurer_code)
    if terms is None:
        return answer
    answer |= {
        "insurer": terms.insurer,
        "covered": terms.covered,
        "pre_approval_required": terms.pre_approval_required,
    }
    if terms.covered:
        patient_pays, insurer_pays = coverage.split(amount, terms.copay_percent)
        answer |= {
            "copay_percent": terms.copay_percent,
            "patient_pays": patient_pays,
            "insurer_pays": insurer_pays,
        }
    return answer


def service_list_for(clinic) -> list[Service]:
    return list(Service.objects.for_clinic(clinic).filter(is_active=True).order_by("pk"))


def rating_queue(*, status: str = "pending", cursor: str | None = None, limit: int = 50) -> Page:
    """Ratings for the platform to review (or already reviewed), oldest first."""
    from shifa.core.pagination import paginate

    from .models import Rating

    qs = Rating.unscoped.select_related("clinic", "doctor", "patient", "appointment").filter(status=status)
    return paginate(qs, cursor=cursor, limit=limit)


def published_ratings(*, clinic, doctor, limit: int = 20) -> list:
    """What patients said of a doctor at a clinic, newest first (published ones only)."""
    from .models import Rating, RatingStatus

    return list(
        Rating.objects.for_clinic(clinic)
        .filter(doctor=doctor, status=RatingStatus.PUBLISHED)
        .order_by("-created_at")[:limit]
    )

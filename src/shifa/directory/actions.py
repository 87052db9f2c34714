"""Writes of the directory: services and their prices, areas, insurers, profiles, photos; and the search read
model, rebuilt whenever what it summarizes changes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.translation import gettext as _

from shifa.core import places
from shifa.core.errors import FieldError, NotFound, ValidationFailed

from .models import Price, Service, VisitType

MAX_PRICE = Decimal("100000.000")


def _amount(raw, field: str) -> tuple[Decimal | None, FieldError | None]:
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        return None, FieldError(field, "invalid", _("Enter an amount in JOD, e.g. 25.500."))
    if not value.is_finite() or value < 0 or value > MAX_PRICE:
        return None, FieldError(field, "out_of_range", _("Enter an amount from 0 to 100000 JOD."))
    if value != value.quantize(Decimal("0.001")):
        return None, FieldError(field, "too_precise", _("JOD have three decimal places at most."))
    return value.quantize(Decimal("0.001")), None


def service_save(
    *, actor, name_ar: str, name_en: str, prices: list[dict], service_id=None, is_active: bool = True
) -> Service:
    """Create or change a service with all its prices (replaced whole). Each price has a visit type, an amount
    and, for a doctor's own price, the doctor."""
    from shifa.tenancy.queries import clinic_doctor

    clinic = actor.require_clinic()
    errors = []
    if not name_ar.strip():
        errors.append(FieldError("name_ar", "required", _("This field is required.")))
    if not name_en.strip():
        errors.append(FieldError("name_en", "required", _("This field is required.")))
    rows, seen = [], set()
    doctors = {}
    for index, price in enumerate(prices):
        field = f"prices.{index}"
        visit_type = price.get("visit_type")
        if visit_type not in VisitType.values:
            errors.append(
                FieldError(f"{field}.visit_type", "invalid_choice", _("Choose office, video or home."))
            )
            continue
        amount, error = _amount(price.get("amount"), f"{field}.amount")
        if error:
            errors.append(error)
            continue
        doctor = None
        if price.get("doctor_id"):
            key = str(price["doctor_id"])
            doctor = doctors.get(key) or clinic_doctor(clinic, key)
            if doctor is None:
                errors.append(
                    FieldError(f"{field}.doctor_id", "not_a_doctor", _("Choose a doctor of this clinic."))
                )
                continue
            doctors[key] = doctor
        identity = (visit_type, doctor.pk if doctor else None)
        if identity in seen:
            errors.append(FieldError(field, "duplicate", _("One price per visit type (and doctor).")))
            continue
        seen.add(identity)
        rows.append((visit_type, doctor, amount))
    if errors:
        raise ValidationFailed(errors=errors)
    with transaction.atomic():
        if service_id is None:
            service = Service.objects.for_clinic(clinic).create(
                clinic=clinic, name_ar=name_ar.strip(), name_en=name_en.strip(), is_active=is_active
            )
        else:
            service = (
                Service.objects.for_clinic(clinic).select_for_update().filter(external_id=service_id).first()
            )
            if service is None:
                raise NotFound()
            service.name_ar, service.name_en, service.is_active = name_ar.strip(), name_en.strip(), is_active
            service.save(update_fields=["name_ar", "name_en", "is_active", "updated_at"])
            Price.objects.for_clinic(clinic).filter(service=service).delete()
        Price.objects.for_clinic(clinic).bulk_create(
            [Price(clinic=clinic, service=service, visit_type=v, doctor=d, amount=a) for v, d, a in rows]
        )
        listing_changed(clinic)
    return service


def service_area_save(
    *,
    actor,
    name: str,
    shape: str,
    polygon: list | None = None,
    center_lat=None,
    center_lng=None,
    radius_km=None,
    travel_buffer_minutes: int = 30,
    area_id=None,
):
    """Draw (or redraw) a home-visit area: a polygon of [lat, lng] corners or a radius around a point."""
    from . import geometry
    from .models import AreaShape, ServiceArea

    clinic = actor.require_clinic()
    errors = []
    if not name.strip():
        errors.append(FieldError("name", "required", _("This field is required.")))
    if not 0 <= travel_buffer_minutes <= 240:
        errors.append(FieldError("travel_buffer_minutes", "out_of_range", _("Between 0 and 240 minutes.")))
    if shape == AreaShape.POLYGON:
        problem = geometry.polygon_problem(polygon or [])
        if problem:
            errors.append(
                FieldError(
                    "polygon",
                    "invalid_area",
                    _("Draw an area of at least three corners that does not cross itself."),
                )
            )
        center_lat = center_lng = radius_km = None
    elif shape == AreaShape.RADIUS:
        try:
            lat, lng, radius = float(center_lat), float(center_lng), float(radius_km)
            if not (-90 <= lat <= 90 and -180 <= lng <= 180):
                raise ValueError
            if not 0 < radius <= 200:
                errors.append(FieldError("radius_km", "out_of_range", _("A radius from 0 to 200 km.")))
        except (TypeError, ValueError):
            errors.append(
                FieldError("center_lat", "invalid", _("Give the centre as latitude and longitude."))
            )
        polygon = []
    else:
        errors.append(FieldError("shape", "invalid_choice", _("Choose a drawn area or a radius.")))
    if errors:
        raise ValidationFailed(errors=errors)
    values = {
        "name": name.strip()[:100],
        "shape": shape,
        "polygon": [[float(a), float(b)] for a, b in (polygon or [])],
        "center_lat": None if center_lat is None else Decimal(str(center_lat)).quantize(Decimal("0.000001")),
        "center_lng": None if center_lng is None else Decimal(str(center_lng)).quantize(Decimal("0.000001")),
        "radius_km": None if radius_km is None else Decimal(str(radius_km)).quantize(Decimal("0.01")),
        "travel_buffer_minutes": travel_buffer_minutes,
    }
    with transaction.atomic():
        listing_changed(clinic)
        if area_id is None:
            return ServiceArea.objects.for_clinic(clinic).create(clinic=clinic, **values)
        area = ServiceArea.objects.for_clinic(clinic).select_for_update().filter(external_id=area_id).first()
        if area is None:
            raise NotFound()
        for key, value in values.items():
            setattr(area, key, value)
        area.save()
        return area


def insurance_partner_save(
    *,
    actor,
    insurer_code: str,
    copay_percent,
    covered_service_ids: list,
    pre_approval_required: bool,
    is_active: bool = True,
):
    """Accept an insurer (or change the terms): the patient's share, the covered services (none listed: all),
    whether visits need the insurer's approval first."""
    from shifa.catalog.models import InsuranceCompany

    from .models import InsurancePartner

    clinic = actor.require_clinic()
    errors = []
    insurer = InsuranceCompany.objects.filter(code=insurer_code, is_active=True).first()
    if insurer is None:
        errors.append(FieldError("insurer", "invalid_choice", _("Choose an insurer from the list.")))
    try:
        share = Decimal(str(copay_percent))
        if not share.is_finite() or not 0 <= share <= 100 or share != share.quantize(Decimal("0.01")):
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors.append(
            FieldError(
                "copay_percent", "out_of_range", _("A percentage from 0 to 100, at most two decimals.")
            )
        )
        share = None
    services = list(Service.objects.for_clinic(clinic).filter(external_id__in=covered_service_ids))
    if len(services) != len(set(map(str, covered_service_ids))):
        errors.append(FieldError("covered_services", "invalid_choice", _("Choose services of this clinic.")))
    if errors:
        raise ValidationFailed(errors=errors)
    with transaction.atomic():
        partner, _created = InsurancePartner.objects.for_clinic(clinic).update_or_create(
            clinic=clinic,
            insurer=insurer,
            defaults={
                "copay_percent": share,
                "pre_approval_required": pre_approval_required,
                "is_active": is_active,
            },
        )
        partner.covered_services.set(services)
        listing_changed(clinic)
    return partner


LANGUAGE_CODES = {"ar", "en", "fr", "de", "es", "ru", "tr", "it", "hi", "ur", "fa", "he", "zh"}


def doctor_profile_save(
    *,
    actor,
    doctor_id,
    gender: str,
    specialty_codes: list[str],
    qualifications: str = "",
    languages: list[str],
    bio_ar: str = "",
    bio_en: str = "",
    minutes: dict,
    on_duty: bool = False,
):
    """Write how a doctor of the clinic is presented and booked: specialties, languages, gender, bio, how long a
    consultation lasts per visit type (the visit types offered), and whether they take urgent video calls."""
    from shifa.catalog.models import Specialty
    from shifa.tenancy.queries import clinic_doctor

    from .models import DoctorProfile, Gender

    clinic = actor.require_clinic()
    errors = []
    doctor = clinic_doctor(clinic, doctor_id)
    if doctor is None:
        raise ValidationFailed(
            errors=[FieldError("doctor", "not_a_doctor", _("Choose a doctor of this clinic."))]
        )
    if gender not in Gender.values:
        errors.append(FieldError("gender", "invalid_choice", _("Choose female or male.")))
    specialties = list(Specialty.objects.filter(code__in=specialty_codes, is_active=True))
    if len(specialties) != len(set(specialty_codes)) or not specialties:
        errors.append(
            FieldError("specialties", "invalid_choice", _("Choose at least one specialty from the list."))
        )
    if not languages or not set(languages) <= LANGUAGE_CODES:
        errors.append(FieldError("languages", "invalid_choice", _("Choose the languages the doctor speaks.")))
    clean_minutes = {}
    for visit_type, value in (minutes or {}).items():
        if visit_type not in VisitType.values or not isinstance(value, int) or not 5 <= value <= 240:
            errors.append(
                FieldError(
                    f"minutes.{visit_type}", "out_of_range", _("From 5 to 240 minutes per visit type.")
                )
            )
        else:
            clean_minutes[visit_type] = value
    if not clean_minutes and not errors:
        errors.append(FieldError("minutes", "required", _("Offer at least one visit type.")))
    if on_duty and VisitType.VIDEO not in clean_minutes:
        errors.append(
            FieldError("on_duty", "needs_video", _("Only a doctor who offers video visits can be on duty."))
        )
    if errors:
        raise ValidationFailed(errors=errors)
    with transaction.atomic():
        profile, _created = DoctorProfile.objects.for_clinic(clinic).update_or_create(
            clinic=clinic,
            doctor=doctor,
            defaults={
                "gender": gender,
                "qualifications": qualifications.strip()[:2000],
                "languages": sorted(set(languages)),
                "bio_ar": bio_ar.strip()[:4000],
                "bio_en": bio_en.strip()[:4000],
                "minutes": clean_minutes,
                "on_duty": on_duty,
            },
        )
        profile.specialties.set(specialties)
        listing_changed(clinic, doctor)
    return profile


def clinic_profile_save(
    *,
    actor,
    address_ar: str,
    address_en: str,
    latitude: float,
    longitude: float,
    phone: str = "",
    languages: list[str],
    facilities: list[str],
):
    """Write the clinic's address (both languages), map location, phone, languages and facilities."""
    from shifa.accounts.actions import normalize_phone

    from .models import ClinicProfile, Facility

    clinic = actor.require_clinic()
    errors = []
    for field, value in {"address_ar": address_ar, "address_en": address_en}.items():
        if not value.strip():
            errors.append(FieldError(field, "required", _("This field is required.")))
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        errors.append(
            FieldError("latitude", "out_of_range", _("Give the location as latitude and longitude."))
        )
    if not languages or not set(languages) <= LANGUAGE_CODES:
        errors.append(
            FieldError("languages", "invalid_choice", _("Choose the languages spoken at the clinic."))
        )
    if not set(facilities) <= set(Facility.values):
        errors.append(FieldError("facilities", "invalid_choice", _("Choose facilities from the list.")))
    try:
        phone = normalize_phone(phone)
    except ValidationFailed as exc:
        errors += exc.errors
    if errors:
        raise ValidationFailed(errors=errors)
    with transaction.atomic():
        profile, _created = ClinicProfile.objects.for_clinic(clinic).update_or_create(
            clinic=clinic,
            defaults={
                "address_ar": address_ar.strip()[:300],
                "address_en": address_en.strip()[:300],
                "latitude": Decimal(str(latitude)).quantize(Decimal("0.000001")),
                "longitude": Decimal(str(longitude)).quantize(Decimal("0.000001")),
                "phone": phone,
                "languages": sorted(set(languages)),
                "facilities": sorted(set(facilities)),
            },
        )
        listing_changed(clinic)
    return profile


CLINIC_PHOTOS_MAX = 12
PHOTO_LONGEST_SIDE = 1600


def clinic_photo_add(*, actor, upload, caption_ar: str = "", caption_en: str = ""):
    """Add a photo of the clinic. Any JPEG, PNG or WebP image is accepted up to the upload limit; it is decoded
    and written again as JPEG — which drops camera metadata such as location — at most 1600 pixels wide or
    high. A file that is not an image, or a decompression bomb, is refused and nothing is stored."""
    import io
    import uuid
    import warnings

    from django.conf import settings
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from PIL import Image, ImageOps, UnidentifiedImageError

    from .models import ClinicPhoto

    clinic = actor.require_clinic()
    errors = []
    if upload is None:
        errors.append(FieldError("image", "required", _("Choose a photo.")))
    elif upload.size > settings.SHIFA_UPLOAD_FILE_BYTES:
        errors.append(FieldError("image", "too_large", _("A photo may be at most 5 MB.")))
    for field, value in {"caption_ar": caption_ar, "caption_en": caption_en}.items():
        if len(value.strip()) > 200:
            errors.append(FieldError(field, "too_long", _("At most 200 characters.")))
    if errors:
        raise ValidationFailed(errors=errors)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            upload.seek(0)
            picture = Image.open(upload)
            if picture.format not in {"JPEG", "PNG", "WEBP"}:
                raise UnidentifiedImageError(picture.format)
            picture = ImageOps.exif_transpose(picture)
            picture.thumbnail((PHOTO_LONGEST_SIDE, PHOTO_LONGEST_SIDE))
            picture = picture.convert("RGB")
            out = io.BytesIO()
            picture.save(out, "JPEG", quality=85, optimize=True)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError, Warning):
        raise ValidationFailed(
            errors=[FieldError("image", "invalid_type", _("Choose a JPEG, PNG or WebP photo."))]
        ) from None
    with transaction.atomic():
        # One writer at a time per clinic, so two uploads at once cannot both pass the limit.
        Clinic = type(clinic)
        Clinic.objects.select_for_update().filter(pk=clinic.pk).first()
        photos = ClinicPhoto.objects.for_clinic(clinic)
        if photos.count() >= CLINIC_PHOTOS_MAX:
            raise ValidationFailed(
                errors=[FieldError("image", "too_many", _("A clinic may show at most 12 photos."))]
            )
        path = default_storage.save(
            f"clinic-photos/{clinic.external_id}/{uuid.uuid4()}.jpg", ContentFile(out.getvalue())
        )
        try:
            last = photos.order_by("-position").values_list("position", flat=True).first()
            return photos.create(
                clinic=clinic,
                image=path,
                width=picture.width,
                height=picture.height,
                caption_ar=caption_ar.strip(),
                caption_en=caption_en.strip(),
                position=(last or 0) + 1,
            )
        except Exception:
            default_storage.delete(path)
            raise


def clinic_photo_remove(*, actor, photo_id) -> None:
    from django.core.files.storage import default_storage

    from shifa.core.errors import NotFound

    from .models import ClinicPhoto

    clinic = actor.require_clinic()
    with transaction.atomic():
        photo = (
            ClinicPhoto.objects.for_clinic(clinic).select_for_update().filter(external_id=photo_id).first()
        )
        if photo is None:
            raise NotFound()
        path = photo.image
        photo.delete()
        transaction.on_commit(lambda: default_storage.delete(path))


# --- the search read model (BK-1) -------------------------------------------------------------------------------

#: How far ahead a listing knows the doctor's free days.
LISTING_DAYS = 30


def listing_changed(clinic, doctor=None) -> None:
    """Something a patient searches on changed at ``clinic`` (for one doctor, or for all of them): queue the
    listing's rebuild. Deferred in the caller's transaction; a rebuild already waiting absorbs this one."""
    from procrastinate.exceptions import AlreadyEnqueued

    from .tasks import refresh_listings

    doctor_pk = doctor.pk if doctor is not None else None
    lock = f"listing:{clinic.pk}:{doctor_pk or '*'}"
    try:
        with transaction.atomic():
            refresh_listings.configure(queueing_lock=lock).defer(clinic_id=clinic.pk, doctor_id=doctor_pk)
    except AlreadyEnqueued:
        pass


def _home_box(areas) -> dict | None:
    """The bounds (degrees) of the clinic's home-visit areas, for a first filter in SQL."""
    from . import geometry

    boxes = [geometry.bounds(area) for area in areas]
    if not boxes:
        return None
    return {
        "south": min(b[0] for b in boxes),
        "west": min(b[1] for b in boxes),
        "north": max(b[2] for b in boxes),
        "east": max(b[3] for b in boxes),
    }


def listing_refresh(*, clinic, doctor):
    """Rebuild one doctor's listing at one clinic from the tables it summarizes; remove it when the doctor no
    longer works there or has no profile."""
    from shifa.core import timezones
    from shifa.scheduling.queries import doctor_slots
    from shifa.tenancy.models import ClinicStatus
    from shifa.tenancy.policies import licence_allows_bookings
    from shifa.tenancy.queries import clinic_doctor

    from . import queries
    from .models import ClinicProfile, DoctorListing, DoctorProfile, InsurancePartner, Service, ServiceArea

    profile = (
        DoctorProfile.objects.for_clinic(clinic).filter(doctor=doctor).prefetch_related("specialties").first()
    )
    if profile is None or clinic_doctor(clinic, doctor.external_id) is None:
        DoctorListing.objects.for_clinic(clinic).filter(doctor=doctor).delete()
        return None
    now = timezones.now()
    place = ClinicProfile.objects.for_clinic(clinic).first()
    areas = list(ServiceArea.objects.for_clinic(clinic).filter(is_active=True))
    specialties = list(profile.specialties.all())
    services = list(Service.objects.for_clinic(clinic).filter(is_active=True))
    offered = [v for v in profile.visit_types if v != VisitType.HOME or areas]
    today = timezones.to_local(now, clinic.time_zone).date()
    values: dict = {
        "doctor_name": doctor.full_name,
        "clinic_name_ar": clinic.name_ar,
        "clinic_name_en": clinic.name_en,
        "city": clinic.city,
        "search_text": " ".join(
            [
                doctor.full_name,
                clinic.name_en,
                clinic.name_ar,
                clinic.city,
                *(places.city_names(clinic.city) or ()),
            ]
            + [name for s in specialties for name in (s.name_en, s.name_ar)]
        ).lower(),
        "specialties": sorted(s.code for s in specialties),
        "visit_types": offered,
        "languages": sorted(profile.languages or []),
        "insurers": sorted(
            InsurancePartner.objects.for_clinic(clinic)
            .filter(is_active=True, insurer__is_active=True)
            .values_list("insurer__code", flat=True)
        ),
        "gender": profile.gender,
        "latitude": place.latitude if place else None,
        "longitude": place.longitude if place else None,
        "home_box": _home_box(areas),
        "bookable": clinic.status == ClinicStatus.ACTIVE
        and licence_allows_bookings(clinic)
        and bool(offered),
        "refreshed_at": now,
    }
    for visit_type in VisitType.values:
        prices = [
            p.amount
            for s in services
            if (p := queries.price_for(clinic=clinic, service=s, visit_type=visit_type, doctor=doctor))
        ]
        values[f"price_{visit_type}"] = min(prices) if prices and visit_type in offered else None
        slots = []
        if visit_type in offered and values["bookable"]:
            travel = min(a.travel_buffer_minutes for a in areas) if visit_type == VisitType.HOME else 0
            slots = doctor_slots(
                clinic=clinic,
                doctor=doctor,
                visit_type=visit_type,
                first_day=today,
                last_day=today + dt.timedelta(days=LISTING_DAYS - 1),
                now=now,
                travel_minutes=travel,
            )
        values[f"next_{visit_type}"] = slots[0].starts_at if slots else None
        values[f"days_{visit_type}"] = sorted(
            {timezones.to_local(s.starts_at, clinic.time_zone).date() for s in slots}
        )
    from django.db.models import Avg, Count

    from .models import Rating, RatingStatus

    rated = (
        Rating.objects.for_clinic(clinic)
        .filter(doctor=doctor, status=RatingStatus.PUBLISHED)
        .aggregate(average=Avg("stars"), count=Count("pk"))
    )
    values["rating"] = Decimal(rated["average"]).quantize(Decimal("0.01")) if rated["average"] else None
    values["rating_count"] = rated["count"]
    firsts = [values[f"next_{v}"] for v in VisitType.values if values[f"next_{v}"]]
    values["next_any"] = min(firsts) if firsts else None
    listing, _created = DoctorListing.objects.for_clinic(clinic).update_or_create(
        clinic=clinic, doctor=doctor, defaults=values
    )
    return listing


def listings_refresh(*, clinic_pk: int, doctor_pk: int | None = None) -> int:
    """Rebuild the listings of one clinic (every doctor, or one); how many were looked at."""
    from shifa.access import catalog
    from shifa.accounts.models import User
    from shifa.tenancy.models import Clinic

    from .models import DoctorListing

    clinic = Clinic.objects.filter(pk=clinic_pk).first()
    if clinic is None:
        return 0
    if doctor_pk is not None:
        doctors = list(User.objects.filter(pk=doctor_pk))
    else:
        from shifa.tenancy.models import Membership

        ids = set(
            Membership.objects.for_clinic(clinic)
            .filter(role__code__in=[catalog.DOCTOR, catalog.ASSISTANT_DOCTOR])
            .values_list("user_id", flat=True)
        ) | set(DoctorListing.objects.for_clinic(clinic).values_list("doctor_id", flat=True))
        doctors = list(User.objects.filter(pk__in=ids))
    for doctor in doctors:
        with transaction.atomic():
            listing_refresh(clinic=clinic, doctor=doctor)
    return len(doctors)


def listings_refresh_stale(*, limit: int = 500) -> int:
    """The safety net: rebuild listings whose first free slot has passed or that have not been rebuilt for six
    hours (time moves on even when nothing changes)."""
    from django.db.models import Q

    from shifa.core import timezones

    from .models import DoctorListing

    now = timezones.now()
    stale = (
        DoctorListing.unscoped.filter(Q(next_any__lt=now) | Q(refreshed_at__lt=now - dt.timedelta(hours=6)))
        .order_by("refreshed_at")
        .values_list("clinic_id", "doctor_id")[:limit]
    )
    done = 0
    for clinic_pk, doctor_pk in list(stale):
        done += listings_refresh(clinic_pk=clinic_pk, doctor_pk=doctor_pk)
    return done


# --- ratings (BK-6) -----------------------------------------------------------------------------------------------


def rating_submit(*, actor, appointment_id, stars, comment: str = ""):
    """The patient rates their own completed visit, once: 1 to 5 stars and an optional comment. It waits for the
    platform's review before it is shown."""
    from django.db import IntegrityError

    from shifa.core.errors import Conflict
    from shifa.records.queries import patient_for_user
    from shifa.scheduling.models import Appointment, AppointmentStatus

    from .models import Rating

    patient = patient_for_user(actor.user)
    appointment = (
        Appointment.unscoped.select_related("clinic")
        .filter(patient=patient, external_id=appointment_id)
        .first()
        if patient
        else None
    )
    if appointment is None:
        raise NotFound()
    errors = []
    if not isinstance(stars, int) or isinstance(stars, bool) or not 1 <= stars <= 5:
        errors.append(FieldError("stars", "out_of_range", _("Give from 1 to 5 stars.")))
    if len(comment) > 1000:
        errors.append(FieldError("comment", "too_long", _("At most 1000 characters.")))
    if errors:
        raise ValidationFailed(errors=errors)
    if appointment.status != AppointmentStatus.COMPLETED:
        raise Conflict(_("Only a completed visit can be rated."), code="not_completed")
    try:
        with transaction.atomic():
            return Rating.objects.for_clinic(appointment.clinic).create(
                clinic=appointment.clinic,
                appointment=appointment,
                doctor_id=appointment.doctor_id,
                patient=patient,
                stars=stars,
                comment=comment.strip(),
            )
    except IntegrityError:
        raise Conflict(_("This visit is already rated."), code="already_rated") from None


def rating_review(*, actor, rating_id, publish: bool, note: str = ""):
    """The platform publishes a rating (it then counts in search) or rejects it (abuse, personal data)."""
    from shifa.core import timezones

    from .models import Rating, RatingStatus

    with transaction.atomic():
        rating = (
            Rating.unscoped.select_for_update()
            .select_related("clinic", "doctor")
            .filter(external_id=rating_id)
            .first()
        )
        if rating is None:
            raise NotFound()
        if not publish and not note.strip():
            raise ValidationFailed(
                errors=[FieldError("note", "required", _("Say why the rating is rejected."))]
            )
        rating.status = RatingStatus.PUBLISHED if publish else RatingStatus.REJECTED
        rating.moderated_by = actor.user
        rating.moderated_at = timezones.now()
        rating.moderation_note = note.strip()[:300]
        rating.save(update_fields=["status", "moderated_by", "moderated_at", "moderation_note", "updated_at"])
        listing_changed(rating.clinic, rating.doctor)
        return rating

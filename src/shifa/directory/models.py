"""What a clinic offers and for how much: services, and their prices per visit type, clinic-wide or for one
doctor (CL-2). Prices are JOD with three decimals."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils.translation import gettext_lazy as _

from shifa.core.models import NamedInTwoLanguages
from shifa.tenancy.models import TenantModel


class VisitType(models.TextChoices):
    OFFICE = "office", _("At the clinic")
    VIDEO = "video", _("Video")
    HOME = "home", _("Home visit")


class Service(NamedInTwoLanguages, TenantModel):
    name_ar = models.CharField(_("name (Arabic)"), max_length=200)
    name_en = models.CharField(_("name (English)"), max_length=200)
    is_active = models.BooleanField(_("offered"), default=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("service")
        verbose_name_plural = _("services")


class Price(TenantModel):
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="prices")
    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("doctor"),
        help_text=_("Empty: the clinic's price for every doctor"),
    )
    visit_type = models.CharField(_("visit type"), max_length=10, choices=VisitType.choices)
    amount = models.DecimalField(_("price (JOD)"), max_digits=10, decimal_places=3)

    class Meta(TenantModel.Meta):
        verbose_name = _("price")
        verbose_name_plural = _("prices")
        constraints = [
            models.UniqueConstraint(
                fields=["service", "visit_type"],
                condition=models.Q(doctor__isnull=True),
                name="directory_one_clinic_price",
            ),
            models.UniqueConstraint(
                fields=["service", "doctor", "visit_type"],
                condition=models.Q(doctor__isnull=False),
                name="directory_one_doctor_price",
            ),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="directory_price_not_negative"),
        ]


class AreaShape(models.TextChoices):
    POLYGON = "polygon", _("Drawn area")
    RADIUS = "radius", _("Distance around a point")


class ServiceArea(TenantModel):
    """Where the clinic makes home visits: a polygon (a list of [lat, lng] corners) or a radius around a point;
    with the travel time kept free between two home visits."""

    name = models.CharField(_("name"), max_length=100)
    shape = models.CharField(_("shape"), max_length=10, choices=AreaShape.choices)
    polygon = models.JSONField(_("corners"), default=list, blank=True)
    center_lat = models.DecimalField(
        _("centre latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    center_lng = models.DecimalField(
        _("centre longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    radius_km = models.DecimalField(_("radius (km)"), max_digits=6, decimal_places=2, null=True, blank=True)
    travel_buffer_minutes = models.PositiveSmallIntegerField(
        _("travel time between visits (minutes)"), default=30
    )
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("home-visit area")
        verbose_name_plural = _("home-visit areas")


class InsurancePartner(TenantModel):
    """An insurer the clinic accepts, and on what terms (CL-4)."""

    insurer = models.ForeignKey(
        "catalog.InsuranceCompany", on_delete=models.PROTECT, related_name="+", verbose_name=_("insurer")
    )
    copay_percent = models.DecimalField(_("patient's share (%)"), max_digits=5, decimal_places=2)
    covered_services = models.ManyToManyField(
        Service, blank=True, related_name="+", verbose_name=_("covered services")
    )
    pre_approval_required = models.BooleanField(_("needs pre-approval"), default=False)
    is_active = models.BooleanField(_("accepted"), default=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("insurance partner")
        verbose_name_plural = _("insurance partners")
        constraints = [
            models.UniqueConstraint(fields=["clinic", "insurer"], name="directory_one_partnership"),
            models.CheckConstraint(
                condition=models.Q(copay_percent__gte=0, copay_percent__lte=100), name="directory_copay_range"
            ),
        ]


class Gender(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")


class DoctorProfile(TenantModel):
    """How a doctor is presented and booked at this clinic (CL-5)."""

    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("doctor")
    )
    specialties = models.ManyToManyField(
        "catalog.Specialty", blank=True, related_name="+", verbose_name=_("specialties")
    )
    qualifications = models.TextField(_("qualifications"), blank=True)
    languages = models.JSONField(_("languages spoken"), default=list, blank=True)
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices)
    bio_ar = models.TextField(_("about (Arabic)"), blank=True)
    bio_en = models.TextField(_("about (English)"), blank=True)
    minutes = models.JSONField(_("consultation length per visit type (minutes)"), default=dict, blank=True)
    on_duty = models.BooleanField(_("on duty for urgent video"), default=False)

    class Meta(TenantModel.Meta):
        verbose_name = _("doctor profile")
        verbose_name_plural = _("doctor profiles")
        constraints = [
            models.UniqueConstraint(fields=["clinic", "doctor"], name="directory_one_profile_per_clinic")
        ]

    @property
    def visit_types(self) -> list[str]:
        """The visit types the doctor offers here: those with a consultation length."""
        return [v for v in VisitType.values if self.minutes.get(v)]


class Facility(models.TextChoices):
    PARKING = "parking", _("Parking")
    WHEELCHAIR = "wheelchair", _("Wheelchair access")
    ELEVATOR = "elevator", _("Elevator")
    PHARMACY = "pharmacy", _("Pharmacy")
    LABORATORY = "laboratory", _("Laboratory")
    XRAY = "xray", _("X-ray")
    PRAYER_ROOM = "prayer_room", _("Prayer room")
    WIFI = "wifi", _("Wi-Fi")
    CHILDREN = "children", _("Children's corner")


class ClinicProfile(TenantModel):
    """How the clinic presents itself: address in both languages, map location, languages, facilities (CL-1)."""

    address_ar = models.CharField(_("address (Arabic)"), max_length=300)
    address_en = models.CharField(_("address (English)"), max_length=300)
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6)
    phone = models.CharField(_("phone"), max_length=16, blank=True)
    languages = models.JSONField(_("languages spoken"), default=list, blank=True)
    facilities = models.JSONField(_("facilities"), default=list, blank=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("clinic profile")
        verbose_name_plural = _("clinic profiles")
        constraints = [models.UniqueConstraint(fields=["clinic"], name="directory_one_clinic_profile")]


class ClinicPhoto(TenantModel):
    """A photo of the clinic shown to patients: re-encoded on upload (no camera metadata kept), at most
    1600 pixels on its longer side."""

    image = models.CharField(_("file"), max_length=200)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    caption_ar = models.CharField(_("caption (Arabic)"), max_length=200, blank=True)
    caption_en = models.CharField(_("caption (English)"), max_length=200, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta(TenantModel.Meta):
        verbose_name = _("clinic photo")
        verbose_name_plural = _("clinic photos")
        ordering = ["position", "pk"]


class DoctorListing(TenantModel):
    """The search read model (BK-1): one row per doctor per clinic, with everything a patient filters and sorts
    on, precomputed from the clinic's configuration, the doctor's calendar and ratings. Rebuilt by a job when any
    of those change (``directory.actions.listing_changed``), never computed per query."""

    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("doctor")
    )
    bookable = models.BooleanField(_("shown to patients"), default=False)
    doctor_name = models.CharField(_("doctor's name"), max_length=200)
    clinic_name_ar = models.CharField(_("clinic name (Arabic)"), max_length=200)
    clinic_name_en = models.CharField(_("clinic name (English)"), max_length=200)
    city = models.CharField(_("city"), max_length=100, blank=True)
    search_text = models.TextField(_("searchable words"), blank=True)
    specialties = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    visit_types = ArrayField(models.CharField(max_length=10), default=list, blank=True)
    languages = ArrayField(models.CharField(max_length=8), default=list, blank=True)
    insurers = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    gender = models.CharField(_("gender"), max_length=10, blank=True)
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    #: The box around the clinic's home-visit areas, so that a search for home visits filters in SQL first.
    home_box = models.JSONField(_("home-visit areas' bounds"), null=True, blank=True)
    rating = models.DecimalField(_("rating"), max_digits=3, decimal_places=2, null=True, blank=True)
    rating_count = models.PositiveIntegerField(_("ratings"), default=0)
    price_office = models.DecimalField(max_digits=10, decimal_places=3, null=True, blank=True)
    price_video = models.DecimalField(max_digits=10, decimal_places=3, null=True, blank=True)
    price_home = models.DecimalField(max_digits=10, decimal_places=3, null=True, blank=True)
    next_office = models.DateTimeField(null=True, blank=True)
    next_video = models.DateTimeField(null=True, blank=True)
    next_home = models.DateTimeField(null=True, blank=True)
    next_any = models.DateTimeField(null=True, blank=True)
    #: Local days (ISO dates) with at least one free slot, per visit type, over the listing window.
    days_office = ArrayField(models.DateField(), default=list, blank=True)
    days_video = ArrayField(models.DateField(), default=list, blank=True)
    days_home = ArrayField(models.DateField(), default=list, blank=True)
    refreshed_at = models.DateTimeField(_("refreshed"))

    class Meta(TenantModel.Meta):
        verbose_name = _("doctor listing")
        verbose_name_plural = _("doctor listings")
        constraints = [
            models.UniqueConstraint(fields=["clinic", "doctor"], name="directory_one_listing_per_doctor")
        ]
        indexes = [
            GinIndex(fields=["search_text"], opclasses=["gin_trgm_ops"], name="directory_listing_text_trgm"),
            GinIndex(fields=["specialties"], name="directory_listing_specialties"),
            models.Index(fields=["latitude", "longitude"], name="directory_listing_place"),
            models.Index(fields=["bookable", "next_any"], name="directory_listing_next"),
        ]


class RatingStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for review")
    PUBLISHED = "published", _("Published")
    REJECTED = "rejected", _("Rejected")


class Rating(TenantModel):
    """A patient's rating of a completed visit (BK-6): once per visit, 1 to 5 stars and a comment. The platform
    reviews it before it is shown; published ratings feed the search."""

    appointment = models.OneToOneField(
        "scheduling.Appointment",
        on_delete=models.PROTECT,
        related_name="rating",
        verbose_name=_("appointment"),
    )
    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("doctor")
    )
    patient = models.ForeignKey("records.Patient", on_delete=models.PROTECT, related_name="+")
    stars = models.PositiveSmallIntegerField(_("stars"))
    comment = models.TextField(_("comment"), blank=True, max_length=1000)
    status = models.CharField(
        _("status"), max_length=10, choices=RatingStatus.choices, default=RatingStatus.PENDING
    )
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    moderated_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    moderation_note = models.CharField(_("review note"), max_length=300, blank=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("rating")
        verbose_name_plural = _("ratings")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(stars__gte=1, stars__lte=5), name="directory_rating_stars"
            )
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="directory_rating_queue")]

"""When a clinic and its doctors work: weekly hours (breaks are the gaps between intervals), closures and
holidays, doctors' weekly schedules within the clinic's hours, and their time off (CL-1); the clinic's booking
rules; and appointments, which never overlap for one doctor (BK-4)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeOperators
from django.db import models
from django.utils.translation import gettext_lazy as _

from shifa.core.fields import EncryptedTextField
from shifa.core.models import Committable
from shifa.directory.models import VisitType
from shifa.tenancy.models import TenantModel


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class OpeningInterval(TenantModel):
    """One stretch of the clinic's opening hours on a weekday, in the clinic's local time."""

    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"))

    class Meta(TenantModel.Meta):
        verbose_name = _("opening hours")
        verbose_name_plural = _("opening hours")
        ordering = ["weekday", "opens"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(opens__lt=models.F("closes")), name="scheduling_opening_order"
            )
        ]


class Closure(TenantModel):
    """Days the clinic is closed (a holiday, renovation), inclusive."""

    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("closure")
        verbose_name_plural = _("closures")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(starts_on__lte=models.F("ends_on")), name="scheduling_closure_order"
            )
        ]


class DoctorInterval(TenantModel):
    """One stretch of a doctor's weekly schedule at this clinic, within the clinic's opening hours."""

    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("doctor")
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    starts = models.TimeField(_("starts"))
    ends = models.TimeField(_("ends"))

    class Meta(TenantModel.Meta):
        verbose_name = _("doctor's hours")
        verbose_name_plural = _("doctors' hours")
        ordering = ["doctor", "weekday", "starts"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(starts__lt=models.F("ends")), name="scheduling_doctor_order"
            )
        ]


class TimeOff(TenantModel):
    """A doctor's absence (leave, conference), as aware times."""

    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("doctor")
    )
    starts_at = models.DateTimeField(_("from"))
    ends_at = models.DateTimeField(_("until"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("time off")
        verbose_name_plural = _("time off")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(starts_at__lt=models.F("ends_at")), name="scheduling_timeoff_order"
            )
        ]


def default_reminder_hours() -> list[int]:
    return [24, 2]


class BookingPolicy(TenantModel):
    """How the clinic takes bookings. A clinic without one books with the defaults below."""

    notice_minutes = models.PositiveIntegerField(_("minimum notice (minutes)"), default=60)
    horizon_days = models.PositiveIntegerField(_("booking horizon (days)"), default=60)
    hold_minutes = models.PositiveIntegerField(_("hold while the patient confirms (minutes)"), default=10)
    cancel_hours = models.PositiveIntegerField(
        _("patients may cancel or move up to (hours before)"), default=12
    )
    step_minutes = models.PositiveIntegerField(
        _("a slot starts every (minutes)"), null=True, blank=True, help_text=_("Empty: back to back")
    )
    offer_minutes = models.PositiveIntegerField(
        _("a freed time is kept for the next waiting patient (minutes)"), default=30
    )
    reminder_hours = models.JSONField(
        _("remind patients (hours before)"), default=default_reminder_hours, blank=True
    )

    class Meta(TenantModel.Meta):
        verbose_name = _("booking policy")
        verbose_name_plural = _("booking policies")
        constraints = [
            models.UniqueConstraint(fields=["clinic"], name="scheduling_one_policy_per_clinic"),
            models.CheckConstraint(
                condition=models.Q(horizon_days__gte=1, horizon_days__lte=365, hold_minutes__gte=1),
                name="scheduling_policy_bounds",
            ),
        ]


class AppointmentStatus(models.TextChoices):
    HELD = "held", _("Held")
    BOOKED = "booked", _("Booked")
    CHECKED_IN = "checked_in", _("Checked in")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")
    NO_SHOW = "no_show", _("Did not come")
    EXPIRED = "expired", _("Hold expired")


#: Statuses that occupy the doctor's time: no two such appointments of one doctor may overlap.
OCCUPYING = (
    AppointmentStatus.HELD,
    AppointmentStatus.BOOKED,
    AppointmentStatus.CHECKED_IN,
    AppointmentStatus.COMPLETED,
)


class Channel(models.TextChoices):
    APP = "app", _("Patient app")
    DESK = "desk", _("Clinic desk")


class TsTzRange(models.Func):
    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class Appointment(TenantModel, Committable):
    """A visit of a patient with a doctor at a clinic: at the clinic, by video or at home (BK-3).

    A hold (``held``) keeps the slot for a few minutes while the patient confirms or pays; then it is booked or
    it expires. Once the visit is completed the appointment is committed and the database refuses changes.
    """

    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("doctor")
    )
    patient = models.ForeignKey(
        "records.Patient", on_delete=models.PROTECT, related_name="appointments", verbose_name=_("patient")
    )
    service = models.ForeignKey(
        "directory.Service",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("service"),
    )
    visit_type = models.CharField(_("visit type"), max_length=10, choices=VisitType.choices)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    status = models.CharField(
        _("status"), max_length=12, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED
    )
    hold_expires_at = models.DateTimeField(_("hold expires"), null=True, blank=True)
    channel = models.CharField(_("booked through"), max_length=8, choices=Channel.choices)
    booked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("booked by"),
    )
    price = models.DecimalField(_("price (JOD)"), max_digits=10, decimal_places=3, null=True, blank=True)
    # The reason and the home address are encrypted (PRODUCT.md §11): they cannot be searched or sorted in SQL.
    # Their length is bounded where they come in (the API's schemas, the forms, the booking action).
    reason = EncryptedTextField(_("reason for the visit"), blank=True)
    home_latitude = models.DecimalField(
        _("home latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    home_longitude = models.DecimalField(
        _("home longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    home_address = EncryptedTextField(_("home address"), blank=True)
    service_area = models.ForeignKey(
        "directory.ServiceArea",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("home-visit area"),
    )
    travel_minutes = models.PositiveIntegerField(_("travel time kept free around it (minutes)"), default=0)
    insurer = models.ForeignKey(
        "catalog.InsuranceCompany",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("insurer"),
    )
    checked_in_at = models.DateTimeField(_("checked in"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("cancelled by"),
    )
    cancellation_reason = models.CharField(_("why it was cancelled"), max_length=300, blank=True)
    rescheduled_from = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rescheduled_to",
        verbose_name=_("moved from"),
    )

    class Meta(TenantModel.Meta):
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        indexes = [
            models.Index(fields=["doctor", "starts_at"], name="scheduling_appt_doctor_time"),
            models.Index(fields=["clinic", "starts_at"], name="scheduling_appt_clinic_time"),
            models.Index(fields=["patient", "starts_at"], name="scheduling_appt_patient_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(starts_at__lt=models.F("ends_at")), name="scheduling_appointment_order"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="held") | models.Q(hold_expires_at__isnull=False),
                name="scheduling_hold_has_expiry",
            ),
            models.CheckConstraint(
                condition=~models.Q(visit_type="home")
                | models.Q(home_latitude__isnull=False, home_longitude__isnull=False),
                name="scheduling_home_visit_has_place",
            ),
            ExclusionConstraint(
                name="scheduling_no_double_booking",
                expressions=[
                    ("doctor", RangeOperators.EQUAL),
                    (TsTzRange("starts_at", "ends_at"), RangeOperators.OVERLAPS),
                ],
                condition=models.Q(status__in=[s.value for s in OCCUPYING]),
            ),
        ]

    @property
    def is_active(self) -> bool:
        return self.status in OCCUPYING


class WaitlistStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting")
    OFFERED = "offered", _("Offered a time")
    DONE = "done", _("Moved to an earlier time")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class WaitlistEntry(TenantModel):
    """A patient waiting for an earlier time with a doctor. When a booked time frees up, the first waiting patient
    is offered it (held for them for a while); if they let it pass, the next one is."""

    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("doctor")
    )
    patient = models.ForeignKey("records.Patient", on_delete=models.PROTECT, related_name="+")
    visit_type = models.CharField(_("visit type"), max_length=10, choices=VisitType.choices)
    appointment = models.ForeignKey(
        Appointment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="waitlist_entries",
        verbose_name=_("the appointment to bring forward"),
    )
    wanted_before = models.DateTimeField(_("wanted before"))
    status = models.CharField(
        _("status"), max_length=10, choices=WaitlistStatus.choices, default=WaitlistStatus.WAITING
    )
    offer = models.ForeignKey(
        Appointment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("offered"),
    )
    #: Times this patient let pass, so that they are not offered the same time again.
    passed = models.JSONField(default=list, blank=True)

    class Meta(TenantModel.Meta):
        verbose_name = _("waiting-list entry")
        verbose_name_plural = _("waiting list")
        indexes = [models.Index(fields=["doctor", "status", "created_at"], name="scheduling_waitlist_queue")]

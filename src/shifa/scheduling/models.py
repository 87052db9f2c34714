"""When a clinic and its doctors work: weekly hours (breaks are the gaps between intervals), closures and
holidays, doctors' weekly schedules within the clinic's hours, and their time off (CL-1)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

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

"""Building blocks of Family Doctor tests (also used by the generated route tests)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from shifa.core import timezones


def listed(clinic, doctor):
    """``doctor`` is listed on Shifa at ``clinic`` (the search read model says so)."""
    from shifa.directory.models import DoctorListing

    DoctorListing.unscoped.update_or_create(
        clinic=clinic,
        doctor=doctor,
        defaults={
            "bookable": True,
            "doctor_name": doctor.full_name,
            "clinic_name_ar": clinic.name_ar,
            "clinic_name_en": clinic.name_en,
            "search_text": f"{doctor.full_name} {clinic.name_en}".lower(),
            "refreshed_at": timezones.now(),
        },
    )
    return doctor


def subscribe(patient, *, days: int = 30, auto_renew: bool = False):
    """A real subscription (shifa.subscriptions) whose plan includes a family doctor, paid for ``days`` more."""
    from shifa.subscriptions.models import Plan, Subscription

    plan, _created = Plan.objects.get_or_create(
        name_en="Family",
        defaults={
            "name_ar": "العائلة",
            "price": Decimal("5.000"),
            "period": "monthly",
            "family_doctor": True,
        },
    )
    now = timezones.now()
    return Subscription.objects.create(
        patient=patient,
        plan=plan,
        source="paytabs",
        state="active",
        current_period_start=now - dt.timedelta(days=1),
        current_period_end=now + dt.timedelta(days=days),
        auto_renew=auto_renew,
        as_of=now,
    )

"""A clinic ready to take bookings, for the booking tests (API, pages, browser)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from shifa.catalog.actions import reference_list_load
from shifa.core import timezones
from shifa.directory.models import ClinicProfile, DoctorProfile, InsurancePartner, Price, Service, ServiceArea
from shifa.scheduling.models import DoctorInterval, OpeningInterval
from shifa.tenancy.models import Licence, Plan


def open_for_booking(cast):
    """Clinic A takes bookings: a licence, open 08:00-16:00 every day, its doctor offers 30-minute office, 20-minute
    video and 45-minute home visits, a consultation priced per visit type, a home-visit area around Abdoun."""
    clinic = cast.clinic_a
    today = timezones.now().date()
    plan = Plan.objects.create(code="basic", name_en="Basic", name_ar="أساسية", price=Decimal("25"), seats=10)
    Licence.unscoped.create(
        clinic=clinic,
        plan=plan,
        seats=10,
        starts_on=today - dt.timedelta(days=10),
        ends_on=today + dt.timedelta(days=300),
    )
    doctor = cast.staff_a["doctor"]
    for day in range(7):
        OpeningInterval.unscoped.create(clinic=clinic, weekday=day, opens=dt.time(8), closes=dt.time(16))
        DoctorInterval.unscoped.create(
            clinic=clinic, doctor=doctor, weekday=day, starts=dt.time(8), ends=dt.time(16)
        )
    DoctorProfile.unscoped.create(
        clinic=clinic, doctor=doctor, gender="female", minutes={"office": 30, "video": 20, "home": 45}
    )
    service = Service.unscoped.create(clinic=clinic, name_ar="كشف", name_en="Consultation")
    for visit_type, amount in (("office", "20.000"), ("video", "15.500"), ("home", "40.000")):
        Price.unscoped.create(clinic=clinic, service=service, visit_type=visit_type, amount=Decimal(amount))
    ServiceArea.unscoped.create(
        clinic=clinic,
        name="Abdoun",
        shape="radius",
        center_lat=Decimal("31.945"),
        center_lng=Decimal("35.885"),
        radius_km=Decimal("3"),
        travel_buffer_minutes=30,
    )
    reference_list_load("insurers")
    from shifa.catalog.models import InsuranceCompany

    InsurancePartner.unscoped.create(
        clinic=clinic, insurer=InsuranceCompany.objects.get(code="jic"), copay_percent=Decimal("20")
    )
    ClinicProfile.unscoped.create(
        clinic=clinic,
        address_ar="عبدون، عمّان",
        address_en="Abdoun, Amman",
        latitude=Decimal("31.950000"),
        longitude=Decimal("35.900000"),
        languages=["ar", "en"],
    )
    profile = DoctorProfile.unscoped.get(clinic=clinic, doctor=doctor)
    from shifa.catalog.models import Specialty

    reference_list_load("specialties")
    profile.specialties.set([Specialty.objects.get(code="pediatrics")])
    clinic.service = service
    clinic.doctor = doctor
    return clinic

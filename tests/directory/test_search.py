"""Finding a doctor across clinics (BK-1) from the search read model, which rebuilds when what it summarizes
changes; and the estimated insurance share before booking."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from procrastinate.contrib.django.models import ProcrastinateJob

from shifa.catalog.actions import reference_list_load
from shifa.catalog.models import InsuranceCompany, Specialty
from shifa.core import timezones
from shifa.directory.actions import listings_refresh
from shifa.directory.models import (
    ClinicProfile,
    DoctorListing,
    DoctorProfile,
    InsurancePartner,
    Price,
    Service,
    ServiceArea,
)
from shifa.scheduling.models import Closure, DoctorInterval, OpeningInterval
from shifa.tenancy.models import Licence, Plan
from tests.conftest import ApiClient


def open_clinic(clinic, doctor, *, lat, lng, specialty, gender, languages, minutes, price, plan):
    today = timezones.now().date()
    Licence.unscoped.create(
        clinic=clinic,
        plan=plan,
        seats=5,
        starts_on=today - dt.timedelta(days=5),
        ends_on=today + dt.timedelta(days=200),
    )
    ClinicProfile.unscoped.create(
        clinic=clinic, address_ar="عمّان", address_en="Amman", latitude=Decimal(lat), longitude=Decimal(lng)
    )
    for day in range(7):
        OpeningInterval.unscoped.create(clinic=clinic, weekday=day, opens=dt.time(9), closes=dt.time(17))
        DoctorInterval.unscoped.create(
            clinic=clinic, doctor=doctor, weekday=day, starts=dt.time(9), ends=dt.time(17)
        )
    profile = DoctorProfile.unscoped.create(
        clinic=clinic, doctor=doctor, gender=gender, languages=languages, minutes=minutes
    )
    profile.specialties.set([Specialty.objects.get(code=specialty)])
    service = Service.unscoped.create(clinic=clinic, name_ar="كشف", name_en="Consultation")
    for visit_type in minutes:
        Price.unscoped.create(clinic=clinic, service=service, visit_type=visit_type, amount=Decimal(price))
    return service


@pytest.fixture
def world(cast):
    """Clinic A in Amman (a paediatrician, office, video and home visits, accepts JIC) and clinic B in Irbid (a
    cardiologist, office visits only)."""
    reference_list_load("specialties")
    reference_list_load("insurers")
    plan = Plan.objects.create(code="basic", name_en="Basic", name_ar="أساسية", price=Decimal("25"), seats=10)
    service_a = open_clinic(
        cast.clinic_a,
        cast.staff_a["doctor"],
        lat="31.950000",
        lng="35.910000",
        specialty="pediatrics",
        gender="female",
        languages=["ar", "en"],
        minutes={"office": 30, "video": 20, "home": 45},
        price="20.000",
        plan=plan,
    )
    ServiceArea.unscoped.create(
        clinic=cast.clinic_a,
        name="Abdoun",
        shape="radius",
        center_lat=Decimal("31.945"),
        center_lng=Decimal("35.885"),
        radius_km=Decimal("3"),
        travel_buffer_minutes=30,
    )
    InsurancePartner.unscoped.create(
        clinic=cast.clinic_a, insurer=InsuranceCompany.objects.get(code="jic"), copay_percent=Decimal("20")
    )
    open_clinic(
        cast.clinic_b,
        cast.doctor_b,
        lat="32.550000",
        lng="35.850000",
        specialty="cardiology",
        gender="male",
        languages=["ar"],
        minutes={"office": 30},
        price="30.000",
        plan=plan,
    )
    for clinic in (cast.clinic_a, cast.clinic_b):
        listings_refresh(clinic_pk=clinic.pk)
    cast.service_a = service_a
    return cast


def search(**query):
    from urllib.parse import urlencode

    answer = ApiClient().get(f"/api/v1/search/doctors?{urlencode(query)}")
    assert answer.status_code == 200, answer.content
    return answer.json()


def names(result) -> list[str]:
    return [item["doctor"]["name"] for item in result["items"]]


A, B = "doctor of A", "Doctor of B"


def test_the_read_model_holds_what_patients_search_on(world):
    listing = DoctorListing.unscoped.get(doctor=world.staff_a["doctor"])
    assert listing.bookable and listing.specialties == ["pediatrics"]
    assert listing.visit_types == ["office", "video", "home"] and listing.insurers == ["jic"]
    assert listing.price_office == Decimal("20.000") and listing.next_office is not None
    # every day of the 30-day horizon has a free office time, today too while its hours are not over
    today = timezones.to_local(timezones.now(), "Asia/Amman").date()
    later = {today + dt.timedelta(days=n) for n in range(1, 30)}
    assert later <= set(listing.days_office) <= later | {today}
    assert listing.home_box["south"] < 31.945 < listing.home_box["north"]
    assert "طب الأطفال" in listing.search_text and "pediatrics" in listing.search_text


def test_search_by_words_in_either_language_and_with_a_typo(world):
    assert names(search(q="Pediatrics")) == [A]
    assert names(search(q="الأطفال")) == [A]
    assert names(search(q="cardiolgy")) == [B]  # a typo
    assert names(search(q="Clinic B")) == [B]
    assert names(search(q="dermatology")) == []
    assert sorted(names(search())) == sorted([A, B])


def test_filters_narrow_the_search(world):
    assert names(search(specialty="cardiology")) == [B]
    assert names(search(visit_type="video")) == [A]
    assert names(search(insurer="jic")) == [A]
    assert names(search(language="en")) == [A]
    assert names(search(gender="male")) == [B]
    assert names(search(min_rating="4")) == []  # nobody rated yet
    day = timezones.to_local(timezones.now(), "Asia/Amman").date() + dt.timedelta(days=3)
    assert sorted(names(search(date=day.isoformat()))) == sorted([A, B])
    Closure.unscoped.create(clinic=world.clinic_b, starts_on=day, ends_on=day)
    listings_refresh(clinic_pk=world.clinic_b.pk)
    assert names(search(date=day.isoformat())) == [A]


def test_distance_with_a_radius_and_sorted_nearest_first(world):
    amman = {"latitude": "31.96", "longitude": "35.90"}
    near = search(**amman, radius_km="10")
    assert names(near) == [A] and 0 < near["items"][0]["distance_km"] < 3
    both = search(**amman, radius_km="100", sort="distance")
    assert names(both) == [A, B] and both["items"][1]["distance_km"] > 60
    assert names(search(latitude="32.55", longitude="35.85", radius_km="100", sort="distance")) == [B, A]
    # home visits: only clinics whose areas cover the patient's place
    assert names(search(visit_type="home", latitude="31.95", longitude="35.88")) == [A]
    assert names(search(visit_type="home", latitude="31.99", longitude="35.95")) == []


def test_sorts_by_price_and_earliest_and_pages_with_a_cursor(world):
    assert names(search(sort="price")) == [A, B]
    first = search(sort="price", limit="1")
    assert names(first) == [A] and first["next_cursor"]
    second = search(sort="price", limit="1", cursor=first["next_cursor"])
    assert names(second) == [B] and second["next_cursor"] is None
    assert ApiClient().get("/api/v1/search/doctors?cursor=forged").status_code == 422
    assert ApiClient().get("/api/v1/search/doctors?sort=random").status_code == 422
    assert ApiClient().get("/api/v1/search/doctors?radius_km=5000").status_code == 422
    item = search(q="pediatrics")["items"][0]
    assert item["prices"]["office"] == {"amount": "20.000", "currency": "JOD"} and item["prices"]["home"]
    assert item["next_available"]["office"] and item["zone"] == "Asia/Amman"


def test_a_change_queues_a_rebuild_and_the_rebuild_follows_it(world, api):
    from shifa.directory.tasks import refresh_listings

    ProcrastinateJob.objects.all().delete()
    admin = api(world.staff_a["clinic_admin"])
    doctor = world.staff_a["doctor"]
    week = {"days": [{"weekday": d, "intervals": [{"start": "09:00", "end": "10:00"}]} for d in range(7)]}
    answer = admin.put(
        f"/api/v1/clinics/{world.clinic_a.external_id}/doctors/{doctor.external_id}/hours", week
    )
    assert answer.status_code == 200
    admin.put(f"/api/v1/clinics/{world.clinic_a.external_id}/doctors/{doctor.external_id}/hours", week)
    jobs = ProcrastinateJob.objects.filter(task_name="directory.refresh_listings", status="todo")
    assert jobs.count() == 1  # the second change joined the waiting rebuild
    assert jobs.get().args == {"clinic_id": world.clinic_a.pk, "doctor_id": doctor.pk}
    refresh_listings(**jobs.get().args)
    listing = DoctorListing.unscoped.get(doctor=doctor)
    assert timezones.to_local(listing.next_office, "Asia/Amman").hour == 9

    suspended = api(world.platform_admin).post(
        f"/api/v1/platform/licences/{Licence.unscoped.get(clinic=world.clinic_a).external_id}/suspend",
        {"reason": "Unpaid"},
    )
    assert suspended.status_code == 200
    listings_refresh(clinic_pk=world.clinic_a.pk)
    assert names(search()) == [B]  # a suspended clinic is not offered


def test_the_patients_share_with_their_insurer_before_booking(world):
    base = f"/api/v1/quote?clinic={world.clinic_a.external_id}&doctor={world.staff_a['doctor'].external_id}"
    plain = ApiClient().get(base).json()
    assert (
        plain["price"] == {"amount": "20.000", "currency": "JOD"}
        and plain["patient_pays"]["amount"] == "20.000"
    )
    insured = ApiClient().get(f"{base}&insurer=jic").json()
    assert insured["covered"] and insured["copay_percent"] == "20.00"
    assert insured["patient_pays"]["amount"] == "4.000" and insured["insurer_pays"]["amount"] == "16.000"
    other = ApiClient().get(f"{base}&insurer=medgulf").json()
    assert other["insurer"] is None and other["patient_pays"]["amount"] == "20.000"
    other_service = Service.unscoped.create(clinic=world.clinic_a, name_ar="تطعيم", name_en="Vaccination")
    InsurancePartner.unscoped.get(clinic=world.clinic_a).covered_services.set([other_service])
    uncovered = ApiClient().get(f"{base}&insurer=jic&service={world.service_a.external_id}").json()
    assert not uncovered["covered"] and uncovered["patient_pays"]["amount"] == "20.000"
    assert ApiClient().get(f"{base}&service=00000000-0000-0000-0000-000000000000").status_code == 404
    wrong = f"/api/v1/quote?clinic={world.clinic_a.external_id}&doctor={world.doctor_b.external_id}"
    assert ApiClient().get(wrong).status_code == 404

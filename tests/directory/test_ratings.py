"""Ratings of completed visits (BK-6): once per visit, by the patient who came, reviewed by the platform, and then
counted in search."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from shifa.directory.actions import listings_refresh
from shifa.directory.models import DoctorListing, Rating
from shifa.scheduling.models import Appointment
from tests.conftest import ApiClient, sign_in_page
from tests.support.booking import open_for_booking


@pytest.fixture
def visit(cast):
    clinic = open_for_booking(cast)
    start = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
    return Appointment.unscoped.create(
        clinic=clinic,
        doctor=clinic.doctor,
        patient=cast.patient,
        visit_type="office",
        starts_at=start,
        ends_at=start + dt.timedelta(minutes=30),
        status="completed",
        channel="app",
    )


def test_a_patient_rates_a_completed_visit_once_and_it_counts_after_review(cast, api, visit):
    patient = api(cast.patient_user)
    url = f"/api/v1/appointments/{visit.external_id}/rating"
    rated = patient.post(url, {"stars": 5, "comment": "Patient and kind with my son"})
    assert rated.status_code == 201 and rated.json()["status"] == "pending"
    again = patient.post(url, {"stars": 1})
    assert again.status_code == 409 and again.json()["code"] == "already_rated"
    listings_refresh(clinic_pk=visit.clinic_id)
    assert DoctorListing.unscoped.get(doctor=visit.doctor).rating is None  # not reviewed yet

    platform = api(cast.platform_admin)
    queue = platform.get("/api/v1/platform/ratings").json()["items"]
    assert [r["id"] for r in queue] == [rated.json()["id"]]
    reviewed = platform.post(f"/api/v1/platform/ratings/{rated.json()['id']}/review", {"decision": "publish"})
    assert reviewed.status_code == 200 and reviewed.json()["status"] == "published"
    listings_refresh(clinic_pk=visit.clinic_id)
    listing = DoctorListing.unscoped.get(doctor=visit.doctor)
    assert str(listing.rating) == "5.00" and listing.rating_count == 1
    shown = (
        ApiClient()
        .get(f"/api/v1/ratings?clinic={visit.clinic.external_id}&doctor={visit.doctor.external_id}")
        .json()
    )
    assert shown == [
        {"stars": 5, "comment": "Patient and kind with my son", "created_at": shown[0]["created_at"]}
    ]


def test_only_the_patient_of_a_completed_visit_rates_and_bad_stars_are_refused(cast, api, visit):
    url = f"/api/v1/appointments/{visit.external_id}/rating"
    assert api(cast.other_patient_user).post(url, {"stars": 4}).status_code == 404
    assert api(cast.patient_user).post(url, {"stars": 6}).status_code == 422
    assert api(cast.patient_user).post(url, {"stars": 0}).status_code == 422
    assert api(cast.patient_user).post(url, {"stars": 3, "comment": "x" * 1001}).status_code == 422
    Appointment.unscoped.filter(pk=visit.pk).update(status="booked")
    early = api(cast.patient_user).post(url, {"stars": 3})
    assert early.status_code == 409 and early.json()["code"] == "not_completed"
    assert not Rating.unscoped.exists()
    assert api(cast.staff_a["clinic_admin"]).get("/api/v1/platform/ratings").status_code == 403


def test_a_rejection_needs_a_reason_and_keeps_the_rating_out_of_search(cast, api, visit):
    rating = Rating.unscoped.create(
        clinic=visit.clinic,
        appointment=visit,
        doctor=visit.doctor,
        patient=cast.patient,
        stars=1,
        comment="رقم هاتف",
    )
    platform = api(cast.platform_admin)
    url = f"/api/v1/platform/ratings/{rating.external_id}/review"
    assert platform.post(url, {"decision": "reject"}).status_code == 422
    assert platform.post(url, {"decision": "reject", "note": "Personal data"}).json()["status"] == "rejected"
    listings_refresh(clinic_pk=visit.clinic_id)
    assert DoctorListing.unscoped.get(doctor=visit.doctor).rating_count == 0


def test_the_pages_rate_and_review(cast, visit):
    patient = sign_in_page(Client(), cast.patient_user)
    page = patient.get(f"/app/appointments/{visit.external_id}").content.decode()
    assert f"/app/appointments/{visit.external_id}/rate" in page
    bad = patient.post(f"/app/appointments/{visit.external_id}/rate", {"stars": "9"})
    assert bad.status_code == 400 and not Rating.unscoped.exists()
    sent = patient.post(f"/app/appointments/{visit.external_id}/rate", {"stars": "4", "comment": "Good"})
    assert sent.status_code == 302 and Rating.unscoped.get().stars == 4
    assert "/rate" not in patient.get(f"/app/appointments/{visit.external_id}").content.decode()
    console = sign_in_page(Client(), cast.platform_admin)
    queue = console.get("/platform/ratings").content.decode()
    rating = Rating.unscoped.get()
    assert f"/platform/ratings/{rating.external_id}" in queue
    assert console.post(f"/platform/ratings/{rating.external_id}", {"decision": "reject"}).status_code == 302
    assert Rating.unscoped.get().status == "pending"  # a rejection without a reason is refused
    assert console.post(f"/platform/ratings/{rating.external_id}", {"decision": "publish"}).status_code == 302
    assert Rating.unscoped.get().status == "published"

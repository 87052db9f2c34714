"""The platform console's clinics (licence, usage; suspend and renew) and subscription plans (PL-1, PL-2)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from shifa.tenancy.models import Licence, Plan
from shifa.tenancy.policies import licence_allows_bookings
from tests.conftest import sign_in_page


@pytest.fixture
def console(cast):
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="en"), cast.platform_admin)


@pytest.fixture
def licence(cast):
    plan = Plan.objects.create(
        code="clinic", name_en="Clinic", name_ar="عيادة", price="40.000", period="monthly", seats=25
    )
    return Licence.unscoped.create(
        clinic=cast.clinic_a, plan=plan, seats=25, starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2027, 6, 30)
    )


def test_the_clinics_list_shows_licence_and_usage(console, cast, licence):
    body = console.get("/platform").content.decode()
    assert cast.clinic_a.name_en in body and "Clinic" in body
    clinic = console.get(f"/platform/clinics/{cast.clinic_a.external_id}")
    assert clinic.status_code == 200
    from shifa.tenancy.models import Membership

    staff = Membership.objects.for_clinic(cast.clinic_a).filter(is_active=True).count()
    assert clinic.context["clinic"].staff_count == staff and "Staff / seats" in clinic.content.decode()
    assert clinic.context["clinic"].doctor_count >= 1
    found = console.get(f"/platform?q={cast.clinic_b.name_en.split()[0]}").context["clinics"]
    assert cast.clinic_b.pk in {row["clinic"].pk for row in found}


def test_suspending_stops_new_bookings_and_renewing_lifts_it(console, cast, licence):
    url = f"/platform/clinics/{cast.clinic_a.external_id}"
    refused = console.post(url, {"step": "suspend", "suspend-reason": " "})
    assert refused.status_code == 400 and licence_allows_bookings(cast.clinic_a)
    assert console.post(url, {"step": "suspend", "suspend-reason": "Unpaid invoice"}).status_code == 302
    assert not licence_allows_bookings(cast.clinic_a)
    assert "Unpaid invoice" in console.get(url).content.decode()
    assert console.post(url, {"step": "renew", "renew-months": "0"}).status_code == 400
    assert console.post(url, {"step": "renew", "renew-months": "6"}).status_code == 302
    licence.refresh_from_db()
    assert licence.suspended_at is None and licence.ends_on == dt.date(2027, 12, 30)
    assert licence_allows_bookings(cast.clinic_a)


def test_a_clinic_without_licence_says_so(console, cast):
    response = console.post(
        f"/platform/clinics/{cast.clinic_b.external_id}", {"step": "renew", "renew-months": "1"}
    )
    assert response.status_code == 400 and "has no licence" in response.content.decode()


def test_clinic_staff_cannot_open_the_platform_clinic_page(cast, licence):
    client = sign_in_page(Client(), cast.general_admin)
    response = client.post(
        f"/platform/clinics/{cast.clinic_a.external_id}", {"step": "suspend", "suspend-reason": "x"}
    )
    assert response.status_code in {302, 403}
    licence.refresh_from_db()
    assert licence.suspended_at is None


PLAN = {
    "code": "practice",
    "name_en": "Practice",
    "name_ar": "ممارسة",
    "price": "60.500",
    "period": "monthly",
    "seats": "15",
    "entitlements": ["video_visits", "home_visits"],
    "is_active": "on",
}


def test_a_plan_is_defined_with_what_it_includes_then_changed(console, api, cast):
    assert console.post("/platform/plans/new", PLAN).status_code == 302
    plan = Plan.objects.get(code="practice")
    assert str(plan.price) == "60.500" and plan.entitlements == {"video_visits": True, "home_visits": True}
    assert "Video visits" in console.get("/platform/plans").content.decode()
    changed = console.post(
        "/platform/plans/practice", {**PLAN, "code": "ignored", "entitlements": ["hakeem_sync"]}
    )
    assert changed.status_code == 302
    plan.refresh_from_db()
    assert plan.code == "practice" and plan.entitlements == {"hakeem_sync": True}
    events = (
        api(cast.platform_admin)
        .get(f"/api/v1/platform/audit-events?table=tenancy_plan&entity_id={plan.external_id}")
        .json()["items"]
    )
    assert {e["operation"] for e in events} == {"INSERT", "UPDATE"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": "-1"}, "price"),
        ({"price": "1.2345"}, "price"),
        ({"seats": "0"}, "seats"),
        ({"period": "weekly"}, "period"),
        ({"entitlements": ["teleportation"]}, "entitlements"),
        ({"code": "new"}, "code"),
    ],
)
def test_bad_plan_input_is_refused_and_nothing_saved(console, change, field):
    response = console.post("/platform/plans/new", {**PLAN, **change})
    assert response.status_code == 400 and field in response.context["form"].errors
    assert not Plan.objects.filter(code=PLAN["code"]).exists()


def test_a_new_plan_cannot_overwrite_an_existing_one(console):
    console.post("/platform/plans/new", PLAN)
    again = console.post("/platform/plans/new", {**PLAN, "price": "1.000"})
    assert again.status_code == 400 and "code" in again.context["form"].errors
    assert str(Plan.objects.get(code="practice").price) == "60.500"


def test_the_plan_api_refuses_unknown_entitlements(api, cast):
    body = {**PLAN, "seats": 15, "entitlements": {"video_visits": "yes"}}
    response = api(cast.platform_admin).put("/api/v1/platform/plans/practice", body)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "entitlements"

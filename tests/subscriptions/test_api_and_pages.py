"""The subscription API and pages: plans managed only by platform admins (retired, never deleted once someone
subscribed), a patient reads only their own subscription, and the pages show it in both languages."""

from __future__ import annotations

import datetime as dt

from shifa.core import timezones
from shifa.subscriptions.models import Plan, Subscription
from tests.conftest import sign_in_page

PLANS = "/api/v1/platform/subscription-plans"
BODY = {
    "name_en": "Family",
    "name_ar": "العائلة",
    "price": "19.500",
    "period": "yearly",
    "family_doctor": True,
    "included_video_visits": 4,
    "app_store_product_id": "jo.shifa.family.yearly",
}


def _active(patient, plan):
    now = timezones.now()
    return Subscription.objects.create(
        patient=patient,
        plan=plan,
        source="paytabs",
        state="active",
        anchor=now,
        paid_periods=1,
        current_period_end=now + dt.timedelta(days=20),
        as_of=now,
    )


def test_platform_admins_define_change_and_retire_plans(cast, api):
    admin = api(cast.platform_admin)
    made = admin.post(PLANS, BODY)
    assert made.status_code == 201, made.content
    plan = made.json()
    assert plan["price"] == {"amount": "19.500", "currency": "JOD"} and plan["subscribers"] == 0
    assert plan["entitlements"] == {
        "family_doctor": True,
        "priority_urgent_care": False,
        "included_video_visits": 4,
    }
    changed = admin.patch(f"{PLANS}/{plan['id']}", {"price": "21.000", "priority_urgent_care": True}).json()
    assert changed["price"]["amount"] == "21.000" and changed["entitlements"]["priority_urgent_care"] is True
    assert changed["name"] == {"ar": "العائلة", "en": "Family"}
    retired = admin.post(f"{PLANS}/{plan['id']}/retire").json()
    assert retired["offered"] is False
    # patients see only what is offered
    assert api(cast.patient_user).get("/api/v1/subscription-plans").json()["items"] == []


def test_a_plan_with_subscribers_is_retired_never_deleted(cast, api):
    admin = api(cast.platform_admin)
    unused = admin.post(PLANS, BODY).json()
    assert admin.delete(f"{PLANS}/{unused['id']}").status_code == 204
    used = admin.post(PLANS, BODY).json()
    _active(cast.patient, Plan.objects.get(external_id=used["id"]))
    response = admin.delete(f"{PLANS}/{used['id']}")
    assert response.status_code == 409 and response.json()["code"] == "plan_in_use"
    assert admin.get(f"{PLANS}/{used['id']}").json()["subscribers"] == 1


def test_bad_plans_are_refused_with_field_errors(cast, api):
    admin = api(cast.platform_admin)
    for field, value in [
        ("price", "0"),
        ("price", "1.2345"),
        ("period", "weekly"),
        ("name_en", " "),
        ("included_video_visits", 101),
        ("app_store_product_id", "has space"),
    ]:
        response = admin.post(PLANS, {**BODY, field: value})
        assert response.status_code == 422, (field, value, response.content)
        assert response.json()["errors"][0]["field"] == field
    admin.post(PLANS, BODY)
    taken = admin.post(PLANS, BODY)  # the same App Store product twice
    assert taken.status_code == 422 and taken.json()["errors"][0]["code"] == "taken"
    assert Plan.objects.count() == 1


def test_only_platform_admins_manage_plans(cast, api):
    for user in (cast.patient_user, cast.staff_a["clinic_admin"], cast.general_admin):
        assert api(user).post(PLANS, BODY).status_code == 403
    assert api().post(PLANS, BODY).status_code == 401
    assert Plan.objects.count() == 0


def test_a_patient_reads_only_their_own_subscription(cast, api, plan):
    _active(cast.patient, plan)
    mine = api(cast.patient_user).get("/api/v1/me/subscription").json()
    assert mine["subscription"]["state"] == "active"
    theirs = api(cast.other_patient_user).get("/api/v1/me/subscription").json()
    assert theirs["subscription"] is None and theirs["app_account_token"] != mine["app_account_token"]
    assert theirs["entitlements"]["priority_urgent_care"] is False
    # the token is stable: the app may ask again
    assert (
        api(cast.patient_user).get("/api/v1/me/subscription").json()["app_account_token"]
        == mine["app_account_token"]
    )
    # nobody else switches it off
    response = api(cast.other_patient_user).put("/api/v1/me/subscription/auto-renew", {"auto_renew": False})
    assert response.status_code == 404
    assert Subscription.objects.get().auto_renew is True
    assert api(cast.staff_a["doctor"]).get("/api/v1/me/subscription").status_code == 403


def test_the_patient_page_shows_the_subscription_and_plans(cast, client, plan):
    sign_in_page(client, cast.patient_user, mfa=False)
    page = client.get("/app/subscription").content.decode()
    assert "Shifa Plus" in page and "Subscribe with a card" in page
    _active(cast.patient, plan)
    page = client.get("/app/subscription").content.decode()
    assert (
        'data-state="active"' in page and "Switch renewal off" in page and "Subscribe with a card" not in page
    )
    response = client.post("/app/subscription/auto-renew", {"auto_renew": "off"})
    assert response.status_code == 302
    assert Subscription.objects.get().auto_renew is False
    cast.patient_user.language = "ar"
    cast.patient_user.save(update_fields=["language"])
    arabic = client.get("/app/subscription").content.decode()
    assert 'dir="rtl"' in arabic and "شفاء بلس" in arabic


def test_the_patient_page_subscribes_through_paytabs(cast, client, plan):
    sign_in_page(client, cast.patient_user, mfa=False)
    response = client.post("/app/subscription/subscribe", {"plan_id": str(plan.external_id)})
    assert response.status_code == 302 and "/simulators/paytabs/payment/page/" in response["Location"]
    assert Subscription.objects.get().state == "pending"
    bad = client.post("/app/subscription/subscribe", {"plan_id": "not-a-plan"})
    assert bad.status_code == 302 and bad["Location"] == "/app/subscription"


def test_the_platform_pages_list_count_and_edit_plans(cast, client, plan):
    _active(cast.patient, plan)
    sign_in_page(client, cast.platform_admin)
    listing = client.get("/platform/subscription-plans").content.decode()
    assert "Shifa Plus" in listing and "data-subscribers>1<" in listing
    url = f"/platform/subscription-plans/{plan.external_id}"
    form = {
        "name_en": "Shifa Plus",
        "name_ar": "شفاء بلس",
        "price": "11.000",
        "period": "monthly",
        "included_video_visits": "3",
        "offered": "on",
    }
    assert client.post(url, form).status_code == 302
    plan.refresh_from_db()
    assert str(plan.price) == "11.000" and plan.included_video_visits == 3
    assert client.post(url, {**form, "price": "-1"}).status_code == 400
    assert client.post(f"{url}/retire").status_code == 302
    plan.refresh_from_db()
    assert plan.retired_at is not None

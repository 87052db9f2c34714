"""Entitlements follow the subscription's state (shifa.access.entitlements): for the subscriber and, through a
guardian's subscription, their dependants; Treat Me Now serves entitled patients first; included video visits are
counted per period, once per appointment, and given back when an appointment is cancelled."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.db import connection

from shifa.access.entitlements import (
    FAMILY_DOCTOR,
    INCLUDED_VIDEO_VISITS,
    PRIORITY_URGENT_CARE,
    has_entitlement,
)
from shifa.core import timezones
from shifa.subscriptions import actions, queries
from shifa.subscriptions.models import Subscription, VideoVisitUse
from tests.conftest import time_machine
from tests.factories import PatientFactory, UserFactory

from .conftest import make_plan


def _subscription(patient, plan, state="active", days=30, **extra) -> Subscription:
    now = timezones.now()
    values = {"current_period_end": now + dt.timedelta(days=days), "as_of": now}
    if state == "grace":
        values["grace_until"] = now + dt.timedelta(days=3)
    values.update(extra)
    return Subscription.objects.create(
        patient=patient, plan=plan, source="paytabs", state=state, anchor=now, paid_periods=1, **values
    )


@pytest.mark.parametrize(
    ("state", "entitled"),
    [
        ("active", True),
        ("grace", True),
        ("on_hold", False),
        ("expired", False),
        ("revoked", False),
        ("refunded", False),
        ("pending", False),
    ],
)
def test_access_follows_the_state(state, entitled, cast, plan):
    _subscription(cast.patient, plan, state=state)
    for code in (PRIORITY_URGENT_CARE, FAMILY_DOCTOR, INCLUDED_VIDEO_VISITS):
        assert has_entitlement(cast.patient, code) is entitled


def test_a_plan_gives_only_what_it_includes(cast):
    plan = make_plan(family_doctor=False, priority_urgent_care=True, included_video_visits=0)
    _subscription(cast.patient, plan)
    assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is True
    assert has_entitlement(cast.patient, FAMILY_DOCTOR) is False
    assert has_entitlement(cast.patient, INCLUDED_VIDEO_VISITS) is False


def test_a_guardians_subscription_covers_dependants_but_not_the_other_way(cast, plan):
    child = PatientFactory(user=None, guardian=cast.patient, relation="child", full_name="Child")
    assert has_entitlement(child, PRIORITY_URGENT_CARE) is False
    _subscription(cast.patient, plan)
    assert has_entitlement(child, PRIORITY_URGENT_CARE) is True
    assert queries.included_video_visits_left(child, timezones.now()) == 2
    # someone else's guardian's subscription covers nobody here
    stranger = PatientFactory(user=UserFactory())
    assert has_entitlement(stranger, PRIORITY_URGENT_CARE) is False


def test_a_lapsed_active_subscription_gives_no_access(cast, plan):
    subscription = _subscription(cast.patient, plan, days=1)
    with time_machine(subscription.current_period_end + dt.timedelta(days=2)):
        assert has_entitlement(cast.patient, PRIORITY_URGENT_CARE) is False


def test_an_entitled_patients_urgent_request_goes_first(cast, api, plan):
    from tests.support.records import base

    others = []
    for i in range(2):
        user = UserFactory(full_name=f"Waiting {i}")
        PatientFactory(user=user, full_name=user.full_name)
        others.append(user)
    made = [api(u).post("/api/v1/me/urgent-requests", {"complaint": "Fever"}).json() for u in others]
    _subscription(cast.patient, plan)
    mine = api(cast.patient_user).post("/api/v1/me/urgent-requests", {"complaint": "Chest pain"}).json()
    assert mine["priority"] == 1 and made[0]["priority"] == 0
    doctor = api(cast.staff_a["doctor"])
    doctor.put(f"{base(cast.clinic_a)}/urgent-duty", {"on_duty": True})
    queue = doctor.get(f"{base(cast.clinic_a)}/urgent-queue").json()
    assert [i["id"] for i in queue["items"]] == [mine["id"], made[0]["id"], made[1]["id"]]


def _appointment(patient):
    from shifa.access.registry import RouteSpec
    from shifa.scheduling.models import Appointment
    from shifa.tenancy.models import Clinic
    from tests.routes import Target
    from tests.routes import _appointment as make

    clinic = Clinic.objects.get(slug="clinic-a")
    appointment_id = make(
        Target(clinic, None, patient.user), RouteSpec("GET", "/app/x", "", "page", None, False)
    )
    return Appointment.unscoped.get(external_id=appointment_id)


def test_included_video_visits_are_counted_per_period_once_per_appointment(cast, plan):
    subscription = _subscription(cast.patient, plan)
    first, second, third = (_appointment(cast.patient) for _ in range(3))
    now = timezones.now()
    assert queries.included_video_visits_left(cast.patient, now) == 2
    assert actions.use_included_video_visit(patient=cast.patient, appointment=first) is True
    assert actions.use_included_video_visit(patient=cast.patient, appointment=first) is True  # idempotent
    assert queries.included_video_visits_left(cast.patient, now) == 1
    assert actions.use_included_video_visit(patient=cast.patient, appointment=second) is True
    assert actions.use_included_video_visit(patient=cast.patient, appointment=third) is False
    assert queries.included_video_visits_left(cast.patient, now) == 0
    # a cancelled appointment gives its visit back (once)
    assert actions.return_included_video_visit(first) is True
    assert actions.return_included_video_visit(first) is False
    assert actions.use_included_video_visit(patient=cast.patient, appointment=third) is True
    assert VideoVisitUse.objects.filter(subscription=subscription, returned_at__isnull=True).count() == 2
    # the next period starts afresh
    Subscription.objects.filter(pk=subscription.pk).update(
        current_period_end=subscription.current_period_end + dt.timedelta(days=31)
    )
    with time_machine(now + dt.timedelta(days=31)):
        assert queries.included_video_visits_left(cast.patient, timezones.now()) == 2


def test_no_included_visit_without_a_subscription(cast):
    assert (
        actions.use_included_video_visit(patient=cast.patient, appointment=_appointment(cast.patient))
        is False
    )
    assert queries.included_video_visits_left(cast.patient, timezones.now()) == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_uses_never_exceed_what_the_plan_includes(cast):
    plan = make_plan(included_video_visits=1)
    _subscription(cast.patient, plan)
    appointments = [_appointment(cast.patient) for _ in range(4)]
    results = []
    barrier = threading.Barrier(len(appointments))

    def use(appointment):
        try:
            barrier.wait()
            results.append(actions.use_included_video_visit(patient=cast.patient, appointment=appointment))
        finally:
            connection.close()

    threads = [threading.Thread(target=use, args=(a,)) for a in appointments]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    assert VideoVisitUse.objects.count() == 1

"""Dose schedules made from committed prescriptions, replaced by amendments (CP-3)."""

from __future__ import annotations

from shifa.adherence.models import Dose, DoseSchedule
from shifa.records.models import Prescription
from tests.support.records import base, committed_visit


def test_committing_a_visit_schedules_each_line_in_the_patients_zone(cast, api):
    type(cast.patient_user).objects.filter(pk=cast.patient_user.pk).update(time_zone="Asia/Riyadh")
    visit = committed_visit(cast, api)  # amoxicillin three times a day after meals, 7 days
    plan = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    assert (
        plan.zone == "Asia/Riyadh" and plan.times == ["08:30", "14:30", "20:30"] and plan.status == "active"
    )
    doses = Dose.unscoped.filter(schedule=plan)
    assert doses.count() == 21 and set(doses.values_list("status", flat=True)) == {"due"}
    assert plan.clinic_id == cast.clinic_a.pk and plan.patient_id == cast.patient.pk


def test_a_line_taken_when_needed_has_no_schedule(cast, api):
    from tests.support.booking import open_for_booking
    from tests.support.records import in_care, open_visit

    open_for_booking(cast)
    doctor = api(cast.staff_a["doctor"])
    visit = open_visit(doctor, cast.clinic_a, in_care(cast))
    url = f"{base(cast.clinic_a)}/visits/{visit['id']}"
    doctor.post(f"{url}/diagnoses", {"code": "401.9"})
    line = {"medication": "paracetamol", "strength": "500 mg", "dose": "1", "dose_unit": "tablet"}
    assert doctor.post(f"{url}/prescriptions", {**line, "frequency": "as_needed"}).status_code == 201
    doctor.post(f"{url}/commit")
    assert Prescription.unscoped.filter(visit__external_id=visit["id"]).count() == 1
    assert not DoseSchedule.unscoped.filter(prescription__visit__external_id=visit["id"]).exists()


def test_an_amended_prescription_cancels_the_old_future_doses(cast, api):
    visit = committed_visit(cast, api)
    old = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    doctor = api(cast.staff_a["doctor"])
    url = f"{base(cast.clinic_a)}/visits"
    amendment = doctor.post(f"{url}/{visit['id']}/amendments", {"reason": "Shorter course"}).json()
    doctor.delete(f"{url}/{amendment['id']}/prescriptions/{amendment['prescriptions'][0]['id']}")
    line = {"medication": "amoxicillin", "strength": "500 mg", "dose": "1", "dose_unit": "capsule"}
    doctor.post(
        f"{url}/{amendment['id']}/prescriptions", {**line, "frequency": "twice_daily", "duration_days": 3}
    )
    assert doctor.post(f"{url}/{amendment['id']}/commit").status_code == 200

    old.refresh_from_db()
    assert old.status == "replaced" and old.ended_at is not None
    assert set(Dose.unscoped.filter(schedule=old).values_list("status", flat=True)) == {"cancelled"}
    new = DoseSchedule.unscoped.get(prescription__visit__external_id=amendment["id"])
    assert new.status == "active" and Dose.unscoped.filter(schedule=new, status="due").count() == 6


def _first_due(plan):
    return Dose.unscoped.filter(schedule=plan).order_by("due_at").first()


def test_due_doses_are_reminded_once_in_the_patients_language(cast, api):
    import datetime as dt

    from shifa.adherence.actions import doses_dispatch
    from shifa.notifications.models import Notification

    type(cast.patient_user).objects.filter(pk=cast.patient_user.pk).update(language="ar")
    visit = committed_visit(cast, api)
    plan = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    first = _first_due(plan)
    at = first.due_at + dt.timedelta(seconds=30)
    assert doses_dispatch(now=at) == 1
    assert doses_dispatch(now=at) == 0  # a second pass (or a second worker) finds nothing left
    first.refresh_from_db()
    assert first.status == "sent" and first.sent_at is not None  # when it really went out
    reminders = Notification.objects.filter(recipient=cast.patient_user, kind="dose.due")
    assert reminders.count() == 1
    assert "أموكسيسيلين" in reminders.get().title
    # later doses wait for their time
    assert Dose.unscoped.filter(schedule=plan, status="due").count() == 20


def test_a_retried_batch_does_not_remind_twice(cast, api):
    """A worker that died after notifying but before marking the doses sent: the retry finds the notifications
    already there (same idempotency key) and only marks the doses."""
    import datetime as dt

    from shifa.adherence.actions import doses_dispatch
    from shifa.notifications.actions import notify
    from shifa.notifications.models import Notification

    visit = committed_visit(cast, api)
    plan = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    first = _first_due(plan)
    notify(
        recipient=cast.patient_user,
        kind="dose.due",
        data={
            "medication_en": "Amoxicillin",
            "medication_ar": "أموكسيسيلين",
            "strength": "500 mg",
            "dose": "1",
            "unit": "capsule",
            "time": "08:30",
            "patient": "Patient",
            "for_dependant": False,
        },
        idempotency_key=f"dose:{first.external_id}",
    )
    assert doses_dispatch(now=first.due_at + dt.timedelta(minutes=1)) == 1
    assert Notification.objects.filter(recipient=cast.patient_user, kind="dose.due").count() == 1


def test_unanswered_doses_become_missed(cast, api):
    import datetime as dt

    from shifa.adherence.actions import doses_dispatch, doses_mark_missed

    visit = committed_visit(cast, api)
    plan = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    first = _first_due(plan)
    doses_dispatch(now=first.due_at)
    assert doses_mark_missed(now=first.due_at + dt.timedelta(hours=11)) == 0
    assert doses_mark_missed(now=first.due_at + dt.timedelta(hours=13)) >= 1
    first.refresh_from_db()
    assert first.status == "missed"


def test_the_patient_marks_doses_and_sees_adherence(cast, api):
    import datetime as dt

    from shifa.adherence.actions import doses_mark_missed
    from shifa.core import timezones
    from tests.conftest import time_machine

    visit = committed_visit(cast, api)
    plan = DoseSchedule.unscoped.get(prescription__visit__external_id=visit["id"])
    doses = list(Dose.unscoped.filter(schedule=plan).order_by("due_at")[:3])
    first, second, third = doses
    with time_machine(third.due_at + dt.timedelta(minutes=5)):
        me = api(cast.patient_user)
        early = me.post(
            f"/api/v1/me/doses/{Dose.unscoped.filter(schedule=plan).last().external_id}/answer",
            {"status": "taken"},
        )
        assert early.status_code == 409 and early.json()["code"] == "dose_not_due"
        assert (
            me.post(f"/api/v1/me/doses/{first.external_id}/answer", {"status": "taken"}).json()["status"]
            == "taken"
        )
        again = me.post(f"/api/v1/me/doses/{first.external_id}/answer", {"status": "taken"})
        assert again.status_code == 200  # a double tap
        assert (
            me.post(f"/api/v1/me/doses/{second.external_id}/answer", {"status": "skipped"}).status_code == 200
        )
        assert me.post(f"/api/v1/me/doses/{first.external_id}/answer", {"status": "lost"}).status_code == 422
        other = api(cast.other_patient_user)
        assert (
            other.post(f"/api/v1/me/doses/{third.external_id}/answer", {"status": "taken"}).status_code == 404
        )
    doses_mark_missed(now=third.due_at + dt.timedelta(hours=13))
    with time_machine(third.due_at + dt.timedelta(hours=13)):
        # the first two doses may fall on two local days (an evening dose, then a morning one)
        days = sorted({timezones.to_local(d.due_at, plan.zone).date() for d in (first, second)})
        pages = [api(cast.patient_user).get(f"/api/v1/me/doses?day={day.isoformat()}").json() for day in days]
        listed = pages[0]
        assert listed["adherence"] == {"days": 30, "taken": 1, "skipped": 1, "missed": 1, "percent": 33}
        statuses = {d["id"]: d["status"] for page in pages for d in page["items"]}
        assert [statuses[str(d.external_id)] for d in (first, second)] == ["taken", "skipped"]

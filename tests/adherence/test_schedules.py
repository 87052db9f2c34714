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

"""Reference data (CL-6) is edited only in the platform console; every change is audited; bad input is refused
with field errors and changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from shifa.catalog.actions import reference_list_load
from shifa.catalog.models import Medication, Specialty, VitalSignType
from tests.conftest import sign_in_page

MEDICATION = {
    "code": "pivmecillinam",
    "name_en": "Pivmecillinam",
    "name_ar": "بيفميسيلينام",
    "atc_code": "J01CA08",
    "brands": "Selexid\nJ-Mox",
    "forms": ["capsule", "oral_suspension"],
    "strengths": "250 mg\n500 mg\n125 mg/5 mL",
    "is_active": "on",
}


@pytest.fixture
def console(cast):
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="en"), cast.platform_admin)


def test_a_medication_is_added_and_changed_with_lists_typed_one_per_line(console, cast, api):
    added = console.post("/platform/reference/medications/new", MEDICATION)
    assert added.status_code == 302
    medication = Medication.objects.get(code="pivmecillinam")
    assert medication.brands == ["Selexid", "J-Mox"]
    assert medication.forms == ["capsule", "oral_suspension"]
    assert medication.strengths == ["250 mg", "500 mg", "125 mg/5 mL"]
    assert added.url == f"/platform/reference/medications/{medication.external_id}"

    page = console.get(added.url)
    assert page.status_code == 200 and "J-Mox" in page.content.decode()

    changed = console.post(added.url, {**MEDICATION, "strengths": "500 mg\n1 g", "is_active": ""})
    assert changed.status_code == 302
    medication.refresh_from_db()
    assert medication.strengths == ["500 mg", "1 g"] and medication.is_active is False

    # Out of use: the clinics' lookups no longer offer it, the console still lists it.
    found = api(cast.staff_a["doctor"]).get("/api/v1/reference/medications?q=pivm").json()["items"]
    assert found == []
    listed = console.get("/platform/reference/medications?q=pivm").content.decode()
    assert "Pivmecillinam" in listed


def test_every_change_is_in_the_audit_log_with_the_admin_and_before_after(console, cast, api):
    console.post("/platform/reference/medications/new", MEDICATION)
    medication = Medication.objects.get(code="pivmecillinam")
    console.post(
        f"/platform/reference/medications/{medication.external_id}", {**MEDICATION, "atc_code": "J01CA01"}
    )
    events = (
        api(cast.platform_admin)
        .get(f"/api/v1/platform/audit-events?table=catalog_medication&entity_id={medication.external_id}")
        .json()["items"]
    )
    assert [e["operation"] for e in events] == ["UPDATE", "INSERT"]
    update = events[0]
    assert update["actor"] == str(cast.platform_admin.external_id)
    assert update["before"]["atc_code"] == "J01CA08" and update["after"]["atc_code"] == "J01CA01"
    viewer = console.get(f"/platform/audit?table=catalog_medication&entity_id={medication.external_id}")
    body = viewer.content.decode()
    assert "J01CA08" in body and "J01CA01" in body and cast.platform_admin.email in body


def test_the_audit_log_shows_jordan_time_and_only_what_an_update_changed(console, cast):
    from shifa.audit.models import AuditEvent
    from shifa.core.timezones import wall_clock

    console.post("/platform/reference/medications/new", MEDICATION)
    medication = Medication.objects.get(code="pivmecillinam")
    console.post(
        f"/platform/reference/medications/{medication.external_id}", {**MEDICATION, "atc_code": "J01CA01"}
    )
    address = f"/platform/audit?table=catalog_medication&entity_id={medication.external_id}"
    body = console.get(address).content.decode()
    update, insert = body.split('<article class="card stack audit-event">')[1:]
    assert "UPDATE · catalog_medication" in update and "INSERT · catalog_medication" in insert

    # The time on the clock in Jordan (UTC+3), named, the date and time kept together in Arabic too.
    occurred = AuditEvent.objects.get(
        table_name="catalog_medication", entity_external_id=medication.external_id, operation="UPDATE"
    ).occurred_at
    local = wall_clock(occurred, "Asia/Amman").strftime("%Y-%m-%d %H:%M:%S")
    utc = occurred.strftime("%Y-%m-%d %H:%M:%S")
    assert f'<bdi dir="ltr">{local}</bdi></time> Jordan Time' in update
    assert utc not in body.replace(local, "")
    cast.platform_admin.language = "ar"
    cast.platform_admin.save(update_fields=["language"])
    arabic = (
        sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="ar"), cast.platform_admin).get(address).content.decode()
    )
    assert '<html lang="ar" dir="rtl">' in arabic
    assert f'<bdi dir="ltr">{local}</bdi></time> توقيت الأردن' in arabic

    # The update shows the field it changed; the others only under "All fields".
    shown, hidden = update.split('<details class="audit-event__all">')
    assert ">atc_code<" in shown and "J01CA08" in shown and "J01CA01" in shown
    assert ">name_en<" not in shown and ">brands<" not in shown
    assert "All fields" in hidden and ">name_en<" in hidden and ">brands<" in hidden
    # An insert has no unchanged fields: all of them, nothing to disclose.
    assert ">name_en<" in insert and "<details" not in insert


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"forms": ["tablet", "snuff"]}, "forms"),
        ({"strengths": ""}, "strengths"),
        ({"name_ar": ""}, "name_ar"),
        ({"code": "Not A Slug"}, "code"),
        ({"atc_code": "J01CA04X"}, "atc_code"),
    ],
)
def test_bad_medication_input_is_refused_on_its_field_and_nothing_is_saved(console, change, field):
    response = console.post("/platform/reference/medications/new", {**MEDICATION, **change})
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert not Medication.objects.filter(code="pivmecillinam").exists()


def test_a_code_already_taken_is_refused(console):
    assert console.post("/platform/reference/medications/new", MEDICATION).status_code == 302
    again = console.post("/platform/reference/medications/new", {**MEDICATION, "name_en": "Other"})
    assert again.status_code == 400 and "code" in again.context["form"].errors
    assert Medication.objects.filter(code="pivmecillinam").count() == 1


def test_a_vital_sign_range_must_be_ordered_and_within_what_is_accepted(console):
    reference_list_load("vital_signs")
    pulse = VitalSignType.objects.get(code="8867-4")
    url = f"/platform/reference/vital-signs/{pulse.external_id}"
    base = {
        "code": "8867-4",
        "name_en": "Heart rate",
        "name_ar": "نبض القلب",
        "unit": "/min",
        "normal_low": "60",
        "normal_high": "100",
        "lowest": "20",
        "highest": "300",
        "decimals": "0",
        "position": "3",
        "is_active": "on",
    }
    inverted = console.post(url, {**base, "normal_low": "110"})
    assert inverted.status_code == 400 and "normal_high" in inverted.context["form"].errors
    outside = console.post(url, {**base, "normal_high": "350"})
    assert outside.status_code == 400 and "normal_high" in outside.context["form"].errors
    bounds = console.post(url, {**base, "lowest": "400"})
    assert bounds.status_code == 400
    assert "lowest value accepted must be below the highest" in bounds.content.decode()
    pulse.refresh_from_db()
    assert (pulse.normal_low, pulse.normal_high, pulse.lowest) == (60, 100, 20)
    assert console.post(url, {**base, "normal_high": "90"}).status_code == 302


def test_only_the_platform_edits_reference_data(cast):
    reference_list_load("specialties")
    entry = Specialty.objects.first()
    for user in (cast.general_admin, cast.staff_a["doctor"], cast.patient_user):
        client = sign_in_page(Client(), user)
        for url in ("/platform/reference", f"/platform/reference/specialties/{entry.external_id}"):
            assert client.get(url).status_code in {302, 403}
        posted = client.post(
            f"/platform/reference/specialties/{entry.external_id}",
            {"code": entry.code, "name_en": "Changed", "name_ar": "تغيير", "is_active": "on"},
        )
        assert posted.status_code in {302, 403}
        if posted.status_code == 302:
            assert "/platform/" not in posted.url
    entry.refresh_from_db()
    assert entry.name_en != "Changed"


def test_unknown_lists_and_entries_are_404(console):
    assert console.get("/platform/reference/potions").status_code == 404
    assert (
        console.get("/platform/reference/medications/3f0c1d8e-0000-4000-8000-000000000000").status_code == 404
    )


def test_the_console_lists_every_list_with_its_counts_and_searches_in_both_languages(console):
    reference_list_load("specialties")
    home = console.get("/platform/reference").content.decode()
    for title in ("Diagnosis codes (ICD-9-CM)", "Medications", "Vaccines", "Vital signs", "Lab tests"):
        assert title in home
    arabic = console.get("/platform/reference/specialties?q=الأطفال").content.decode()
    assert "Pediatrics" in arabic and "Cardiology" not in arabic
    # the columns are headed as headings are, a capital first ("In use", never the field's "in use")
    listed = console.get("/platform/reference/specialties").content.decode()
    assert '<th scope="col">In use</th>' in listed and ">in use<" not in listed


def test_the_lookup_api_pages_through_entries_in_use(cast, api):
    reference_list_load("specialties")
    doctor = api(cast.staff_a["doctor"])
    first = doctor.get("/api/v1/reference/specialties?limit=10").json()
    assert len(first["items"]) == 10 and first["next_cursor"]
    second = doctor.get(f"/api/v1/reference/specialties?limit=10&cursor={first['next_cursor']}").json()
    assert not {i["code"] for i in first["items"]} & {i["code"] for i in second["items"]}
    assert set(first["items"][0]) == {"id", "code", "name_en", "name_ar"}
    assert doctor.get("/api/v1/reference/potions").status_code == 404
    assert api(cast.patient_user).get("/api/v1/reference/specialties").status_code == 403

"""The clinic console's settings pages save through the same rules as the API, in Arabic and English."""

from __future__ import annotations

from django.test import Client

from shifa.catalog.actions import reference_list_load
from shifa.directory.models import InsurancePartner, Service, ServiceArea
from shifa.scheduling.models import OpeningInterval
from tests.conftest import sign_in_page


def browser(cast, role="clinic_admin", language="en"):
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE=language), cast.staff_a[role])


def url(cast, name):
    return f"/clinic/{cast.clinic_a.external_id}/settings/{name}"


def test_opening_hours_are_written_as_stretches_per_day(cast):
    type(cast.staff_a["clinic_admin"]).objects.filter(pk=cast.staff_a["clinic_admin"].pk).update(
        language="ar"
    )
    admin = browser(cast, language="ar")
    page = admin.get(url(cast, "hours"))
    assert (
        page.status_code == 200
        and 'dir="rtl"' in page.content.decode()
        and "الاثنين" in page.content.decode()
    )
    # the hint's example is the format to type: left to right inside the Arabic sentence, still translated
    assert 'مثل <bdi dir="ltr">08:30-13:00, 14:00-18:00</bdi>؛' in page.content.decode()
    saved = admin.post(url(cast, "hours"), {"day_0": "08:30-13:00, 14:00-18:00", "day_1": "08:30-13:00"})
    assert saved.status_code == 302
    assert OpeningInterval.objects.for_clinic(cast.clinic_a).count() == 3
    again = admin.get(url(cast, "hours")).content.decode()
    assert 'value="08:30-13:00, 14:00-18:00"' in again
    bad = browser(cast).post(url(cast, "hours"), {"day_2": "8 to 5"})
    assert bad.status_code == 400 and 'id="id_day_2_error"' in bad.content.decode()
    overlap = browser(cast).post(url(cast, "hours"), {"day_2": "08:00-12:00, 11:00-15:00"})
    assert overlap.status_code == 400 and 'id="id_day_2_error"' in overlap.content.decode()
    assert OpeningInterval.objects.for_clinic(cast.clinic_a).count() == 3  # nothing half-written


def test_a_service_with_three_prices(cast):
    admin = browser(cast)
    saved = admin.post(
        url(cast, "services"),
        {"name_ar": "كشف", "name_en": "Consultation", "office": "20", "video": "15.5", "home": "35"},
    )
    assert saved.status_code == 302
    service = Service.objects.for_clinic(cast.clinic_a).get()
    assert sorted(str(p.amount) for p in service.prices.all()) == ["15.500", "20.000", "35.000"]
    assert "Consultation" in admin.get(url(cast, "services")).content.decode()
    bad = admin.post(url(cast, "services"), {"name_ar": "x", "name_en": "y", "office": "1.2345"})
    assert bad.status_code == 400 and "three decimal places" in bad.content.decode()


def test_an_area_and_an_insurer(cast):
    reference_list_load("insurers")
    admin = browser(cast)
    area = {
        "name": "Zarqa",
        "center_lat": "32.06",
        "center_lng": "36.09",
        "radius_km": "8",
        "travel_buffer_minutes": "45",
    }
    assert admin.post(url(cast, "areas"), area).status_code == 302
    assert ServiceArea.objects.for_clinic(cast.clinic_a).get().travel_buffer_minutes == 45
    partner = {"insurer": "jic", "copay_percent": "20", "pre_approval_required": "on"}
    assert admin.post(url(cast, "insurance"), partner).status_code == 302
    saved = InsurancePartner.objects.for_clinic(cast.clinic_a).get()
    assert saved.pre_approval_required and str(saved.copay_percent) == "20.00"


def test_secretaries_and_nurses_cannot_open_the_settings(cast):
    for role in ("secretary", "nurse"):
        for name in ("hours", "services", "areas", "insurance"):
            assert browser(cast, role).get(url(cast, name)).status_code == 403

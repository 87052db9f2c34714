"""The clinic profile page (CL-1): address in both languages, location, languages, facilities and photos."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from shifa.directory.models import ClinicPhoto, ClinicProfile
from tests.conftest import sign_in_page
from tests.routes import png_bytes

PROFILE = {
    "address_ar": "شارع مكة، عمّان",
    "address_en": "Mecca Street, Amman",
    "latitude": "31.97",
    "longitude": "35.85",
    "phone": "0791234567",
    "languages": ["ar", "en"],
    "facilities": ["parking", "wheelchair"],
}


@pytest.fixture
def admin_page(cast):
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="en"), cast.staff_a["clinic_admin"])


def url(cast, suffix=""):
    return f"/clinic/{cast.clinic_a.external_id}/settings/{suffix}"


def test_the_profile_is_saved_and_shown_again(cast, admin_page):
    assert admin_page.post(url(cast, "profile"), PROFILE).status_code == 302
    profile = ClinicProfile.objects.for_clinic(cast.clinic_a).get()
    assert profile.phone == "+962791234567" and profile.facilities == ["parking", "wheelchair"]
    page = admin_page.get(url(cast, "profile")).content.decode()
    assert "Mecca Street, Amman" in page


@pytest.mark.parametrize(
    ("change", "field"),
    [({"latitude": "95"}, "latitude"), ({"languages": []}, "languages"), ({"phone": "12"}, "phone")],
)
def test_bad_profile_input_is_refused_on_its_field(cast, admin_page, change, field):
    response = admin_page.post(url(cast, "profile"), {**PROFILE, **change})
    assert response.status_code == 400 and field in response.context["form"].errors
    assert not ClinicProfile.objects.for_clinic(cast.clinic_a).exists()


def _jpeg_with_location() -> bytes:
    picture = Image.new("RGB", (3000, 2000), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "CameraMaker"  # Make
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif)
    return out.getvalue()


def test_a_photo_is_re_encoded_small_without_camera_data_and_served_to_anyone(cast, admin_page):
    upload = SimpleUploadedFile("front.jpg", _jpeg_with_location(), "image/jpeg")
    added = admin_page.post(url(cast, "photos"), {"image": upload, "caption_en": "Entrance"})
    assert added.status_code == 302
    photo = ClinicPhoto.objects.for_clinic(cast.clinic_a).get()
    assert (photo.width, photo.height) == (1600, 1067)
    served = Client().get(f"/clinic-photos/{photo.external_id}")
    assert served.status_code == 200 and served["Content-Type"] == "image/jpeg"
    body = b"".join(served.streaming_content)
    stored = Image.open(io.BytesIO(body))
    assert stored.size == (1600, 1067) and not stored.getexif()
    assert admin_page.post(url(cast, f"photos/{photo.external_id}/remove")).status_code == 302
    assert Client().get(f"/clinic-photos/{photo.external_id}").status_code == 404


def test_a_file_that_is_not_a_photo_is_refused_and_nothing_stored(cast, admin_page):
    fake = SimpleUploadedFile("cv.png", b"%PDF-1.7 not an image", "image/png")
    response = admin_page.post(url(cast, "photos"), {"image": fake})
    assert response.status_code == 400 and "image" in response.context["photo_form"].errors
    assert not ClinicPhoto.objects.for_clinic(cast.clinic_a).exists()


def test_at_most_twelve_photos(cast, admin_page):
    for n in range(12):
        upload = SimpleUploadedFile(f"{n}.png", png_bytes(), "image/png")
        assert admin_page.post(url(cast, "photos"), {"image": upload}).status_code == 302
    upload = SimpleUploadedFile("13.png", png_bytes(), "image/png")
    refused = admin_page.post(url(cast, "photos"), {"image": upload})
    assert refused.status_code == 400 and "at most 12" in refused.content.decode()
    assert ClinicPhoto.objects.for_clinic(cast.clinic_a).count() == 12


def test_secretary_and_nurse_cannot_change_the_profile_or_photos(cast):
    for role in ("secretary", "nurse"):
        client = sign_in_page(Client(), cast.staff_a[role])
        assert client.post(url(cast, "profile"), PROFILE).status_code == 403
        upload = SimpleUploadedFile("x.png", png_bytes(), "image/png")
        assert client.post(url(cast, "photos"), {"image": upload}).status_code == 403
    assert not ClinicProfile.objects.for_clinic(cast.clinic_a).exists()
    assert not ClinicPhoto.objects.for_clinic(cast.clinic_a).exists()


def test_another_clinics_photo_cannot_be_removed(cast, admin_page):
    from tests.routes import Target, _photo

    theirs = _photo(Target(cast.clinic_b, cast.membership_b))
    assert admin_page.post(url(cast, f"photos/{theirs}/remove")).status_code == 404
    assert ClinicPhoto.unscoped.filter(external_id=theirs).exists()


def test_the_upload_limit_lets_a_photo_through_but_not_more(settings):
    from shifa.core.asgi_limits import body_limit_for

    assert (
        body_limit_for("/clinic/3f0c1d8e-0000-4000-8000-000000000000/settings/photos", 1024)
        == 6 * 1024 * 1024
    )
    assert body_limit_for("/clinic/3f0c1d8e-0000-4000-8000-000000000000/settings/profile", 1024) == 1024

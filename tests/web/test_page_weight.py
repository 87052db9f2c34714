"""What keeps the patient app light on a phone (docs/decisions/0028): pages gzipped, htmx only where a page uses
it, one booking form for a doctor's free times, and static files under hashed names once collected."""

from __future__ import annotations

import gzip
import json
import re

import pytest
from django.test import Client, override_settings

from shifa.core.staticfiles import StaticFilesStorage
from shifa.directory.actions import listings_refresh
from tests.conftest import sign_in_page
from tests.support.booking import open_for_booking
from tests.web.test_telehealth_pages import ask, conversation_of

HTMX = "/static/shifa/vendor/htmx.min.js"


def patient(cast) -> Client:
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="en"), cast.patient_user)


def test_pages_are_gzipped_for_browsers_that_accept_it(cast):
    me = patient(cast)
    plain = me.get("/app/appointments")
    zipped = me.get("/app/appointments", HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert "Content-Encoding" not in plain and "Accept-Encoding" in plain["Vary"]
    assert zipped["Content-Encoding"] == "gzip"
    assert gzip.decompress(zipped.content).decode().count("<main") == 1
    assert len(zipped.content) < len(plain.content) / 2


def test_patient_pages_load_htmx_only_where_they_use_it(cast):
    me = patient(cast)
    for path in ("/app", "/app/search", "/app/appointments", "/app/record"):
        body = me.get(path).content.decode()
        assert "hx-" not in body.split("<body", 1)[1].split(">", 1)[1], path  # nothing on the page needs it
        assert HTMX not in body, path
    urgent = ask(cast, me)
    waiting = me.get(f"/app/urgent/{urgent.external_id}").content.decode()
    assert "hx-get" in waiting and f'<script src="{HTMX}" defer></script>' in waiting
    conversation = conversation_of(cast)
    thread = me.get(f"/app/messages/{conversation.external_id}").content.decode()
    assert f'<script src="{HTMX}" defer></script>' in thread
    assert thread.index(HTMX) < thread.index("/static/shifa/js/chat.js")
    assert HTMX in Client().get("/accounts/sign-in").content.decode()  # the other front ends keep it


def test_a_doctors_free_times_are_one_form_with_a_button_per_time(cast):
    clinic = open_for_booking(cast)
    listings_refresh(clinic_pk=clinic.pk)
    body = (
        patient(cast).get(f"/app/doctors/{clinic.external_id}/{clinic.doctor.external_id}").content.decode()
    )
    times = re.findall(r'<button[^>]* name="starts_at" value="([^"]+)" data-slot="\1"', body)
    assert len(times) > 10 and len(set(times)) == len(times)
    booking = re.findall(r'<form method="post" class="stack" action="/app/book">', body)
    assert len(booking) == 1
    form = body[body.index('action="/app/book"') : body.index("</form>", body.index('action="/app/book"'))]
    assert form.count("data-slot=") == len(times) and form.count('name="csrfmiddlewaretoken"') == 1
    assert f'name="doctor" value="{clinic.doctor.external_id}"' in form


def test_static_names_are_hashed_once_collected_and_plain_before(tmp_path):
    with override_settings(DEBUG=False):
        assert (
            StaticFilesStorage(location=tmp_path).url("shifa/css/shifa.css") == "/static/shifa/css/shifa.css"
        )
        (tmp_path / "staticfiles.json").write_text(
            json.dumps(
                {
                    "version": "1.1",
                    "hash": "x",
                    "paths": {"shifa/css/shifa.css": "shifa/css/shifa.0123456789ab.css"},
                }
            )
        )
        collected = StaticFilesStorage(location=tmp_path)
        assert collected.url("shifa/css/shifa.css") == "/static/shifa/css/shifa.0123456789ab.css"
        with pytest.raises(ValueError, match="Missing staticfiles manifest entry"):
            collected.url("shifa/css/not-collected.css")
    with override_settings(DEBUG=True):  # edits show at once while developing
        assert collected.url("shifa/css/shifa.css") == "/static/shifa/css/shifa.css"

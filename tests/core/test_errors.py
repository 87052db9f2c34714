"""Bad input always gets a clear 4xx problem+json with field errors, never a 500 (API.md)."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client

PROBLEM = "application/problem+json"


def problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"].startswith("/problems/")
    assert body["instance"].startswith("urn:request:")
    return body


def test_malformed_json_is_400_with_body_error(db):
    response = Client().post("/api/v1/auth/tokens", "{not json", content_type="application/json")
    body = problem(response, 400)
    assert body["errors"][0]["field"] == "body"
    assert body["errors"][0]["code"] == "malformed_json"


def test_missing_fields_are_422_per_field(db):
    body = problem(Client().post("/api/v1/auth/tokens", "{}", content_type="application/json"), 422)
    fields = {(e["field"], e["code"]) for e in body["errors"]}
    assert ("email", "required") in fields and ("password", "required") in fields


def test_wrong_types_are_422_per_field(db):
    body = problem(
        Client().post(
            "/api/v1/auth/tokens", '{"email": 5, "password": ["x"]}', content_type="application/json"
        ),
        422,
    )
    assert {e["field"] for e in body["errors"]} == {"email", "password"}


def test_json_array_instead_of_object_is_422(db):
    problem(Client().post("/api/v1/auth/tokens", "[1,2]", content_type="application/json"), 422)


def test_wrong_type_in_path_body_of_staff_operation(cast, api):
    url = f"/api/v1/clinics/{cast.clinic_a.external_id}/roles/secretary/permissions/tenancy.view_members"
    body = problem(api(cast.staff_a["clinic_admin"]).put(url, {"granted": "maybe"}), 422)
    assert body["errors"][0]["field"] == "granted"


def test_unknown_ids_are_404(cast, api):
    url = f"/api/v1/clinics/{cast.clinic_a.external_id}/members/{uuid.uuid4()}"
    problem(api(cast.staff_a["clinic_admin"]).get(url), 404)


def test_malformed_id_is_404_not_500(cast, api):
    url = f"/api/v1/clinics/{cast.clinic_a.external_id}/members/not-a-uuid"
    response = api(cast.staff_a["clinic_admin"]).get(url)
    assert response.status_code in {404, 422}
    assert response["Content-Type"] == PROBLEM


def test_oversized_body_is_413(db, settings):
    big = '{"email": "' + "a" * (settings.SHIFA_MAX_BODY_BYTES + 10) + '", "password": "x"}'
    problem(Client().post("/api/v1/auth/tokens", big, content_type="application/json"), 413)


def test_oversized_page_post_is_413_page(db, settings):
    response = Client().post("/accounts/sign-in", {"email": "a" * (settings.SHIFA_MAX_BODY_BYTES + 10)})
    assert response.status_code == 413
    assert b"<html" in response.content


def test_bad_content_length_is_400(db):
    response = Client().generic("POST", "/api/v1/auth/tokens", "{}", CONTENT_LENGTH="abc")
    problem(response, 400)


def test_unknown_api_path_is_404_problem(db):
    problem(Client().get("/api/v1/no-such-thing"), 404)


def test_unknown_page_is_404_page(db):
    response = Client().get("/no-such-page")
    assert response.status_code == 404
    assert b"<html" in response.content


@pytest.mark.parametrize("limit", ["0", "1000", "abc"])
def test_out_of_range_limit_is_422(cast, api, limit):
    url = f"/api/v1/clinics/{cast.clinic_a.external_id}/members?limit={limit}"
    body = problem(api(cast.staff_a["clinic_admin"]).get(url), 422)
    assert body["errors"][0]["field"] == "limit"


def test_forged_cursor_is_422(cast, api):
    url = f"/api/v1/clinics/{cast.clinic_a.external_id}/members?cursor=eyJhZnRlciI6MX0"
    body = problem(api(cast.staff_a["clinic_admin"]).get(url), 422)
    assert body["errors"][0]["field"] == "cursor"


def test_errors_are_in_the_callers_language(db):
    response = Client().post(
        "/api/v1/auth/tokens", "{}", content_type="application/json", HTTP_ACCEPT_LANGUAGE="ar"
    )
    body = problem(response, 422)
    assert body["title"] != "Validation failed"
    assert any("\u0600" <= ch <= "\u06ff" for ch in body["detail"])


def test_invalid_bearer_token_is_401(db):
    response = Client().get("/api/v1/me", HTTP_AUTHORIZATION="Bearer shf_forged")
    body = problem(response, 401)
    assert body["code"] == "invalid_token"


def test_database_conflicts_become_409_problems(db):
    from django.db import IntegrityError, transaction

    from shifa.core.errors import problem_for
    from tests.factories import UserFactory

    user = UserFactory()
    with pytest.raises(IntegrityError) as info, transaction.atomic():
        UserFactory(email=user.email.upper())
    problem = problem_for(info.value)
    assert (problem.status, problem.code) == (409, "duplicate")
    assert problem_for(RuntimeError("bug")) is None


def test_nul_bytes_and_other_data_errors_are_422_not_500(cast, api):
    admin = api(cast.staff_a["clinic_admin"])
    clinic = cast.clinic_a.external_id
    anonymous = Client().post(
        "/api/v1/auth/tokens", '{"email": "a\\u0000b@x.jo", "password": "x"}', content_type="application/json"
    )
    assert anonymous.status_code == 422
    assert admin.get(f"/api/v1/clinics/{clinic}/members?role=%00").status_code == 422
    assert api(cast.platform_admin).get("/api/v1/platform/audit-events?table=%00").status_code == 422
    assert (
        admin.put(
            f"/api/v1/clinics/{clinic}/roles/secretary/permissions/a%00b", {"granted": True}
        ).status_code
        == 422
    )


def test_cursors_are_opaque_and_reveal_no_integer_ids(cast, api):
    import base64

    admin = api(cast.staff_a["clinic_admin"])
    page = admin.get(f"/api/v1/clinics/{cast.clinic_a.external_id}/members?limit=1").json()
    cursor = page["next_cursor"]
    decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert b"after" not in decoded
    tampered = cursor[:-4] + ("AAAA" if not cursor.endswith("AAAA") else "BBBB")
    response = admin.get(f"/api/v1/clinics/{cast.clinic_a.external_id}/members?cursor={tampered}")
    assert response.status_code == 422


def test_unsupported_method_on_the_api_is_a_problem(cast, api):
    response = api(cast.staff_a["clinic_admin"]).request(
        "HEAD", f"/api/v1/clinics/{cast.clinic_a.external_id}"
    )
    assert response.status_code in {200, 405}
    if response.status_code == 405:
        assert response["Content-Type"] == PROBLEM
    patch = api(cast.staff_a["clinic_admin"]).request(
        "PATCH", f"/api/v1/clinics/{cast.clinic_a.external_id}", {}
    )
    assert patch.status_code == 403 and patch.json()["code"] == "route_not_registered"


def test_stale_token_does_not_block_signing_in_again(cast):
    from tests.factories import PASSWORD

    response = Client().post(
        "/api/v1/auth/tokens",
        {"email": cast.patient_user.email, "password": PASSWORD},
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer shf_expired",
    )
    assert response.status_code == 201


def test_audit_filter_refuses_times_without_a_zone(cast, api):
    response = api(cast.platform_admin).get("/api/v1/platform/audit-events?since=2026-11-25T08:00:00")
    body = problem(response, 422)
    assert body["errors"][0]["field"] == "since"
    ok = api(cast.platform_admin).get("/api/v1/platform/audit-events?since=2026-11-25T08:00:00Z")
    assert ok.status_code == 200


def test_field_messages_follow_the_callers_language(cast, api):
    url = f"/api/v1/clinics/{cast.clinic_a.external_id}/roles/secretary/permissions/tenancy.view_members"
    admin = api(cast.staff_a["clinic_admin"])
    arabic = admin.put(url, {"granted": "maybe"}, headers={"Accept-Language": "ar"}).json()["errors"][0]
    english = admin.put(url, {"granted": "maybe"}, headers={"Accept-Language": "en"}).json()["errors"][0]
    assert english["message"] == "Enter true or false."
    assert arabic["message"] != english["message"] and arabic["code"] == english["code"] == "bool_parsing"


def test_refusals_use_the_users_language(cast, api):
    from shifa.accounts.models import User

    User.objects.filter(pk=cast.staff_a["nurse"].pk).update(language="en")
    response = api(cast.staff_a["nurse"]).get(f"/api/v1/clinics/{cast.clinic_a.external_id}/members")
    assert response.status_code == 403
    assert response.json()["detail"] == "You do not have permission to do this."

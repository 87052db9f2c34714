"""Staff invitations: who may invite whom, the emailed link (sent over a real SMTP server on loopback), accepting
it through the API and the pages, and the link's single use, expiry and withdrawal."""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.test import Client

from shifa.access.models import Role
from shifa.accounts.models import User
from shifa.core import crypto, timezones
from shifa.tenancy.models import Invitation, Membership
from tests.conftest import ApiClient, sign_in_page
from tests.factories import PASSWORD, MembershipFactory, UserFactory, enrol_authenticator
from tests.support import smtp
from tests.support.smtp import free_port

# The SMTP fixture (bound by assignment: an imported fixture used as an argument trips ruff's F811).
smtp_server = smtp.smtp_server

NEW_EMAIL = "new.nurse@example.jo"
NEW_PASSWORD = "a-fresh-long-passphrase-7"
LINK_PATH = re.compile(r"^/accounts/invitations/(?P<token>[A-Za-z0-9_-]+)$")


@pytest.fixture
def clock(monkeypatch):
    """Move the product's clock forward without waiting."""
    offset = {"value": dt.timedelta(0)}
    real_now = timezones.now
    monkeypatch.setattr(timezones, "now", lambda: real_now() + offset["value"])
    return offset


def invitations_url(clinic) -> str:
    return f"/api/v1/clinics/{clinic.external_id}/invitations"


def invite(cast, api, email=NEW_EMAIL, role="nurse", *, by=None, clinic=None):
    inviter = by if by is not None else cast.staff_a["clinic_admin"]
    return api(inviter).post(invitations_url(clinic or cast.clinic_a), {"email": email, "role": role})


def token_from(server, email=NEW_EMAIL) -> str:
    message = server.to(email)[-1]
    parts = urllib.parse.urlsplit(server.link_in(message))
    assert f"{parts.scheme}://{parts.netloc}" == django_settings.SHIFA_PUBLIC_URL
    match = LINK_PATH.match(parts.path)
    assert match, parts.path
    return match["token"]


def invited(cast, api, server, email=NEW_EMAIL, role="nurse", **kw) -> tuple[dict, str]:
    response = invite(cast, api, email, role, **kw)
    assert response.status_code == 201, response.content
    return response.json(), token_from(server, email)


def accept(token, *, as_user=None, **body):
    return ApiClient(as_user).post("/api/v1/invitations/accept", {"token": token, **body})


def has_membership(clinic, email, role) -> bool:
    return Membership.unscoped.filter(
        clinic=clinic, user__email=email, role__code=role, is_active=True
    ).exists()


def field_codes(response) -> dict[str, str]:
    return {e["field"]: e["code"] for e in response.json()["errors"]}


# --- Sending ---------------------------------------------------------------------------------------------------


def test_clinic_admin_invites_and_the_link_arrives_by_smtp(cast, api, smtp_server):
    response = invite(cast, api, email="New.Nurse@Example.JO")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == NEW_EMAIL
    assert body["role"] == "nurse"
    assert body["accepted_at"] is None and body["revoked_at"] is None

    assert mail.outbox == []
    [message] = smtp_server.messages
    assert message.recipients == [NEW_EMAIL]
    assert message.subject == "You are invited to join Clinic A on Shifa"
    assert "clinic_admin of A invited you to join Clinic A" in message.text
    token = token_from(smtp_server)
    assert smtp_server.link_in(message) in message.html

    stored = Invitation.unscoped.get(external_id=body["id"])
    assert stored.clinic == cast.clinic_a
    assert stored.invited_by == cast.staff_a["clinic_admin"]
    assert token not in stored.token_digest
    assert stored.token_digest == crypto.digest("invitation", token)
    assert dt.timedelta(days=6, hours=23) < stored.expires_at - timezones.now() <= dt.timedelta(days=7)

    listed = api(cast.staff_a["clinic_admin"]).get(invitations_url(cast.clinic_a))
    assert [i["id"] for i in listed.json()["items"]] == [body["id"]]


def test_the_mail_is_in_the_inviters_language(cast, api, smtp_server):
    admin = cast.staff_a["clinic_admin"]
    User.objects.filter(pk=admin.pk).update(language="ar")
    invited(cast, api, smtp_server)
    [message] = smtp_server.messages
    assert message.subject == "أنت مدعو للانضمام إلى عيادة أ على شفاء"
    assert 'dir="rtl"' in message.html


# --- Accepting through the API ----------------------------------------------------------------------------------


def test_a_new_person_accepts_once_and_joins_with_a_confirmed_email(cast, api, smtp_server):
    _, token = invited(cast, api, smtp_server)
    response = accept(token, full_name="Noor Nurse", password=NEW_PASSWORD, language="en")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["needs_authenticator"] is True
    assert body["role"] == "nurse"
    assert body["clinic"]["id"] == str(cast.clinic_a.external_id)

    user = User.objects.get(email=NEW_EMAIL)
    assert user.full_name == "Noor Nurse"
    assert user.email_verified_at is not None
    assert has_membership(cast.clinic_a, NEW_EMAIL, "nurse")
    invitation = Invitation.unscoped.get(email=NEW_EMAIL)
    assert invitation.accepted_by == user and invitation.accepted_at is not None

    tokens = ApiClient().post("/api/v1/auth/tokens", {"email": NEW_EMAIL, "password": NEW_PASSWORD})
    assert tokens.status_code == 201  # the email is confirmed: no "email_unverified"

    again = accept(token, full_name="Someone Else", password="another-long-passphrase-3")
    assert again.status_code == 409
    assert again.json()["code"] == "invitation_used"
    assert User.objects.filter(email=NEW_EMAIL).count() == 1


def test_an_expired_invitation_cannot_be_accepted(cast, api, smtp_server, clock):
    _, token = invited(cast, api, smtp_server)
    clock["value"] = dt.timedelta(days=8)
    response = accept(token, full_name="Noor Nurse", password=NEW_PASSWORD)
    assert response.status_code == 409
    assert response.json()["code"] == "invitation_expired"
    assert not User.objects.filter(email=NEW_EMAIL).exists()
    assert not has_membership(cast.clinic_a, NEW_EMAIL, "nurse")


def test_a_withdrawn_invitation_cannot_be_accepted(cast, api, smtp_server):
    body, token = invited(cast, api, smtp_server)
    withdrawn = api(cast.staff_a["clinic_admin"]).delete(f"{invitations_url(cast.clinic_a)}/{body['id']}")
    assert withdrawn.status_code == 204
    assert Invitation.unscoped.get(external_id=body["id"]).revoked_at is not None
    response = accept(token, full_name="Noor Nurse", password=NEW_PASSWORD)
    assert response.status_code == 404
    assert response.json()["code"] == "invitation_invalid"
    assert not User.objects.filter(email=NEW_EMAIL).exists()
    again = api(cast.staff_a["clinic_admin"]).delete(f"{invitations_url(cast.clinic_a)}/{body['id']}")
    assert again.status_code == 404


def test_an_accepted_invitation_cannot_be_withdrawn(cast, api, smtp_server):
    body, token = invited(cast, api, smtp_server)
    assert accept(token, full_name="Noor Nurse", password=NEW_PASSWORD).status_code == 200
    response = api(cast.staff_a["clinic_admin"]).delete(f"{invitations_url(cast.clinic_a)}/{body['id']}")
    assert response.status_code == 404
    assert has_membership(cast.clinic_a, NEW_EMAIL, "nurse")


def test_an_unknown_token_is_not_found(db):
    response = accept("not-a-real-invitation-token")
    assert response.status_code == 404
    assert response.json()["code"] == "invitation_invalid"


def test_the_signed_in_person_it_names_accepts_it(cast, api, smtp_server):
    existing = UserFactory(email="existing.doc@example.jo")
    _, token = invited(cast, api, smtp_server, email="Existing.Doc@example.jo", role="doctor")
    response = accept(token, as_user=existing)
    assert response.status_code == 200, response.content
    assert response.json()["needs_authenticator"] is True
    assert response.json()["role"] == "doctor"
    assert has_membership(cast.clinic_a, existing.email, "doctor")
    assert Invitation.unscoped.get(email=existing.email).accepted_by == existing


def test_an_account_with_an_authenticator_needs_no_further_setup(cast, api, smtp_server):
    existing = UserFactory(email="existing.doc@example.jo")
    enrol_authenticator(existing)
    _, token = invited(cast, api, smtp_server, email=existing.email, role="secretary")
    response = accept(token, as_user=existing)
    assert response.status_code == 200
    assert response.json()["needs_authenticator"] is False
    assert has_membership(cast.clinic_a, existing.email, "secretary")


def test_a_signed_in_person_with_another_email_cannot_take_it(cast, api, smtp_server):
    _, token = invited(cast, api, smtp_server)
    response = accept(token, as_user=cast.outsider)
    assert response.status_code == 409
    assert response.json()["code"] == "invitation_other_account"
    assert NEW_EMAIL in response.json()["detail"]
    assert not Membership.unscoped.filter(user=cast.outsider).exists()
    # The invitation stays open for the person it names.
    assert accept(token, full_name="Noor Nurse", password=NEW_PASSWORD).status_code == 200


def test_anonymous_acceptance_for_an_existing_account_asks_to_sign_in(cast, api, smtp_server):
    existing = UserFactory(email="existing.doc@example.jo")
    _, token = invited(cast, api, smtp_server, email=existing.email)
    response = accept(token, full_name="Mallory", password=NEW_PASSWORD)
    assert response.status_code == 409
    assert response.json()["code"] == "sign_in_to_accept"
    existing.refresh_from_db()
    assert existing.full_name != "Mallory"
    assert existing.check_password(PASSWORD)
    assert not has_membership(cast.clinic_a, existing.email, "nurse")


def test_a_new_account_needs_a_name_and_a_password(cast, api, smtp_server):
    _, token = invited(cast, api, smtp_server)
    response = accept(token)
    assert response.status_code == 422
    assert field_codes(response) == {"full_name": "required", "password": "required"}
    weak = accept(token, full_name="Noor Nurse", password="password123")
    assert weak.status_code == 422
    assert "password" in field_codes(weak)
    assert not User.objects.filter(email=NEW_EMAIL).exists()
    assert accept(token, full_name="Noor Nurse", password=NEW_PASSWORD).status_code == 200


# --- Who may invite whom ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["clinic_admin", "general_admin"])
def test_a_clinic_admin_cannot_invite_to_their_own_rank_or_above(cast, api, smtp_server, role):
    response = invite(cast, api, role=role)
    assert response.status_code == 422
    assert list(field_codes(response)) == ["role"]
    assert not Invitation.unscoped.filter(email=NEW_EMAIL).exists()
    assert smtp_server.messages == []


def test_a_clinic_admin_is_told_the_role_is_too_high(cast, api, smtp_server):
    response = invite(cast, api, role="clinic_admin")
    assert field_codes(response) == {"role": "role_too_high"}


def test_an_unknown_or_non_staff_role_is_refused(cast, api, smtp_server):
    for role in ("patient", "platform_admin", "surgeon"):
        response = invite(cast, api, role=role, by=cast.general_admin)
        assert response.status_code == 422, role
        assert field_codes(response) == {"role": "invalid_choice"}


def test_the_general_admin_can_invite_a_clinic_admin_but_not_another_general_admin(cast, api, smtp_server):
    _, token = invited(
        cast, api, smtp_server, email="new.admin@example.jo", role="clinic_admin", by=cast.general_admin
    )
    assert accept(token, full_name="New Admin", password=NEW_PASSWORD).status_code == 200
    assert has_membership(cast.clinic_a, "new.admin@example.jo", "clinic_admin")
    refused = invite(cast, api, email="another@example.jo", role="general_admin", by=cast.general_admin)
    assert refused.status_code == 422


@pytest.mark.parametrize("role", ["secretary", "doctor", "nurse", "assistant_doctor"])
def test_other_staff_cannot_invite(cast, api, smtp_server, role):
    response = invite(cast, api, role="nurse", by=cast.staff_a[role])
    assert response.status_code == 403
    assert not Invitation.unscoped.filter(email=NEW_EMAIL).exists()
    assert smtp_server.messages == []


def test_patients_and_strangers_cannot_invite(cast, api, smtp_server):
    for user in (cast.patient_user, cast.outsider):
        assert (
            invite(cast, api, by=user).status_code == 404
        )  # no role in the clinic: it does not exist for them
    anonymous = ApiClient().post(invitations_url(cast.clinic_a), {"email": NEW_EMAIL, "role": "nurse"})
    assert anonymous.status_code == 401
    assert smtp_server.messages == []


def test_staff_of_another_clinic_cannot_invite_into_it_or_withdraw_its_invitations(cast, api, smtp_server):
    response = invite(cast, api, by=cast.doctor_b)
    assert response.status_code == 404
    body, _ = invited(cast, api, smtp_server)
    withdraw = api(cast.doctor_b).delete(f"{invitations_url(cast.clinic_a)}/{body['id']}")
    assert withdraw.status_code == 404
    via_own_clinic = api(cast.doctor_b).delete(f"{invitations_url(cast.clinic_b)}/{body['id']}")
    assert via_own_clinic.status_code == 403  # a doctor may not manage invitations at all
    assert Invitation.unscoped.get(external_id=body["id"]).revoked_at is None


def test_an_admin_sees_and_withdraws_only_their_own_clinics_invitations(cast, api, smtp_server):
    admin_b = UserFactory(full_name="Admin of B")
    MembershipFactory(clinic=cast.clinic_b, user=admin_b, role=Role.objects.get(code="clinic_admin"))
    in_b, _ = invited(cast, api, smtp_server, email="b.nurse@example.jo", by=admin_b, clinic=cast.clinic_b)
    admin_a = api(cast.staff_a["clinic_admin"])
    assert admin_a.delete(f"{invitations_url(cast.clinic_a)}/{in_b['id']}").status_code == 404
    assert admin_a.delete(f"{invitations_url(cast.clinic_b)}/{in_b['id']}").status_code == 404
    assert admin_a.get(invitations_url(cast.clinic_a)).json()["items"] == []
    assert Invitation.unscoped.get(external_id=in_b["id"]).revoked_at is None


def test_inviting_someone_who_already_holds_the_role_is_a_conflict(cast, api, smtp_server):
    nurse = cast.staff_a["nurse"]
    response = invite(cast, api, email=nurse.email.upper(), role="nurse")
    assert response.status_code == 409
    assert response.json()["code"] == "already_member"
    assert smtp_server.messages == []
    another_role = invite(cast, api, email=nurse.email, role="secretary")
    assert another_role.status_code == 201


def test_a_bad_email_is_refused(cast, api, smtp_server):
    response = invite(cast, api, email="not-an-email")
    assert response.status_code == 422
    assert field_codes(response) == {"email": "invalid_email"}
    assert smtp_server.messages == []


def test_a_new_invitation_to_the_same_email_replaces_the_open_one(cast, api, smtp_server):
    first, first_token = invited(cast, api, smtp_server, role="nurse")
    second, second_token = invited(cast, api, smtp_server, role="assistant_doctor")
    assert first_token != second_token
    assert Invitation.unscoped.get(external_id=first["id"]).revoked_at is not None
    assert Invitation.unscoped.get(external_id=second["id"]).revoked_at is None
    old = accept(first_token, full_name="Noor Nurse", password=NEW_PASSWORD)
    assert old.status_code == 404
    assert old.json()["code"] == "invitation_invalid"
    new = accept(second_token, full_name="Noor Nurse", password=NEW_PASSWORD)
    assert new.status_code == 200
    assert new.json()["role"] == "assistant_doctor"
    assert not has_membership(cast.clinic_a, NEW_EMAIL, "nurse")


def test_the_mail_server_being_down_is_a_503_and_a_retry_works(cast, api, smtp_server, settings):
    settings.EMAIL_PORT = free_port()
    down = invite(cast, api)
    assert down.status_code == 503
    assert down.json()["code"] == "mail_unavailable"
    settings.EMAIL_PORT = smtp_server.port
    _, token = invited(cast, api, smtp_server)
    assert Invitation.unscoped.filter(email=NEW_EMAIL, revoked_at=None).count() == 1
    assert accept(token, full_name="Noor Nurse", password=NEW_PASSWORD).status_code == 200


def test_a_failed_send_leaves_the_earlier_invitation_working(cast, api, smtp_server, settings):
    """Sending again revokes the open invitation; when that mail cannot go out, nothing may change: the earlier
    link keeps working and no invitation that nobody received is listed as waiting."""
    first, token = invited(cast, api, smtp_server)
    settings.EMAIL_PORT = free_port()
    assert invite(cast, api, role="assistant_doctor").status_code == 503
    listed = api(cast.staff_a["clinic_admin"]).get(invitations_url(cast.clinic_a)).json()["items"]
    assert [(i["id"], i["revoked_at"]) for i in listed] == [(first["id"], None)]
    response = accept(token, full_name="Noor Nurse", password=NEW_PASSWORD)
    assert response.status_code == 200
    assert response.json()["role"] == "nurse"


# --- The clinic console ---------------------------------------------------------------------------------------


def console(clinic) -> str:
    return f"/clinic/{clinic.external_id}/invitations"


def test_the_console_sends_an_invitation_and_lists_it(cast, smtp_server):
    browser = sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="en"), cast.staff_a["clinic_admin"])
    page = browser.get(console(cast.clinic_a))
    assert page.status_code == 200
    assert b"No invitations yet." in page.content

    sent = browser.post(console(cast.clinic_a), {"email": NEW_EMAIL, "role": "nurse"})
    assert sent.status_code == 302
    assert sent["Location"] == console(cast.clinic_a)
    assert smtp_server.to(NEW_EMAIL)

    listed = browser.get(console(cast.clinic_a))
    assert listed.status_code == 200
    assert NEW_EMAIL.encode() in listed.content
    assert b"Waiting" in listed.content


def test_the_console_offers_only_roles_below_ones_own(cast, smtp_server):
    browser = sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="en"), cast.staff_a["clinic_admin"])
    page = browser.get(console(cast.clinic_a)).content.decode()
    assert 'value="nurse"' in page
    assert 'value="clinic_admin"' not in page and 'value="general_admin"' not in page
    refused = browser.post(console(cast.clinic_a), {"email": NEW_EMAIL, "role": "clinic_admin"})
    assert refused.status_code == 400
    assert smtp_server.messages == []


def test_the_console_is_closed_to_staff_without_invitation_rights(cast, smtp_server):
    browser = sign_in_page(Client(), cast.staff_a["nurse"])
    assert browser.post(console(cast.clinic_a), {"email": NEW_EMAIL, "role": "nurse"}).status_code == 403
    assert not Invitation.unscoped.filter(email=NEW_EMAIL).exists()


def test_a_staff_session_without_the_second_factor_is_sent_to_set_it_up(cast, smtp_server):
    admin = cast.staff_a["clinic_admin"]
    browser = sign_in_page(Client(), admin, mfa=False)
    response = browser.post(console(cast.clinic_a), {"email": NEW_EMAIL, "role": "nurse"})
    assert response.status_code == 302
    location = urllib.parse.urlsplit(response["Location"])
    assert location.path == "/accounts/security"
    assert urllib.parse.parse_qs(location.query)["next"] == [console(cast.clinic_a)]
    assert not Invitation.unscoped.filter(email=NEW_EMAIL).exists()
    assert smtp_server.messages == []


def test_a_staff_session_owing_the_second_factor_is_sent_to_sign_in(cast, smtp_server):
    admin = cast.staff_a["clinic_admin"]
    enrol_authenticator(admin)
    browser = sign_in_page(Client(), admin, mfa=False)
    response = browser.get(console(cast.clinic_a))
    assert response.status_code == 302
    assert urllib.parse.urlsplit(response["Location"]).path == "/accounts/sign-in"


# --- The acceptance page ----------------------------------------------------------------------------------------


def test_the_acceptance_page_creates_the_account_and_signs_in(cast, api, smtp_server):
    _, token = invited(cast, api, smtp_server)
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    page = browser.get(f"/accounts/invitations/{token}")
    assert page.status_code == 200
    assert b"Join Clinic A" in page.content
    assert NEW_EMAIL.encode() in page.content
    assert b'name="password"' in page.content

    response = browser.post(
        f"/accounts/invitations/{token}", {"full_name": "Noor Nurse", "password": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/security"
    user = User.objects.get(email=NEW_EMAIL)
    assert browser.session["_auth_user_id"] == str(user.pk)
    assert browser.get("/accounts/security").status_code == 200
    assert has_membership(cast.clinic_a, NEW_EMAIL, "nurse")
    assert browser.get(f"/accounts/invitations/{token}").status_code == 409  # used


def test_the_acceptance_page_shows_form_errors(cast, api, smtp_server):
    _, token = invited(cast, api, smtp_server)
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    response = browser.post(
        f"/accounts/invitations/{token}", {"full_name": "Noor", "password": "password123"}
    )
    assert response.status_code == 400
    assert b"This password is too common." in response.content
    assert "_auth_user_id" not in browser.session
    assert not User.objects.filter(email=NEW_EMAIL).exists()


def test_the_acceptance_page_for_an_existing_account_asks_to_sign_in_first(cast, api, smtp_server):
    existing = UserFactory(email="existing.doc@example.jo")
    _, token = invited(cast, api, smtp_server, email=existing.email)
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get(f"/accounts/invitations/{token}")
    assert page.status_code == 200
    assert b'name="password"' not in page.content
    assert f"/accounts/sign-in?next=/accounts/invitations/{token}".encode() in page.content

    signed_in = sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="en"), existing, mfa=False)
    accepted = signed_in.post(f"/accounts/invitations/{token}")
    assert accepted.status_code == 302
    assert accepted["Location"] == "/accounts/security"
    assert has_membership(cast.clinic_a, existing.email, "nurse")


def test_the_acceptance_page_refuses_someone_signed_in_with_another_email(cast, api, smtp_server):
    _, token = invited(cast, api, smtp_server)
    browser = sign_in_page(Client(HTTP_ACCEPT_LANGUAGE="en"), cast.outsider, mfa=False)
    response = browser.post(f"/accounts/invitations/{token}", follow=True)
    assert response.redirect_chain[0] == (f"/accounts/invitations/{token}", 302)
    assert NEW_EMAIL.encode() in response.content
    assert not Membership.unscoped.filter(user=cast.outsider).exists()


@pytest.mark.parametrize("state", ["unknown", "withdrawn", "expired"])
def test_the_acceptance_page_for_a_dead_link_explains(cast, api, smtp_server, clock, state):
    body, token = invited(cast, api, smtp_server)
    if state == "unknown":
        token = "x" * 43
    elif state == "withdrawn":
        api(cast.staff_a["clinic_admin"]).delete(f"{invitations_url(cast.clinic_a)}/{body['id']}")
    else:
        clock["value"] = dt.timedelta(days=8)
    page = Client(HTTP_ACCEPT_LANGUAGE="en").get(f"/accounts/invitations/{token}")
    assert page.status_code == (409 if state == "expired" else 404)
    assert b"Invitation not valid" in page.content
    assert b'name="password"' not in page.content

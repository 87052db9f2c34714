"""The clinic console's insurance pages: claims by status, a claim from draft to paid with its file, the
pre-approval queue and applying a patient's insurance to an invoice — in English and Arabic."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from shifa.insurance.models import Claim, Coverage, PreApproval
from tests.conftest import sign_in_page
from tests.insurance.support import covered_invoice, insured_invoice, terms, today


def browser(user, language="en") -> Client:
    type(user).objects.filter(pk=user.pk).update(language=language)
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE=language), user)


def url(clinic, rest: str = "") -> str:
    return f"/clinic/{clinic.external_id}/insurance{rest}"


@pytest.mark.parametrize("language", ["en", "ar"])
def test_a_claim_from_the_claims_page_to_paid(cast, language):
    clinic = cast.clinic_a
    invoice, _ = covered_invoice(clinic, price="40.000")
    client = browser(cast.staff_a["secretary"], language)

    listing = client.get(url(clinic, "/claims"))
    assert listing.status_code == 200 and "data-claim-tabs" in listing.content.decode()
    made = client.post(
        url(clinic, "/claims"),
        {
            "insurer": "jic",
            "period_start": today(clinic).isoformat(),
            "period_end": today(clinic).isoformat(),
        },
    )
    assert made.status_code == 302
    claim = Claim.unscoped.get(clinic=clinic)
    assert made["Location"] == url(clinic, f"/claims/{claim.external_id}")

    detail = url(clinic, f"/claims/{claim.external_id}")
    assert client.post(detail, {"step": "fill"}).status_code == 302
    assert invoice.number in client.get(detail).content.decode()
    assert client.post(detail, {"step": "submit"}).status_code == 302
    assert client.post(detail, {"step": "approve", "approved_amount": "30.000"}).status_code == 302
    assert (
        client.post(
            detail, {"step": "pay", "payment_reference": "BANK-1", "paid_on": today(clinic)}
        ).status_code
        == 302
    )
    claim.refresh_from_db()
    assert (claim.status, str(claim.approved_amount), claim.payment_reference) == ("paid", "30.000", "BANK-1")

    exported = client.get(f"{detail}/export?format=csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[1][rows[0].index("invoice_number")] == invoice.number
    paid_tab = client.get(url(clinic, "/claims?status=paid")).content.decode()
    assert f'data-claim="{claim.external_id}"' in paid_tab


def test_a_step_that_does_not_apply_is_explained(cast):
    covered_invoice(cast.clinic_a)
    client = browser(cast.staff_a["secretary"])
    claim_page = client.post(
        url(cast.clinic_a, "/claims"),
        {"insurer": "jic", "period_start": today(cast.clinic_a), "period_end": today(cast.clinic_a)},
    )
    detail = claim_page["Location"]

    empty_submit = client.post(
        detail, {"step": "pay", "payment_reference": "P", "paid_on": today(cast.clinic_a)}
    )
    unknown_invoice = client.post(detail, {"step": "add", "invoice_number": "1999-000001"})
    draft_export = client.get(f"{detail}/export")

    assert empty_submit.status_code == 409 and "data-problem" in empty_submit.content.decode()
    assert (
        unknown_invoice.status_code == 400
        and "No invoice of this clinic has this number" in unknown_invoice.content.decode()
    )
    assert draft_export.status_code == 409


def test_the_pre_approval_queue(cast):
    terms(cast.clinic_a, pre_approval=True)
    invoice = insured_invoice(cast.clinic_a)
    client = browser(cast.staff_a["clinic_admin"])

    applied = client.post(url(cast.clinic_a), {"invoice_number": invoice.number, "member_number": "M-9"})
    assert applied.status_code == 302
    pre_approval = PreApproval.unscoped.get(coverage__invoice=invoice)
    queue = client.get(url(cast.clinic_a, "/pre-approvals")).content.decode()
    assert f'data-pre-approval="{pre_approval.external_id}"' in queue

    missing_number = client.post(
        url(cast.clinic_a, "/pre-approvals"), {"step": "approve", "pre_approval_id": pre_approval.external_id}
    )
    approved = client.post(
        url(cast.clinic_a, "/pre-approvals"),
        {"step": "approve", "pre_approval_id": pre_approval.external_id, "approval_number": "PA-77"},
    )

    assert missing_number.status_code == 400
    assert approved.status_code == 302
    assert Coverage.unscoped.get(invoice=invoice).status == "posted"
    assert (
        f'data-answered="{pre_approval.external_id}"'
        in client.get(url(cast.clinic_a, "/pre-approvals")).content.decode()
    )


def test_applying_insurance_that_does_not_apply_says_why(cast):
    terms(cast.clinic_a, copay="100")
    invoice = insured_invoice(cast.clinic_a)

    response = browser(cast.staff_a["secretary"]).post(url(cast.clinic_a), {"invoice_number": invoice.number})

    assert response.status_code == 409
    assert "the patient pays all of this invoice" in response.content.decode()


@pytest.mark.parametrize("role", ["doctor", "nurse"])
def test_clinical_staff_do_not_see_the_claims(cast, role):
    client = browser(cast.staff_a[role])

    assert client.get(url(cast.clinic_a, "/claims")).status_code == 403
    assert "/insurance/claims" not in client.get(f"/clinic/{cast.clinic_a.external_id}").content.decode()


def test_another_clinics_claim_page_is_404(cast):
    covered_invoice(cast.clinic_a)
    terms(cast.clinic_a)
    from shifa.insurance.actions import claim_open
    from tests.insurance.support import actor_of

    claim = claim_open(
        actor=actor_of(cast.staff_a["secretary"], cast.clinic_a),
        insurer="jic",
        period_start=today(cast.clinic_a),
        period_end=today(cast.clinic_a),
    )
    client = browser(cast.staff_a["secretary"])

    assert (
        client.get(f"/clinic/{cast.clinic_b.external_id}/insurance/claims/{claim.external_id}").status_code
        == 404
    )

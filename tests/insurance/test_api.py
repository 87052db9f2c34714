"""The insurance API and its batch file for insurers: who may call it, other clinics' ids, and the file's content
parsed back (CSV with a BOM for Excel, and JSON)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from shifa.insurance import queries
from shifa.insurance.models import ClaimLine
from tests.factories import MembershipFactory, UserFactory
from tests.insurance.support import covered_invoice, insured_invoice, terms, today

BASE = "/api/v1/clinics/{clinic}/insurance"


def base(clinic) -> str:
    return BASE.format(clinic=clinic.external_id)


@pytest.fixture
def secretary_b(cast):
    from shifa.access.models import Role

    user = UserFactory(full_name="Secretary of B")
    MembershipFactory(clinic=cast.clinic_b, user=user, role=Role.objects.get(code="secretary"))
    return user


def period(clinic) -> dict:
    day = today(clinic)
    return {"period_start": (day - dt.timedelta(days=30)).isoformat(), "period_end": day.isoformat()}


def submitted_claim(api, cast, *invoices) -> dict:
    client = api(cast.staff_a["secretary"])
    claim = client.post(f"{base(cast.clinic_a)}/claims", {"insurer": "jic", **period(cast.clinic_a)}).json()
    for invoice in invoices:
        response = client.post(
            f"{base(cast.clinic_a)}/claims/{claim['id']}/lines", {"invoice_id": str(invoice.external_id)}
        )
        assert response.status_code == 201, response.content
    response = client.post(f"{base(cast.clinic_a)}/claims/{claim['id']}/submit")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_desk_applies_insurance_through_the_api(cast, api):
    terms(cast.clinic_a, copay="20")
    invoice = insured_invoice(cast.clinic_a, price="30.000")
    client = api(cast.staff_a["secretary"])

    first = client.post(f"{base(cast.clinic_a)}/coverages", {"invoice_id": str(invoice.external_id)})
    again = client.post(f"{base(cast.clinic_a)}/coverages", {"invoice_id": str(invoice.external_id)})

    assert (first.status_code, again.status_code) == (201, 200)
    body = first.json()
    assert body["insurer_share"] == {"amount": "24.000", "currency": "JOD"} and body["status"] == "posted"
    assert again.json()["id"] == body["id"]


def test_nothing_to_cover_is_409_with_its_reason(cast, api):
    terms(cast.clinic_a, copay="100")
    invoice = insured_invoice(cast.clinic_a)

    response = api(cast.staff_a["secretary"]).post(
        f"{base(cast.clinic_a)}/coverages", {"invoice_id": str(invoice.external_id)}
    )

    assert response.status_code == 409 and response.json()["code"] == "nothing_to_cover"


def test_pre_approval_queue_and_answer_through_the_api(cast, api):
    terms(cast.clinic_a, pre_approval=True)
    invoice = insured_invoice(cast.clinic_a)
    client = api(cast.staff_a["clinic_admin"])
    client.post(f"{base(cast.clinic_a)}/coverages", {"invoice_id": str(invoice.external_id)})

    [waiting] = client.get(f"{base(cast.clinic_a)}/pre-approvals").json()["items"]
    approved = client.post(
        f"{base(cast.clinic_a)}/pre-approvals/{waiting['id']}/approve", {"approval_number": "PA-1"}
    )

    assert waiting["coverage"]["invoice"]["number"] == invoice.number
    assert approved.status_code == 200 and approved.json()["coverage"]["posted"]["amount"] == "24.000"
    assert client.get(f"{base(cast.clinic_a)}/pre-approvals").json()["items"] == []
    again = client.post(f"{base(cast.clinic_a)}/pre-approvals/{waiting['id']}/deny", {"reason": "x"})
    assert again.status_code == 409 and again.json()["code"] == "already_decided"


def test_claim_lifecycle_through_the_api_with_illegal_moves_409(cast, api):
    invoice, _ = covered_invoice(cast.clinic_a)
    client = api(cast.staff_a["secretary"])
    claim = client.post(f"{base(cast.clinic_a)}/claims", {"insurer": "jic", **period(cast.clinic_a)})
    assert claim.status_code == 201
    cid = claim.json()["id"]

    early_pay = client.post(
        f"{base(cast.clinic_a)}/claims/{cid}/pay",
        {"payment_reference": "X", "paid_on": today(cast.clinic_a).isoformat()},
    )
    filled = client.post(f"{base(cast.clinic_a)}/claims/{cid}/lines/fill")
    submitted = client.post(f"{base(cast.clinic_a)}/claims/{cid}/submit")
    resubmitted = client.post(f"{base(cast.clinic_a)}/claims/{cid}/submit")
    too_much = client.post(f"{base(cast.clinic_a)}/claims/{cid}/approve", {"approved_amount": "99.000"})
    approved = client.post(f"{base(cast.clinic_a)}/claims/{cid}/approve", {"approved_amount": "20.000"})
    paid = client.post(
        f"{base(cast.clinic_a)}/claims/{cid}/pay",
        {"payment_reference": "BANK-77", "paid_on": today(cast.clinic_a).isoformat()},
    )

    assert early_pay.status_code == 409 and early_pay.json()["code"] == "invalid_transition"
    assert filled.json()["added"] == 1 and filled.json()["lines"][0]["invoice"]["number"] == invoice.number
    assert submitted.json()["claimed"]["amount"] == "24.000"
    assert resubmitted.status_code == 409
    assert too_much.status_code == 422 and too_much.json()["errors"][0]["code"] == "exceeds_claimed"
    assert approved.json()["approved"]["amount"] == "20.000"
    assert paid.status_code == 200 and paid.json()["status"] == "paid"
    listed = client.get(f"{base(cast.clinic_a)}/claims?status=paid").json()["items"]
    assert [c["id"] for c in listed] == [cid] and listed[0]["line_count"] == 1


def test_removing_a_line_from_a_draft(cast, api):
    invoice, _ = covered_invoice(cast.clinic_a)
    client = api(cast.staff_a["secretary"])
    cid = client.post(f"{base(cast.clinic_a)}/claims", {"insurer": "jic", **period(cast.clinic_a)}).json()[
        "id"
    ]
    line = client.post(
        f"{base(cast.clinic_a)}/claims/{cid}/lines", {"invoice_id": str(invoice.external_id)}
    ).json()["lines"][0]

    removed = client.delete(f"{base(cast.clinic_a)}/claims/{cid}/lines/{line['id']}")

    assert removed.status_code == 204
    assert not ClaimLine.unscoped.filter(external_id=line["id"]).exists()


def test_another_clinics_claims_and_invoices_are_404(cast, api, secretary_b):
    invoice, coverage = covered_invoice(cast.clinic_a)
    claim = submitted_claim(api, cast, invoice)
    client_b = api(secretary_b)
    b = base(cast.clinic_b)

    responses = [
        client_b.get(f"{b}/claims/{claim['id']}"),
        client_b.get(f"{b}/claims/{claim['id']}/export"),
        client_b.post(f"{b}/claims/{claim['id']}/approve", {}),
        client_b.get(f"{b}/coverages/{coverage.external_id}"),
        client_b.post(f"{b}/coverages", {"invoice_id": str(invoice.external_id)}),
        api(cast.staff_a["secretary"]).get(f"{b}/claims/{claim['id']}"),  # A's desk, B's path
    ]

    assert [r.status_code for r in responses] == [404] * 6
    assert client_b.get(f"{b}/claims").json()["items"] == []


def test_claims_of_clinic_b_cannot_take_clinic_as_shares(cast, api, secretary_b):
    invoice, _ = covered_invoice(cast.clinic_a)
    terms(cast.clinic_b)
    client_b = api(secretary_b)
    cid = client_b.post(f"{base(cast.clinic_b)}/claims", {"insurer": "jic", **period(cast.clinic_b)}).json()[
        "id"
    ]

    response = client_b.post(
        f"{base(cast.clinic_b)}/claims/{cid}/lines", {"invoice_id": str(invoice.external_id)}
    )
    filled = client_b.post(f"{base(cast.clinic_b)}/claims/{cid}/lines/fill")

    assert response.status_code == 422 and response.json()["errors"][0]["code"] == "not_covered"
    assert filled.json()["added"] == 0


@pytest.mark.parametrize("role", ["doctor", "nurse", "assistant_doctor"])
def test_clinical_roles_do_not_run_insurance(cast, api, role):
    covered_invoice(cast.clinic_a)
    client = api(cast.staff_a[role])

    assert client.get(f"{base(cast.clinic_a)}/claims").status_code == 403
    assert (
        client.post(f"{base(cast.clinic_a)}/claims", {"insurer": "jic", **period(cast.clinic_a)}).status_code
        == 403
    )


def test_a_patient_cannot_reach_the_clinics_claims(cast, api):
    covered_invoice(cast.clinic_a)

    assert api(cast.patient_user).get(f"{base(cast.clinic_a)}/claims").status_code == 404


def test_malformed_input_is_a_clear_4xx(cast, api):
    terms(cast.clinic_a)
    client = api(cast.staff_a["secretary"])

    bad_dates = client.post(f"{base(cast.clinic_a)}/claims", {"insurer": "jic", "period_start": "yesterday"})
    bad_json = client.post(f"{base(cast.clinic_a)}/claims", raw="{not json")
    not_a_claim = client.post(f"{base(cast.clinic_a)}/claims/not-a-uuid/approve", {})

    assert bad_dates.status_code == 422
    assert bad_json.status_code == 400
    assert not_a_claim.status_code in {404, 422}


# --- the batch file ---------------------------------------------------------------------------------------------


def coded_visit(invoice, codes: list[str], *, amends=None, committed_at=None):
    """A committed visit of the invoice's appointment with these ICD-9-CM codes (the first primary); or an
    amendment of one."""
    from shifa.catalog.models import Diagnosis
    from shifa.core import timezones
    from shifa.records.models import Visit, VisitDiagnosis

    appointment = invoice.appointment
    visit = Visit.unscoped.create(
        clinic=invoice.clinic,
        patient=invoice.patient,
        doctor=appointment.doctor,
        appointment=appointment,
        origin="appointment",
        started_at=appointment.starts_at,
        created_by=appointment.doctor,
        amends=amends,
    )
    for index, code in enumerate(codes):
        VisitDiagnosis.unscoped.create(
            clinic=invoice.clinic,
            visit=visit,
            diagnosis=Diagnosis.objects.get(code=code),
            rank="primary" if index == 0 else "secondary",
            position=index,
        )
    Visit.unscoped.filter(pk=visit.pk).update(
        is_committed=True, committed_at=committed_at or timezones.now(), committed_by=appointment.doctor
    )
    return visit


def test_the_csv_batch_parses_back_with_every_column_in_order(cast, api):
    from shifa.insurance.actions import coverage_member_number_set
    from shifa.records.models import Patient
    from tests.insurance.support import actor_of

    patient = Patient.objects.create(
        full_name="Rania Haddad", full_name_ar="رانيا حداد", date_of_birth=dt.date(1990, 4, 2), sex="female"
    )
    patient.national_id = "9901234567"
    patient.save()
    invoice, coverage = covered_invoice(cast.clinic_a, patient=patient, price="30.000")
    coverage_member_number_set(
        actor=actor_of(cast.staff_a["secretary"], cast.clinic_a),
        coverage_id=coverage.external_id,
        member_number="JIC-1",
    )
    coded_visit(invoice, ["4019", "25000"])
    plain, _ = covered_invoice(cast.clinic_a, price="20.000")
    claim = submitted_claim(api, cast, invoice, plain)

    response = api(cast.staff_a["secretary"]).get(
        f"{base(cast.clinic_a)}/claims/{claim['id']}/export?format=csv"
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == (
        f'attachment; filename="claim-jic-{claim["number"]}-{claim["period"]["start"].replace("-", "")}-'
        f'{claim["period"]["end"].replace("-", "")}.csv"'
    )
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel shows the Arabic names
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == list(queries.COLUMNS)
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert len(records) == 2
    first = next(r for r in records if r["invoice_number"] == invoice.number)
    assert first["patient_name"] == "Rania Haddad" and first["patient_name_ar"] == "رانيا حداد"
    assert first["national_id_last4"] == "4567" and "9901234567" not in raw.decode("utf-8-sig")
    assert first["member_number"] == "JIC-1"
    assert first["diagnosis_codes"] == "401.9 250.00"
    assert (first["date_of_birth"], first["sex"]) == ("1990-04-02", "female")
    assert (
        first["billed_amount"],
        first["copay_percent"],
        first["patient_share"],
        first["claimed_amount"],
    ) == (
        "30.000",
        "20.00",
        "6.000",
        "24.000",
    )
    assert first["service"] == "Consultation" and first["service_ar"] == "كشف"
    assert first["claim_number"] == claim["number"] and first["insurer_code"] == "jic"
    other = next(r for r in records if r["invoice_number"] == plain.number)
    assert other["diagnosis_codes"] == "" and other["claimed_amount"] == "16.000"


def test_the_json_batch_carries_the_same_lines(cast, api):
    invoice, _ = covered_invoice(cast.clinic_a)
    coded_visit(invoice, ["4660"])
    claim = submitted_claim(api, cast, invoice)

    response = api(cast.staff_a["secretary"]).get(
        f"{base(cast.clinic_a)}/claims/{claim['id']}/export?format=json"
    )
    body = json.loads(response.content)

    assert body["claim"]["number"] == claim["number"]
    assert body["claim"]["claimed_amount"] == {"amount": "24.000", "currency": "JOD"}
    assert body["columns"] == list(queries.COLUMNS)
    [line] = body["lines"]
    assert line["diagnosis_codes"] == [{"system": "http://hl7.org/fhir/sid/icd-9-cm", "code": "466.0"}]
    assert line["invoice_number"] == invoice.number


def test_a_draft_is_not_exported(cast, api):
    covered_invoice(cast.clinic_a)
    client = api(cast.staff_a["secretary"])
    cid = client.post(f"{base(cast.clinic_a)}/claims", {"insurer": "jic", **period(cast.clinic_a)}).json()[
        "id"
    ]

    response = client.get(f"{base(cast.clinic_a)}/claims/{cid}/export")

    assert response.status_code == 409 and response.json()["code"] == "claim_not_submitted"


def test_a_name_that_would_run_as_a_formula_is_quoted_off(cast, api):
    from shifa.records.models import Patient

    patient = Patient.objects.create(full_name='=HYPERLINK("http://evil.example","x")')
    invoice, _ = covered_invoice(cast.clinic_a, patient=patient)
    claim = submitted_claim(api, cast, invoice)

    raw = api(cast.staff_a["secretary"]).get(f"{base(cast.clinic_a)}/claims/{claim['id']}/export").content
    [header, row] = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))

    assert dict(zip(header, row, strict=True))["patient_name"].startswith("'=")


def test_the_latest_committed_amendment_gives_the_codes(cast, api):
    from shifa.core import timezones

    invoice, _ = covered_invoice(cast.clinic_a)
    original = coded_visit(invoice, ["4019"])
    coded_visit(invoice, ["25000"], amends=original, committed_at=timezones.now() + dt.timedelta(minutes=1))
    claim = submitted_claim(api, cast, invoice)

    rows = queries.export_rows(queries.claim_get(actor=_actor(cast), claim_id=claim["id"]))

    assert rows[0]["diagnosis_codes"] == ["250.00"]


def _actor(cast):
    from tests.insurance.support import actor_of

    return actor_of(cast.staff_a["secretary"], cast.clinic_a)

"""The insurer's share of an invoice (PAY-2): the split by the clinic's terms, posted once through the ledger, and
held back until the insurer approves where the terms need a pre-approval."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shifa.billing import actions as billing_actions
from shifa.billing.models import LedgerEntry
from shifa.billing.queries import invoice_totals
from shifa.core.errors import Conflict, ValidationFailed
from shifa.directory.models import InsurancePartner
from shifa.insurance import actions
from shifa.insurance.models import Coverage, PreApproval
from tests.insurance.support import actor_of, insured_invoice, service, staff, terms

D = Decimal


@pytest.fixture
def desk(cast):
    return actor_of(cast.staff_a["secretary"], cast.clinic_a)


def shares(invoice) -> list[LedgerEntry]:
    return list(LedgerEntry.unscoped.filter(invoice=invoice, kind="insurer_share"))


def test_split_posts_the_insurers_share_by_the_clinics_terms(cast, desk):
    terms(cast.clinic_a, copay="20")
    invoice = insured_invoice(cast.clinic_a, price="30.000")

    coverage = actions.apply_coverage(actor=desk, invoice=invoice)

    assert coverage.status == "posted"
    assert (coverage.base_amount, coverage.insurer_amount) == (D("30.000"), D("24.000"))
    [entry] = shares(invoice)
    assert entry.amount == D("24.000")
    assert entry.reference == f"cover-{invoice.external_id}"
    totals = invoice_totals(invoice)
    assert (totals.insurer, totals.patient_share, totals.due) == (D("24.000"), D("6.000"), D("6.000"))


def test_the_share_and_the_booking_estimate_follow_one_rule(cast, desk):
    """12.345 JOD at a 12.5% co-pay: the patient's 1.543125 rounds half up to 1.543 in both places."""
    from shifa.directory.models import Price
    from shifa.directory.queries import estimate

    consultation = service(cast.clinic_a)
    terms(cast.clinic_a, copay="12.5", covers=[consultation])
    Price.unscoped.create(clinic=cast.clinic_a, service=consultation, visit_type="office", amount=D("12.345"))
    invoice = insured_invoice(cast.clinic_a, price="12.345")

    coverage = actions.apply_coverage(actor=desk, invoice=invoice)
    quote = estimate(
        clinic=cast.clinic_a, doctor=staff(cast.clinic_a, "doctor"), visit_type="office", insurer_code="jic"
    )

    assert coverage.insurer_amount == D("10.802")
    assert (quote["patient_pays"], quote["insurer_pays"]) == (D("1.543"), D("10.802"))


def test_discounts_come_off_before_the_split(cast, desk):
    terms(cast.clinic_a, copay="10")
    invoice = insured_invoice(cast.clinic_a, price="50.000", discount="10.000")

    coverage = actions.apply_coverage(actor=desk, invoice=invoice)

    assert (coverage.base_amount, coverage.insurer_amount) == (D("40.000"), D("36.000"))
    assert invoice_totals(invoice).due == D("4.000")


def test_applying_twice_covers_once(cast, desk):
    terms(cast.clinic_a)
    invoice = insured_invoice(cast.clinic_a)

    first = actions.apply_coverage(actor=desk, invoice=invoice)
    again = actions.apply_coverage(actor=desk, invoice=invoice)
    _coverage, created = actions.coverage_apply(actor=desk, invoice_id=invoice.external_id)

    assert first.pk == again.pk and not created
    assert len(shares(invoice)) == 1 and Coverage.unscoped.filter(invoice=invoice).count() == 1


def test_a_patient_booking_online_can_be_the_actor(cast):
    """The booking flow calls it with the patient as actor: nothing depends on the actor's clinic."""
    from shifa.access.policies import Actor

    terms(cast.clinic_a)
    invoice = insured_invoice(cast.clinic_a)

    coverage = actions.apply_coverage(actor=Actor(user=cast.patient_user), invoice=invoice)

    assert coverage.status == "posted" and coverage.clinic_id == cast.clinic_a.pk


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ("no_insurer", "not_insured"),
        ("not_accepted", "insurer_not_accepted"),
        ("inactive_partner", "insurer_not_accepted"),
        ("not_covered", "service_not_covered"),
        ("no_service_with_a_list", "service_not_covered"),
        ("full_copay", "nothing_to_cover"),
    ],
)
def test_nothing_to_split_gives_none_and_the_desk_a_reason(cast, desk, setup, code):
    clinic = cast.clinic_a
    invoice_kwargs = {}
    if setup == "no_insurer":
        terms(clinic)
        invoice_kwargs["code"] = None
    elif setup == "inactive_partner":
        terms(clinic)
        InsurancePartner.unscoped.filter(clinic=clinic).update(is_active=False)
    elif setup == "not_covered":
        terms(clinic, covers=[service(clinic, "Physiotherapy", "علاج طبيعي")])
    elif setup == "no_service_with_a_list":
        terms(clinic, covers=[service(clinic)])
        invoice_kwargs["with_service"] = False
    elif setup == "full_copay":
        terms(clinic, copay="100")
    invoice = insured_invoice(clinic, **invoice_kwargs)

    assert actions.apply_coverage(actor=desk, invoice=invoice) is None
    with pytest.raises(Conflict) as refused:
        actions.coverage_apply(actor=desk, invoice_id=invoice.external_id)

    assert refused.value.code == code
    assert shares(invoice) == [] and not Coverage.unscoped.filter(invoice=invoice).exists()


def test_the_desk_may_name_the_insurer_for_an_invoice_without_one(cast, desk):
    terms(cast.clinic_a, code="jic", copay="25")
    invoice = insured_invoice(cast.clinic_a, code=None, price="20.000")

    coverage, created = actions.coverage_apply(
        actor=desk, invoice_id=invoice.external_id, insurer="jic", member_number="  JIC-7781  "
    )

    assert created and coverage.insurer_amount == D("15.000") and coverage.member_number == "JIC-7781"


def test_unknown_insurer_or_service_are_field_errors(cast, desk):
    terms(cast.clinic_a)
    invoice = insured_invoice(cast.clinic_a)

    with pytest.raises(ValidationFailed) as failed:
        actions.coverage_apply(
            actor=desk,
            invoice_id=invoice.external_id,
            insurer="no-such",
            service_id="00000000-0000-0000-0000-0000",
        )

    assert {e.field for e in failed.value.errors} == {"insurer", "service_id"}


# --- pre-approval -----------------------------------------------------------------------------------------------


@pytest.fixture
def awaiting(cast, desk):
    terms(cast.clinic_a, copay="20", pre_approval=True)
    invoice = insured_invoice(cast.clinic_a, price="30.000")
    coverage = actions.apply_coverage(actor=desk, invoice=invoice)
    return invoice, coverage


def test_until_the_insurer_approves_nothing_is_posted_and_the_patient_owes_all(cast, desk, awaiting):
    invoice, coverage = awaiting

    assert coverage.status == "awaiting_approval"
    assert PreApproval.unscoped.get(coverage=coverage).status == "requested"
    assert shares(invoice) == []
    assert invoice_totals(invoice).due == D("30.000")
    # the patient may pay all of it meanwhile
    billing_actions.entry_post(
        actor=desk, invoice_id=invoice.external_id, kind="payment", amount="30.000", method="cash"
    )
    assert invoice_totals(invoice).due == D("0.000")


def test_approval_posts_the_share(cast, desk, awaiting):
    invoice, coverage = awaiting
    pre_approval = coverage.pre_approval

    actions.pre_approval_approve(actor=desk, pre_approval_id=pre_approval.external_id, approval_number="A-55")
    coverage.refresh_from_db()

    assert coverage.status == "posted"
    [entry] = shares(invoice)
    assert entry.amount == D("24.000") and "A-55" in entry.description
    assert invoice_totals(invoice).due == D("6.000")


def test_a_partial_approval_posts_what_the_insurer_approved(cast, desk, awaiting):
    invoice, coverage = awaiting

    actions.pre_approval_approve(
        actor=desk,
        pre_approval_id=coverage.pre_approval.external_id,
        approval_number="A-56",
        approved_amount="20.000",
    )

    assert [e.amount for e in shares(invoice)] == [D("20.000")]
    assert invoice_totals(invoice).due == D("10.000")


def test_the_insurer_cannot_approve_more_than_its_share(cast, desk, awaiting):
    invoice, coverage = awaiting

    with pytest.raises(ValidationFailed) as failed:
        actions.pre_approval_approve(
            actor=desk,
            pre_approval_id=coverage.pre_approval.external_id,
            approval_number="A-57",
            approved_amount="24.001",
        )

    assert failed.value.errors[0].code == "exceeds_share"
    assert shares(invoice) == [] and PreApproval.unscoped.get(coverage=coverage).status == "requested"


def test_an_approval_needs_its_number(cast, desk, awaiting):
    _invoice, coverage = awaiting

    with pytest.raises(ValidationFailed):
        actions.pre_approval_approve(
            actor=desk, pre_approval_id=coverage.pre_approval.external_id, approval_number=" "
        )


def test_denial_leaves_the_patients_share_whole(cast, desk, awaiting):
    invoice, coverage = awaiting

    actions.pre_approval_deny(
        actor=desk, pre_approval_id=coverage.pre_approval.external_id, reason="Not a benefit"
    )
    coverage.refresh_from_db()

    assert coverage.status == "denied" and shares(invoice) == []
    assert invoice_totals(invoice).due == D("30.000")


def test_answers_are_final_but_repeating_the_same_one_is_harmless(cast, desk, awaiting):
    invoice, coverage = awaiting
    pre_approval_id = coverage.pre_approval.external_id

    actions.pre_approval_approve(actor=desk, pre_approval_id=pre_approval_id, approval_number="A-58")
    actions.pre_approval_approve(actor=desk, pre_approval_id=pre_approval_id, approval_number="A-58")
    with pytest.raises(Conflict) as other_number:
        actions.pre_approval_approve(actor=desk, pre_approval_id=pre_approval_id, approval_number="A-59")
    with pytest.raises(Conflict) as deny_after:
        actions.pre_approval_deny(actor=desk, pre_approval_id=pre_approval_id)

    assert other_number.value.code == deny_after.value.code == "already_decided"
    assert len(shares(invoice)) == 1


def test_approval_after_denial_is_refused(cast, desk, awaiting):
    invoice, coverage = awaiting
    pre_approval_id = coverage.pre_approval.external_id
    actions.pre_approval_deny(actor=desk, pre_approval_id=pre_approval_id)

    with pytest.raises(Conflict):
        actions.pre_approval_approve(actor=desk, pre_approval_id=pre_approval_id, approval_number="A-60")

    assert shares(invoice) == []


def test_member_number_can_be_corrected_until_the_share_is_sent(cast, desk):
    from tests.insurance.support import covered_invoice

    _invoice, coverage = covered_invoice(cast.clinic_a)
    actions.coverage_member_number_set(actor=desk, coverage_id=coverage.external_id, member_number="M-1")
    claim = actions.claim_open(
        actor=desk, insurer="jic", period_start=coverage.service_date, period_end=coverage.service_date
    )
    actions.claim_lines_fill(actor=desk, claim_id=claim.external_id)
    actions.claim_submit(actor=desk, claim_id=claim.external_id)

    with pytest.raises(Conflict) as refused:
        actions.coverage_member_number_set(actor=desk, coverage_id=coverage.external_id, member_number="M-2")

    assert refused.value.code == "claim_submitted"
    coverage.refresh_from_db()
    assert coverage.member_number == "M-1"

"""Claims to insurers (PAY-2): draft → submitted → approved | rejected → paid, only forward; an invoice's insurer's
share in one claim at a time (a database constraint, also under concurrent adds)."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from shifa.catalog.models import InsuranceCompany
from shifa.core.errors import Conflict, ValidationFailed
from shifa.insurance import actions
from shifa.insurance.models import Claim, ClaimLine
from tests.insurance.support import actor_of, covered_invoice, insurer, terms, today

D = Decimal


@pytest.fixture
def desk(cast):
    return actor_of(cast.staff_a["secretary"], cast.clinic_a)


def open_claim(desk, clinic, *, days_back: int = 30, code: str = "jic") -> Claim:
    return actions.claim_open(
        actor=desk,
        insurer=code,
        period_start=today(clinic) - dt.timedelta(days=days_back),
        period_end=today(clinic),
    )


def test_a_claim_goes_from_draft_to_paid(cast, desk):
    clinic = cast.clinic_a
    covered_invoice(clinic, price="30.000")
    covered_invoice(clinic, price="50.000")
    claim = open_claim(desk, clinic)
    assert claim.status == "draft" and claim.number == f"{today(clinic).year}-0001"

    assert actions.claim_lines_fill(actor=desk, claim_id=claim.external_id) == 2
    claim = actions.claim_submit(actor=desk, claim_id=claim.external_id)
    assert (claim.status, claim.claimed_amount) == ("submitted", D("64.000"))  # 24 + 40

    claim = actions.claim_approve(actor=desk, claim_id=claim.external_id, approved_amount="60.500")
    assert (claim.status, claim.approved_amount) == ("approved", D("60.500"))

    claim = actions.claim_pay(
        actor=desk, claim_id=claim.external_id, payment_reference="TRX-881", paid_on=today(clinic)
    )
    claim.refresh_from_db()
    assert (claim.status, claim.payment_reference, claim.paid_on) == ("paid", "TRX-881", today(clinic))


def test_claim_numbers_follow_each_other_per_clinic(cast, desk):
    terms(cast.clinic_a)
    terms(cast.clinic_b)
    first, second = open_claim(desk, cast.clinic_a), open_claim(desk, cast.clinic_a)
    other = open_claim(actor_of(cast.doctor_b, cast.clinic_b), cast.clinic_b)

    assert [first.number[-4:], second.number[-4:], other.number[-4:]] == ["0001", "0002", "0001"]


def test_a_full_approval_approves_what_was_claimed(cast, desk):
    covered_invoice(cast.clinic_a)
    claim = open_claim(desk, cast.clinic_a)
    actions.claim_lines_fill(actor=desk, claim_id=claim.external_id)
    actions.claim_submit(actor=desk, claim_id=claim.external_id)

    claim = actions.claim_approve(actor=desk, claim_id=claim.external_id)

    assert claim.approved_amount == claim.claimed_amount == D("24.000")


def test_an_approval_above_the_claim_is_refused(cast, desk):
    covered_invoice(cast.clinic_a)
    claim = open_claim(desk, cast.clinic_a)
    actions.claim_lines_fill(actor=desk, claim_id=claim.external_id)
    actions.claim_submit(actor=desk, claim_id=claim.external_id)

    with pytest.raises(ValidationFailed) as failed:
        actions.claim_approve(actor=desk, claim_id=claim.external_id, approved_amount="24.001")

    assert failed.value.errors[0].code == "exceeds_claimed"
    assert Claim.unscoped.get(pk=claim.pk).status == "submitted"


@pytest.mark.parametrize(
    ("status", "move"),
    [
        ("draft", "approve"),
        ("draft", "reject"),
        ("draft", "pay"),
        ("submitted", "submit"),
        ("submitted", "pay"),
        ("approved", "submit"),
        ("approved", "reject"),
        ("approved", "approve"),
        ("rejected", "approve"),
        ("rejected", "pay"),
        ("paid", "submit"),
        ("paid", "reject"),
        ("paid", "pay"),
    ],
)
def test_a_claim_only_moves_forward(cast, desk, status, move):
    covered_invoice(cast.clinic_a)
    claim = open_claim(desk, cast.clinic_a)
    cid = claim.external_id
    actions.claim_lines_fill(actor=desk, claim_id=cid)
    steps = {
        "submitted": ["submit"],
        "approved": ["submit", "approve"],
        "rejected": ["submit", "reject"],
        "paid": ["submit", "approve", "pay"],
    }.get(status, [])
    run = {
        "submit": lambda: actions.claim_submit(actor=desk, claim_id=cid),
        "approve": lambda: actions.claim_approve(actor=desk, claim_id=cid),
        "reject": lambda: actions.claim_reject(actor=desk, claim_id=cid, reason="Missing documents"),
        "pay": lambda: actions.claim_pay(
            actor=desk, claim_id=cid, payment_reference="P-1", paid_on=today(cast.clinic_a)
        ),
    }
    for step in steps:
        run[step]()

    with pytest.raises(Conflict) as refused:
        run[move]()

    assert refused.value.code == "invalid_transition"
    assert Claim.unscoped.get(pk=claim.pk).status == status


def test_an_empty_claim_cannot_be_submitted(cast, desk):
    terms(cast.clinic_a)
    claim = open_claim(desk, cast.clinic_a)

    with pytest.raises(Conflict) as refused:
        actions.claim_submit(actor=desk, claim_id=claim.external_id)

    assert refused.value.code == "claim_empty"


def test_only_a_draft_takes_or_gives_back_lines(cast, desk):
    invoice, _coverage = covered_invoice(cast.clinic_a)
    later, _ = covered_invoice(cast.clinic_a)
    claim = open_claim(desk, cast.clinic_a)
    line = actions.claim_line_add(actor=desk, claim_id=claim.external_id, invoice_id=invoice.external_id)
    actions.claim_submit(actor=desk, claim_id=claim.external_id)

    with pytest.raises(Conflict) as adding:
        actions.claim_line_add(actor=desk, claim_id=claim.external_id, invoice_id=later.external_id)
    with pytest.raises(Conflict) as removing:
        actions.claim_line_remove(actor=desk, claim_id=claim.external_id, line_id=line.external_id)

    assert adding.value.code == removing.value.code == "claim_not_draft"
    assert ClaimLine.unscoped.filter(claim=claim).count() == 1


def test_a_rejection_needs_a_reason_and_releases_the_shares(cast, desk):
    invoice, _coverage = covered_invoice(cast.clinic_a)
    claim = open_claim(desk, cast.clinic_a)
    actions.claim_line_add(actor=desk, claim_id=claim.external_id, invoice_id=invoice.external_id)
    actions.claim_submit(actor=desk, claim_id=claim.external_id)

    with pytest.raises(ValidationFailed):
        actions.claim_reject(actor=desk, claim_id=claim.external_id, reason="  ")
    actions.claim_reject(actor=desk, claim_id=claim.external_id, reason="Member number missing")
    again = open_claim(desk, cast.clinic_a)
    actions.claim_line_add(actor=desk, claim_id=again.external_id, invoice_id=invoice.external_id)

    assert ClaimLine.unscoped.filter(coverage__invoice=invoice).count() == 2
    assert (
        ClaimLine.unscoped.filter(coverage__invoice=invoice, released_at__isnull=True).get().claim_id
        == again.pk
    )


def test_an_insurers_share_is_claimed_once(cast, desk):
    invoice, coverage = covered_invoice(cast.clinic_a)
    first, second = open_claim(desk, cast.clinic_a), open_claim(desk, cast.clinic_a)
    actions.claim_line_add(actor=desk, claim_id=first.external_id, invoice_id=invoice.external_id)

    with pytest.raises(Conflict) as refused:
        actions.claim_line_add(actor=desk, claim_id=second.external_id, invoice_id=invoice.external_id)
    assert actions.claim_lines_fill(actor=desk, claim_id=second.external_id) == 0
    with pytest.raises(IntegrityError), transaction.atomic():  # and the database says so too
        ClaimLine.unscoped.create(clinic=cast.clinic_a, claim=second, coverage=coverage, amount=D("1.000"))

    assert refused.value.code == "already_claimed"


@pytest.mark.parametrize(
    ("case", "code"),
    [("other_insurer", "other_insurer"), ("outside_period", "outside_period"), ("awaiting", "not_posted")],
)
def test_a_claim_takes_only_its_insurers_posted_shares_of_its_period(cast, desk, case, code):
    from shifa.insurance.actions import apply_coverage
    from tests.insurance.support import insured_invoice

    clinic = cast.clinic_a
    terms(clinic, code="jic")
    if case == "other_insurer":
        insurer("jic")
        other = InsuranceCompany.objects.exclude(code="jic").filter(is_active=True).first()
        terms(clinic, code=other.code)
        invoice, _ = covered_invoice(clinic, code=other.code)
        claim = open_claim(desk, clinic)
    elif case == "outside_period":
        invoice, _ = covered_invoice(clinic)
        claim = actions.claim_open(
            actor=desk,
            insurer="jic",
            period_start=today(clinic) - dt.timedelta(days=60),
            period_end=today(clinic) - dt.timedelta(days=31),
        )
    else:
        terms(clinic, code="jic", pre_approval=True)
        invoice = insured_invoice(clinic)
        apply_coverage(actor=desk, invoice=invoice)
        claim = open_claim(desk, clinic)

    with pytest.raises(ValidationFailed) as failed:
        actions.claim_line_add(actor=desk, claim_id=claim.external_id, invoice_id=invoice.external_id)

    assert failed.value.errors[0].code == code
    assert actions.claim_lines_fill(actor=desk, claim_id=claim.external_id) == 0


@pytest.mark.parametrize(
    ("start", "end", "code"),
    [(0, -1, "before_start"), (-400, 0, "too_long"), (1, 2, "in_future")],
)
def test_a_claim_period_must_make_sense(cast, desk, start, end, code):
    terms(cast.clinic_a)
    day = today(cast.clinic_a)

    with pytest.raises(ValidationFailed) as failed:
        actions.claim_open(
            actor=desk,
            insurer="jic",
            period_start=day + dt.timedelta(days=start),
            period_end=day + dt.timedelta(days=end),
        )

    assert failed.value.errors[0].code == code


def test_a_claim_is_to_one_of_the_clinics_insurers(cast, desk):
    insurer("jic")

    with pytest.raises(ValidationFailed) as failed:
        open_claim(desk, cast.clinic_a)

    assert failed.value.errors[0].field == "insurer"


def test_payment_day_is_checked(cast, desk):
    covered_invoice(cast.clinic_a)
    claim = open_claim(desk, cast.clinic_a)
    actions.claim_lines_fill(actor=desk, claim_id=claim.external_id)
    actions.claim_submit(actor=desk, claim_id=claim.external_id)
    actions.claim_approve(actor=desk, claim_id=claim.external_id)
    day = today(cast.clinic_a)

    for paid_on, code in (
        (day + dt.timedelta(days=1), "in_future"),
        (day - dt.timedelta(days=1), "before_submitted"),
    ):
        with pytest.raises(ValidationFailed) as failed:
            actions.claim_pay(
                actor=desk, claim_id=claim.external_id, payment_reference="P-2", paid_on=paid_on
            )
        assert failed.value.errors[0].code == code
    with pytest.raises(ValidationFailed):
        actions.claim_pay(actor=desk, claim_id=claim.external_id, payment_reference="", paid_on=day)


@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_of_one_share_to_two_claims_keep_one(cast):
    """Two desks put the same invoice into two claims at the same moment: one wins, the other gets 409."""
    desk = actor_of(cast.staff_a["secretary"], cast.clinic_a)
    invoice, coverage = covered_invoice(cast.clinic_a)
    claims = [open_claim(desk, cast.clinic_a), open_claim(desk, cast.clinic_a)]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def add(claim):
        try:
            barrier.wait(timeout=10)
            actions.claim_line_add(actor=desk, claim_id=claim.external_id, invoice_id=invoice.external_id)
            outcomes.append("added")
        except Conflict as refused:
            outcomes.append(refused.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(claim,)) for claim in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["added", "already_claimed"]
    assert ClaimLine.unscoped.filter(coverage=coverage, released_at__isnull=True).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_fills_share_out_the_shares_without_doubling(cast):
    desk = actor_of(cast.staff_a["secretary"], cast.clinic_a)
    for _ in range(5):
        covered_invoice(cast.clinic_a)
    claims = [open_claim(desk, cast.clinic_a), open_claim(desk, cast.clinic_a)]
    barrier = threading.Barrier(2)
    added: list[int] = []

    def fill(claim):
        try:
            barrier.wait(timeout=10)
            added.append(actions.claim_lines_fill(actor=desk, claim_id=claim.external_id))
        finally:
            connection.close()

    threads = [threading.Thread(target=fill, args=(claim,)) for claim in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sum(added) == 5
    assert ClaimLine.unscoped.filter(released_at__isnull=True).count() == 5


def test_the_insurers_share_of_a_cancelled_visit_is_not_claimed(cast, desk):
    from shifa.scheduling.models import Appointment

    clinic = cast.clinic_a
    cancelled, _ = covered_invoice(clinic, price="30.000")
    held, _ = covered_invoice(clinic, price="50.000")
    assert cancelled.appointment_id is not None
    Appointment.unscoped.filter(pk=cancelled.appointment_id).update(status="cancelled")
    claim = open_claim(desk, clinic)
    assert actions.claim_lines_fill(actor=desk, claim_id=claim.external_id) == 1
    assert ClaimLine.objects.for_clinic(clinic).get().coverage.invoice == held
    with pytest.raises(ValidationFailed) as refused:
        actions.claim_line_add(actor=desk, claim_id=claim.external_id, invoice_id=cancelled.external_id)
    assert refused.value.errors[0].code == "visit_not_held"

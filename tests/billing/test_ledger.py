"""The ledger (PAY-4): entries are only ever added, amounts are exact, and every invoice balances — what is due is
always its charges less discounts, the insurer's share and what was paid net of refunds, whatever the order."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, ProgrammingError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shifa.access import catalog
from shifa.access.policies import Actor
from shifa.billing import actions, ledger, queries
from shifa.billing.models import Invoice, LedgerEntry
from shifa.core.errors import Conflict, NotFound, ValidationFailed
from tests.support.records import in_care

KINDS = ["charge", "discount", "insurer_share", "payment", "refund"]
amounts = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("500.000"), places=3)
operations = st.lists(st.tuples(st.sampled_from(KINDS), amounts), max_size=40)


def _apply(sequence):
    """Apply (kind, amount) pairs the way the ledger allows; the accepted ones and the totals after each."""
    accepted = []
    current = ledger.totals([])
    for kind, amount in sequence:
        if ledger.refusal(current, kind, amount) is None:
            accepted.append((kind, amount))
            current = ledger.totals(accepted)
        assert current.patient_share >= 0 and current.net_paid >= 0
        # the clinic owes the patient only after a reduction made the share smaller than what was paid,
        # and never more than was paid
        assert current.due >= 0 or current.discounted + current.insurer > 0
        assert -current.due <= current.net_paid
    return accepted, current


@given(operations)
def test_any_sequence_of_entries_balances(sequence):
    accepted, current = _apply(sequence)
    by_kind = {k: sum((a for kk, a in accepted if kk == k), Decimal("0.000")) for k in KINDS}
    assert current.due == (
        by_kind["charge"]
        - by_kind["discount"]
        - by_kind["insurer_share"]
        - by_kind["payment"]
        + by_kind["refund"]
    )
    # paying what is due (then refunding what was overpaid after a reduction) settles it exactly
    if current.due > 0:
        assert ledger.refusal(current, "payment", current.due) is None
        assert ledger.totals([*accepted, ("payment", current.due)]).due == 0
    elif current.due < 0:
        assert ledger.refusal(current, "refund", -current.due) is None
        assert ledger.totals([*accepted, ("refund", -current.due)]).due == 0


def _desk(cast) -> Actor:
    return Actor(user=cast.staff_a["secretary"], clinic=cast.clinic_a, roles=frozenset({catalog.SECRETARY}))


def _invoice(cast, *amounts_: str) -> Invoice:
    from shifa.records.policies import clinic_patients

    if not clinic_patients(cast.clinic_a.pk).filter(pk=cast.patient.pk).exists():
        in_care(cast)
    return actions.invoice_open(
        actor=_desk(cast),
        patient_id=cast.patient.external_id,
        lines=[{"description": f"Service {i}", "amount": a} for i, a in enumerate(amounts_ or ("25.500",))],
    )


@pytest.mark.django_db
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=operations)
def test_posting_through_the_actions_keeps_every_invoice_balanced(cast, sequence):
    with transaction.atomic():
        invoice = _invoice(cast, "40.000")
        expected = [("charge", Decimal("40.000"))]
        for kind, amount in sequence:
            method = "cash" if kind in ("payment", "refund") else ""
            try:
                actions.entry_post(
                    actor=_desk(cast), invoice_id=invoice.external_id, kind=kind, amount=amount, method=method
                )
            except Conflict as refused:
                assert refused.code == ledger.refusal(ledger.totals(expected), kind, amount)
            else:
                assert ledger.refusal(ledger.totals(expected), kind, amount) is None
                expected.append((kind, amount))
        assert queries.invoice_totals(invoice) == ledger.totals(expected)
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_an_invoice_is_numbered_and_charged(cast):
    first = _invoice(cast, "25.500", "4.250")
    second = _invoice(cast)
    year = first.number.split("-")[0]
    assert first.number == f"{year}-000001" and second.number == f"{year}-000002"
    _, entries, totals = queries.clinic_invoice(actor=_desk(cast), invoice_id=first.external_id)
    assert [(e.kind, e.amount) for e in entries] == [
        ("charge", Decimal("25.500")),
        ("charge", Decimal("4.250")),
    ]
    assert totals.due == Decimal("29.750")
    other = Actor(user=cast.doctor_b, clinic=cast.clinic_b, roles=frozenset({catalog.DOCTOR}))
    with pytest.raises(NotFound):
        queries.clinic_invoice(actor=other, invoice_id=first.external_id)
    with pytest.raises(NotFound):
        actions.entry_post(
            actor=other, invoice_id=first.external_id, kind="payment", amount="1", method="cash"
        )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount", "code"),
    [
        (12.5, "invalid"),
        ("abc", "invalid"),
        ("0", "not_positive"),
        ("-3", "not_positive"),
        ("1.0005", "too_precise"),
        ("100000.001", "too_large"),
        ("NaN", "not_positive"),
    ],
)
def test_bad_amounts_are_refused_and_nothing_is_written(cast, amount, code):
    invoice = _invoice(cast)
    with pytest.raises(ValidationFailed) as refused:
        actions.entry_post(
            actor=_desk(cast), invoice_id=invoice.external_id, kind="payment", amount=amount, method="cash"
        )
    assert [(e.field, e.code) for e in refused.value.errors] == [("amount", code)]
    assert LedgerEntry.unscoped.filter(invoice=invoice).count() == 1


@pytest.mark.django_db
def test_bad_invoices_name_every_field(cast):
    in_care(cast)
    with pytest.raises(ValidationFailed) as refused:
        actions.invoice_open(
            actor=_desk(cast),
            patient_id="00000000-0000-4000-8000-000000000000",
            lines=[{"description": "", "amount": "5"}, {"description": "X-ray", "amount": "-1"}, "nonsense"],
        )
    assert {(e.field, e.code) for e in refused.value.errors} == {
        ("lines.0.description", "required"),
        ("lines.1.amount", "not_positive"),
        ("lines.2", "invalid"),
        ("patient_id", "unknown"),
    }
    assert not Invoice.unscoped.exists()


@pytest.mark.django_db
def test_a_reference_posts_once(cast):
    invoice = _invoice(cast, "30.000")
    post = dict(actor=_desk(cast), invoice_id=invoice.external_id, kind="payment", method="online")
    first, new = actions.entry_post(**post, amount="30.000", reference="tran-1")
    again, new_again = actions.entry_post(**post, amount="30.000", reference="tran-1")
    assert new and not new_again and again.pk == first.pk
    with pytest.raises(Conflict) as reused:
        actions.entry_post(**post, amount="10.000", reference="tran-1")
    assert reused.value.code == "reference_used"
    assert queries.invoice_totals(invoice).due == 0


@pytest.mark.django_db
def test_payments_need_a_method_and_nothing_else_has_one(cast):
    invoice = _invoice(cast)
    with pytest.raises(ValidationFailed):
        actions.entry_post(actor=_desk(cast), invoice_id=invoice.external_id, kind="payment", amount="1")
    with pytest.raises(ValidationFailed):
        actions.entry_post(
            actor=_desk(cast), invoice_id=invoice.external_id, kind="discount", amount="1", method="cash"
        )


@pytest.mark.django_db
def test_entries_and_invoices_are_never_changed_or_deleted(cast):
    invoice = _invoice(cast)
    entry = LedgerEntry.unscoped.get(invoice=invoice)
    for attempt in (
        lambda: LedgerEntry.unscoped.filter(pk=entry.pk).update(amount=Decimal("1.000")),
        lambda: LedgerEntry.unscoped.filter(pk=entry.pk).delete(),
        lambda: Invoice.unscoped.filter(pk=invoice.pk).update(number="X"),
        lambda: Invoice.unscoped.filter(pk=invoice.pk).delete(),
    ):
        with pytest.raises((ProgrammingError, IntegrityError)), transaction.atomic():
            attempt()
    assert LedgerEntry.unscoped.get(pk=entry.pk).amount == Decimal("25.500")


@pytest.mark.django_db
def test_the_invoice_year_follows_the_clinic_clock(cast):
    from tests.conftest import time_machine

    # 23:30 UTC on 31 December is already 1 January in Amman (UTC+3)
    with time_machine(dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)):
        invoice = _invoice(cast)
    assert invoice.number.startswith("2027-")

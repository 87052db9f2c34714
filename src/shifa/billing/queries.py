"""Reads of billing: an invoice with what its ledger adds up to."""

from __future__ import annotations

from shifa.core.errors import NotFound

from . import ledger
from .models import Invoice, LedgerEntry


def invoice_totals(invoice: Invoice) -> ledger.Totals:
    return ledger.totals(LedgerEntry.unscoped.filter(invoice=invoice).values_list("kind", "amount"))


def clinic_invoice(*, actor, invoice_id) -> tuple[Invoice, list[LedgerEntry], ledger.Totals]:
    invoice = Invoice.objects.for_clinic(actor.require_clinic()).filter(external_id=invoice_id).first()
    if invoice is None:
        raise NotFound()
    entries = list(LedgerEntry.unscoped.filter(invoice=invoice).order_by("id"))
    return invoice, entries, ledger.totals((e.kind, e.amount) for e in entries)

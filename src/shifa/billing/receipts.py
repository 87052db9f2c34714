"""Receipts (PAY-1): one PDF per payment or refund, in Arabic (right to left) or English, drawn from the ledger
each time it is asked for. Nothing is stored: an invoice's entries never change, so its receipts never do either.

Rendered with the documents app's WeasyPrint set-up (``documents.rendering``: Arabic shaped by HarfBuzz with the
Amiri and Noto Naskh fonts, nothing fetched from outside) under the clinic's header (``documents/base.html``)."""

from __future__ import annotations

from django.utils import translation
from django.utils.translation import gettext as _

from shifa.core import timezones
from shifa.core.money import Money

from . import ledger, queries
from .models import EntryKind, Invoice, LedgerEntry

LANGUAGES = ("ar", "en")
TEMPLATE = "billing/receipt.html"


def language_of(requested: str | None, fallback: str | None) -> str:
    """The receipt's language: the one asked for, else the reader's, else English."""
    for candidate in (requested, fallback):
        if candidate and candidate[:2] in LANGUAGES:
            return candidate[:2]
    return "en"


def receipt_context(
    *, invoice: Invoice, entries: list[LedgerEntry], entry: LedgerEntry, language: str
) -> dict:
    """What a receipt shows: who paid what, how, when and to whom, for which charges, and what was left due
    after it (the totals of the entries up to this one)."""
    clinic = invoice.clinic
    zone = clinic.time_zone
    upto = ledger.totals((e.kind, e.amount) for e in entries if e.pk <= entry.pk)

    def money(amount) -> str:
        return Money(amount, invoice.currency).format(language)

    with translation.override(language):
        method = entry.get_method_display() if entry.method else ""
        refund = entry.kind == EntryKind.REFUND
        title = _("Refund receipt") if refund else _("Receipt")
    recorded = timezones.wall_clock(entry.created_at, zone)
    return {
        "title": title,
        "is_refund": refund,
        "number": queries.receipt_number(invoice, entries, entry),
        "invoice_number": invoice.number,
        "patient_name": invoice.patient.full_name,
        "amount": money(entry.amount),
        "method": method,
        "description": entry.description,
        "received_by": entry.recorded_by.full_name if entry.recorded_by_id else "",
        "recorded_at": recorded,
        "lines": [
            {"description": e.description, "amount": money(e.amount)}
            for e in entries
            if e.kind == EntryKind.CHARGE
        ],
        "charged": money(upto.charged),
        "reductions": money(upto.discounted + upto.insurer),
        "insurer": money(upto.insurer) if upto.insurer else "",
        "discounted": money(upto.discounted) if upto.discounted else "",
        "net_paid": money(upto.net_paid),
        "due": money(max(upto.due, 0)),
        "owed_back": money(-upto.due) if upto.due < 0 else "",
        "clinic_name": clinic.display_name(language),
        "institution_name": clinic.institution.name_ar if language == "ar" else clinic.institution.name_en,
        "clinic_city": clinic.city,
        "issued_on": recorded.date().isoformat(),
    }


def receipt_pdf(*, invoice: Invoice, entries: list[LedgerEntry], entry: LedgerEntry, language: str) -> bytes:
    """The receipt of one payment or refund as a PDF in ``language`` (``ar`` or ``en``)."""
    from shifa.documents import rendering

    context = receipt_context(invoice=invoice, entries=entries, entry=entry, language=language)
    return rendering.html_to_pdf(rendering.render_html(template=TEMPLATE, context=context, language=language))


def receipt_filename(invoice: Invoice, entries: list[LedgerEntry], entry: LedgerEntry) -> str:
    return f"receipt-{queries.receipt_number(invoice, entries, entry)}.pdf"

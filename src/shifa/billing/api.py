"""Invoices at the clinic's desk, the patient's own invoices, receipts, and the platform's revenue (PAY-1, PAY-4).

Money is written as API.md says: ``{"amount": "12.500", "currency": "JOD"}``, amounts sent as strings (a JSON
number is refused: money is never a float). Creating writes accept an ``Idempotency-Key``: a repeat gets the
first answer, and a double click at the desk records one payment."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status

from shifa.access.declare import operation
from shifa.core import timezones
from shifa.core.idempotency import once
from shifa.core.schemas import ERRORS, ProblemOut

from . import actions, ledger, queries, receipts
from .models import EntryKind, Invoice, LedgerEntry

router = Router(tags=["billing"])
VIEW = operation("billing.view")
DESK = operation("billing.desk")
ADJUST = operation("billing.adjust")
OWN = operation("billing.view_own")
REVENUE = operation("billing.revenue")
WRITE_ERRORS = {**ERRORS, 409: ProblemOut}
AMOUNT = Field(..., max_length=24, examples=["12.500"], description="JOD as a string, at most three decimals")


class MoneyOut(Schema):
    amount: str = Field(..., examples=["12.500"])
    currency: str = Field("JOD", examples=["JOD"])


class Named(Schema):
    id: uuid.UUID
    name: str


class TotalsOut(Schema):
    charged: MoneyOut
    discounted: MoneyOut
    insurer_share: MoneyOut
    patient_share: MoneyOut
    paid: MoneyOut
    refunded: MoneyOut
    net_paid: MoneyOut
    due: MoneyOut = Field(..., description="Negative when the clinic owes the patient a refund")


class LineOut(Schema):
    id: uuid.UUID
    description: str
    amount: MoneyOut


class EntryOut(Schema):
    id: uuid.UUID
    kind: str = Field(..., examples=["payment"])
    amount: MoneyOut
    method: str | None = Field(None, examples=["cash"])
    note: str
    recorded_at: dt.datetime
    recorded_by: str | None
    receipt_url: str | None = Field(None, description="The receipt (PDF) of a payment or refund")


class InvoiceSummaryOut(Schema):
    id: uuid.UUID
    number: str = Field(..., examples=["2026-000123"])
    clinic: Named
    patient: Named
    appointment_id: uuid.UUID | None
    issued_at: dt.datetime
    zone: str = Field(..., examples=["Asia/Amman"])
    status: str = Field(..., examples=["open"], description="open, paid or refund_due")
    totals: TotalsOut


class InvoiceOut(InvoiceSummaryOut):
    lines: list[LineOut]
    entries: list[EntryOut]


class InvoicePage(Schema):
    items: list[InvoiceSummaryOut]
    next_cursor: str | None


class DeskQuery(Schema):
    status: str = Field("all", pattern="^(all|open|paid|refund_due)$")
    patient_id: uuid.UUID | None = None
    since: dt.date | None = Field(None, description="Issued on or after this local day of the clinic")
    until: dt.date | None = Field(None, description="Issued on or before this local day of the clinic")
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


class MineQuery(Schema):
    status: str = Field("all", pattern="^(all|open|paid|refund_due)$")
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=200)


class LineIn(Schema):
    description: str = Field(..., max_length=200)
    amount: str = AMOUNT


class InvoiceIn(Schema):
    patient_id: uuid.UUID
    lines: list[LineIn] = Field(..., min_length=1, max_length=50)
    appointment_id: uuid.UUID | None = None


class AppointmentInvoiceIn(Schema):
    appointment_id: uuid.UUID


class PaymentIn(Schema):
    amount: str = AMOUNT
    method: str = Field(..., pattern="^(cash|card)$")
    note: str = Field("", max_length=200, description="e.g. the card terminal's slip number")


class RefundIn(Schema):
    amount: str = AMOUNT
    method: str = Field(..., pattern="^(cash|card)$", description="How the money is given back")
    note: str = Field(..., max_length=200, description="Why")


class DiscountIn(Schema):
    amount: str = AMOUNT
    note: str = Field(..., max_length=200, description="Why")


class ReceiptQuery(Schema):
    language: str | None = Field(None, pattern="^(ar|en)$", description="The reader's language when left out")


class RevenueQuery(Schema):
    since: str | None = Field(None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="First month, YYYY-MM")
    until: str | None = Field(None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Last month, YYYY-MM")


class RevenueRowOut(Schema):
    clinic: Named
    month: str = Field(..., examples=["2026-11"])
    charged: MoneyOut
    discounted: MoneyOut
    insurer_share: MoneyOut
    paid: MoneyOut
    refunded: MoneyOut
    net_paid: MoneyOut
    outstanding: MoneyOut = Field(..., description="What patients still owed the clinic at the month's end")


class RevenueOut(Schema):
    since: str
    until: str
    items: list[RevenueRowOut]


# --- answers ----------------------------------------------------------------------------------------------------


def _language(request: HttpRequest) -> str:
    return getattr(request, "LANGUAGE_CODE", "en") or "en"


def money(amount: Decimal, currency: str = "JOD") -> dict:
    return {"amount": f"{amount:.3f}", "currency": currency}


def totals_out(totals: ledger.Totals, currency: str = "JOD") -> dict:
    return {
        "charged": money(totals.charged, currency),
        "discounted": money(totals.discounted, currency),
        "insurer_share": money(totals.insurer, currency),
        "patient_share": money(totals.patient_share, currency),
        "paid": money(totals.paid, currency),
        "refunded": money(totals.refunded, currency),
        "net_paid": money(totals.net_paid, currency),
        "due": money(totals.due, currency),
    }


def summary_out(invoice: Invoice, totals: ledger.Totals, language: str) -> dict:
    """An invoice as the API writes it (plain JSON: it is also what an idempotent repeat answers)."""
    return {
        "id": str(invoice.external_id),
        "number": invoice.number,
        "clinic": {"id": str(invoice.clinic.external_id), "name": invoice.clinic.display_name(language)},
        "patient": {"id": str(invoice.patient.external_id), "name": invoice.patient.full_name},
        "appointment_id": str(invoice.appointment.external_id) if invoice.appointment_id else None,
        "issued_at": timezones.isoformat_z(invoice.created_at),
        "zone": invoice.clinic.time_zone,
        "status": queries.invoice_status(totals),
        "totals": totals_out(totals, invoice.currency),
    }


def entry_out(entry: LedgerEntry, currency: str, receipts_at: str) -> dict:
    return {
        "id": str(entry.external_id),
        "kind": entry.kind,
        "amount": money(entry.amount, currency),
        "method": entry.method or None,
        "note": entry.description,
        "recorded_at": timezones.isoformat_z(entry.created_at),
        "recorded_by": entry.recorded_by.full_name if entry.recorded_by_id else None,
        "receipt_url": f"{receipts_at}/{entry.external_id}.pdf"
        if entry.kind in queries.RECEIPT_KINDS
        else None,
    }


def invoice_out(
    invoice: Invoice, entries: list[LedgerEntry], totals: ledger.Totals, language: str, receipts_at: str
) -> dict:
    return {
        **summary_out(invoice, totals, language),
        "lines": [
            {
                "id": str(e.external_id),
                "description": e.description,
                "amount": money(e.amount, invoice.currency),
            }
            for e in entries
            if e.kind == EntryKind.CHARGE
        ],
        "entries": [entry_out(e, invoice.currency, receipts_at) for e in entries],
    }


def clinic_receipts_at(invoice: Invoice) -> str:
    return f"/api/v1/clinics/{invoice.clinic.external_id}/invoices/{invoice.external_id}/receipts"


def my_receipts_at(invoice: Invoice) -> str:
    return f"/api/v1/me/invoices/{invoice.external_id}/receipts"


def _desk_answer(request: HttpRequest, status: int, invoice_id) -> tuple[int, dict]:
    invoice, entries, totals = queries.desk_invoice(actor=request.actor, invoice_id=invoice_id)
    return status, invoice_out(invoice, entries, totals, _language(request), clinic_receipts_at(invoice))


def _located(response: HttpResponse, request: HttpRequest, status: int, body: dict):
    if status == 201:
        response["Location"] = f"/api/v1/clinics/{request.actor.clinic.external_id}/invoices/{body['id']}"
    return Status(status, body)


def receipt_response(invoice, entries, entry, language: str) -> HttpResponse:
    pdf = receipts.receipt_pdf(invoice=invoice, entries=entries, entry=entry, language=language)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'inline; filename="{receipts.receipt_filename(invoice, entries, entry)}"'
    )
    response["Cache-Control"] = "private, no-store"
    response["Content-Language"] = language
    return response


# --- the clinic's desk ------------------------------------------------------------------------------------------


@router.get(
    "/clinics/{clinic_id}/invoices",
    response={200: InvoicePage, **ERRORS},
    operation_id="billing_list_invoices",
    summary="The clinic's invoices with their totals, newest first (open, paid, refund due or all)",
    **VIEW,
)
def list_invoices(request: HttpRequest, clinic_id: uuid.UUID, filters: Query[DeskQuery]):
    page = queries.desk_invoice_list(
        actor=request.actor,
        status=filters.status,
        patient_id=filters.patient_id,
        since=filters.since,
        until=filters.until,
        cursor=filters.cursor,
        limit=filters.limit,
    )
    language = _language(request)
    return {
        "items": [summary_out(i, queries.row_totals(i), language) for i in page.items],
        "next_cursor": page.next_cursor,
    }


@router.post(
    "/clinics/{clinic_id}/invoices",
    response={201: InvoiceOut, **WRITE_ERRORS},
    operation_id="billing_open_invoice",
    summary="Open an invoice for a patient of the clinic with its charges; send an Idempotency-Key",
    **DESK,
)
def open_invoice(request: HttpRequest, response: HttpResponse, clinic_id: uuid.UUID, payload: InvoiceIn):
    def run():
        invoice = actions.invoice_open(
            actor=request.actor,
            patient_id=payload.patient_id,
            lines=[line.dict() for line in payload.lines],
            appointment_id=payload.appointment_id,
        )
        return _desk_answer(request, 201, invoice.external_id)

    return _located(response, request, *once(request, run))


@router.post(
    "/clinics/{clinic_id}/invoices/for-appointment",
    response={201: InvoiceOut, 200: InvoiceOut, **WRITE_ERRORS},
    operation_id="billing_open_appointment_invoice",
    summary="The invoice of an appointment: a new one charging its price (201), or the one it has (200)",
    **DESK,
)
def open_appointment_invoice(
    request: HttpRequest, response: HttpResponse, clinic_id: uuid.UUID, payload: AppointmentInvoiceIn
):
    invoice, created = actions.desk_invoice_for_appointment(
        actor=request.actor, appointment_id=payload.appointment_id
    )
    return _located(response, request, *_desk_answer(request, 201 if created else 200, invoice.external_id))


@router.get(
    "/clinics/{clinic_id}/invoices/{invoice_id}",
    response={200: InvoiceOut, **ERRORS},
    operation_id="billing_get_invoice",
    summary="One invoice: its charges, every entry of its ledger, and its totals",
    **VIEW,
)
def get_invoice(request: HttpRequest, clinic_id: uuid.UUID, invoice_id: uuid.UUID):
    return _desk_answer(request, 200, invoice_id)[1]


def _post(request: HttpRequest, invoice_id: uuid.UUID, kind: str, method: str, amount: str, note: str):
    def run():
        actions.desk_entry_post(
            actor=request.actor, invoice_id=invoice_id, kind=kind, amount=amount, method=method, note=note
        )
        return _desk_answer(request, 201, invoice_id)

    return Status(*once(request, run))


@router.post(
    "/clinics/{clinic_id}/invoices/{invoice_id}/payments",
    response={201: InvoiceOut, **WRITE_ERRORS},
    operation_id="billing_record_payment",
    summary="Record a cash or card payment taken at the desk (at most what is due); send an Idempotency-Key",
    **DESK,
)
def record_payment(request: HttpRequest, clinic_id: uuid.UUID, invoice_id: uuid.UUID, payload: PaymentIn):
    return _post(request, invoice_id, EntryKind.PAYMENT, payload.method, payload.amount, payload.note)


@router.post(
    "/clinics/{clinic_id}/invoices/{invoice_id}/refunds",
    response={201: InvoiceOut, **WRITE_ERRORS},
    operation_id="billing_record_refund",
    summary="Give money back at the desk, in cash or to the card (at most what was paid); say why",
    **ADJUST,
)
def record_refund(request: HttpRequest, clinic_id: uuid.UUID, invoice_id: uuid.UUID, payload: RefundIn):
    return _post(request, invoice_id, EntryKind.REFUND, payload.method, payload.amount, payload.note)


@router.post(
    "/clinics/{clinic_id}/invoices/{invoice_id}/discounts",
    response={201: InvoiceOut, **WRITE_ERRORS},
    operation_id="billing_record_discount",
    summary="Take an amount off what the patient owes (at most their share); say why",
    **ADJUST,
)
def record_discount(request: HttpRequest, clinic_id: uuid.UUID, invoice_id: uuid.UUID, payload: DiscountIn):
    return _post(request, invoice_id, EntryKind.DISCOUNT, "", payload.amount, payload.note)


@router.get(
    "/clinics/{clinic_id}/invoices/{invoice_id}/receipts/{receipt_id}.pdf",
    response={200: None, **ERRORS},
    operation_id="billing_get_receipt",
    summary="The receipt of a payment or refund as a PDF, in Arabic or English",
    **VIEW,
)
def get_receipt(
    request: HttpRequest,
    clinic_id: uuid.UUID,
    invoice_id: uuid.UUID,
    receipt_id: uuid.UUID,
    params: Query[ReceiptQuery],
):
    invoice, entries, _totals = queries.desk_invoice(actor=request.actor, invoice_id=invoice_id)
    entry = queries.receipt_entry(entries, receipt_id)
    return receipt_response(
        invoice, entries, entry, receipts.language_of(params.language, _language(request))
    )


# --- the patient's own ------------------------------------------------------------------------------------------


@router.get(
    "/me/invoices",
    response={200: InvoicePage, **ERRORS},
    operation_id="billing_list_my_invoices",
    summary="The signed-in patient's and their dependants' invoices at every clinic, newest first",
    **OWN,
)
def list_my_invoices(request: HttpRequest, filters: Query[MineQuery]):
    page = queries.my_invoice_list(
        actor=request.actor, status=filters.status, cursor=filters.cursor, limit=filters.limit
    )
    language = _language(request)
    return {
        "items": [summary_out(i, queries.row_totals(i), language) for i in page.items],
        "next_cursor": page.next_cursor,
    }


@router.get(
    "/me/invoices/{invoice_id}",
    response={200: InvoiceOut, **ERRORS},
    operation_id="billing_get_my_invoice",
    summary="One of the patient's (or a dependant's) invoices with its entries and totals",
    **OWN,
)
def get_my_invoice(request: HttpRequest, invoice_id: uuid.UUID):
    invoice, entries, totals = queries.my_invoice(actor=request.actor, invoice_id=invoice_id)
    return invoice_out(invoice, entries, totals, _language(request), my_receipts_at(invoice))


@router.get(
    "/me/invoices/{invoice_id}/receipts/{receipt_id}.pdf",
    response={200: None, **ERRORS},
    operation_id="billing_get_my_receipt",
    summary="The receipt of one of the patient's payments or refunds as a PDF, in Arabic or English",
    **OWN,
)
def get_my_receipt(
    request: HttpRequest, invoice_id: uuid.UUID, receipt_id: uuid.UUID, params: Query[ReceiptQuery]
):
    invoice, entries, _totals = queries.my_invoice(actor=request.actor, invoice_id=invoice_id)
    entry = queries.receipt_entry(entries, receipt_id)
    return receipt_response(
        invoice, entries, entry, receipts.language_of(params.language, _language(request))
    )


# --- the platform -----------------------------------------------------------------------------------------------


def month_range(since: str | None, until: str | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """First days of the months asked for (``YYYY-MM``); by default the twelve months up to this one. At most
    five years, and never backwards."""
    from django.utils.translation import gettext as _

    from shifa.core.errors import FieldError, ValidationFailed

    last = dt.date.fromisoformat(f"{until}-01") if until else today.replace(day=1)
    if since:
        first = dt.date.fromisoformat(f"{since}-01")
    else:
        first = dt.date(last.year - 1 if last.month < 12 else last.year, last.month % 12 + 1, 1)
    if first > last or (last.year - first.year) * 12 + last.month - first.month >= 60:
        raise ValidationFailed(
            errors=[
                FieldError("since", "out_of_range", _("Choose up to 60 months, the first before the last."))
            ]
        )
    return first, last


@router.get(
    "/platform/revenue",
    response={200: RevenueOut, **ERRORS},
    operation_id="billing_get_revenue",
    summary="Every clinic's money by month (its own calendar): charged, discounts, insurers, paid, refunded, owed",
    **REVENUE,
)
def get_revenue(request: HttpRequest, params: Query[RevenueQuery]):
    first, last = month_range(params.since, params.until, timezones.now().date())
    language = _language(request)
    rows = queries.revenue_by_clinic_month(since=first, until=last)
    return {
        "since": f"{first:%Y-%m}",
        "until": f"{last:%Y-%m}",
        "items": [
            {
                "clinic": {"id": row["clinic"].external_id, "name": row["clinic"].display_name(language)},
                "month": f"{row['month']:%Y-%m}",
                "charged": money(row["charged"]),
                "discounted": money(row["discounted"]),
                "insurer_share": money(row["insurer"]),
                "paid": money(row["paid"]),
                "refunded": money(row["refunded"]),
                "net_paid": money(row["net_paid"]),
                "outstanding": money(row["outstanding"]),
            }
            for row in rows
        ],
    }

"""The patient app's online payment pages (PAY-1): "Pay now" sends the browser to PayTabs' payment page; PayTabs
sends it back to the return page, which asks PayTabs (server to server) how it went and shows the outcome. The
return's own fields never mark anything paid. Thin: the actions of ``shifa.billing``."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from shifa.access.declare import page, public_page
from shifa.billing import actions, paytabs, queries
from shifa.billing.models import PaymentStatus
from shifa.core.errors import Problem

from .account_views import problem_text

PAY = "billing.pay_own"
#: The outcome page looks again this often while PayTabs has not said how the payment went.
POLL_SECONDS = 3


def _checkout(request: HttpRequest, back: HttpResponse, **target) -> HttpResponse:
    try:
        payment = actions.checkout_start(actor=request.actor, language=get_language(), **target)
    except Problem as exc:
        messages.error(request, problem_text(exc))
        return back
    if payment is None:
        messages.success(request, _("Nothing is left to pay."))
        return back
    return HttpResponseRedirect(payment.redirect_url)


@page(PAY, methods=("POST",))
@require_http_methods(["POST"])
def patient_pay_appointment(request: HttpRequest, appointment_id) -> HttpResponse:
    back = redirect("web:patient_appointment", appointment_id=appointment_id)
    return _checkout(request, back, appointment_id=appointment_id)


@page(PAY, methods=("POST",))
@require_http_methods(["POST"])
def patient_pay_invoice(request: HttpRequest, invoice_id) -> HttpResponse:
    back = redirect("web:patient_invoice", invoice_id=invoice_id)
    return _checkout(request, back, invoice_id=invoice_id)


@csrf_exempt  # PayTabs' page posts the browser back here from its own site; nothing here is trusted
@public_page(methods=("POST",))
@require_http_methods(["POST"])
def payment_return(request: HttpRequest) -> HttpResponse:
    cart_id = request.POST.get("cartId", "")[:64]
    payment = None
    if paytabs.verify_return(request.POST.dict()):
        payment = actions.payment_returned(cart_id=cart_id)
    if payment is None:
        return redirect("web:patient_home")
    # A plain GET on our own site, where the session cookie is sent again.
    return redirect("web:patient_payment", payment_id=payment.external_id)


@page(PAY)
def patient_payment(request: HttpRequest, payment_id) -> HttpResponse:
    payment = queries.my_online_payment(actor=request.actor, payment_id=payment_id)
    waiting = payment.status in (PaymentStatus.STARTED, PaymentStatus.PAGE, PaymentStatus.PENDING)
    if waiting and payment.status != PaymentStatus.PENDING:
        payment = actions.payment_returned(cart_id=payment.cart_id) or payment
        waiting = payment.status in (PaymentStatus.STARTED, PaymentStatus.PAGE, PaymentStatus.PENDING)
    invoice = payment.invoice
    return render(
        request,
        "web/patient/payment.html",
        {
            "payment": payment,
            "invoice": invoice,
            "appointment": queries.invoice_appointment(invoice),
            "paid": payment.status == PaymentStatus.AUTHORISED,
            "waiting": waiting,
            "poll_seconds": POLL_SECONDS,
            "nav": "appointments",
        },
    )


urlpatterns = [
    path(
        "app/appointments/<uuid:appointment_id>/pay", patient_pay_appointment, name="patient_pay_appointment"
    ),
    path("app/invoices/<uuid:invoice_id>/pay", patient_pay_invoice, name="patient_pay_invoice"),
    path("app/payments/return", payment_return, name="payment_return"),
    path("app/payments/<uuid:payment_id>", patient_payment, name="patient_payment"),
]

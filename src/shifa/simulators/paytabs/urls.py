"""PayTabs' paths under the simulator's base URL (``PAYTABS_BASE_URL``, by default
``SHIFA_PUBLIC_URL/simulators/paytabs``)."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "sim_paytabs"

urlpatterns = [
    path("payment/request", views.payment_request, name="request"),
    path("payment/query", views.payment_query, name="query"),
    path("payment/page/<str:tran_ref>", views.payment_page, name="page"),
    path("control/transactions/<str:tran_ref>/settle", views.refund_settle, name="settle"),
]

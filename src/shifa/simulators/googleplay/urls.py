"""Google Play's paths under the simulator's base URL (``SHIFA_PUBLIC_URL/simulators/google-play``)."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "sim_googleplay"

urlpatterns = [
    path("token", views.token, name="token"),
    path(
        "androidpublisher/v3/applications/<str:package_name>/purchases/subscriptionsv2/tokens/<str:purchase_token>",
        views.subscription_v2,
        name="subscription_v2",
    ),
    path(
        "androidpublisher/v3/applications/<str:package_name>/purchases/subscriptions/<str:play_product_id>"
        "/tokens/<str:purchase_token>:acknowledge",
        views.acknowledge,
        name="acknowledge",
    ),
    path("control/purchases", views.control_purchase, name="control_purchase"),
]

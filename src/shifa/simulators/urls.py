"""Routes of the local simulators (mounted under /simulators/ only when ``SHIFA_SIMULATORS`` is on)."""

from __future__ import annotations

from django.urls import include, path

urlpatterns: list = [
    path("paytabs/", include("shifa.simulators.paytabs.urls")),
    path("google-play/", include("shifa.simulators.googleplay.urls")),
    path("hakeem/", include("shifa.simulators.hakeem.urls")),
]

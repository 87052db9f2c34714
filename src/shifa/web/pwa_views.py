"""The patient app as an installable web app: its manifest and the offline page the service worker keeps.

The service worker itself is ``static/shifa/js/sw.js`` (served at ``/sw.js`` by ``account_views.service_worker``);
the choices are in docs/decisions/0025-pwa.md.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import path, reverse
from django.utils.translation import get_language, get_language_bidi
from django.utils.translation import gettext as _

from shifa.access.declare import public_page

THEME_COLOR = "#0b7a75"  # --c-primary
BACKGROUND_COLOR = "#f6f8f8"  # --c-bg


def _icon(name: str, size: int, purpose: str = "any") -> dict:
    return {
        "src": static(f"shifa/icons/{name}"),
        "sizes": f"{size}x{size}",
        "type": "image/png",
        "purpose": purpose,
    }


def manifest_data() -> dict:
    """The manifest's members, translated into the active language."""
    home = reverse("web:patient_home")
    return {
        "id": home,
        "name": _("Shifa"),
        "short_name": _("Shifa"),
        "description": _(
            "Find a doctor, book a visit and read your health record, even without a connection."
        ),
        "start_url": f"{home}?source=pwa",
        "scope": home,
        "display": "standalone",
        "background_color": BACKGROUND_COLOR,
        "theme_color": THEME_COLOR,
        "lang": get_language(),
        "dir": "rtl" if get_language_bidi() else "ltr",
        "categories": ["medical", "health"],
        "icons": [
            _icon("icon-192.png", 192),
            _icon("icon-512.png", 512),
            _icon("icon-maskable-512.png", 512, "maskable"),
        ],
        "shortcuts": [
            {
                "name": _("Find a doctor"),
                "url": reverse("web:patient_search"),
                "icons": [_icon("shortcut-search.png", 96)],
            },
            {
                "name": _("My appointments"),
                "url": reverse("web:patient_appointments"),
                "icons": [_icon("shortcut-appointments.png", 96)],
            },
            {
                "name": _("My record"),
                "url": reverse("web:patient_record"),
                "icons": [_icon("shortcut-record.png", 96)],
            },
        ],
    }


@public_page()
def offline(request: HttpRequest) -> HttpResponse:
    """The page the service worker shows for a page it cannot fetch and never saved. It holds nothing personal (it
    is kept after sign-out): the list of saved pages is read from the browser's cache by ``offline.js``."""
    return render(request, "web/patient/offline.html")


urlpatterns = [
    path("app/offline", offline, name="patient_offline"),
]

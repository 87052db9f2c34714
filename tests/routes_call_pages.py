"""Path parameters, bodies and query strings of the call screens of video visits (web/call_views.py) for the
generated route tests (tests/routes.py). The patient's and the doctor's screens take the appointment of
tests/routes.py (an office visit: the screen says it is not a video visit); the guest's screen a link that is not
valid (404)."""

from __future__ import annotations

PROVIDERS: dict = {"secret": lambda t: "not-a-valid-link"}
NEEDS_ROUTE: set = set()
BODIES: dict = {}
QUERIES: dict = {}

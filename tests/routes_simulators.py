"""Path parameters and bodies of the local simulators' routes for the generated route tests (tests/routes.py).

The PayTabs simulator's API routes are sent the generated form bodies: like PayTabs they answer 400 (JSON
required) before looking at the server key; its hosted page is asked for a ``tran_ref`` that does not exist (404).
"""

from __future__ import annotations

PROVIDERS: dict = {"tran_ref": lambda t: "TST000000000000000"}
NEEDS_ROUTE: set = set()
BODIES: dict = {}
QUERIES: dict = {}

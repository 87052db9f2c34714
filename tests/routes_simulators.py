"""Path parameters and bodies of the local simulators' routes for the generated route tests (tests/routes.py).

The PayTabs simulator's API routes are sent the generated form bodies: like PayTabs they answer 400 (JSON
required) before looking at the server key; its hosted page is asked for a ``tran_ref`` that does not exist (404).
The Hakeem simulator's FHIR base is sent ``{}``: not a transaction Bundle, 400 before the token is looked at.
"""

from __future__ import annotations

PROVIDERS: dict = {
    "tran_ref": lambda t: "TST000000000000000",
    # The Hakeem simulator's FHIR routes are asked about a type it does not keep (404 before the token), its
    # control routes about a resource that does not exist (404).
    "resource_type": lambda t: "Basic",
    "fhir_id": lambda t: "0000000000000000",
    "version_id": lambda t: "1",
}
NEEDS_ROUTE: set = set()
BODIES: dict = {}
QUERIES: dict = {}

"""``HakeemClient``: the FHIR R4 REST transport to Hakeem (``HAKEEM_FHIR_URL``, bearer ``HAKEEM_TOKEN``).

Only what we use: a transaction Bundle (every send), search, read and ``Patient/$everything`` (import). Failures
come in two kinds, because they call for different handling: ``Unavailable`` (no answer, a timeout, a 5xx or a
429 — try again later, unchanged) and ``Rejected`` (a 4xx: Hakeem refused what we sent, with its OperationOutcome).
An HL7 v2 transport, if the EHS agreement asks for one, would be a second class with the same methods.
"""

from __future__ import annotations

import json

import httpx
from django.conf import settings

FHIR_JSON = "application/fhir+json"
#: A test hook: an ``httpx`` transport that carries the client's requests (the tests route them in-process).
transport: httpx.BaseTransport | None = None


class HakeemError(Exception):
    """Hakeem could not take or answer a request; ``status`` is the HTTP status, if there was an answer."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Unavailable(HakeemError):
    """No usable answer (unreachable, timed out, 5xx, 429): the same request may succeed later."""


class Rejected(HakeemError):
    """Hakeem refused the request (4xx): resending it unchanged fails the same way."""


def outcome_text(body) -> str:
    """The diagnostics of an OperationOutcome, one line."""
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        parts = [
            issue.get("diagnostics") or issue.get("details", {}).get("text") or issue.get("code", "")
            for issue in body.get("issue", [])
        ]
        return "; ".join(p for p in parts if p)[:2000]
    return ""


def describe_error(stored: str) -> str:
    """A sync or import error as the consoles show it, in the reader's language. The stored text (kept whole in
    the record, for support) is one of the messages this module raises; what Hakeem itself said (a FHIR
    OperationOutcome) is shown as Hakeem wrote it, after our words."""
    import re

    from django.utils.translation import gettext as _

    if not stored:
        return ""
    if stored.startswith("Hakeem did not answer within"):
        return _("Hakeem did not answer in time; the record will be sent again.")
    if stored.startswith("Hakeem cannot be reached"):
        return _("Hakeem cannot be reached; the record will be sent again.")
    if found := re.match(r"Hakeem answered (\d{3}) without a FHIR resource", stored):
        return _("Hakeem gave an answer we could not read (%(status)s).") % {"status": found[1]}
    if found := re.match(r"Hakeem answered (\d{3}): ", stored):
        return _("Hakeem is unavailable (%(status)s); the record will be sent again.") % {"status": found[1]}
    if stored.startswith("Hakeem found the patient but could not be asked"):
        return _(
            "Hakeem knows this patient but could not be asked whose record it is; it will be asked again."
        )
    if found := re.match(r"Hakeem refused it \((\d{3})\): (.*)", stored, re.S):
        return _("Hakeem refused the record (%(status)s): %(detail)s") % {
            "status": found[1],
            "detail": found[2],
        }
    return stored


class HakeemClient:
    def __init__(self, base_url: str | None = None, token: str | None = None, timeout: float | None = None):
        self.base_url = (base_url or settings.HAKEEM_FHIR_URL).rstrip("/")
        self.token = token if token is not None else settings.HAKEEM_TOKEN
        self.timeout = timeout if timeout is not None else settings.HAKEEM_TIMEOUT_SECONDS

    def _request(
        self, method: str, path: str, *, body: dict | None = None, params: dict | None = None
    ) -> dict:
        headers = {"Accept": FHIR_JSON}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        content = None
        if body is not None:
            headers["Content-Type"] = FHIR_JSON
            content = json.dumps(body, separators=(",", ":"))
        if path.startswith(("http://", "https://")):
            url = path  # a link Hakeem gave (a search's next page), as it gave it
        else:
            url = f"{self.base_url}/{path}" if path else self.base_url
        try:
            with httpx.Client(transport=transport, timeout=self.timeout) as http:
                response = http.request(method, url, content=content, params=params, headers=headers)
        except httpx.TimeoutException:
            raise Unavailable(f"Hakeem did not answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise Unavailable(f"Hakeem cannot be reached: {exc.__class__.__name__}: {exc}"[:500]) from None
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 500 or response.status_code == 429:
            detail = outcome_text(data) or response.reason_phrase
            raise Unavailable(f"Hakeem answered {response.status_code}: {detail}", response.status_code)
        if response.status_code >= 400:
            detail = outcome_text(data) or response.reason_phrase
            raise Rejected(f"Hakeem refused it ({response.status_code}): {detail}", response.status_code)
        if not isinstance(data, dict):
            raise Unavailable(f"Hakeem answered {response.status_code} without a FHIR resource")
        return data

    def transaction(self, entries: list[dict]) -> list[dict]:
        """Send ``entries`` (each ``{"resource", "request"}``) as one transaction Bundle: all or none. Returns the
        response entries, in the same order."""
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        answer = self._request("POST", "", body=bundle)
        results = answer.get("entry", [])
        if answer.get("type") != "transaction-response" or len(results) != len(entries):
            raise Unavailable("Hakeem answered the transaction with something else than its response")
        return results

    def search(self, resource_type: str, params: dict, *, limit: int = 1000) -> list[dict]:
        """The resources matching ``params``, following the Bundle's ``next`` links up to ``limit``."""
        found: list[dict] = []
        answer = self._request("GET", resource_type, params=params)
        while True:
            found.extend(e["resource"] for e in answer.get("entry", []) if "resource" in e)
            following = next(
                (link["url"] for link in answer.get("link", []) if link.get("relation") == "next"), None
            )
            if following is None or len(found) >= limit:
                return found[:limit]
            if not following.startswith(("http://", "https://")):
                following = following.lstrip("/")
            answer = self._request("GET", following)

    def read(self, resource_type: str, resource_id: str) -> dict:
        return self._request("GET", f"{resource_type}/{resource_id}")

    def everything(self, patient_id: str, *, limit: int = 5000) -> list[dict]:
        """Everything Hakeem holds about one patient (``Patient/<id>/$everything``), every page of it."""
        return self.search(f"Patient/{patient_id}/$everything", {}, limit=limit)

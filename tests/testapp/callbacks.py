"""A test-only merchant endpoint that receives PayTabs callbacks and records them: ``/test-callbacks/ok`` always
answers 200, ``/test-callbacks/flaky-<n>`` fails its first ``n`` calls (HTTP 503) and then answers 200,
``/test-callbacks/down`` always fails. Mounted by ``tests.testapp.urls`` (``@pytest.mark.urls``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from shifa.access.declare import public_page

PATH = "/test-callbacks/{name}"


@dataclass(frozen=True)
class Received:
    name: str
    raw: bytes
    signature: str | None
    content_type: str
    answered: int


#: Every call, in order (tests empty it).
received: list[Received] = []


def _answer(name: str) -> int:
    calls = sum(1 for r in received if r.name == name)
    if name == "down":
        return 503
    if name.startswith("flaky-"):
        return 503 if calls < int(name.removeprefix("flaky-")) else 200
    return 200


@public_page(methods=("POST",))
@csrf_exempt
def receive(request: HttpRequest, name: str) -> HttpResponse:
    status = _answer(name)
    received.append(
        Received(name, request.body, request.headers.get("Signature"), request.content_type, status)
    )
    return HttpResponse(status=status)

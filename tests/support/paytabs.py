"""Paying through the local PayTabs simulator in tests: route the client's calls and the simulator's callbacks
in-process, press a button on the hosted page, read the signed return form it answers with."""

from __future__ import annotations

import contextlib
from html.parser import HTMLParser
from urllib.parse import urlsplit

from django.test import Client

from tests.support.inprocess import DjangoTransport


@contextlib.contextmanager
def in_process():
    """``shifa.billing.paytabs`` talks to the simulator, and the simulator's callbacks reach our views, through
    Django's test client (inside the test's transaction)."""
    from shifa.billing import paytabs
    from shifa.simulators.paytabs import actions as simulator

    previous = paytabs.transport, simulator.transport
    paytabs.transport = simulator.transport = DjangoTransport()
    try:
        yield
    finally:
        paytabs.transport, simulator.transport = previous


class _Inputs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.form_action: str | None = None
        self.fields: dict[str, str] = {}
        self.choices: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("action") and self.form_action is None:
            self.form_action = a["action"]
        if tag == "input" and a.get("type") == "hidden" and a.get("name") != "csrfmiddlewaretoken":
            self.fields[a["name"]] = a.get("value") or ""
        if tag == "button" and a.get("name") == "choice":
            self.choices.append(a.get("value"))


def parse_page(html: str) -> _Inputs:
    """The hidden fields and action of the page's return form, and the choice buttons it offers."""
    parser = _Inputs()
    parser.feed(html)
    return parser


def choose(redirect_url: str, choice: str = "pay", *, client: Client | None = None, **card) -> dict:
    """Press ``choice`` (pay, decline, cancel, expire) on the hosted page at ``redirect_url``; returns the fields
    of the return form the browser would post to the merchant (empty when there is no return URL)."""
    form = {"choice": choice, "card_number": "4111 1111 1111 1111", "expiry": "12/30", "cvv": "123", **card}
    response = (client or Client()).post(urlsplit(redirect_url).path, form)
    assert response.status_code == 200, response.content[:500]
    return parse_page(response.content.decode()).fields

"""An ``httpx`` transport that hands requests to this process's Django through the test client, so that a client
of an outside service (PayTabs, Google Play) talks to its local simulator inside the test's transaction."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from django.test import Client


class DjangoTransport(httpx.BaseTransport):
    def __init__(self):
        self.client = Client(raise_request_exception=True)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = urlsplit(str(request.url))
        path = url.path + (f"?{url.query}" if url.query else "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host", "content-length"}}
        content_type = headers.pop("content-type", "application/octet-stream")
        response = self.client.generic(
            request.method, path, data=request.read(), content_type=content_type, headers=headers
        )
        return httpx.Response(
            response.status_code, headers=dict(response.items()), content=response.content, request=request
        )

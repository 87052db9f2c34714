"""Pages that follow long work done in the background (documents, Hakeem imports and sync) poll a small fragment
with htmx (``hx-trigger="every 2s"``), and stop when the work is done: the fragment of a finished job carries no
trigger. The fragment's URL names the state it shows (``?seen=``); while the state has not moved the poll is
answered ``204 No Content``, which htmx does not swap, so that screen readers hear a change only once (the
fragments sit in an ``aria-live="polite"`` region of the page)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

#: How often the fragments poll while the work runs, in seconds.
POLL_SECONDS = 2


def unchanged(request: HttpRequest, token: str) -> HttpResponse | None:
    """``204`` for an htmx poll that already shows the state ``token``; ``None`` otherwise (render the fragment)."""
    if getattr(request, "htmx", False) and request.GET.get("seen") == token:
        return HttpResponse(status=204)
    return None

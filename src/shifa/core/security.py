"""The browser-side security policy every answer carries (docs/decisions/0031-security-headers.md).

Settings build it with ``content_security_policy()`` so that production, which names a different PayTabs origin,
gets the same policy with its own payment page allowed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from csp.constants import NONE, SELF

#: Cameras and microphones for video calls, the location for "near me", on our own pages only; nothing else.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    "camera": ["self"],
    "microphone": ["self"],
    "geolocation": ["self"],
    # a call's videos play as they arrive, and may go full screen
    "autoplay": ["self"],
    "fullscreen": ["self"],
    "accelerometer": [],
    "browsing-topics": [],
    "display-capture": [],
    "gyroscope": [],
    "hid": [],
    "idle-detection": [],
    "magnetometer": [],
    "midi": [],
    "payment": [],
    "publickey-credentials-get": [],
    "screen-wake-lock": [],
    "serial": [],
    "usb": [],
    "xr-spatial-tracking": [],
}


def origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an absolute URL; None for anything else."""
    parts = urlsplit(url or "")
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(*, public_url: str, paytabs_base_url: str) -> dict:
    """The django-csp setting: our own scripts, styles, fonts and frames only; inline scripts never run.

    * ``style-src-attr 'unsafe-inline'``: a few templates size charts and meters with ``style`` attributes; those
      cannot run code, and ``<style>`` elements stay forbidden.
    * ``connect-src``: our own origin, which CSP Level 3 extends to ``ws:``/``wss:`` on the same host, plus the
      public origin's WebSocket address named outright for browsers that do not.
    * ``form-action``: a checkout form is answered by a redirect to PayTabs' hosted page, and browsers hold
      redirects after a form post to this directive too.
    """
    connect = [SELF]
    public = origin(public_url)
    if public:
        connect.append(public.replace("https://", "wss://", 1).replace("http://", "ws://", 1))
    form_action = [SELF]
    paytabs = origin(paytabs_base_url)
    if paytabs:
        form_action.append(paytabs)
    return {
        "DIRECTIVES": {
            "default-src": [SELF],
            "script-src": [SELF],
            "style-src": [SELF],
            "style-src-attr": ["'unsafe-inline'"],
            "img-src": [SELF, "data:", "blob:"],
            "font-src": [SELF],
            "connect-src": connect,
            "media-src": [SELF, "blob:", "mediastream:"],
            "worker-src": [SELF],
            "manifest-src": [SELF],
            "object-src": [NONE],
            "base-uri": [SELF],
            "frame-ancestors": [NONE],
            "form-action": form_action,
        }
    }

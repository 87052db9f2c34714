"""Template tags of the installable patient app."""

from __future__ import annotations

from django import template
from django.utils.crypto import salted_hmac

register = template.Library()


@register.simple_tag(takes_context=True)
def pwa_user_key(context) -> str:
    """An opaque key of the signed-in person for the service worker: when it changes, the pages saved for offline
    reading belong to someone else and are dropped. Reveals nothing about the person."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ""
    return salted_hmac("shifa.web.pwa.user", str(user.pk)).hexdigest()[:24]

"""Tags of the fragments that follow background work (``web/documents/_status.html``, the Hakeem fragments)."""

from __future__ import annotations

from django import template

from shifa.core import timezones
from shifa.documents.policies import may_retry

register = template.Library()


@register.simple_tag(takes_context=True)
def document_retryable(context, document) -> bool:
    """``{% document_retryable d as can_retry %}``: whether the signed-in staff member may try a failed one again."""
    actor = getattr(context.get("request"), "actor", None)
    return actor is not None and may_retry(actor, document)


@register.filter
def clinic_clock(value, zone_name: str = ""):
    """``{{ at|clinic_clock:clinic.time_zone|date:"H:i" }}``: the time a clock at the clinic shows."""
    return timezones.wall_clock(value, zone_name or None) if value else None

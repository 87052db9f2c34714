"""Template filters shared by the three front ends."""

from __future__ import annotations

from django import template
from django.utils.translation import get_language

from shifa.core.money import Money

register = template.Library()


@register.filter
def money(amount, currency: str = "JOD") -> str:
    """An amount as the reader's language writes money (``20.000 د.أ.`` / ``JOD 20.000``); empty for none."""
    if amount is None or amount == "":
        return ""
    return Money(amount, currency).format(get_language() or "en")

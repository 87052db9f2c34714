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


@register.filter
def get_item(mapping, key):
    """``{{ results|get_item:order.pk }}``: a dictionary's value in a template (an empty list when missing)."""
    return mapping.get(key, []) if mapping else []


@register.filter
def pending_documents(documents) -> bool:
    """Whether any of the documents is still being prepared (the list then refreshes itself)."""
    return any(d.status in {"pending", "rendering"} for d in documents)

"""Template filters shared by the three front ends."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils.html import format_html
from django.utils.translation import get_language

from shifa.core import calendars, timezones
from shifa.core.money import Money

register = template.Library()


@register.filter
def money(amount, currency: str = "JOD") -> str:
    """An amount as the reader's language writes money (``20.000 د.أ.`` / ``JOD 20.000``); empty for none."""
    if amount is None or amount == "":
        return ""
    return Money(amount, currency).format(get_language() or "en")


@register.filter
def hijri(value, zone_name: str = "") -> str:
    """The Hijri date of a day, beside the Gregorian one: ``<bdi class="hijri">16 Jumada al-Akhirah 1448 AH</bdi>``.

    Takes a date, a wall-clock (naive) datetime as the views hand to templates, or an aware datetime, which is
    first put on the clock of ``zone_name`` (the clinic default when empty). Empty for none and outside the Umm
    al-Qura range, so a template shows it with ``{% with h=day|hijri %}{% if h %}…{% endif %}{% endwith %}``.
    """
    if isinstance(value, dt.datetime):
        aware = value.tzinfo is not None and value.tzinfo.utcoffset(value) is not None
        value = (timezones.to_local(value, zone_name or None) if aware else value).date()
    if not isinstance(value, dt.date):
        return ""
    language = calendars.hijri_language(get_language())
    text = calendars.hijri(value, language)
    return format_html('<bdi class="hijri" lang="{}">{}</bdi>', language, text) if text else ""


@register.filter
def get_item(mapping, key):
    """``{{ results|get_item:order.pk }}``: a dictionary's value in a template (an empty list when missing)."""
    return mapping.get(key, []) if mapping else []

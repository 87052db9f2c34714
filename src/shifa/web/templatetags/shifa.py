"""Template filters shared by the three front ends."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils.html import format_html
from django.utils.translation import get_language, pgettext

from shifa.core import calendars, places, timezones, units
from shifa.core.money import DEFAULT_CURRENCY, Money

register = template.Library()


@register.filter
def money(amount, currency: str = "JOD") -> str:
    """The one way a page shows money: an amount with its currency as the reader's language writes it, to the
    currency's places (``JOD 20.000``; ``20.000 د.أ.`` between right-to-left marks), through ``Money.format``:
    ``{{ total|money:invoice.currency }}``. Empty for none; a blank currency is the platform's (JOD)."""
    if amount is None or amount == "":
        return ""
    return Money(amount, currency or DEFAULT_CURRENCY).format(get_language() or "en")


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
def unit(code: str) -> str:
    """``{{ kind.unit|unit }}``: a UCUM code as it is printed ("mm[Hg]" → "mmHg", "Cel" → "°C")."""
    return units.symbol(code)


@register.filter
def unit_after(code: str) -> str:
    """``{{ value }}{{ kind.unit|unit_after }}``: "88/min", "97%", "118 mmHg" (no break before the unit)."""
    return units.after_number(code)


@register.filter
def city(name: str) -> str:
    """``{{ clinic.city|city }}``: a city in the reader's language ("Irbid", "إربد"), or as typed if unknown."""
    return places.city_name(name, get_language() or "en")


@register.filter
def zone_label(name: str) -> str:
    """``{{ clinic.time_zone|zone_label }}``: a time zone as readers call it ("Jordan Time", "توقيت الأردن")."""
    return timezones.describe(name, get_language() or "en")


@register.filter
def named(thing, field: str = "name") -> str:
    """``{{ clinic|named }}``: a thing's ``name_ar`` on Arabic pages and its ``name_en`` otherwise, falling back to
    the other language when one is blank; ``{{ step|named:"label" }}`` for ``label_ar``/``label_en``; a patient's
    Arabic name on Arabic pages when they gave one."""
    if thing is None or thing == "":
        return ""
    if field == "name" and not hasattr(thing, "name_en") and callable(getattr(thing, "display_name", None)):
        return thing.display_name(get_language() or "en")  # a person: patient.full_name_ar on Arabic pages
    get = thing.get if isinstance(thing, dict) else lambda key, default: getattr(thing, key, default)
    arabic, english = get(f"{field}_ar", ""), get(f"{field}_en", "")
    first, second = (arabic, english) if get_language() == "ar" else (english, arabic)
    return first or second or ""


@register.filter
def join_list(items) -> str:
    """``{{ names|join_list }}``: parts of a list with the reader's separator ("a, b" / "a، b")."""
    return pgettext("between the parts of a list", ", ").join(str(item) for item in items or ())


@register.filter
def hakeem_error(stored: str) -> str:
    """``{{ record.last_error|hakeem_error }}``: why Hakeem did not take a record, in the reader's language."""
    from shifa.integrations.hakeem.client import describe_error

    return describe_error(stored or "")


@register.filter
def get_item(mapping, key):
    """``{{ results|get_item:order.pk }}``: a dictionary's value in a template (an empty list when missing)."""
    return mapping.get(key, []) if mapping else []

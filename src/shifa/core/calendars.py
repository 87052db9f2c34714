"""The Hijri date of a Gregorian day, as the patient pages show it beside the Gregorian one (decision 0026).

The Umm al-Qura calendar (Saudi Arabia's official tabular calendar, the most widely used one) through the
``hijridate`` library; a month begun by a local moon sighting may start a day apart. It covers 1 Muharram 1343
to 30 Dhu al-Hijjah 1500 AH (1924-08-01 to 2077-11-16); a day outside has no Hijri date here and shows the
Gregorian one alone.

Month names and the era mark are fixed tables (the library's), not translatable strings: they are proper names
with one standard spelling per script, and the platform speaks only Arabic and English. Digits are Western
(0-9) in both languages, as every other number and date in the Arabic pages (Django's ``date`` filter, Babel's
money with the ``latn`` numbering system).
"""

from __future__ import annotations

import datetime as dt

from hijridate import Gregorian
from hijridate.ummalqura import GREGORIAN_RANGE

FIRST_DAY = dt.date(*GREGORIAN_RANGE[0])
LAST_DAY = dt.date(*GREGORIAN_RANGE[1])

#: The languages with month names of their own; any other falls back to English.
LANGUAGES = ("ar", "en")


def hijri_language(language: str | None) -> str:
    """``ar`` or ``en`` for a language code such as ``ar``, ``ar-jo`` or ``en-us``."""
    code = (language or "").lower()[:2]
    return code if code in LANGUAGES else "en"


def hijri(day: dt.date, language: str | None = "en") -> str:
    """``15 Jumada al-Akhirah 1448 AH`` / ``15 جمادى الآخرة 1448 هـ``; empty outside the Umm al-Qura range.

    ``day`` is a calendar day: convert an instant to the reader's local day before asking (a datetime is taken
    by its date, whatever its zone).
    """
    if isinstance(day, dt.datetime):
        day = day.date()
    if not FIRST_DAY <= day <= LAST_DAY:
        return ""
    found = Gregorian.fromdate(day).to_hijri()
    language = hijri_language(language)
    return f"{found.day} {found.month_name(language)} {found.year} {found.notation(language)}"

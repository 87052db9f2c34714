"""UCUM unit codes as people print them. Records and FHIR keep the code ("mm[Hg]", "Cel", "kg/m2"); pages, PDFs
and messages show the symbol a clinician writes ("mmHg", "°C", "kg/m²"). Latin symbols in both languages, as
Jordan's labs and clinics print them."""

from __future__ import annotations

import re
from functools import lru_cache

#: Whole codes whose printed form is not a mechanical rewrite.
_SPECIAL = {
    "Cel": "°C",
    "[degF]": "°F",
    "/min": "/min",
    "mg/(24.h)": "mg/24 h",
    "[arb'U]/mL": "AU/mL",
    "[pH]": "pH",
}
_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _atom(atom: str) -> str:
    """One unit without its annotation: ``10*3`` → ``10³``, ``uL`` → ``µL``, ``m2`` → ``m²``, ``[IU]`` → ``IU``."""
    atom = re.sub(r"10\*(-?\d+)", lambda m: "10" + m[1].translate(_SUPERSCRIPT), atom)
    atom = re.sub(r"\[(\w+)\]", r"\1", atom)
    atom = re.sub(r"(?<![A-Za-z])u(?=(?:g|L|l|mol|IU|m|eq|kat|s)(?![a-z]))", "µ", atom)
    return re.sub(r"(?<=[A-Za-z])(-?\d+)(?![\w.])", lambda m: m[1].translate(_SUPERSCRIPT), atom)


@lru_cache(maxsize=512)
def symbol(code: str) -> str:
    """The printed form of a UCUM code; annotations (``{score}``, ``{INR}``) alone print as nothing, and beside a
    unit as a word (``U/g{Hb}`` → ``U/g Hb``)."""
    code = (code or "").strip()
    if code in _SPECIAL:
        return _SPECIAL[code]
    if re.fullmatch(r"\{[^}]*\}", code):
        return ""
    parts = re.split(r"(\{[^}]*\})", code)
    out = ""
    for part in parts:
        if part.startswith("{"):
            note = " ".join(_atom(word) for word in part[1:-1].split("_"))
            out = f"{out}{note}" if out.endswith("/") else f"{out} {note}"
        else:
            out += ".".join(_atom(a) for a in part.split(".")).replace(".", "·")
    return out.strip()


def labelled(name: str, code: str) -> str:
    """ "Heart rate (/min)": a name with its unit, the unit isolated (FSI … PDI) so that an Arabic name does not
    reorder it ("(min/)")."""
    printed = symbol(code)
    return f"{name} (\u2068{printed}\u2069)" if printed else name


def after_number(code: str) -> str:
    """The unit as it follows a number: "/min" and "%" close up ("88/min", "97%"), others after a no-break space
    ("118 mmHg", "38.4 °C"); nothing for no unit."""
    printed = symbol(code)
    if not printed:
        return ""
    return printed if printed.startswith(("/", "%")) else "\u00a0" + printed

"""Place names in both languages. A clinic's city is typed by people, in either language; pages show it in the
reader's, and search finds it by either name. Jordan's twelve governorate seats and larger towns, then the
region's capitals; a city not listed is shown as it was typed."""

from __future__ import annotations

import unicodedata

#: (English, Arabic, other spellings people type)
CITIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Amman", "عمّان", ("عمان", "Amman City")),
    ("Zarqa", "الزرقاء", ("Zarka", "Al Zarqa", "Az Zarqa", "الزرقا")),
    ("Irbid", "إربد", ("Irbed", "اربد")),
    ("Russeifa", "الرصيفة", ("Rusayfa", "Ruseifa")),
    ("Salt", "السلط", ("As-Salt", "Al Salt", "As Salt")),
    ("Madaba", "مادبا", ("Madaba City", "مأدبا")),
    ("Mafraq", "المفرق", ("Al Mafraq",)),
    ("Jerash", "جرش", ("Jarash",)),
    ("Ajloun", "عجلون", ("Ajlun", "Ajlon")),
    ("Karak", "الكرك", ("Al Karak", "Kerak")),
    ("Tafilah", "الطفيلة", ("Tafila", "At-Tafilah", "Al Tafilah")),
    ("Ma'an", "معان", ("Maan", "Ma\u2019an")),
    ("Aqaba", "العقبة", ("Al Aqaba", "Akaba")),
    ("Ramtha", "الرمثا", ("Al Ramtha", "Ar Ramtha")),
    ("Sahab", "سحاب", ()),
    ("Fuheis", "الفحيص", ("Al Fuhays", "Fuhais")),
    ("Deir Alla", "دير علا", ("Dayr Alla",)),
    ("Shuneh", "الشونة الجنوبية", ("South Shuneh", "Shunah")),
    ("Wadi Musa", "وادي موسى", ("Petra",)),
    ("Azraq", "الأزرق", ("Al Azraq",)),
    ("Riyadh", "الرياض", ()),
    ("Jeddah", "جدة", ("Jidda", "جده")),
    ("Dubai", "دبي", ()),
    ("Abu Dhabi", "أبوظبي", ("أبو ظبي",)),
    ("Doha", "الدوحة", ()),
    ("Kuwait City", "مدينة الكويت", ("Kuwait", "الكويت")),
    ("Manama", "المنامة", ()),
    ("Muscat", "مسقط", ()),
    ("Cairo", "القاهرة", ()),
    ("Alexandria", "الإسكندرية", ()),
    ("Beirut", "بيروت", ()),
    ("Damascus", "دمشق", ()),
    ("Baghdad", "بغداد", ()),
    ("Erbil", "أربيل", ("Arbil",)),
    ("Ramallah", "رام الله", ()),
    ("Jerusalem", "القدس", ("Al-Quds",)),
)


def _key(text: str) -> str:
    """Case, spacing, hyphens, apostrophes and Arabic diacritics (the shadda of عمّان) do not tell cities apart."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c) and c not in "'\u2019`-_.")
    return " ".join(text.split())


_BY_NAME: dict[str, tuple[str, str]] = {
    _key(name): (english, arabic) for english, arabic, others in CITIES for name in (english, arabic, *others)
}


def city_names(city: str) -> tuple[str, str] | None:
    """The English and Arabic names of a city as typed in either language; None for a city we do not know."""
    return _BY_NAME.get(_key(city or ""))


def city_name(city: str, language: str) -> str:
    """A city in the reader's language, or as it was typed when we do not know it."""
    names = city_names(city)
    if names is None:
        return city or ""
    return names[1] if language == "ar" else names[0]

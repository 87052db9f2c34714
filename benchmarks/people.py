"""Names and cities of the people and clinics that benchmark data sets make up (Jordanian, in both languages)."""

from __future__ import annotations

import random

FIRST_NAMES = [
    "Ahmad",
    "Mohammad",
    "Omar",
    "Ali",
    "Yousef",
    "Lina",
    "Rania",
    "Huda",
    "Sara",
    "Maryam",
    "Noor",
]
FAMILY_NAMES = ["Haddad", "Khoury", "Nasser", "Saleh", "Odeh", "Masri", "Qasem", "Hamdan", "Zoubi", "Tamimi"]
CITIES = [("Amman", "عمّان"), ("Irbid", "إربد"), ("Zarqa", "الزرقاء"), ("Aqaba", "العقبة"), ("Salt", "السلط")]


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(FAMILY_NAMES)}"

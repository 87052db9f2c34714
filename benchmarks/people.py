"""Names and cities of the people and clinics that benchmark data sets make up (Jordanian, in both languages), and
the patients who sign in to the HTTP benchmarks."""

from __future__ import annotations

import random

from django.db import transaction

from .copying import copy_rows

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


def patient_users(count: int) -> list:
    """``count`` patients who sign in (users ``patient0000@…`` of the booking data set's domain, each with a patient
    record), created once and re-used by the HTTP benchmarks."""
    from shifa.accounts.models import User
    from shifa.records.models import Patient

    from .dataset import EMAIL_DOMAIN

    emails = [f"patient{i:04d}@{EMAIL_DOMAIN}" for i in range(count)]
    with transaction.atomic():
        existing = set(User.objects.filter(email__in=emails).values_list("email", flat=True))
        missing = [e for e in emails if e not in existing]
        if missing:
            names = [f"Benchmark Patient {e.split('@')[0][7:]}" for e in missing]
            users = copy_rows(
                User,
                ["email", "full_name", "password", "language"],
                [(e, n, "!", "en") for e, n in zip(missing, names, strict=True)],
                ids=True,
            )
            copy_rows(Patient, ["user_id", "full_name"], list(zip(users, names, strict=True)))
    users = list(User.objects.filter(email__in=emails, patient__isnull=False).order_by("email"))
    if len(users) != count:
        raise RuntimeError(f"expected {count} patient users, found {len(users)}")
    return users

"""Writes of the patient record."""

from __future__ import annotations

import datetime as dt

from shifa.accounts.actions import normalize_phone

from .models import Patient, Sex


def patient_create(
    *,
    full_name: str,
    full_name_ar: str = "",
    user=None,
    date_of_birth: dt.date | None = None,
    sex: str = Sex.UNKNOWN,
    phone: str = "",
) -> Patient:
    return Patient.objects.create(
        user=user,
        full_name=full_name.strip(),
        full_name_ar=full_name_ar.strip(),
        date_of_birth=date_of_birth,
        sex=sex,
        phone=normalize_phone(phone),
    )

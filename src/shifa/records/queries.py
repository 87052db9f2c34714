"""Reads of the patient record."""

from __future__ import annotations

from .models import Patient


def patient_for_user(user) -> Patient | None:
    """The patient a signed-in user is, if any."""
    return Patient.objects.filter(user=user).first()

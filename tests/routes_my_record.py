"""Bodies and query strings that make the patient's record pages (``/app/record…``) answer 2xx in the generated
route tests (see tests/routes.py)."""

from __future__ import annotations


def _share_form(user) -> dict:
    """Share one's record with clinic A (an active clinic of the cast) for 30 days."""
    from shifa.tenancy.models import Clinic

    return {"clinic_id": str(Clinic.objects.get(slug="clinic-a").external_id), "days": "30"}


BODIES: dict = {
    ("POST", "/app/record/sharing/grant"): _share_form,
    ("POST", "/app/record/sharing/{grant_id}/revoke"): {},
    ("POST", "/app/record/family/add"): {
        "full_name": "Child of patient",
        "full_name_ar": "طفل المريض",
        "date_of_birth": "2020-05-01",
        "sex": "female",
        "relation": "child",
    },
}
QUERIES: dict = {}

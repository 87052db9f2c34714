"""What a patient's subscription entitles them to. Subscriptions are not sold yet: until they are, this one
function answers every entitlement question, and nobody holds any entitlement (everyone is served in arrival
order). The subscriptions work connects it to the patient's plan."""

from __future__ import annotations

#: Urgent video requests ("Treat Me Now") of entitled patients go ahead of the others in the queue (TM-2).
PRIORITY_URGENT_CARE = "priority_urgent_care"

KNOWN = frozenset({PRIORITY_URGENT_CARE})


def has_entitlement(patient, code: str) -> bool:
    """Whether ``patient`` (or, for a dependant, their guardian's subscription) holds ``code``."""
    if code not in KNOWN:
        raise ValueError(f"unknown entitlement {code!r}")
    return False

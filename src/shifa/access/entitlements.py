"""What a patient's subscription entitles them to (PAY-3). This one function answers every entitlement question
from the subscription's state (``shifa.subscriptions``): active and grace give access, on hold, expired, revoked and
refunded do not; a subscription whose renewal was switched off keeps access until its paid period ends. A dependant
is covered by their guardian's subscription."""

from __future__ import annotations

#: Urgent video requests ("Treat Me Now") of entitled patients go ahead of the others in the queue (TM-2).
PRIORITY_URGENT_CARE = "priority_urgent_care"

#: The subscriber may choose a family doctor who sees their shared record and can be messaged directly (TM-4).
FAMILY_DOCTOR = "family_doctor"
#: The plan includes a number of video visits each period (how many is the plan's).
INCLUDED_VIDEO_VISITS = "included_video_visits"

KNOWN = frozenset({PRIORITY_URGENT_CARE, FAMILY_DOCTOR, INCLUDED_VIDEO_VISITS})


def has_entitlement(patient, code: str) -> bool:
    """Whether ``patient`` (or, for a dependant, their guardian's subscription) holds ``code``."""
    if code not in KNOWN:
        raise ValueError(f"unknown entitlement {code!r}")
    from shifa.subscriptions.queries import entitled_plans

    plans = entitled_plans(patient)  # active or in grace, and within the paid (or grace) period
    if code == PRIORITY_URGENT_CARE:
        return any(plan.priority_urgent_care for plan in plans)
    if code == FAMILY_DOCTOR:
        return any(plan.family_doctor for plan in plans)
    return any(plan.included_video_visits > 0 for plan in plans)

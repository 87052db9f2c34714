"""Reads of subscriptions: plans, a patient's subscription and entitlements, included video visits, revenue."""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum

from shifa.core import timezones
from shifa.core.errors import NotFound

from . import states
from .models import (
    Payment,
    PaymentKind,
    Period,
    Plan,
    StoreAccount,
    Subscription,
    SubscriptionEvent,
    VideoVisitUse,
)

# --- periods ----------------------------------------------------------------------------------------------------


def add_periods(start: dt.datetime, period: str, count: int) -> dt.datetime:
    """``start`` moved by ``count`` months or years (the 31st becomes the month's last day)."""
    months = count * (12 if period == Period.YEARLY else 1)
    year, month = divmod(start.month - 1 + months, 12)
    year += start.year
    day = min(start.day, calendar.monthrange(year, month + 1)[1])
    return start.replace(year=year, month=month + 1, day=day)


# --- plans --------------------------------------------------------------------------------------------------------


def plan_list(*, include_retired: bool = False) -> QuerySet[Plan]:
    """Plans with the number of live subscribers of each (``subscribers``), cheapest first."""
    live = [s.value for s in states.LIVE if s != states.State.PENDING]
    queryset = Plan.objects.annotate(
        subscribers=Count("subscriptions", filter=Q(subscriptions__state__in=live), distinct=True)
    ).order_by("retired_at", "price", "name_en")
    if not include_retired:
        queryset = queryset.filter(retired_at__isnull=True)
    return queryset


def plan_get(plan_id, *, include_retired: bool = True) -> Plan:
    found = plan_list(include_retired=include_retired).filter(external_id=plan_id).first()
    if found is None:
        raise NotFound()
    return found


# --- a patient's subscription -------------------------------------------------------------------------------------


def subscriber_of(patient):
    """Whose subscription covers ``patient``: their guardian's for a dependant, else their own."""
    return patient.guardian if patient.guardian_id else patient


def subscriptions_of(patient) -> QuerySet[Subscription]:
    return Subscription.objects.filter(patient=subscriber_of(patient)).select_related("plan")


def entitled_subscriptions(patient, at: dt.datetime | None = None) -> list[Subscription]:
    """The subscriptions that give ``patient`` (or, for a dependant, their guardian) access at ``at``."""
    at = at or timezones.now()
    found = subscriptions_of(patient).filter(state__in=[s.value for s in states.ENTITLED])
    return [s for s in found if states.entitled(s.snapshot, at)]


def entitled_plans(patient, at: dt.datetime | None = None) -> list[Plan]:
    return [s.plan for s in entitled_subscriptions(patient, at)]


def current_subscription(patient, at: dt.datetime | None = None) -> Subscription | None:
    """The subscription to show: one that gives access now (paid the furthest), else the latest one."""
    at = at or timezones.now()
    entitled = entitled_subscriptions(patient, at)
    if entitled:
        return max(entitled, key=lambda s: (s.current_period_end or at, s.pk))
    return subscriptions_of(patient).order_by("-created_at", "-pk").first()


def subscription_history(subscription: Subscription, limit: int = 20) -> list[SubscriptionEvent]:
    return list(subscription.events.order_by("-id")[:limit])


def app_account_token(patient) -> str | None:
    account = StoreAccount.objects.filter(patient=patient).first()
    return str(account.app_account_token) if account else None


# --- included video visits ----------------------------------------------------------------------------------------


def period_window(subscription: Subscription) -> tuple[dt.datetime, dt.datetime] | None:
    """The current period of a subscription: the plan's period back from the end of the paid period."""
    end = subscription.current_period_end
    if end is None:
        return None
    return add_periods(end, subscription.plan.period, -1), end


def used_in_period(subscription: Subscription) -> int:
    window = period_window(subscription)
    if window is None:
        return 0
    return VideoVisitUse.objects.filter(
        subscription=subscription, returned_at__isnull=True, used_at__gte=window[0], used_at__lt=window[1]
    ).count()


def video_visits_left_on(subscription: Subscription) -> int:
    return max(0, subscription.plan.included_video_visits - used_in_period(subscription))


def included_video_visits_left(patient, at: dt.datetime | None = None) -> int:
    """How many video visits ``patient``'s subscription (their guardian's, for a dependant) still includes in its
    current period at ``at``; 0 without a subscription that gives access."""
    return max((video_visits_left_on(s) for s in entitled_subscriptions(patient, at)), default=0)


# --- the platform -------------------------------------------------------------------------------------------------


def revenue(*, since: dt.datetime | None = None, until: dt.datetime | None = None) -> dict[str, Decimal]:
    """Subscription revenue by currency: payments less refunds recorded in the ledger between the two times."""
    rows = Payment.objects.all()
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    totals: dict[str, Decimal] = {}
    for row in rows.values("currency", "kind").annotate(total=Sum("amount")):
        sign = -1 if row["kind"] == PaymentKind.REFUND else 1
        totals[row["currency"]] = totals.get(row["currency"], Decimal("0.000")) + sign * row["total"]
    return totals


def subscriber_counts() -> dict[str, int]:
    """How many subscriptions are in each state."""
    return dict(Subscription.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))

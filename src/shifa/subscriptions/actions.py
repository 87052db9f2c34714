"""Every write of subscriptions: plans, the three sources feeding the one state machine (``states.py``), our own
PayTabs renewals, and the included video visits.

Every change of a subscription's state goes through ``_apply``: the pure transition, a check of the invariants, the
row saved, and an append-only event naming the message that caused it. Messages are recorded once per source and
id (``Message``): a repeat changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from shifa.core import timezones
from shifa.core.errors import Conflict, FieldError, NotFound, ServiceUnavailable, ValidationFailed

from . import queries, states
from .models import (
    Message,
    Payment,
    PaymentKind,
    Period,
    Plan,
    Source,
    StoreAccount,
    Subscription,
    SubscriptionEvent,
    VideoVisitUse,
)
from .states import State

logger = logging.getLogger(__name__)

# --- plans (platform console) -------------------------------------------------------------------------------------

MAX_INCLUDED_VIDEO_VISITS = 100


def _plan_values(values: dict) -> dict:
    errors = []
    clean: dict = {}
    for field in ("name_en", "name_ar"):
        text = str(values.get(field) or "").strip()
        if not text:
            errors.append(FieldError(field, "required", _("Enter the plan's name.")))
        elif len(text) > 100:
            errors.append(FieldError(field, "too_long", _("At most 100 characters.")))
        clean[field] = text
    try:
        price = Decimal(str(values.get("price")))
        if not price.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError, TypeError):
        price = None
    if (
        price is None
        or price <= 0
        or price != price.quantize(Decimal("0.001"))
        or price >= Decimal("10000000")
    ):
        errors.append(
            FieldError("price", "invalid", _("Enter a price above zero in JOD, with at most three decimals."))
        )
    else:
        clean["price"] = price.quantize(Decimal("0.001"))
    period = values.get("period")
    if period not in Period.values:
        errors.append(FieldError("period", "invalid", _("Choose monthly or yearly.")))
    clean["period"] = period
    for field in ("family_doctor", "priority_urgent_care"):
        clean[field] = bool(values.get(field))
    try:
        included = int(values.get("included_video_visits") or 0)
    except (TypeError, ValueError):
        included = -1
    if not 0 <= included <= MAX_INCLUDED_VIDEO_VISITS:
        errors.append(
            FieldError(
                "included_video_visits",
                "invalid",
                _("Enter a whole number from 0 to %(max)s.") % {"max": MAX_INCLUDED_VIDEO_VISITS},
            )
        )
    clean["included_video_visits"] = included
    for field in ("app_store_product_id", "google_play_product_id"):
        text = str(values.get(field) or "").strip()
        if len(text) > 100 or any(c.isspace() for c in text):
            errors.append(
                FieldError(field, "invalid", _("A product id has at most 100 characters, no spaces."))
            )
        clean[field] = text
    if errors:
        raise ValidationFailed(errors=errors)
    return clean


def plan_save(*, actor, plan_id=None, values: dict) -> Plan:
    """Define a plan (``plan_id`` None) or change one. Subscribers keep their subscription; a new price is charged
    from their next PayTabs renewal (the stores charge what is set there)."""
    clean = _plan_values(values)
    with transaction.atomic():
        if plan_id is None:
            plan = Plan(**clean)
        else:
            plan = Plan.objects.select_for_update().filter(external_id=plan_id).first()
            if plan is None:
                raise NotFound()
            for field, value in clean.items():
                setattr(plan, field, value)
        for field in ("app_store_product_id", "google_play_product_id"):
            taken = Plan.objects.filter(**{field: clean[field]}).exclude(pk=plan.pk).exists()
            if clean[field] and taken:
                raise ValidationFailed.on(field, "taken", _("Another plan sells this product."))
        if "offered" in values:
            offered = bool(values["offered"])
            if offered:
                plan.retired_at = None
            elif plan.retired_at is None:
                plan.retired_at = timezones.now()
        if plan.pk is None:
            plan.save()
        else:
            plan.save(update_fields=[*clean.keys(), "retired_at", "updated_at"])
    return plan


def plan_retire(*, actor, plan_id) -> Plan:
    """Stop offering a plan. Its subscribers keep it (renewals continue); nobody new can choose it."""
    with transaction.atomic():
        plan = Plan.objects.select_for_update().filter(external_id=plan_id).first()
        if plan is None:
            raise NotFound()
        if plan.retired_at is None:
            plan.retired_at = timezones.now()
            plan.save(update_fields=["retired_at", "updated_at"])
    return plan


def plan_delete(*, actor, plan_id) -> None:
    """Delete a plan nobody ever subscribed to; one with subscriptions is retired instead (409)."""
    with transaction.atomic():
        plan = Plan.objects.select_for_update().filter(external_id=plan_id).first()
        if plan is None:
            raise NotFound()
        if Subscription.objects.filter(plan=plan).exists():
            raise Conflict(
                _("Patients have subscribed to this plan: retire it instead of deleting it."),
                code="plan_in_use",
            )
        plan.delete()


# --- the state machine --------------------------------------------------------------------------------------------


def _apply(
    subscription: Subscription,
    event: states.Event,
    *,
    name: str,
    message: Message | None = None,
    actor=None,
) -> bool:
    """Feed ``event`` to the machine, save the new snapshot and append the history row. The subscription must be
    locked by the caller. Returns whether the snapshot changed."""
    before = subscription.snapshot
    after = states.transition(before, event)
    if not states.is_valid(after):  # the property tests say this cannot happen; refuse to store it if it does
        raise ValueError(f"invalid subscription state {after!r} after {event!r}")
    subscription.state = after.state.value
    subscription.current_period_end = after.period_end
    subscription.grace_until = after.grace_until
    subscription.auto_renew = after.auto_renew
    subscription.as_of = after.as_of
    if subscription.current_period_end is not None:
        subscription.current_period_start = queries.add_periods(
            subscription.current_period_end, subscription.plan.period, -1
        )
    subscription.save(
        update_fields=[
            "state",
            "current_period_start",
            "current_period_end",
            "grace_until",
            "auto_renew",
            "as_of",
            "updated_at",
        ]
    )
    SubscriptionEvent.objects.create(
        subscription=subscription,
        event=name[:60],
        from_state=before.state.value,
        to_state=after.state.value,
        period_end=after.period_end,
        auto_renew=after.auto_renew,
        occurred_at=event.at,
        message=message,
        actor=actor if getattr(actor, "pk", None) else None,
    )
    if states.entitled(after, event.at) != states.entitled(before, event.at):
        # the family doctors of the subscriber and of their dependants follow at once (a lapse pauses the sharing)
        transaction.on_commit(lambda: _family_follows(subscription.patient_id))
    return after != before


def _family_follows(patient_pk: int) -> None:
    from shifa.family.actions import entitlement_changed
    from shifa.records.models import Patient

    for patient in Patient.objects.filter(Q(pk=patient_pk) | Q(guardian_id=patient_pk)):
        entitlement_changed(patient=patient)


def _seen(source: str, message_id: str) -> bool:
    return Message.objects.filter(source=source, message_id=message_id).exists()


def _message(source: str, message_id: str, *, kind: str, outcome: str, subscription=None) -> Message:
    """Record a message as processed; a concurrent twin fails here with IntegrityError (and rolls back)."""
    return Message.objects.create(
        source=source,
        message_id=message_id[:200],
        kind=kind[:100],
        outcome=outcome,
        subscription=subscription,
    )


def _once(source: str, message_id: str, work) -> str:
    """Run ``work`` (which records the message) in one transaction, unless the message was processed already.
    Two deliveries of the same message at once: the second waits on the first's row and then changes nothing."""
    if _seen(source, message_id):
        return "duplicate"
    try:
        with transaction.atomic():
            return work()
    except IntegrityError:
        if _seen(source, message_id):
            return "duplicate"
        raise


def store_account_ensure(*, patient) -> StoreAccount:
    """The UUID a patient's app passes to the stores with a purchase (made on first request)."""
    found = StoreAccount.objects.filter(patient=patient).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return StoreAccount.objects.create(patient=patient)
    except IntegrityError:
        return StoreAccount.objects.get(patient=patient)


def _account_patient(token: str):
    try:
        value = uuid.UUID(str(token))
    except (TypeError, ValueError):
        return None
    account = StoreAccount.objects.select_related("patient").filter(app_account_token=value).first()
    return account.patient if account else None


def _lock(queryset) -> Subscription | None:
    return queryset.select_for_update().select_related("plan").first()


# --- App Store ----------------------------------------------------------------------------------------------------


def _app_store_event(notice) -> tuple[states.Event | None, str]:
    at = notice.signed_at
    kind = notice.type
    if kind in {"SUBSCRIBED", "DID_RENEW"}:
        if notice.expires_at is None:
            return None, "no_expiry"
        return states.Paid(at=at, period_end=notice.expires_at, auto_renew=notice.auto_renew), "applied"
    if kind == "DID_FAIL_TO_RENEW":
        grace = None
        if notice.subtype == "GRACE_PERIOD":
            grace = notice.grace_until or at + dt.timedelta(days=settings.SUBSCRIPTION_GRACE_DAYS)
        return states.PaymentFailed(at=at, grace_until=grace), "applied"
    if kind == "GRACE_PERIOD_EXPIRED":
        return states.GraceEnded(at=at), "applied"
    if kind == "EXPIRED":
        return states.Expired(at=at), "applied"
    if kind == "REFUND":
        return states.Refunded(at=at), "applied"
    if kind == "REVOKE":
        return states.Revoked(at=at), "applied"
    if kind == "DID_CHANGE_RENEWAL_STATUS":
        if notice.subtype in {"AUTO_RENEW_ENABLED", "AUTO_RENEW_DISABLED"}:
            enabled = notice.subtype == "AUTO_RENEW_ENABLED"
        elif notice.auto_renew is not None:
            enabled = notice.auto_renew
        else:
            return None, "ignored"
        return states.AutoRenewChanged(at=at, auto_renew=enabled), "applied"
    return None, "ignored"


def app_store_notification_apply(notice) -> str:
    """Apply a verified App Store notification (``app_store.Notice``) once per ``notificationUUID``. Returns what
    became of it: applied, duplicate, ignored, or why it could not be linked to a patient's subscription."""
    kind = f"{notice.type}:{notice.subtype}" if notice.subtype else notice.type

    def work() -> str:
        event, outcome = _app_store_event(notice)
        subscription = None
        if notice.original_transaction_id:
            subscription = _lock(
                Subscription.objects.filter(
                    source=Source.APP_STORE, original_transaction_id=notice.original_transaction_id
                )
            )
        plan = (
            Plan.objects.filter(app_store_product_id=notice.product_id).first() if notice.product_id else None
        )
        if subscription is None and event is not None:
            patient = _account_patient(notice.app_account_token)
            if not notice.original_transaction_id:
                event, outcome = None, "no_transaction"
            elif patient is None:
                event, outcome = None, "unknown_account"
            elif plan is None:
                event, outcome = None, "unknown_product"
            elif not isinstance(event, states.Paid):
                event, outcome = None, "unknown_subscription"
            else:
                subscription = Subscription.objects.create(
                    patient=patient,
                    plan=plan,
                    source=Source.APP_STORE,
                    state=State.PENDING,
                    original_transaction_id=notice.original_transaction_id,
                )
        message = _message(
            Source.APP_STORE, notice.notification_uuid, kind=kind, outcome=outcome, subscription=subscription
        )
        if subscription is None or event is None:
            return outcome
        newer = (
            subscription.as_of is None or event.at >= subscription.as_of
        )  # a late, older notice keeps the plan
        if isinstance(event, states.Paid) and newer and plan is not None and plan.pk != subscription.plan_id:
            subscription.plan = plan  # an upgrade or downgrade within the subscription group
            subscription.save(update_fields=["plan", "updated_at"])
        _apply(subscription, event, name=f"app_store:{kind}", message=message)
        _app_store_money(subscription, notice)
        return outcome

    return _once(Source.APP_STORE, notice.notification_uuid, work)


def _app_store_money(subscription: Subscription, notice) -> None:
    """What Apple says was charged (or refunded) goes to the platform's ledger, in Apple's currency."""
    if notice.price is None or notice.price <= 0 or not notice.transaction_id or not notice.currency:
        return
    if notice.type in {"SUBSCRIBED", "DID_RENEW"}:
        kind, reference = PaymentKind.PAYMENT, notice.transaction_id
    elif notice.type == "REFUND":
        kind, reference = PaymentKind.REFUND, f"refund:{notice.transaction_id}"
    else:
        return
    if not Payment.objects.filter(source=Source.APP_STORE, reference=reference).exists():
        Payment.objects.create(
            subscription=subscription,
            kind=kind,
            amount=notice.price,
            currency=notice.currency[:3],
            source=Source.APP_STORE,
            reference=reference,
        )


# --- Google Play --------------------------------------------------------------------------------------------------


def google_play_push_apply(push) -> str:
    """Apply a Pub/Sub push of a Google Play notification once per ``messageId``: re-read the purchase from
    Google every time (whatever the notification says, even a type we do not know) and apply Google's state.
    Google unreachable: ``ServiceUnavailable`` and nothing is recorded (Pub/Sub delivers again)."""
    from . import google_play

    if _seen(Source.GOOGLE_PLAY, push.message_id):
        return "duplicate"
    kind = push.kind
    if push.package_name != settings.GOOGLE_PLAY_PACKAGE_NAME:
        return _once(
            Source.GOOGLE_PLAY,
            push.message_id,
            lambda: _message(Source.GOOGLE_PLAY, push.message_id, kind=kind, outcome="other_package").outcome,
        )
    if not push.purchase_token:
        return _once(
            Source.GOOGLE_PLAY,
            push.message_id,
            lambda: _message(Source.GOOGLE_PLAY, push.message_id, kind=kind, outcome="no_purchase").outcome,
        )
    at = timezones.now()
    client = google_play.GooglePlay()
    try:
        read = client.subscription(package_name=push.package_name, token=push.purchase_token, at=at)
    except google_play.NotFoundAtGoogle:
        read = None
    except google_play.GooglePlayError as exc:
        logger.warning("Google Play re-read failed: %s", exc)
        raise ServiceUnavailable(code="google_play_unavailable") from None

    def work() -> str:
        if read is None:
            _message(Source.GOOGLE_PLAY, push.message_id, kind=kind, outcome="unknown_purchase")
            return "unknown_purchase"
        subscription = _lock(
            Subscription.objects.filter(source=Source.GOOGLE_PLAY, purchase_token=push.purchase_token)
        )
        product_id = read.product_id or push.product_id
        plan = Plan.objects.filter(google_play_product_id=product_id).first() if product_id else None
        outcome = "applied"
        if subscription is None:
            patient = _account_patient(read.account_id)
            if patient is None:
                outcome = "unknown_account"
            elif plan is None:
                outcome = "unknown_product"
            else:
                subscription = Subscription.objects.create(
                    patient=patient,
                    plan=plan,
                    source=Source.GOOGLE_PLAY,
                    state=State.PENDING,
                    purchase_token=push.purchase_token,
                )
        event = None
        if subscription is not None:
            if push.voided and read.state not in (State.ACTIVE, State.GRACE):
                # a refund that ended the purchase; a refund of one past order of a subscription Google still
                # renews is followed by Google's own state below
                event = states.Refunded(at=at)
            elif push.notification_type == google_play.REVOKED and read.state == State.EXPIRED:
                event = states.Revoked(at=at)
            elif read.state is not None:
                event = states.StoreState(
                    at=at,
                    state=read.state,
                    period_end=read.expires_at,
                    grace_until=read.expires_at if read.state == State.GRACE else None,
                    auto_renew=read.auto_renew,
                )
            else:
                outcome = "unspecified_state"
        message = _message(
            Source.GOOGLE_PLAY, push.message_id, kind=kind, outcome=outcome, subscription=subscription
        )
        if event is not None:
            if plan is not None and plan.pk != subscription.plan_id:
                subscription.plan = plan
                subscription.save(update_fields=["plan", "updated_at"])
            _apply(subscription, event, name=f"google_play:{kind}", message=message)
        return outcome

    outcome = _once(Source.GOOGLE_PLAY, push.message_id, work)
    if outcome == "applied" and read is not None and not read.acknowledged and read.state == State.ACTIVE:
        try:  # unacknowledged purchases are refunded by Google after three days; the next push tries again
            client.acknowledge(
                package_name=push.package_name,
                product_id=read.product_id or push.product_id,
                token=push.purchase_token,
            )
        except google_play.GooglePlayError as exc:
            logger.warning("Google Play acknowledgement failed: %s", exc)
    return outcome


# --- PayTabs --------------------------------------------------------------------------------------------------------


def cart_id(subscription: Subscription, period: int, attempt: int) -> str:
    """``sub-<subscription>-<period>-<attempt>``: the period a payment is for (1 = the first), and which try at it
    (PayTabs refuses a cart id twice, so a charge for a period can never be made twice under one id)."""
    return f"sub-{subscription.external_id.hex}-{period}-{attempt}"


def parse_cart_id(cart: str) -> tuple[uuid.UUID, int, int] | None:
    parts = str(cart).split("-")
    if len(parts) != 4 or parts[0] != "sub":
        return None
    try:
        return uuid.UUID(hex=parts[1]), int(parts[2]), int(parts[3])
    except ValueError:
        return None


def _period_end(subscription: Subscription, period: int) -> dt.datetime:
    return queries.add_periods(subscription.anchor, subscription.plan.period, period)


def paytabs_subscribe(*, actor, plan_id, language: str = "en") -> tuple[Subscription, str]:
    """The signed-in patient subscribes to a plan on the web: a pending subscription and a PayTabs hosted page that
    saves the card (``tokenise``) for renewals. Returns the subscription and the page's address. Asking again
    before paying reuses the pending subscription with a new page. PayTabs unreachable: 503, nothing written."""
    from shifa.billing import paytabs
    from shifa.records.models import Patient
    from shifa.records.policies import own_patient

    patient = own_patient(actor)
    with transaction.atomic():
        Patient.objects.select_for_update().filter(
            pk=patient.pk
        ).first()  # one subscribe at a time per patient
        try:
            wanted = uuid.UUID(str(plan_id))
        except ValueError:
            wanted = None
        plan = Plan.objects.filter(external_id=wanted, retired_at__isnull=True).first() if wanted else None
        if plan is None:
            raise ValidationFailed.on("plan_id", "unknown", _("Choose one of the plans offered."))
        if queries.entitled_subscriptions(patient):
            raise Conflict(_("You already have a subscription."), code="already_subscribed")
        subscription = (
            Subscription.objects.select_for_update()
            .filter(patient=patient, source=Source.PAYTABS, state=State.PENDING)
            .order_by("-pk")
            .first()
        )
        if subscription is None or subscription.plan_id != plan.pk:
            # A subscription keeps the plan its pages were made for: a page opened for another plan and paid
            # later activates that plan, at that plan's price.
            subscription = Subscription.objects.create(
                patient=patient, plan=plan, source=Source.PAYTABS, state=State.PENDING
            )
        subscription.page_attempts += 1
        subscription.save(update_fields=["page_attempts", "updated_at"])
        base = settings.SHIFA_PUBLIC_URL
        try:
            page = paytabs.PayTabs().create_page(
                cart_id=cart_id(subscription, 1, subscription.page_attempts),
                description=f"Shifa: {plan.name_en}",
                amount=plan.price,
                callback_url=base + "/api/v1/payments/paytabs/callback",
                return_url=base + "/app/subscription/return",
                customer=paytabs.customer_details(patient, actor.user),
                language=language,
                tokenise=True,
            )
        except paytabs.PayTabsError:
            transaction.set_rollback(True)
            raise ServiceUnavailable(
                _("Card payment is not available right now. Try again shortly."), code="paytabs_unavailable"
            ) from None
    return subscription, page.redirect_url


def paytabs_result(result) -> None:
    """The handler of verified PayTabs transactions of ``sub-`` carts (``shifa.billing.carts``): idempotent per
    transaction and status, and order-independent (each payment says which period it pays)."""
    parsed = parse_cart_id(result.cart_id)
    if parsed is None:
        logger.warning("PayTabs result for an unreadable subscription cart %s", result.cart_id)
        return
    subscription_id, period, _attempt = parsed
    with transaction.atomic():
        subscription = _lock(Subscription.objects.filter(external_id=subscription_id, source=Source.PAYTABS))
        if subscription is None:
            logger.warning("PayTabs result for an unknown subscription cart %s", result.cart_id)
            return
        _paytabs_apply(subscription, result, period, at=timezones.now())


def paytabs_returned(*, cart_id: str) -> Subscription | None:
    """The patient's browser came back from PayTabs (its signed return): ask PayTabs what became of the cart,
    server to server, and apply it as the callback would (the return's own fields are never trusted). PayTabs
    unreachable: nothing changes (the callback still comes)."""
    from shifa.billing import paytabs

    parsed = parse_cart_id(cart_id)
    if parsed is None:
        return None
    subscription = Subscription.objects.filter(external_id=parsed[0], source=Source.PAYTABS).first()
    if subscription is None:
        return None
    try:
        result = paytabs.PayTabs().query(cart_id=cart_id)
    except paytabs.PayTabsError as exc:
        logger.warning("PayTabs query after the return of %s failed: %s", cart_id, exc)
        return subscription
    if result.cart_id == cart_id:
        paytabs_result(result)
    return subscription


def _paytabs_apply(subscription: Subscription, result, period: int, *, at: dt.datetime) -> str:
    """Apply one PayTabs transaction to a locked subscription (once per transaction and status)."""
    message_id = f"{result.tran_ref}:{result.tran_type}:{result.status}"
    if not result.tran_ref or _seen(Source.PAYTABS, message_id):
        return "duplicate"
    kind = f"{result.tran_type}:{result.status}"
    if result.tran_type == "refund":
        outcome = "refunded" if result.authorised else "refund_not_final"
    elif not result.authorised:
        outcome = "declined" if result.final else "not_final"
    elif result.currency != "JOD":
        outcome = "wrong_currency"
    else:
        outcome = "paid"
    message = _message(Source.PAYTABS, message_id, kind=kind, outcome=outcome, subscription=subscription)
    if outcome == "refunded":
        if not Payment.objects.filter(source=Source.PAYTABS, reference=result.tran_ref).exists():
            Payment.objects.create(
                subscription=subscription,
                kind=PaymentKind.REFUND,
                amount=result.amount,
                source=Source.PAYTABS,
                reference=result.tran_ref,
            )
        _apply(subscription, states.Refunded(at=at), name="paytabs:refund", message=message)
    elif outcome == "paid":
        if not Payment.objects.filter(source=Source.PAYTABS, reference=result.tran_ref).exists():
            Payment.objects.create(
                subscription=subscription,
                kind=PaymentKind.PAYMENT,
                amount=result.amount,
                source=Source.PAYTABS,
                reference=result.tran_ref,
                period=period,
            )
        fields = ["paid_periods", "renewal_tries", "next_charge_at", "updated_at"]
        if subscription.anchor is None:
            subscription.anchor = at
            fields.append("anchor")
        if result.token and not subscription.first_tran_ref:
            subscription.paytabs_token = result.token
            subscription.first_tran_ref = result.tran_ref
            fields += ["paytabs_token", "first_tran_ref"]
        subscription.paid_periods = max(subscription.paid_periods, period)
        subscription.renewal_tries = 0
        subscription.next_charge_at = _period_end(subscription, subscription.paid_periods)
        subscription.save(update_fields=fields)
        _apply(
            subscription,
            states.Paid(at=at, period_end=_period_end(subscription, period)),
            name="paytabs:payment",
            message=message,
        )
    elif outcome == "declined" and period > subscription.paid_periods and subscription.state != State.PENDING:
        # A renewal was declined: a few days of grace from the end of the paid period, then on hold.
        grace_until = None
        if subscription.state in {State.ACTIVE, State.GRACE} and subscription.current_period_end:
            grace_until = subscription.current_period_end + dt.timedelta(
                days=settings.SUBSCRIPTION_GRACE_DAYS
            )
            if subscription.grace_until is not None:
                grace_until = subscription.grace_until  # retries do not lengthen the grace period
        _apply(
            subscription,
            states.PaymentFailed(at=at, grace_until=grace_until),
            name="paytabs:declined",
            message=message,
        )
    return outcome


def auto_renew_set(*, actor, enabled: bool) -> Subscription:
    """The patient switches the renewal of their card (PayTabs) subscription off or on; access lasts until the end
    of the paid period either way. Store subscriptions are managed in the store."""
    from shifa.records.policies import own_patient

    patient = own_patient(actor)
    with transaction.atomic():
        current = queries.current_subscription(patient)
        if current is None or current.state not in {State.ACTIVE, State.GRACE, State.ON_HOLD}:
            raise NotFound(_("You have no subscription to change."))
        if current.source != Source.PAYTABS:
            raise Conflict(
                _("This subscription was bought in the app store: change its renewal there."),
                code="managed_by_store",
            )
        subscription = _lock(Subscription.objects.filter(pk=current.pk))
        if subscription.auto_renew != enabled:
            _apply(
                subscription,
                states.AutoRenewChanged(at=timezones.now(), auto_renew=enabled),
                name="patient:auto_renew_on" if enabled else "patient:auto_renew_off",
                actor=actor.user,
            )
            subscription.next_charge_at = (
                _period_end(subscription, subscription.paid_periods)
                if enabled and subscription.anchor
                else None
            )
            subscription.save(update_fields=["next_charge_at", "updated_at"])
    return subscription


def paytabs_renewals_run(*, at: dt.datetime | None = None) -> dict[str, int]:
    """The periodic renewal run: charge every due PayTabs subscription (one try per subscription and run), end
    grace periods that ran out, expire what was not renewed, and drop checkouts never paid. Idempotent."""
    at = at or timezones.now()
    counts = {"charged": 0, "ended": 0}
    due = Subscription.objects.filter(
        source=Source.PAYTABS,
        state__in=[State.ACTIVE, State.GRACE, State.ON_HOLD],
        auto_renew=True,
        next_charge_at__lte=at,
    ).values_list("pk", flat=True)
    for pk in list(due):
        try:
            if paytabs_renewal_charge(subscription_pk=pk, at=at):
                counts["charged"] += 1
        except ServiceUnavailable:
            logger.warning("PayTabs unavailable for the renewal of subscription %s; next run tries again", pk)
    for pk in list(
        Subscription.objects.filter(source=Source.PAYTABS)
        .exclude(state__in=[State.EXPIRED, State.REVOKED, State.REFUNDED])
        .values_list("pk", flat=True)
    ):
        if _paytabs_lapse(pk, at):
            counts["ended"] += 1
    return counts


def paytabs_renewal_charge(*, subscription_pk: int, at: dt.datetime) -> bool:
    """Charge the next period of one subscription with its saved card. One cart id per period and try: a repeat
    after a crash gets PayTabs' "duplicate" answer and asks what became of the first (never a second charge).
    Returns whether a charge was made (whatever its outcome)."""
    from shifa.billing import paytabs

    with transaction.atomic():
        subscription = _lock(
            Subscription.objects.filter(
                pk=subscription_pk,
                source=Source.PAYTABS,
                state__in=[State.ACTIVE, State.GRACE, State.ON_HOLD],
                auto_renew=True,
                next_charge_at__lte=at,
            )
        )
        if subscription is None or not subscription.paytabs_token or not subscription.first_tran_ref:
            return False
        period = subscription.paid_periods + 1
        attempt = subscription.renewal_tries + 1
        cart = cart_id(subscription, period, attempt)
        client = paytabs.PayTabs()
        if subscription.renewal_tries:
            # The last try of this period may still be under way (pending, on hold): ask before charging again.
            try:
                earlier = client.query(cart_id=cart_id(subscription, period, subscription.renewal_tries))
            except paytabs.PayTabsRefused:
                earlier = None
            except paytabs.PayTabsError:
                transaction.set_rollback(True)
                raise ServiceUnavailable(code="paytabs_unavailable") from None
            if earlier is not None and (earlier.authorised or not earlier.final):
                if not earlier.final:
                    subscription.next_charge_at = at + dt.timedelta(hours=settings.SUBSCRIPTION_RETRY_HOURS)
                    subscription.save(update_fields=["next_charge_at", "updated_at"])
                _paytabs_apply(subscription, earlier, period, at=at)
                return False
        try:
            try:
                result = client.recurring(
                    token=subscription.paytabs_token,
                    tran_ref=subscription.first_tran_ref,
                    cart_id=cart,
                    amount=subscription.plan.price,
                    description=f"Shifa: {subscription.plan.name_en} ({period})",
                    callback_url=settings.SHIFA_PUBLIC_URL + "/api/v1/payments/paytabs/callback",
                )
            except paytabs.PayTabsRefused as exc:
                if str(exc.code) != "4":
                    raise
                result = client.query(
                    cart_id=cart
                )  # charged before (a crash lost our record): what became of it
        except paytabs.PayTabsRefused as exc:
            result = None
            logger.warning("PayTabs refused the renewal of %s: %s", cart, exc)
        except paytabs.PayTabsError:
            transaction.set_rollback(True)
            raise ServiceUnavailable(code="paytabs_unavailable") from None
        subscription.renewal_tries = attempt
        subscription.next_charge_at = at + dt.timedelta(hours=settings.SUBSCRIPTION_RETRY_HOURS)
        subscription.save(update_fields=["renewal_tries", "next_charge_at", "updated_at"])
        if result is None:
            grace_until = subscription.grace_until
            if subscription.state == State.ACTIVE and subscription.current_period_end:
                grace_until = subscription.current_period_end + dt.timedelta(
                    days=settings.SUBSCRIPTION_GRACE_DAYS
                )
            _apply(subscription, states.PaymentFailed(at=at, grace_until=grace_until), name="paytabs:refused")
        else:
            _paytabs_apply(subscription, result, period, at=at)
        return True


def _paytabs_lapse(pk: int, at: dt.datetime) -> bool:
    """Time-driven steps of one PayTabs subscription: grace over → on hold; renewal off and period over, or on
    hold too long → expired; a checkout never paid within a day → expired."""
    with transaction.atomic():
        subscription = _lock(Subscription.objects.filter(pk=pk, source=Source.PAYTABS))
        if subscription is None:
            return False
        state, end = subscription.state, subscription.current_period_end
        hold = dt.timedelta(days=settings.SUBSCRIPTION_GRACE_DAYS + settings.SUBSCRIPTION_HOLD_DAYS)
        if state == State.GRACE and subscription.grace_until and subscription.grace_until <= at:
            return _apply(subscription, states.GraceEnded(at=at), name="renewal:grace_over")
        if state == State.ACTIVE and end and end <= at and not subscription.auto_renew:
            return _apply(subscription, states.Expired(at=at), name="renewal:not_renewed")
        if state == State.ON_HOLD and end and end + hold <= at:
            return _apply(subscription, states.Expired(at=at), name="renewal:gave_up")
        if state == State.PENDING and subscription.created_at + dt.timedelta(days=1) <= at:
            return _apply(subscription, states.Expired(at=at), name="checkout:abandoned")
        return False


# --- included video visits ----------------------------------------------------------------------------------------


def use_included_video_visit(*, patient, appointment) -> bool:
    """Take one of the video visits ``patient``'s subscription (their guardian's, for a dependant) includes in its
    current period for ``appointment``. True if the visit is included (again true for the same appointment, once);
    False when none is left or there is no subscription giving access."""
    now = timezones.now()
    with transaction.atomic():
        if VideoVisitUse.objects.filter(appointment=appointment, returned_at__isnull=True).exists():
            return True
        candidates = queries.entitled_subscriptions(patient, now)
        for candidate in sorted(candidates, key=lambda s: s.pk):
            subscription = _lock(Subscription.objects.filter(pk=candidate.pk))
            if subscription is None or not states.entitled(subscription.snapshot, now):
                continue
            if VideoVisitUse.objects.filter(appointment=appointment, returned_at__isnull=True).exists():
                return True  # a concurrent call for the same appointment won while we waited for the lock
            if queries.video_visits_left_on(subscription) <= 0:
                continue
            VideoVisitUse.objects.create(subscription=subscription, appointment=appointment, used_at=now)
            return True
    return False


def return_included_video_visit(appointment) -> bool:
    """Give back the included video visit an appointment used (it was cancelled). True if one was given back."""
    with transaction.atomic():
        use = (
            VideoVisitUse.objects.select_for_update()
            .filter(appointment=appointment, returned_at__isnull=True)
            .first()
        )
        if use is None:
            return False
        use.returned_at = timezones.now()
        use.save(update_fields=["returned_at", "updated_at"])
    return True

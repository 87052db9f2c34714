"""Money on the pages is shown one way, through the ``money`` filter (``Money.format``): with its currency and
as the reader's language writes it — ``JOD 1,600.000`` in English, ``1,600.000 د.أ.`` in Arabic (Jordan's
symbol, between right-to-left marks) — never a bare number that Django localises on its own (``1600,000``
with an Arabic decimal comma) next to a "(JOD)" in the heading."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.test import Client
from django.utils import translation

from shifa.core import timezones
from shifa.directory.actions import service_save
from shifa.insurance.actions import apply_coverage, claim_lines_fill, claim_open
from shifa.insurance.models import Coverage
from shifa.subscriptions.models import Payment, Subscription
from shifa.tenancy.models import Plan as ClinicPlan
from tests.conftest import sign_in_page
from tests.insurance.support import actor_of, covered_invoice, insured_invoice, terms, today
from tests.subscriptions.conftest import make_plan

pytestmark = pytest.mark.django_db

NBSP, RLM = "\u00a0", "\u200f"
LANGUAGES = ["en", "ar"]


def written(amount: str, language: str, symbol: str = "") -> str:
    """``amount`` (already grouped, ``1,600.000``) as the page must show it: the code before it in English,
    Jordan's symbol after it between right-to-left marks in Arabic."""
    if language == "ar":
        return f"{RLM}{amount}{NBSP}{symbol or 'د.أ.'}{RLM}"
    return f"{symbol or 'JOD'}{NBSP}{amount}"


def browser(user, language: str, *, mfa: bool = True) -> Client:
    type(user).objects.filter(pk=user.pk).update(language=language)
    return sign_in_page(Client(HTTP_ACCEPT_LANGUAGE=language), user, mfa=mfa)


def html(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, path
    return response.content.decode()


def insurance(clinic, rest: str = "") -> str:
    return f"/clinic/{clinic.external_id}/insurance{rest}"


def test_the_filter_writes_the_currency_with_the_amount_in_each_language():
    template = Template(
        "{% load shifa %}[{{ a|money }}|{{ a|money:'SAR' }}|{{ a|money:blank }}|{{ none|money }}]"
    )
    context = Context({"a": Decimal("16000"), "blank": "", "none": None})
    with translation.override("en"):
        assert template.render(context) == f"[JOD{NBSP}16,000.000|SAR{NBSP}16,000.00|JOD{NBSP}16,000.000|]"
    with translation.override("ar"):
        assert template.render(context) == (
            f"[{RLM}16,000.000{NBSP}د.أ.{RLM}|{RLM}16,000.00{NBSP}ر.س.{RLM}|{RLM}16,000.000{NBSP}د.أ.{RLM}|]"
        )


@pytest.mark.parametrize("language", LANGUAGES)
def test_insurers_shares_and_claims_show_their_currency(cast, language):
    clinic = cast.clinic_a
    _invoice, coverage = covered_invoice(clinic, price="1600.000")  # 20% co-pay: the insurer's share is 1,280
    desk = actor_of(cast.staff_a["secretary"], clinic)
    claim = claim_open(actor=desk, insurer="jic", period_start=today(clinic), period_end=today(clinic))
    assert claim_lines_fill(actor=desk, claim_id=claim.external_id) == 1
    client = browser(cast.staff_a["secretary"], language)

    shares = html(client, insurance(clinic))
    row = shares[shares.index(f'data-coverage="{coverage.external_id}"') :]
    row = row[: row.index("</tr>")]
    assert f"<bdi>{written('1,600.000', language)}</bdi>" in row  # billed
    assert f"<bdi>{written('1,280.000', language)}</bdi>" in row  # the insurer's share
    assert 'dir="ltr">1,600' not in row and "1600" not in row

    claims = html(client, insurance(clinic, "/claims"))
    assert f"<bdi>{written('1,280.000', language)}</bdi>" in claims
    detail = html(client, insurance(clinic, f"/claims/{claim.external_id}"))
    assert f"<dd data-total><bdi>{written('1,280.000', language)}</bdi></dd>" in detail
    assert detail.count(written("1,280.000", language)) == 2  # the total and its one line
    for page in (shares, claims, detail):
        assert "(JOD)" not in page and "(د.أ.)" not in page
    if language == "ar":
        assert "JOD" not in shares + claims + detail


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_pre_approval_queue_says_the_amounts_with_their_currency(cast, language):
    clinic = cast.clinic_a
    terms(clinic, pre_approval=True)
    invoice = insured_invoice(clinic, price="50.000")
    coverage = apply_coverage(actor=actor_of(cast.staff_a["clinic_admin"], clinic), invoice=invoice)
    assert coverage.status == "awaiting_approval"
    queue = html(browser(cast.staff_a["clinic_admin"], language), insurance(clinic, "/pre-approvals"))
    card = queue[queue.index("data-pre-approval=") :]
    card = card[: card.index("</p>", card.index('class="muted"'))]
    assert (
        f"<bdi>{written('40.000', language)}</bdi>" in card
        and f"<bdi>{written('50.000', language)}</bdi>" in card
    )
    assert Coverage.unscoped.get(invoice=invoice).insurer_amount == Decimal("40.000")


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_clinics_service_prices_show_their_currency(cast, language):
    clinic = cast.clinic_a
    service_save(
        actor=actor_of(cast.staff_a["clinic_admin"], clinic),
        name_ar="كشف",
        name_en="Consultation",
        prices=[{"visit_type": "office", "amount": "1250.5"}, {"visit_type": "video", "amount": "15"}],
    )
    page = html(
        browser(cast.staff_a["clinic_admin"], language), f"/clinic/{clinic.external_id}/settings/services"
    )
    row = page[page.index("<tbody>") : page.index("</tbody>")]
    assert f'<td class="num"><bdi>{written("1,250.500", language)}</bdi></td>' in row
    assert f'<td class="num"><bdi>{written("15.000", language)}</bdi></td>' in row
    assert '<td class="num"><bdi>—</bdi></td>' in row  # no price for a home visit


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_platforms_plans_and_subscription_revenue_show_their_currency(cast, language):
    ClinicPlan.objects.create(
        code="clinic", name_en="Clinic", name_ar="عيادة", price="16000.000", period="yearly", seats=15
    )
    plan = make_plan(price=Decimal("19.500"))
    now = timezones.now()
    subscription = Subscription.objects.create(
        patient=cast.patient,
        plan=plan,
        source="paytabs",
        state="active",
        anchor=now,
        paid_periods=1,
        current_period_end=now + dt.timedelta(days=20),
        as_of=now,
    )
    Payment.objects.create(
        subscription=subscription,
        kind="payment",
        amount="19.500",
        source="paytabs",
        reference="T-1",
        period=1,
    )
    client = browser(cast.platform_admin, language)

    plans = html(client, "/platform/plans")
    assert f'<td class="num"><bdi>{written("16,000.000", language)}</bdi></td>' in plans
    patient_plans = html(client, "/platform/subscription-plans")
    assert f'<td class="num"><bdi>{written("19.500", language)}</bdi></td>' in patient_plans
    assert f'<li data-revenue="JOD"><bdi>{written("19.500", language)}</bdi></li>' in patient_plans
    for page in (plans, patient_plans):
        assert "(JOD)" not in page and "(د.أ.)" not in page and "16000" not in page


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_patients_plans_show_their_price_with_its_currency(cast, language):
    make_plan(price=Decimal("7.250"))
    page = html(browser(cast.patient_user, language, mfa=False), "/app/subscription")
    assert f"<bdi data-price>{written('7.250', language)}</bdi> · " in page

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "shifa.billing"
    label = "billing"
    verbose_name = _("Billing")

    def ready(self) -> None:
        from . import actions, carts

        carts.register("inv", actions.invoice_payment_result)

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SubscriptionsConfig(AppConfig):
    name = "shifa.subscriptions"
    label = "subscriptions"
    verbose_name = _("Subscriptions")

    def ready(self) -> None:
        from shifa.billing import carts

        from . import actions

        carts.register("sub", actions.paytabs_result)

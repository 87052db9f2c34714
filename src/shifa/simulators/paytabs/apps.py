from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SimPayTabsConfig(AppConfig):
    name = "shifa.simulators.paytabs"
    label = "sim_paytabs"
    verbose_name = _("PayTabs simulator")

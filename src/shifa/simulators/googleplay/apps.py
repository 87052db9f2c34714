from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SimGooglePlayConfig(AppConfig):
    name = "shifa.simulators.googleplay"
    label = "sim_googleplay"
    verbose_name = _("Google Play simulator")

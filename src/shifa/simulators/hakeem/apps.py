from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SimHakeemConfig(AppConfig):
    name = "shifa.simulators.hakeem"
    label = "sim_hakeem"
    verbose_name = _("Hakeem simulator")

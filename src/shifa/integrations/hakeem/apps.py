from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HakeemConfig(AppConfig):
    name = "shifa.integrations.hakeem"
    label = "hakeem"
    verbose_name = _("Hakeem (national EHR)")

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RecordsConfig(AppConfig):
    name = "shifa.records"
    label = "records"
    verbose_name = _("Patient records")

    def ready(self) -> None:
        from . import documents

        documents.register()

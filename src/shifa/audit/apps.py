from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditConfig(AppConfig):
    name = "shifa.audit"
    label = "audit"
    verbose_name = _("Audit")

    def ready(self) -> None:
        from .triggers import register_all

        register_all()

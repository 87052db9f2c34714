from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TelehealthConfig(AppConfig):
    name = "shifa.telehealth"
    label = "telehealth"
    verbose_name = _("Telehealth")

    def ready(self) -> None:
        from shifa.notifications import kinds

        kinds.register(kinds.Kind("urgent.accepted", kinds.URGENT, (kinds.IN_APP, kinds.PUSH, kinds.SMS)))
        kinds.register(kinds.Kind("urgent.escalated", kinds.URGENT, (kinds.IN_APP, kinds.PUSH)))
        kinds.register(kinds.Kind("message.received", kinds.TRANSACTIONAL, (kinds.IN_APP, kinds.PUSH)))

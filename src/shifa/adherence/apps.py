from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AdherenceConfig(AppConfig):
    name = "shifa.adherence"
    label = "adherence"
    verbose_name = _("Medication reminders and adherence")

    def ready(self) -> None:
        from shifa.notifications import kinds

        kinds.register(kinds.Kind("dose.due", kinds.TRANSACTIONAL, (kinds.IN_APP, kinds.PUSH)))
        kinds.register(
            kinds.Kind("vitals.alert", kinds.TRANSACTIONAL, (kinds.IN_APP, kinds.PUSH, kinds.EMAIL))
        )

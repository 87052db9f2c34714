from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CarePlansConfig(AppConfig):
    name = "shifa.careplans"
    label = "careplans"
    verbose_name = _("Care plans")

    def ready(self) -> None:
        from shifa.notifications import kinds

        kinds.register(kinds.Kind("careplan.created", kinds.TRANSACTIONAL, (kinds.IN_APP, kinds.PUSH)))
        kinds.register(kinds.Kind("careplan.steps_missed", kinds.TRANSACTIONAL, (kinds.IN_APP, kinds.EMAIL)))

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SchedulingConfig(AppConfig):
    name = "shifa.scheduling"
    label = "scheduling"
    verbose_name = _("Scheduling")

    def ready(self) -> None:
        from shifa.notifications import kinds

        kinds.register(
            kinds.Kind("appointment.booked", kinds.TRANSACTIONAL, (kinds.IN_APP, kinds.EMAIL, kinds.PUSH))
        )
        kinds.register(
            kinds.Kind(
                "appointment.waitlist_offer", kinds.TRANSACTIONAL, (kinds.IN_APP, kinds.PUSH, kinds.SMS)
            )
        )
        kinds.register(
            kinds.Kind("appointment.reminder", kinds.TRANSACTIONAL, (kinds.IN_APP, kinds.PUSH, kinds.SMS))
        )

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FamilyConfig(AppConfig):
    name = "shifa.family"
    label = "family"
    verbose_name = _("Family doctor")

    def ready(self) -> None:
        from shifa.notifications import kinds

        kinds.register(
            kinds.Kind("family.requested", kinds.TRANSACTIONAL, (kinds.IN_APP, kinds.PUSH, kinds.EMAIL))
        )
        kinds.register(
            kinds.Kind("family.answered", kinds.TRANSACTIONAL, (kinds.IN_APP, kinds.PUSH, kinds.EMAIL))
        )
        kinds.register(kinds.Kind("family.paused", kinds.TRANSACTIONAL, (kinds.IN_APP, kinds.EMAIL)))

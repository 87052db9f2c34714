from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccessConfig(AppConfig):
    name = "shifa.access"
    label = "access"
    verbose_name = _("Access control")

    def ready(self) -> None:
        from . import actions

        post_migrate.connect(actions.sync_on_migrate, sender=self)

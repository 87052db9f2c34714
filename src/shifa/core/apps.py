from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "shifa.core"
    label = "core"

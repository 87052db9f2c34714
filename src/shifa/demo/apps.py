from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "shifa.demo"
    label = "demo"

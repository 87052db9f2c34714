from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "shifa.core"
    label = "core"

    def ready(self) -> None:
        # Every process sets Django up once, before any request handler loads its middleware: the one place that
        # sees the web processes, the standalone worker and management commands alike (docs/decisions/0036).
        from . import tracing

        tracing.configure()

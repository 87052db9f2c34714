from django.apps import AppConfig


class TestAppConfig(AppConfig):
    name = "tests.testapp"
    label = "testapp"

    def ready(self) -> None:
        # Notification kinds of every category, for tests (they reuse a real kind's wording). Registered here so
        # that a worker started in another process knows them too.
        from shifa.notifications import kinds

        wording = "security.identity_linked"
        kinds.register(kinds.Kind("test.urgent_result", kinds.URGENT, kinds.CHANNELS, wording))
        kinds.register(kinds.Kind("test.offer", kinds.MARKETING, kinds.CHANNELS, wording))
        kinds.register(kinds.Kind("test.everywhere", kinds.TRANSACTIONAL, kinds.CHANNELS, wording))
        kinds.register(kinds.Kind("test.text", kinds.TRANSACTIONAL, (kinds.IN_APP, kinds.SMS), wording))

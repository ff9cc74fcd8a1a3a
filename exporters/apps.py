from django.apps import AppConfig


class ExportersConfig(AppConfig):
    name = "exporters"
    verbose_name = "Exporters"

    def ready(self) -> None:
        from . import signals  # noqa: F401 - connects the beat-entry receivers

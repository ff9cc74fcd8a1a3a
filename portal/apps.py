from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from portal.logs import install_record_factory
        from portal.observability import connect_request_signals

        # Every log record carries the request id (or the Celery task id), whatever handler reads it.
        install_record_factory()
        connect_request_signals()

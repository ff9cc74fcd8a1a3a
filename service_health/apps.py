from django.apps import AppConfig


class ServiceHealthConfig(AppConfig):
    name = "service_health"
    verbose_name = "Services"

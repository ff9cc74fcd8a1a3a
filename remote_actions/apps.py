from django.apps import AppConfig


class RemoteActionsConfig(AppConfig):
    name = "remote_actions"
    verbose_name = "Remote actions"

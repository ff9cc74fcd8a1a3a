from django.urls import re_path

from remote_actions.api import views

app_name = "remote-actions-channel"

urlpatterns = [
    re_path(r"^api/collector/v1/enroll/?$", views.enroll, name="enroll"),
    re_path(r"^api/collector/v1/actions/poll/?$", views.poll, name="poll"),
    re_path(r"^api/collector/v1/actions/(?P<execution_id>[^/]+)/result/?$", views.result, name="result"),
]

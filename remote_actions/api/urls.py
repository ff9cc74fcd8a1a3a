from django.urls import re_path

from remote_actions.api import classic_views, current_views, views

app_name = "remote-actions-channel"

urlpatterns = [
    re_path(r"^api/collector/v1/enroll/?$", views.enroll, name="enroll"),
    re_path(r"^api/collector/v1/actions/poll/?$", views.poll, name="poll"),
    re_path(r"^api/collector/v1/actions/(?P<execution_id>[^/]+)/result/?$", views.result, name="result"),
    # Current remote-actions API (OAuth Bearer), remote_actions/api/current_views.py
    re_path(r"^api/v1/act/remote-action/?$", current_views.RemoteActionList.as_view(), name="current-list"),
    re_path(r"^api/v1/act/remote-action/details/?$", current_views.RemoteActionDetails.as_view(),
            name="current-details"),
    re_path(r"^api/v1/act/execute/?$", current_views.Execute.as_view(), name="current-execute"),
    # Classic Act API v2 (Basic), remote_actions/api/classic_views.py
    re_path(r"^api/remoteaction/v2/run/?$", classic_views.run, name="classic-run"),
]

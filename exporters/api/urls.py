from django.urls import re_path

from exporters.api import views

app_name = "exporters-api"

UID = r"(?P<uid>[^/]+)"

# Documented paths answer with and without a trailing slash, never redirecting.
urlpatterns = [
    re_path(r"^api/config/v1/connector-credentials/?$", views.CredentialList.as_view(), name="credentials"),
    re_path(rf"^api/config/v1/connector-credentials/{UID}/?$", views.CredentialDetail.as_view(),
            name="credential"),
    re_path(rf"^api/config/v1/connector-credentials/{UID}/test/?$", views.CredentialTest.as_view(),
            name="credential-test"),
    re_path(r"^api/config/v1/exporters/?$", views.ExporterList.as_view(), name="exporters"),
    re_path(r"^api/config/v1/exporters/test-load/?$", views.UnsavedExporterTestLoad.as_view(),
            name="exporters-test-load"),
    re_path(rf"^api/config/v1/exporters/{UID}/?$", views.ExporterDetail.as_view(), name="exporter"),
    re_path(rf"^api/config/v1/exporters/{UID}/test-load/?$", views.ExporterTestLoad.as_view(),
            name="exporter-test-load"),
    re_path(rf"^api/config/v1/exporters/{UID}/run/?$", views.ExporterRunNow.as_view(), name="exporter-run"),
    re_path(rf"^api/config/v1/exporters/{UID}/runs/?$", views.ExporterRuns.as_view(), name="exporter-runs"),
    re_path(r"^api/config/v1(?:/.*)?$", views.unknown_endpoint, name="unknown"),
]

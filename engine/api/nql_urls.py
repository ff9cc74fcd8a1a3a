"""URLs of the NQL API (``nql.md``), included by ``engine.api.urls`` (same ``engine-api`` namespace).

Documented paths answer with and without a trailing slash, never redirecting."""

from django.urls import re_path

from engine.api import nql_views

urlpatterns = [
    re_path(r"^api/v1/nql/execute/?$", nql_views.Execute.as_view(), name="nql-execute"),
    re_path(r"^api/v2/nql/execute/?$", nql_views.ExecuteV2.as_view(), name="nql-execute-v2"),
    re_path(r"^api/v1/nql/export/?$", nql_views.Export.as_view(), name="nql-export"),
    re_path(r"^api/v1/nql/status/(?P<export_id>[^/]+)/?$", nql_views.Status.as_view(), name="nql-status"),
    re_path(r"^api/v1/nql/results/(?P<token>[^/]+)/?$", nql_views.results, name="nql-results"),
]

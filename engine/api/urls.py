from django.urls import include, re_path

from engine.api import views

app_name = "engine-api"

# Documented paths answer with and without a trailing slash, never redirecting.
urlpatterns = [
    re_path(r"^2/query/?$", views.query, name="query"),
    re_path(r"^2/editor/nxql_editor\.html$", views.nxql_editor, name="nxql-editor"),
    re_path(r"^api/configuration/v1/engines/?$", views.EngineList.as_view(), name="engines"),
    re_path(r"", include("engine.api.nql_urls")),
]

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from portal.metrics import metrics_view

admin.site.site_header = "OpenDEX portal"
admin.site.site_title = "OpenDEX"
admin.site.index_title = "Configuration"

urlpatterns = [
    path("admin/", admin.site.urls),
    # The OpenAPI document of every REST endpoint (portal/openapi.py) and its browsable docs; public
    # (docs/decisions.md, "API documentation"). Both answer with and without a trailing slash.
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="api-schema"),
    re_path(r"^api/docs/?$", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    # Prometheus metrics: this machine only, or METRICS_TOKEN (docs/decisions.md, "Observability").
    re_path(r"^metrics/?$", metrics_view, name="metrics"),
    path("", include("portal.api.urls")),
    path("", include("engine.api.urls")),
    path("", include("remote_actions.api.urls")),
    path("", include("exporters.api.urls")),
    path("", include("service_health.api.urls")),
]

# Pages without an error shape of their own name the request id of the failure (portal/observability.py).
handler500 = "portal.observability.server_error"

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "OpenDEX portal"
admin.site.site_title = "OpenDEX"
admin.site.index_title = "Configuration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("portal.api.urls")),
    path("", include("engine.api.urls")),
    path("", include("remote_actions.api.urls")),
    path("", include("exporters.api.urls")),
    path("", include("service_health.api.urls")),
]

from django.urls import re_path

from service_health.api import views

app_name = "service-health-api"

# Documented paths answer with and without a trailing slash, never redirecting.
urlpatterns = [
    re_path(r"^api/beta/service/data/overview/?$", views.overview, name="overview"),
    re_path(r"^api/beta/services/?$", views.services_page, name="services"),
]

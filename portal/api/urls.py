from django.urls import re_path

from portal.api import views

app_name = "portal-api"

# Documented paths answer with and without a trailing slash, never redirecting.
urlpatterns = [
    re_path(r"^oauth2/default/v1/token/?$", views.oauth2_token, name="oauth2-token"),
    re_path(r"^api/v1/token/?$", views.legacy_token, name="token"),
]

"""Test-only URLconf: tiny views wired with the Basic authentication building blocks."""

from django.http import JsonResponse
from django.urls import path
from rest_framework.exceptions import APIException
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.authentication import (
    BasicAuthentication,
    BasicEndpointMixin,
    basic_authenticate,
    error_status_and_headers,
)
from portal.permissions import AllowsRemoteActionApi, CanEditCategories, DataPrivacyNone, HasFinderAccess


class RightView(APIView):
    authentication_classes = [BasicAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"account": request.user.username})


def right_view(*permission_classes):
    return RightView.as_view(permission_classes=list(permission_classes))


def custom_exception_handler(exc, context):
    """How a Basic endpoint renders its own documented error body from the building block."""
    status, headers = error_status_and_headers(exc)
    response = Response({"error": status, "code": exc.get_codes()}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


class CustomErrorView(BasicEndpointMixin, APIView):
    permission_classes = [HasFinderAccess]

    def get_exception_handler(self):
        return custom_exception_handler

    def get(self, request):
        return Response({"account": request.user.username})


def plain_view(request):
    """A view outside DRF (like a page of the NXQL editor)."""
    try:
        account = basic_authenticate(request, [HasFinderAccess, DataPrivacyNone])
    except APIException as exc:
        status, headers = error_status_and_headers(exc)
        response = JsonResponse({"plain_error": status, "code": exc.get_codes()}, status=status)
        for name, value in headers.items():
            response[name] = value
        return response
    return JsonResponse({"account": account.username})


urlpatterns = [
    path("authenticated", right_view(IsAuthenticated)),
    path("finder", right_view(HasFinderAccess)),
    path("privacy-none", right_view(DataPrivacyNone)),
    path("web-api", right_view(HasFinderAccess, DataPrivacyNone)),
    path("remote-action-api", right_view(AllowsRemoteActionApi)),
    path("edit-categories", right_view(CanEditCategories)),
    path("custom", CustomErrorView.as_view()),
    path("plain", plain_view),
]

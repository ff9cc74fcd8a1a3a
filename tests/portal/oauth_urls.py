"""Test-only URLconf: the token endpoints and tiny views wired with the Bearer building blocks."""

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView

from portal.oauth import BearerEndpointMixin, BearerTokenAuthentication, HasScope, exception_handler


class GrantView(BearerEndpointMixin, APIView):
    """Answers what ``request.auth`` holds."""

    def get(self, request):
        grant = request.auth
        return Response({"client_id": grant.credential.client_id, "scopes": sorted(grant.scopes),
                         "user": request.user})

    post = get


class NqlView(GrantView):
    permission_classes = [HasScope("nql")]


class RemoteActionsView(GrantView):
    permission_classes = [HasScope("remote_actions")]


class HandlerView(APIView):
    """Without the mixin: the Bearer class plus the module's exception handler."""

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [HasScope("nql")]

    def get_exception_handler(self):
        return exception_handler

    def get(self, request):
        return Response({"client_id": request.auth.client_id})


urlpatterns = [
    path("", include("portal.api.urls")),
    path("protected/any", GrantView.as_view()),
    path("protected/nql", NqlView.as_view()),
    path("protected/remote-actions", RemoteActionsView.as_view()),
    path("protected/handler", HandlerView.as_view()),
]

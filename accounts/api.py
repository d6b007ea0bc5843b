"""REST API for accounts: who am I (handy to check that a token works)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.selectors import roles_of


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.EmailField()
    roles = serializers.ListField(child=serializers.CharField())
    groups = serializers.ListField(child=serializers.CharField())
    auth = serializers.ChoiceField(choices=["session", "token"])


@extend_schema(responses=MeSerializer, summary="The signed-in user (session or API token)")
@api_view(["GET"])
def me(request: Request) -> Response:
    user = request.user
    data = {
        "username": user.get_username(),
        "email": getattr(user, "email", ""),
        "roles": sorted(roles_of(user)),
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "auth": "token" if request.auth is not None else "session",
    }
    return Response(MeSerializer(data).data)

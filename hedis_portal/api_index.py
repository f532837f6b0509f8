"""`GET /api/`: what the API offers, and `GET /api/me/`: who is asking, in which roles, on which contracts."""

from django.urls import NoReverseMatch, get_resolver
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from hedis_portal.backends import get_contract_model, visible_contract_ids
from hedis_portal.roles import ROLE_PERMISSIONS


class ApiIndexView(APIView):
    """Every route of the API that takes no ID, by its path: the lists, their actions (imports,
    bulk writes, `take`), authentication, the schema and its docs. Open to anyone: it holds no data."""

    permission_classes = [AllowAny]

    def get_view_name(self):
        return "API index"

    @extend_schema(
        responses={200: {"type": "object", "additionalProperties": {"type": "string", "format": "uri"}}}
    )
    def get(self, request, format=None):
        _, api = get_resolver().namespace_dict["api"]
        urls = {}
        for name in api.reverse_dict:
            if not isinstance(name, str):
                continue
            try:
                url = reverse(f"api:{name}", request=request)
            except NoReverseMatch:
                continue  # it needs an ID
            path = reverse(f"api:{name}").removeprefix(reverse("api:index")).strip("/")
            if path:
                urls[path] = url
        return Response(dict(sorted(urls.items())))


class MeView(APIView):
    """The caller: username, roles, the contracts they may see and their permissions (`app.codename`)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "username": serializers.CharField(),
                "roles": serializers.ListField(child=serializers.CharField()),
                "contracts": serializers.ListField(child=serializers.CharField()),
                "permissions": serializers.ListField(child=serializers.CharField()),
            },
        )
    )
    def get(self, request, format=None):
        user = request.user
        contracts = get_contract_model().objects.filter(pk__in=visible_contract_ids(user))
        return Response(
            {
                "username": user.get_username(),
                "roles": sorted(user.groups.filter(name__in=ROLE_PERMISSIONS).values_list("name", flat=True)),
                "contracts": sorted(str(contract) for contract in contracts),
                "permissions": sorted(user.get_all_permissions()),
            }
        )

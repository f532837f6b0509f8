"""API authentication: exchange a username and password for a token (stored hashed by knox)."""

from datetime import timedelta

from drf_spectacular.utils import extend_schema, inline_serializer
from knox import views as knox_views
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.throttling import AnonRateThrottle, ScopedRateThrottle

from hedis_portal.audit import (
    AuditedTokenAuthentication,
    bind_actor,
    delete_expired_tokens,
    token_max_lifetime,
)
from hedis_portal.login_security import LoginLockedOut


class LoginView(knox_views.LoginView):
    """`POST {"username", "password"}` → `{"token", "expiry"}`.

    Throttled per client address (`THROTTLE_AUTH`, in the shared cache); a username or address
    with too many failed logins is locked out (django-axes, `hedis_portal/login_security.py`)
    and answered 429 in the error shape, even with the right password.
    """

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle, AnonRateThrottle]
    throttle_scope = "auth"

    @extend_schema(
        request=AuthTokenSerializer,
        responses=inline_serializer(
            "TokenResponse",
            {"token": serializers.CharField(), "expiry": serializers.DateTimeField()},
        ),
    )
    def post(self, request, format=None):
        credentials = AuthTokenSerializer(data=request.data, context={"request": request})
        if not credentials.is_valid():
            # django-axes flags the request it was given (this one) when the attempt is locked out.
            if getattr(request, "axes_locked_out", False):
                raise LoginLockedOut(request)
            raise ValidationError(credentials.errors)
        request.user = credentials.validated_data["user"]
        bind_actor(request.user)
        delete_expired_tokens(request.user)
        return super().post(request, format=format)

    def get_token_ttl(self) -> timedelta:
        """Knox's sliding lifetime, never beyond the absolute one (`API_TOKEN_MAX_LIFETIME_HOURS`)."""
        return min(super().get_token_ttl(), token_max_lifetime())


@extend_schema(request=None, responses={204: None})
class LogoutView(knox_views.LogoutView):
    """Revoke the token used for this request."""

    # Ours, not knox's: the absolute lifetime holds here too, and the logout has its actor.
    authentication_classes = [AuditedTokenAuthentication]


@extend_schema(request=None, responses={204: None})
class LogoutAllView(knox_views.LogoutAllView):
    """Revoke every token of the current user."""

    authentication_classes = [AuditedTokenAuthentication]

"""Request ID and API request log middleware."""

import re
import time
import uuid

from django.utils import timezone
from django.utils.functional import SimpleLazyObject, empty

from hedis_portal import request_log

_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Gives every request an ID (the caller's `X-Request-ID` if well-formed) and echoes it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response


class ApiRequestLogMiddleware:
    """Records method, resolved route, user, status, duration and error class of `/api/` calls."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        started_at = timezone.now()
        start = time.perf_counter()
        response = self.get_response(request)
        self._record(request, response, started_at, (time.perf_counter() - start) * 1000)
        return response

    def process_exception(self, request, exception):
        request.api_error_class = type(exception).__name__

    @staticmethod
    def _record(request, response, started_at, duration_ms: float) -> None:
        from hedis_portal.models import ApiRequestLog

        match = request.resolver_match
        user = getattr(request, "user", None)
        # DRF replaces `request.user` with the user it authenticated (token or session).
        # A lazy user nobody evaluated is left alone: reading it would cost a query.
        if user is None or (isinstance(user, SimpleLazyObject) and user._wrapped is empty):
            user_id = None
        else:
            user_id = user.pk if user.is_authenticated else None
        request_log.record(
            ApiRequestLog(
                started_at=started_at,
                request_id=request.request_id,
                method=request.method[:8],
                route=(match.route if match else "<unresolved>")[:200],
                user_id=user_id,
                status=response.status_code,
                duration_ms=round(duration_ms, 3),
                error_class=getattr(request, "api_error_class", "")[:100],
            )
        )

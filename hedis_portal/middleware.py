"""Request ID, API request log, audit and admin NUL-parameter middleware."""

import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from auditlog.context import auditlog_value
from auditlog.middleware import AuditlogMiddleware
from django.conf import settings
from django.contrib import messages
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.functional import SimpleLazyObject, empty

from hedis_portal import request_log
from hedis_portal.client_address import client_address

# A caller's request ID is kept only if it is a UUID (with or without dashes): any freer format
# would let a client write an identifier of its choosing into the request log and the audit `cid`.
_VALID_REQUEST_ID = re.compile(
    r"[0-9a-f]{8}(-?)[0-9a-f]{4}\1[0-9a-f]{4}\1[0-9a-f]{4}\1[0-9a-f]{12}", re.IGNORECASE
)
_REGEX_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def route_pattern(match) -> str:
    """The URL pattern a request resolved to, e.g. `api/members/<pk>/` (router regexes tidied)."""
    if match is None:
        return "<unresolved>"
    return _REGEX_GROUP.sub(r"<\1>", match.route).replace("^", "").replace("$", "")


_current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """The ID of the request being served (`AUDITLOG_CID_GETTER`: audit entries carry it too)."""
    return _current_request_id.get()


@contextmanager
def correlated(identifier: str) -> Iterator[None]:
    """Work outside a request (a background job) under its own ID, which its audit entries carry."""
    token = _current_request_id.set(identifier)
    try:
        yield
    finally:
        _current_request_id.reset(token)


class RequestIdMiddleware:
    """Gives every request an ID (the caller's `X-Request-ID` if it is a UUID) and echoes it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _VALID_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        token = _current_request_id.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            _current_request_id.reset(token)
        response["X-Request-ID"] = request.request_id
        # `request.META` is the WSGI environ: gunicorn's access log reads this key instead of
        # the path, which may carry a raw member ID that a client put in the URL.
        request.META[ACCESS_LOG_ROUTE] = _access_log_route(request)
        return response


ACCESS_LOG_ROUTE = "hedis_portal.route"


def _access_log_route(request) -> str:
    """What the access log shows for a request: static file paths as they are, others by route."""
    if request.path.startswith(settings.STATIC_URL):
        return request.path
    return route_pattern(getattr(request, "resolver_match", None))


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every response that did not set its own caching.

    API JSON, CSV exports and admin pages carry member-level data, which no browser or
    proxy may keep; static files (WhiteNoise) set their own long-lived headers and keep them.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response


class AuditMiddleware(AuditlogMiddleware):
    """django-auditlog's middleware (actor, remote address), clearing its context afterwards.

    The remote address is the client's as the throttles and the login lockout see it
    (`client_address`: X-Forwarded-For only as far as NUM_PROXIES trusts it).
    auditlog leaves the request's actor in a context variable when the request ends; work
    done later on the same thread outside any request (a job, a command) would otherwise be
    attributed to that user.
    """

    @staticmethod
    def _get_remote_addr(request):
        # auditlog believes the left-most X-Forwarded-For, which any client can write.
        return client_address(request)

    def __call__(self, request):
        token = auditlog_value.set({})
        try:
            return super().__call__(request)
        finally:
            auditlog_value.reset(token)


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
                route=route_pattern(request.resolver_match)[:200],
                user_id=user_id,
                status=response.status_code,
                duration_ms=round(duration_ms, 3),
                error_class=getattr(request, "api_error_class", "")[:100],
            )
        )


class AdminNulFilterMiddleware:
    """Drops admin query parameters holding a NUL character, with an "Ignored filter" warning.

    PostgreSQL refuses NUL in text, so a changelist filtering a text column by such a value (any
    field filter, third-party admins' included) failed with a 500 when its query ran. The API's
    filters refuse NUL themselves, with a 400 naming the parameter.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        bad = sorted({name for name, values in request.GET.lists() if any("\x00" in v for v in values)})
        if bad and request.path_info.startswith(reverse("admin:index")):
            query = request.GET.copy()
            for name in bad:
                del query[name]
                messages.warning(request, f"Ignored filter {name}: Null characters are not allowed.")
            request.GET = query
            request.META["QUERY_STRING"] = query.urlencode()
        return self.get_response(request)

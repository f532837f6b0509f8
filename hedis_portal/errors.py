"""One exception hierarchy and one error shape for the API: `{"message": …, "extra": {…}}`."""

import sys

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """A business rule refused the request; answered as 400 with `extra` for details."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class ConflictError(ApplicationError):
    """The object changed since the client read it (optimistic concurrency); answered as 409."""

    status_code = status.HTTP_409_CONFLICT


DATABASE_UNAVAILABLE = "The database is unavailable; try again shortly."


def _body(message: str, extra: dict | None = None) -> dict:
    return {"message": message, "extra": extra or {}}


def api_exception_handler(exc, context):
    """DRF exception handler that maps every known error to the one error shape."""
    request = context.get("request")
    if request is not None:
        # Read by the API request log middleware: the class, never the message.
        request._request.api_error_class = type(exc).__name__

    if isinstance(exc, ApplicationError):
        return Response(_body(exc.message, exc.extra), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None  # unexpected: becomes a 500 (or 503) through `server_error`
    if isinstance(exc, exceptions.ValidationError):
        response.data = _body("Validation error", {"fields": response.data})
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        response.data = _body(str(detail) or str(exc), {})
    return response


def server_error(request):
    """`handler500`: database outages answer 503 (JSON under /api/), anything else 500.

    Called by Django inside its exception handling, so `sys.exc_info()` holds the cause;
    this also covers failures in middleware (sessions, authentication) before any view runs.
    """
    exc = sys.exc_info()[1]
    database_down = isinstance(exc, (OperationalError, InterfaceError))
    is_api = request.path.startswith("/api/")
    if database_down:
        if is_api:
            response = JsonResponse(_body(DATABASE_UNAVAILABLE), status=503)
        else:
            response = HttpResponse(DATABASE_UNAVAILABLE, status=503, content_type="text/plain")
        response["Retry-After"] = "5"
        return response
    if is_api:
        return JsonResponse(_body("Internal server error"), status=500)
    return defaults.server_error(request)

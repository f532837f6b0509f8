"""One exception hierarchy and one error shape for the API: `{"message": …, "extra": {…}}`."""

import sqlite3
import sys

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler

from hedis_portal.postgresql.base import NoAnswer


class ApplicationError(Exception):
    """A business rule refused the request; answered as 400 with `extra` for details."""

    status_code = status.HTTP_400_BAD_REQUEST
    # Seconds after which the same request may succeed, sent as `Retry-After` when set.
    retry_after: int | None = None

    def __init__(self, message: str, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class PayloadTooLarge(ApplicationError):
    """The request is larger than this endpoint accepts."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


class ConflictError(ApplicationError):
    """The object changed since the client read it (optimistic concurrency); answered as 409."""

    status_code = status.HTTP_409_CONFLICT


# DRF's error code for a related field whose id or slug matches no object (in the field's queryset).
MISSING_OBJECT = "does_not_exist"
# DRF's error code for a value a unique constraint already holds (UniqueValidator, UniqueTogetherValidator).
ALREADY_EXISTS = "unique"
DATABASE_UNAVAILABLE = "The database is unavailable; try again shortly."
DATABASE_TOO_SLOW = "The database did not answer in time; try again shortly."
DATABASE_BUSY = "Other writes to the same rows were under way; nothing was written. Send the request again."
# PostgreSQL ends a transaction with one of these so that another can go on (serialization_failure,
# deadlock_detected): nothing of it was written, and running it again normally succeeds.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
# PostgreSQL's query_canceled: a statement ran past DB_STATEMENT_TIMEOUT.
_STATEMENT_TIMEOUT = "57014"
# SQLite's "database is locked": another connection held the file past the busy timeout.
_SQLITE_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def lost_lock_race(exc: BaseException) -> bool:
    """Whether PostgreSQL ended the transaction in favour of a concurrent one (worth running again)."""
    return (
        isinstance(exc, OperationalError) and getattr(exc.__cause__, "sqlstate", None) in RETRYABLE_SQLSTATES
    )


def database_busy(exc: BaseException) -> bool:
    """Whether `exc` is contention in a database that is up: a lost lock race, or SQLite's busy file.

    Answered as `DatabaseBusy` (409, "send it again"), never as the 503 of an unreachable database.
    """
    if lost_lock_race(exc):
        return True
    code = getattr(exc.__cause__, "sqlite_errorcode", None)
    return isinstance(exc, OperationalError) and code is not None and code & 0xFF in _SQLITE_BUSY


def database_timed_out(exc: BaseException) -> bool:
    """Whether the database took too long: the server ended a statement at `DB_STATEMENT_TIMEOUT`,
    or gave no answer at all within `DB_WAIT_TIMEOUT` (`NoAnswer`)."""
    cause = exc.__cause__
    return isinstance(exc, OperationalError) and (
        isinstance(cause, NoAnswer) or getattr(cause, "sqlstate", None) == _STATEMENT_TIMEOUT
    )


def database_trouble(exc: BaseException) -> str | None:
    """What to tell people when `exc` is the database's doing rather than the work's: other writes
    held the rows, it took too long, or it could not be reached. None for any other error."""
    if database_busy(exc):
        return DATABASE_BUSY
    if isinstance(exc, (OperationalError, InterfaceError)):
        return DATABASE_TOO_SLOW if database_timed_out(exc) else DATABASE_UNAVAILABLE
    return None


class DatabaseBusy(ConflictError):
    """Concurrent writes held the rows this one needed (`database_busy`), through any retries;
    answered as 409 with Retry-After. Nothing was written: sending the same request again is safe."""

    retry_after = 1

    def __init__(self):
        super().__init__(DATABASE_BUSY)


class ErrorResponseSerializer(serializers.Serializer):
    """The one error shape of the API (documented on every operation by `hedis_portal.schema`)."""

    message = serializers.CharField(help_text="What went wrong, for people.")
    extra = serializers.DictField(
        help_text="Details: `fields` maps each invalid field or query parameter to its problems; "
        "some errors add their own keys (e.g. `errors`, `max_bytes`)."
    )


def _body(message: str, extra: dict | None = None) -> dict:
    return {"message": message, "extra": extra or {}}


def request_too_large_body() -> dict:
    """The 413 answer to a request body over `DATA_UPLOAD_MAX_MEMORY_SIZE`."""
    max_bytes = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return _body(f"The request body is larger than {max_bytes} bytes.", {"max_bytes": max_bytes})


def api_exception_handler(exc, context):
    """DRF exception handler that maps every known error to the one error shape."""
    if database_busy(exc):
        exc = DatabaseBusy()
    request = context.get("request")
    if request is not None:
        # Read by the API request log middleware: the class, never the message.
        request._request.api_error_class = type(exc).__name__

    if isinstance(exc, ApplicationError):
        response = Response(_body(exc.message, exc.extra), status=exc.status_code)
        if exc.retry_after is not None:
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, RequestDataTooBig):
        return Response(request_too_large_body(), status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, SuspiciousOperation):
        # Too many fields or files, a malformed upload: Django would answer an HTML page.
        exc = exceptions.ParseError("The request could not be read.")
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
        codes = exc.get_codes()
        if _only_code(codes, MISSING_OBJECT):
            # Every problem is an id or code that names nothing you can see: answered like a
            # path that names nothing (404), wherever in the request the name was.
            response.status_code = status.HTTP_404_NOT_FOUND
            response.data = _body("Not found.", {"fields": response.data})
        elif _only_code(codes, ALREADY_EXISTS):
            # A well-formed request that conflicts with what is stored (a contract ID, a name,
            # a contract's score for that star year already there).
            response.status_code = status.HTTP_409_CONFLICT
            response.data = _body("Already exists.", {"fields": response.data})
        else:
            response.data = _body("Validation error", {"fields": response.data})
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        response.data = _body(str(detail) or str(exc), {})
    return response


def page_not_found(request, exception):
    """`handler404`: an API path that matches no route answers in the API's error shape; elsewhere a
    page in the admin's frame with the way home. Another contract's object is "not found" too, so
    the page never says which of the two it was."""
    if request.path.startswith("/api/"):
        return JsonResponse(_body("Not found."), status=404)
    page = _admin_frame_page(request, "admin/page_not_found.html", "Not found", 404)
    return page or defaults.page_not_found(request, exception)


def permission_denied(request, exception):
    """`handler403`: JSON under /api/; elsewhere a page in the admin's frame that says what is refused,
    with the way home (a plain "403 Forbidden" page left a person nowhere to go)."""
    if request.path.startswith("/api/"):
        return JsonResponse(_body("You do not have permission to do this."), status=403)
    context = {**admin.site.each_context(request), "title": "Not part of your role"}
    return render(request, "admin/permission_denied.html", context, status=403)


def bad_request(request, exception):
    """`handler400`: a request Django itself refuses (a filter the admin's list does not have, a
    suspicious header), JSON under /api/; elsewhere a page in the admin's frame that offers the same
    page without its query string (a plain "Bad Request (400)" left a person nowhere to go)."""
    if request.path.startswith("/api/"):
        return JsonResponse(_body("Bad request."), status=400)
    page = _admin_frame_page(request, "admin/bad_request.html", "Address not understood", 400)
    return page or defaults.bad_request(request, exception)


def _admin_frame_page(request, template: str, title: str, status: int):
    """An error page in the admin's frame, or None for a request refused before the user was known
    (a bad Host header is refused by a middleware that runs before authentication) and where the
    frame cannot be drawn: before `collectstatic`, the manifest storage refuses to name the
    admin's stylesheet (ValueError), and an error page must not fail in turn."""
    if not hasattr(request, "user"):
        return None
    context = {**admin.site.each_context(request), "title": title}
    try:
        return render(request, template, context, status=status)
    except ValueError:
        return None


def _only_code(codes, code: str) -> bool:
    """Whether every error code in DRF's nested `get_codes()` is `code`."""
    if isinstance(codes, dict):
        return bool(codes) and all(_only_code(value, code) for value in codes.values())
    if isinstance(codes, list):
        return bool(codes) and all(_only_code(value, code) for value in codes)
    return codes == code


def server_error(request):
    """`handler500`: database outages answer 503 (JSON under /api/), contention 409 (`DatabaseBusy`),
    anything else 500.

    Called by Django inside its exception handling, so `sys.exc_info()` holds the cause;
    this also covers failures in middleware (sessions, authentication) before any view runs,
    and the admin's writes.
    """
    exc = sys.exc_info()[1]
    is_api = request.path.startswith("/api/")
    if database_busy(exc):
        busy = DatabaseBusy()
        if is_api:
            response = JsonResponse(_body(busy.message, busy.extra), status=busy.status_code)
        else:
            response = HttpResponse(busy.message, status=busy.status_code, content_type="text/plain")
        response["Retry-After"] = str(busy.retry_after)
        return response
    message = database_trouble(exc)
    if message is not None:
        if is_api:
            response = JsonResponse(_body(message), status=503)
        else:
            response = HttpResponse(message, status=503, content_type="text/plain")
        response["Retry-After"] = "5"
        return response
    if is_api:
        return JsonResponse(_body("Internal server error"), status=500)
    return defaults.server_error(request)

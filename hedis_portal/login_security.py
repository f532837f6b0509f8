"""Login lockout (django-axes) and the audit of logins, failed logins, lockouts and logouts.

django-axes counts failed logins in the database (`AccessAttempt`), so every worker sees the
same counts, and locks out a username after `AXES_FAILURE_LIMIT` failures from any address, and
an address after as many failures on any usernames, for `AXES_COOLOFF_TIME`; the right password
is refused while locked out. The API login and the admin login share the counts.

Each login, failed login, lockout and logout through the admin or the API is an ACCESS audit
entry on the user (`additional_data["auth_event"]`), with the client's address; never the
password. A username that matches no account may be a mistyped member ID or a password typed
into the wrong box: it is kept only as a keyed hash (`username_key`), which still shows repeated
attempts on one name without keeping what was typed.
"""

from auditlog.cid import get_cid
from auditlog.models import LogEntry
from axes.helpers import get_cool_off
from axes.signals import user_locked_out
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.contrib.contenttypes.models import ContentType
from django.dispatch import receiver
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.crypto import salted_hmac
from rest_framework import status
from rest_framework.exceptions import APIException

from hedis_portal.client_address import client_address

LOCKED_OUT_MESSAGE = "Too many failed logins for this account or from this address; try again later."
# Prefixes a hashed username: "?" is not allowed in a username, so it never names an account.
_HASHED = "?"


class LoginLockedOut(APIException):
    """The API login's answer while a username or address is locked out: 429 with Retry-After."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = LOCKED_OUT_MESSAGE
    default_code = "locked_out"

    def __init__(self, request):
        super().__init__()
        self.wait = retry_after_seconds(request)


def retry_after_seconds(request) -> int:
    """Seconds until a lockout may end: the cool-off (each further failure starts it again)."""
    cool_off = get_cool_off(request)
    return int(cool_off.total_seconds()) if cool_off else 0


def username_key(username: str) -> str:
    """A keyed hash (HMAC-SHA256 with SECRET_KEY) of a username that matches no account."""
    return salted_hmac("hedis_portal.login_security.username", username, algorithm="sha256").hexdigest()[:32]


def _account(username):
    """The user `username` names, or None."""
    if not isinstance(username, str) or not username or username.startswith(_HASHED):
        return None
    user_model = get_user_model()
    return user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username}).first()


def lockout_username(request, credentials) -> str | None:
    """`AXES_USERNAME_CALLABLE`: what failures are counted under — the account's username, or
    `?` and the keyed hash of a username that matches no account (never the text typed)."""
    if credentials is not None:
        username = credentials.get(get_user_model().USERNAME_FIELD)
    else:
        username = getattr(request, "data", request.POST).get(get_user_model().USERNAME_FIELD)
    if not isinstance(username, str) or not username:
        return None
    # Axes asks several times per attempt; the answer is the same.
    known = getattr(request, "_lockout_usernames", None)
    if known is None:
        known = request._lockout_usernames = {}
    if username not in known:
        known[username] = username if _account(username) else _HASHED + username_key(username)
    return known[username]


def lockout_response(request, original_response=None, credentials=None):
    """`AXES_LOCKOUT_CALLABLE`: 429 with Retry-After; the JSON error shape under /api/."""
    if request.path.startswith("/api/"):
        response = JsonResponse({"message": LOCKED_OUT_MESSAGE, "extra": {}}, status=429)
    else:
        context = admin.site.each_context(request)
        context.update(title="Login refused", message=LOCKED_OUT_MESSAGE)
        response = render(request, "admin/locked_out.html", context, status=429)
    response["Retry-After"] = str(retry_after_seconds(request))
    return response


def _channel(request) -> str | None:
    """Where a login came from: "api", "admin", or None for one without a request (tests, shell)."""
    path = getattr(request, "path", "") if request is not None else ""
    if not path:
        return None
    return "api" if path.startswith("/api/") else "admin"


def log_auth_event(request, event: str, *, user=None, actor=None, **details) -> LogEntry | None:
    """One ACCESS entry on `user` (or on "unknown") for a login event through the admin or the API."""
    channel = _channel(request)
    if channel is None:
        return None
    if user is not None:
        target = {"object_pk": str(user.pk), "object_id": user.pk, "object_repr": user.get_username()}
    else:
        target = {"object_pk": "unknown", "object_id": None, "object_repr": "unknown username"}
    return LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(get_user_model()),
        action=LogEntry.Action.ACCESS,
        changes={},
        actor=actor,
        remote_addr=client_address(request),
        cid=get_cid(),
        additional_data={"auth_event": event, "channel": channel, **details},
        **target,
    )


@receiver(user_logged_in, dispatch_uid="hedis_portal.audit_login")
def audit_login(sender, request, user, **kwargs):
    log_auth_event(request, "login", user=user, actor=user)


@receiver(user_logged_out, dispatch_uid="hedis_portal.audit_logout")
def audit_logout(sender, request, user, **kwargs):
    if user is not None:
        log_auth_event(request, "logout", user=user, actor=user)


@receiver(user_login_failed, dispatch_uid="hedis_portal.audit_login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs):
    username = credentials.get(get_user_model().USERNAME_FIELD)
    user = _account(username)
    if user is not None or not isinstance(username, str):
        log_auth_event(request, "login_failed", user=user)
    else:
        log_auth_event(request, "login_failed", username_hash=username_key(username))


@receiver(user_locked_out, dispatch_uid="hedis_portal.audit_locked_out")
def audit_locked_out(sender, request, username, ip_address, **kwargs):
    user = _account(username)
    if user is not None or not isinstance(username, str):
        log_auth_event(request, "locked_out", user=user)
    else:
        log_auth_event(request, "locked_out", username_hash=username.removeprefix(_HASHED))

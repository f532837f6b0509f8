"""Audit helpers on top of django-auditlog: actor binding for token auth, and access entries."""

from datetime import timedelta

from auditlog.context import auditlog_value
from auditlog.models import LogEntry
from auditlog.signals import accessed
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.utils import timezone
from knox.auth import TokenAuthentication
from knox.models import get_token_model
from knox.signals import token_expired


def bind_actor(user) -> None:
    """Make `user` the actor of audit entries written for the rest of this request.

    `AuditlogMiddleware` captures the actor before the view runs, which is right for
    session users; API tokens are only checked inside DRF, so the actor is set here.
    """
    context = auditlog_value.get(None)
    if context is not None and context.get("actor") is None:
        context["actor"] = user


def log_access(instance) -> None:
    """Record a read of member-level data as an auditlog ACCESS entry (HIPAA audit controls)."""
    accessed.send(sender=type(instance), instance=instance)


def token_max_lifetime() -> timedelta:
    """How long an API token lives after it was issued, however often it is used."""
    return timedelta(hours=settings.API_TOKEN_MAX_LIFETIME_HOURS)


class AuditedTokenAuthentication(TokenAuthentication):
    """Knox token authentication (tokens stored hashed) that names the audit actor.

    Knox also reads every other token of the user on every request, to delete the expired
    ones: a query on each API call. Here a request checks only its own token, and a user's
    expired tokens are deleted when they log in (`LoginView`).

    Knox slides a token's expiry forward on use (`AUTO_REFRESH`); a token is also refused, and
    deleted, once `API_TOKEN_MAX_LIFETIME_HOURS` have passed since it was issued, whatever its
    expiry says (`AUTO_REFRESH_MAX_TTL` caps the sliding too, but knox keeps an expiry already
    beyond the cap).
    """

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            bind_actor(result[0])
        return result

    def _cleanup_token(self, auth_token) -> bool:
        now = timezone.now()
        expired = auth_token.expiry is not None and auth_token.expiry < now
        if not expired and auth_token.created + token_max_lifetime() >= now:
            return False
        username = auth_token.user.get_username()
        auth_token.delete()
        token_expired.send(sender=self.__class__, username=username, source="auth_token")
        return True


def delete_expired_tokens(user) -> int:
    """Delete `user`'s expired API tokens (idle or past their absolute lifetime); returns how many."""
    now = timezone.now()
    deleted, _ = (
        get_token_model()
        .objects.filter(user=user)
        .filter(Q(expiry__lt=now) | Q(created__lt=now - token_max_lifetime()))
        .delete()
    )
    return deleted


def log_batch(*, model, action: int, count: int, summary: str, details: dict):
    """One audit entry for a set-based write (who, what, how many, from which file).

    Bulk paths write rows without per-row model signals, so they are audited per batch
    rather than silently. Actor and remote address come from the request context when
    there is one; management commands record their own name in `details`.
    """
    context = auditlog_value.get(None) or {}
    return LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(model),
        object_pk="batch",
        object_repr=summary[:200],
        action=action,
        changes={},
        actor=context.get("actor"),
        remote_addr=context.get("remote_addr"),
        additional_data={"batch": {"count": count, **details}},
    )

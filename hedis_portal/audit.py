"""Audit helpers on top of django-auditlog: actor binding for token auth, and access entries."""

import getpass
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from auditlog.cid import get_cid
from auditlog.context import auditlog_value, set_extra_data
from auditlog.models import LogEntry
from auditlog.signals import accessed
from django.conf import settings
from django.contrib.admin.views.main import ERROR_FLAG, IGNORED_PARAMS, PAGE_VAR, SEARCH_VAR
from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.utils import timezone
from knox.auth import TokenAuthentication
from knox.models import get_token_model
from knox.signals import token_expired

from hedis_portal.middleware import correlated, route_pattern


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


def file_facts(*, sha256: str, size_bytes: int, rows: int) -> dict:
    """What the audit log keeps about an imported file or request body: hash, size, row count.

    Never its name or path: file names often carry member or vendor identifiers. The SHA-256
    still ties an entry to the file the sender kept.
    """
    return {"sha256": sha256, "size_bytes": size_bytes, "rows": rows}


def _os_user() -> str:
    """The operating-system account running this process (a container may have no name for it)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


@contextmanager
def command_actor(command: str, *, user=None) -> Iterator[None]:
    """Attribute the batch audit entries (`log_batch`) written inside to a management command run.

    A command has no request, so no remote address; its entries name the operating-system
    user and host that ran it and the command (`additional_data["command_line"]`), and, when
    the command acts for a portal user (`--as-user`), that user as the actor.
    """
    context = {
        "actor": user,
        "remote_addr": None,
        "command_line": {"command": command, "os_user": _os_user(), "host": socket.gethostname()},
    }
    # auditlog's own context manager, so that its receivers find the context they expect and
    # entries written by model signals get the actor too; auditlog leaves its value set on exit,
    # so the previous one is put back here.
    token = auditlog_value.set({})
    try:
        with set_extra_data(context_data=context):
            yield
    finally:
        auditlog_value.reset(token)


@contextmanager
def job_actor(*, user, job_id: str) -> Iterator[None]:
    """Attribute the audit entries written inside to a background job: its user as the actor, the
    job's ID as the correlation ID (a job has no request, so no remote address)."""
    token = auditlog_value.set({})
    try:
        with correlated(job_id), set_extra_data(context_data={"actor": user, "remote_addr": None}):
            yield
    finally:
        auditlog_value.reset(token)


def log_batch(*, model, action: int, count: int, summary: str, details: dict):
    """One audit entry for a set-based write (who, what, how many, from which file).

    Bulk paths write rows without per-row model signals, so they are audited per batch
    rather than silently. Actor and remote address come from the request context when
    there is one; inside `command_actor`, the command, OS user and host are recorded too.
    """
    context = auditlog_value.get(None) or {}
    additional_data = {"batch": {"count": count, **details}}
    if "command_line" in context:
        additional_data["command_line"] = context["command_line"]
    return LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(model),
        object_pk="batch",
        object_repr=summary[:200],
        action=action,
        changes={},
        actor=context.get("actor"),
        remote_addr=context.get("remote_addr"),
        additional_data=additional_data,
        cid=get_cid(),
    )


def log_read(*, model, kind: str, view: str, filters: dict, rows: int, ids: list | None = None) -> LogEntry:
    """One ACCESS entry for a read of many rows of member-level data: a list page or an export.

    One entry per request, never one per row: who (actor, remote address), what (`model`, the
    `view`'s route pattern and the `filters` it was given), how many `rows` it returned, the
    primary keys of a page (`ids`; exports record the count only) and the request ID (`cid`).
    `kind` ("list" or "export") is stored as the entry's object key. A read that matched nothing
    is recorded too: it still tells the reader that nothing matched.
    """
    context = auditlog_value.get(None) or {}
    access = {"view": view, "filters": filters, "rows": rows}
    if ids is not None:
        access["ids"] = ids
    names = model._meta.verbose_name_plural
    return LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(model),
        object_pk=kind,
        object_repr=f"{rows} {names} {'exported' if kind == 'export' else 'listed'}",
        action=LogEntry.Action.ACCESS,
        actor=context.get("actor"),
        remote_addr=context.get("remote_addr"),
        # `LogEntry.objects.create` does not fill the correlation ID itself (`log_create` does).
        cid=get_cid(),
        additional_data={"access": access},
    )


def recorded_filters(params, names) -> dict:
    """The query parameters (a `QueryDict`) among `names`, a view's declared filters, as recorded.

    Anything else (a cursor, a page size, a parameter a careless client made up) is left out:
    only declared filters, whose values are codes, flags, numbers and the portal's own IDs, are
    recorded. A parameter given once is recorded as its value, one given several times as the
    list of them. A NUL character (which PostgreSQL's JSON refuses) is recorded as U+FFFD.
    """
    return {
        name: values[0] if len(values) == 1 else values
        for name, values in (
            (name, [v.replace("\x00", "\ufffd") for v in values]) for name, values in params.lists()
        )
        if name in names
    }


class AccessAuditedListMixin:
    """A list viewset of member-level data: every page read is one ACCESS entry (`log_read`).

    Hooked on `paginate_queryset`, which every list (the worklist's plain-row list too) calls
    once with its filtered queryset; the entry is one INSERT whatever the page's length. The
    view's `filterset_class` names the model and the filters recorded.
    """

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        if page is not None:
            log_read(
                model=self.filterset_class._meta.model,
                kind="list",
                view=route_pattern(self.request.resolver_match),
                filters=recorded_filters(self.request.query_params, self.filterset_class.base_filters),
                rows=len(page),
                ids=[row["id"] if isinstance(row, dict) else row.pk for row in page],
            )
        return page


def changelist_filters(params) -> dict:
    """An admin changelist's filters, from its query string, as an access entry records them.

    The list filters only (ordering, page, popup and "show all" flags left out, as Django's
    `ChangeList.get_filters_params` leaves them out), and whether the search box was used,
    never its term: the box takes a raw plan member ID.
    """
    recorded = recorded_filters(params, set(params) - _NOT_FILTERS)
    if params.get(SEARCH_VAR, "").strip():
        recorded["search_used"] = True
    return recorded


_NOT_FILTERS = {*IGNORED_PARAMS, PAGE_VAR, ERROR_FLAG}


class AccessAuditedChangelistMixin:
    """An admin of member-level data: each changelist page shown is one ACCESS entry (`log_read`).

    The page's rows are read here, before the template renders them from the same (now cached)
    queryset, so this costs no query beyond the INSERT.
    """

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if changelist is not None:
            page = changelist.result_list
            log_read(
                model=self.model,
                kind="list",
                view=route_pattern(request.resolver_match),
                filters=changelist_filters(request.GET),
                rows=len(page),
                ids=[row.pk for row in page],
            )
        return response

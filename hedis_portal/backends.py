"""Authentication backend: Django's ModelBackend, with a user's authorization read in one query.

Also the contract model as the project package sees it (`get_contract_model`, named by the
`CONTRACT_MODEL` setting) and the contracts a user is assigned to (`visible_contract_ids`).
"""

from functools import cache

from axes.backends import AxesStandaloneBackend
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection


def get_contract_model():
    """The contract model (`settings.CONTRACT_MODEL`): a `users` many-to-many and `visible_to(user)`."""
    return apps.get_model(settings.CONTRACT_MODEL, require_ready=False)


@cache
def _authorization_sql() -> str:
    """The user's permissions (their own and their groups') and assigned contracts, as rows.

    A permission row is ('permission', 'app_label.codename'), a contract row ('contract', its
    primary key as text). Written as SQL because every API request runs it for a fresh user:
    building the permission part with the ORM cost several times the query itself, and the
    contracts were a second round trip.
    """
    user_model = get_user_model()
    own = user_model.user_permissions.through._meta
    by_role = Group.permissions.through._meta
    membership = user_model.groups.through._meta
    assignment = get_contract_model().users.through._meta
    return f"""
        SELECT 'permission', content_type.app_label || '.' || permission.codename
        FROM {Permission._meta.db_table} AS permission
        JOIN {ContentType._meta.db_table} AS content_type ON content_type.id = permission.content_type_id
        WHERE permission.id IN (
            SELECT permission_id FROM {own.db_table} WHERE user_id = %(user)s
            UNION
            SELECT granted.permission_id
            FROM {by_role.db_table} AS granted
            JOIN {membership.db_table} AS membership ON membership.group_id = granted.group_id
            WHERE membership.user_id = %(user)s
        )
        UNION ALL
        SELECT 'contract', CAST(contract_id AS varchar(20))
        FROM {assignment.db_table} WHERE user_id = %(user)s
    """


def authorization_load(user) -> None:
    """Read what `user` may do and on which contracts, in one query, into the user object.

    Fills the caches `RolePermissionBackend.get_all_permissions` and
    `visible_contract_ids` read: every API request needs both, for a user object
    that lives as long as the request. A superuser holds every permission.
    """
    with connection.cursor() as cursor:
        cursor.execute(_authorization_sql(), {"user": user.pk})
        rows = cursor.fetchall()
    user._visible_contract_ids = [int(value) for kind, value in rows if kind == "contract"]
    if user.is_superuser:
        every = Permission.objects.values_list("content_type__app_label", "codename").order_by()
        user._perm_cache = {f"{app_label}.{codename}" for app_label, codename in every}
    else:
        user._perm_cache = {value for kind, value in rows if kind == "permission"}


def visible_contract_ids(user) -> list[int]:
    """The primary keys of the contracts assigned to `user`, read once per user object.

    A literal list rather than a subquery: with `contract_id IN (1, 2)` PostgreSQL can walk
    the worklist indexes that lead with the contract in priority order and stop after one
    page; with a subquery it joins first and sorts every matching row. Read together with the
    user's permissions (`authorization_load`), which the same request checks.
    """
    if not hasattr(user, "_visible_contract_ids"):
        authorization_load(user)
    return user._visible_contract_ids


class RolePermissionBackend(ModelBackend):
    """`ModelBackend` with the user's permissions read together with their contracts.

    ModelBackend runs one ORM query for the user's own permissions and one for their groups';
    every API request loads a fresh user, checks a permission and scopes its reads to the
    user's contracts, so `authorization_load` reads all three at once. Everything else is
    ModelBackend's.
    """

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            authorization_load(user_obj)
        return user_obj._perm_cache


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check, first in `AUTHENTICATION_BACKENDS`: a locked-out username or
    address is refused before any password is checked.

    A login with no request (the test client's `login`, a shell) comes from no address and
    through no login page, so there is nothing to count or lock; axes would raise instead.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

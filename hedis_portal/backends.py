"""Authentication backend: Django's ModelBackend, reading a user's permissions in one query."""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db.models import Q


class RolePermissionBackend(ModelBackend):
    """`ModelBackend` with the user's own and their role groups' permissions read together.

    ModelBackend runs one query for each; every API request loads a fresh user and checks a
    permission, so this saves a query on every call. Everything else is ModelBackend's.
    """

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            if user_obj.is_superuser:
                permissions = Permission.objects.all()
            else:
                own = get_user_model().user_permissions.through.objects.filter(user=user_obj)
                by_role = Group.permissions.through.objects.filter(group__user=user_obj)
                permissions = Permission.objects.filter(
                    Q(pk__in=own.values("permission_id")) | Q(pk__in=by_role.values("permission_id"))
                )
            user_obj._perm_cache = {
                f"{app_label}.{codename}"
                for app_label, codename in permissions.values_list(
                    "content_type__app_label", "codename"
                ).order_by()
            }
        return user_obj._perm_cache

"""Users: who may manage whom, contract assignments, API token revocation, and their audit.

The rule, in one place: nobody grants what they do not hold. A superuser manages everyone. Anyone
else (an administrator) manages a user only if that user is not a superuser, is assigned to no
contract outside the manager's own, and holds no permission (directly or through a group) the
manager lacks; they may assign only roles whose permissions they hold and only their own
contracts, and never superuser status or raw permissions. So an administrator can make care
managers, quality analysts and administrators on their contracts, and nothing more.
"""

from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from knox.models import get_token_model

from hedis_portal.backends import get_contract_model, visible_contract_ids

User = get_user_model()


def _held_permission_ids(actor):
    """The primary keys of the permissions `actor` holds, directly or through a group (a subquery)."""
    return Permission.objects.filter(Q(group__user=actor) | Q(user=actor)).values("pk")


def users_manageable_by(actor):
    """The users `actor` may see and change in the user admin (see the module docstring)."""
    if actor.is_superuser:
        return User.objects.all()
    held = _held_permission_ids(actor)
    assignments = get_contract_model().users.through.objects.filter(user=OuterRef("pk"))
    memberships = Group.permissions.through.objects.filter(group__user=OuterRef("pk"))
    own = User.user_permissions.through.objects.filter(user=OuterRef("pk"))
    return (
        User.objects.filter(is_superuser=False)
        .exclude(Exists(assignments.exclude(contract_id__in=visible_contract_ids(actor))))
        .exclude(Exists(memberships.exclude(permission_id__in=held)))
        .exclude(Exists(own.exclude(permission_id__in=held)))
    )


def roles_assignable_by(actor):
    """The groups `actor` may give: those none of whose permissions `actor` lacks."""
    if actor.is_superuser:
        return Group.objects.all()
    lacking = Group.permissions.through.objects.filter(group=OuterRef("pk")).exclude(
        permission_id__in=_held_permission_ids(actor)
    )
    return Group.objects.exclude(Exists(lacking))


def user_assert_manageable(*, actor, user) -> None:
    """Refuse (PermissionDenied) unless `user`, as now stored, is within what `actor` may manage.

    Checked after every change a non-superuser makes in the user admin, inside its transaction:
    whatever a form let through, the change is undone unless the rule still holds.
    """
    if not users_manageable_by(actor).filter(pk=user.pk).exists():
        raise PermissionDenied("This change would give the user more than you may grant.")


@transaction.atomic
def user_assign_contracts(*, actor, user, contracts) -> None:
    """Assign `user` to exactly `contracts`, each of which `actor` must be assigned to.

    Changed from each contract's side, so the audit entry sits on the contract (Contract is
    registered with its `users`), with the actor, as any other contract change.
    """
    wanted = {contract.pk: contract for contract in contracts}
    if not actor.is_superuser and not set(wanted) <= set(visible_contract_ids(actor)):
        raise PermissionDenied("You may assign only your own contracts.")
    current = {contract.pk: contract for contract in get_contract_model().objects.filter(users=user)}
    for pk in sorted(wanted.keys() - current.keys()):
        wanted[pk].users.add(user)
    for pk in sorted(current.keys() - wanted.keys()):
        current[pk].users.remove(user)


def user_revoke_tokens(*, user) -> int:
    """Delete every API token of `user`; returns how many there were."""
    deleted, _ = get_token_model().objects.filter(user=user).delete()
    return deleted


@receiver(pre_save, sender=User, dispatch_uid="hedis_portal.users.note_credential_changes")
def _note_credential_changes(sender, instance, raw=False, update_fields=None, **kwargs):
    """Before a user is saved: whether the password or the active flag is changing.

    Compared with the stored row, so every path counts — the admin's forms, `set_password` and
    `save`, `changepassword`, a password hash upgraded at login. A save that names its fields
    and neither of these (`last_login` at every login) costs nothing.
    """
    if raw or instance.pk is None:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return
    stored = sender._default_manager.filter(pk=instance.pk).values("password", "is_active").first()
    if stored is not None:
        instance._credential_changes = {
            "password_changed": stored["password"] != instance.password,
            "deactivated": stored["is_active"] and not instance.is_active,
        }


@receiver(post_save, sender=User, dispatch_uid="hedis_portal.users.revoke_tokens_on_credential_change")
def _revoke_tokens_on_credential_change(sender, instance, raw=False, **kwargs):
    """A password change or deactivation deletes the user's API tokens, and is audited.

    Sessions need nothing: Django ends them itself (the session keeps a hash of the password,
    and inactive users are not loaded).
    """
    changes = instance.__dict__.pop("_credential_changes", None)
    if raw or not changes or not any(changes.values()):
        return
    revoked = user_revoke_tokens(user=instance)
    if changes["password_changed"]:
        # The password (even its hash) is excluded from the user's audit entries: record that it
        # changed, not what it is.
        LogEntry.objects.log_create(
            instance,
            action=LogEntry.Action.UPDATE,
            changes={"password": ["(hidden)", "(changed)"]},
            additional_data={"password_changed": True, "tokens_revoked": revoked},
        )
    elif revoked:
        LogEntry.objects.log_create(
            instance,
            action=LogEntry.Action.UPDATE,
            changes={},
            additional_data={"deactivated": True, "tokens_revoked": revoked},
        )


# Who changed which user, role or permission (the actor comes from the request, as for any model).
# Contract assignments are audited on the contract (members/models.py registers `Contract.users`).
auditlog.register(User, exclude_fields=["password", "last_login"], m2m_fields={"groups", "user_permissions"})
auditlog.register(Group, m2m_fields={"permissions"})

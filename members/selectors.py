"""Reads of contracts and members, always through the user's scope."""

from django.http import Http404

from members.identifiers import InvalidMemberId, member_id_hash
from members.models import Contract, Member


def contracts_for(user):
    """Contracts `user` may see."""
    return Contract.objects.visible_to(user)


def members_for(user):
    """Members of the contracts `user` may see, with their contract (one join, no N+1)."""
    return Member.objects.visible_to(user).select_related("contract")


def member_get_by_raw_id(*, user, raw_member_id: str) -> Member:
    """The member whose raw ID hashes to a visible member; 404 otherwise (never says why)."""
    try:
        id_hash = member_id_hash(raw_member_id)
    except InvalidMemberId:
        raise Http404 from None
    try:
        return members_for(user).get(id_hash=id_hash)
    except Member.DoesNotExist:
        raise Http404 from None

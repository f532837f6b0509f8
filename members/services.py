"""Writes for contracts and members: the one path the API, admin, imports and jobs share."""

from django.db import transaction

from members.identifiers import member_id_hash
from members.models import Contract, Member


@transaction.atomic
def contract_create(*, contract: Contract, created_by) -> Contract:
    """Save a new contract and assign its creator to it, so they can see what they made."""
    contract.full_clean()
    contract.save()
    if not created_by.is_superuser:
        contract.users.add(created_by)
    return contract


@transaction.atomic
def contract_update(*, contract: Contract, **fields) -> Contract:
    """Update a contract's attributes after model validation."""
    for name, value in fields.items():
        setattr(contract, name, value)
    contract.full_clean()
    contract.save()
    return contract


@transaction.atomic
def member_create(*, member: Member, raw_member_id: str) -> Member:
    """Save a new member keyed by a raw plan member ID, hashed here and then forgotten."""
    member.id_hash = member_id_hash(raw_member_id)
    member.full_clean()
    member.save()
    return member


@transaction.atomic
def member_update(*, member: Member, **fields) -> Member:
    """Update a member's attributes (never the hash: a member's identity does not change)."""
    for name, value in fields.items():
        setattr(member, name, value)
    member.full_clean()
    member.save()
    return member

"""Writes for contracts and members: the one path the API, admin, imports and jobs share."""

from django.db import transaction

from hedis_portal.services import model_update
from members.identifiers import member_id_hash
from members.models import Contract, Member, pseudonyms_assign

# What the API's PATCH and the admin's change form may change. The contract's users are not
# here: the admin writes that many-to-many relation itself.
CONTRACT_UPDATE_FIELDS = (
    "contract_id",
    "name",
    "organization_type",
    "snp",
    "enrollment",
    "lis_de_percent",
    "disability_percent",
)
# Never the hash nor the pseudonym (a member's identity does not change), nor the contract
# (their gaps, predictions and interventions carry it too).
MEMBER_UPDATE_FIELDS = ("birth_year", "sex", "lis_de", "disability", "active")


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
    """Update a contract's attributes after model validation; saves only what changed."""
    contract, _ = model_update(instance=contract, fields=fields, allowed=CONTRACT_UPDATE_FIELDS)
    return contract


@transaction.atomic
def member_create(*, member: Member, raw_member_id: str) -> Member:
    """Save a new member keyed by a raw plan member ID, hashed here and then forgotten.

    The member's pseudonym is derived from the hash (the shortest code free in the contract).
    """
    member.id_hash = member_id_hash(raw_member_id)
    pseudonyms_assign([member])
    member.full_clean()
    member.save()
    return member


@transaction.atomic
def member_update(*, member: Member, **fields) -> Member:
    """Update a member's attributes (never the hash nor the contract); saves only what changed."""
    member, _ = model_update(instance=member, fields=fields, allowed=MEMBER_UPDATE_FIELDS)
    return member

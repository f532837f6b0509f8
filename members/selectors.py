"""Reads of contracts and members, always through the user's scope."""

from contextlib import suppress

from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.http import Http404

from members.identifiers import InvalidMemberId, member_id_hash, pseudonym_prefix
from members.models import Contract, Member

MEMBER_SEARCH_HELP = (
    "Enter a plan member ID (exact; it is hashed before searching) or the start of a pseudonym "
    "(at least four characters, e.g. K7QD or k7qd-2m)."
)


_CONTRACT_PK_SQL = f"SELECT id FROM {Contract._meta.db_table} WHERE contract_id = %s"


def contract_pk_of(code: str) -> RawSQL:
    """The primary key of the contract with CMS ID `code` ("h1234" too), as a scalar subquery.

    Filtering gaps by `contract_id = (SELECT id … WHERE contract_id = 'H1234')`, PostgreSQL
    computes the subquery once before the scan, so an index leading with the contract still
    applies, with no extra round trip; filtering on the joined code would make it sort every
    match. Null (so matching nothing) for a code no contract has.
    """
    return RawSQL(_CONTRACT_PK_SQL, [code.strip().upper()])


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


def member_search_condition(term: str, *, path: str = "") -> Q:
    """The members a search term names: the one whose plan member ID it is (hashed here), and
    those whose pseudonym starts with it (any case, with or without dashes).

    `path` leads from the searched model to the member (`"member__"` for gaps). A term that is
    neither a valid member ID nor a pseudonym's start matches nothing.
    """
    term = term.strip()
    condition = Q(pk__in=[])
    with suppress(InvalidMemberId):  # not a valid member ID: only a pseudonym can match
        condition |= Q(**{f"{path}id_hash": member_id_hash(term)})
    prefix = pseudonym_prefix(term)
    if prefix is not None:
        condition |= Q(**{f"{path}pseudonym__startswith": prefix})
    return condition


def member_search_address_term(members, term: str) -> str | None:
    """What the address of a member search may carry for `term`, searched among `members`.

    The pseudonym of the member whose plan member ID the term is; else the term as the start of a
    pseudonym (normalised) when some member's pseudonym starts so; else None: nothing is found, and
    the term is not repeated, since it may be a mistyped member ID, or one of another contract.
    """
    term = term.strip()
    with suppress(InvalidMemberId):
        found = members.filter(id_hash=member_id_hash(term)).values_list("pseudonym", flat=True).first()
        if found is not None:
            return found
    prefix = pseudonym_prefix(term)
    if prefix is not None and members.filter(pseudonym__startswith=prefix).exists():
        return prefix
    return None


def members_matching(queryset, term: str, *, path: str = ""):
    """`queryset` narrowed to what `member_search_condition` finds; all of it for a blank term."""
    if not term.strip():
        return queryset
    return queryset.filter(member_search_condition(term, path=path))

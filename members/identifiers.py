"""Member identifiers: raw IDs are normalised and hashed at the edge, and never stored or logged.

A plain SHA-256 of a short ID space can be reversed by trying every ID, so the hash is
keyed: HMAC-SHA256 with `MEMBER_ID_HASH_KEY`, a secret that lives only in the environment.

Every edge that takes a raw ID — the API lookup, the admin's member search and add form, the
worklist search, both imports, the demo data and the benchmark — hashes it here and only here,
so one person is one member whichever door the ID came through.
"""

import hmac
import re
import string
import unicodedata
from collections.abc import Callable

from django.conf import settings

from hedis_portal import import_errors


class InvalidMemberId(ValueError):
    """A raw member ID that cannot be hashed; the message (an import `Problem`) never echoes it."""

    def __init__(self, problem: import_errors.Problem):
        super().__init__(problem)
        self.problem = problem


MAX_RAW_MEMBER_ID_LENGTH = 64
# Only what files and forms put around a value is stripped; any other control character is refused.
_SURROUNDING_WHITESPACE = " \t\r\n"
_ASCII_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


def normalize_member_id(raw_member_id: str) -> str:
    """The canonical form of a raw member ID, or `InvalidMemberId` saying why there is none.

    1. Unicode NFKC, so that look-alike forms are one ID (a full-width "Ａ１" is "A1", a
       non-breaking space is a space).
    2. Surrounding spaces, tabs and line breaks are stripped (cells and form fields carry them).
    3. Any remaining character that is not printable is refused rather than dropped: control
       characters (NUL, a tab or line break inside the ID), format characters (zero-width
       space, joiners, bidirectional marks), line and paragraph separators, surrogates,
       private-use and unassigned code points. Dropping them silently would let "A\\x00B" and
       "AB" name one member without anyone having decided so; refusing makes the sender fix
       the feed.
    4. ASCII letters are upper-cased: plan member IDs are case-insensitive in practice, and
       vendors' feeds often lower-case them, so "abc123" and "ABC123" must be the same member,
       not two. Other letters are left as they are (Unicode case rules would change lengths,
       e.g. "ß" → "SS"), so no two IDs that differ only in a non-ASCII letter's case are merged.
    5. At most `MAX_RAW_MEMBER_ID_LENGTH` characters after all this.
    """
    text = unicodedata.normalize("NFKC", raw_member_id or "").strip(_SURROUNDING_WHITESPACE)
    if not text:
        raise InvalidMemberId(import_errors.MEMBER_ID_BLANK)
    if not text.isprintable():
        raise InvalidMemberId(import_errors.MEMBER_ID_UNPRINTABLE)
    if len(text) > MAX_RAW_MEMBER_ID_LENGTH:
        raise InvalidMemberId(import_errors.member_id_too_long(MAX_RAW_MEMBER_ID_LENGTH))
    return text.upper() if text.isascii() else text.translate(_ASCII_UPPER)


def member_id_hash(raw_member_id: str) -> str:
    """The 64-hex-character HMAC-SHA256 of a raw member ID's normalised form (`normalize_member_id`)."""
    return member_id_hasher()(raw_member_id)


def member_id_hasher() -> Callable[[str], str]:
    """`member_id_hash` with the key read once, for an edge that hashes many IDs (an import file).

    The one-shot `hmac.digest` skips building an HMAC object per ID, and the lazy settings
    object is read once instead of once per ID.
    """
    key = settings.MEMBER_ID_HASH_KEY.encode()
    digest = hmac.digest

    def hash_one(raw_member_id: str) -> str:
        return digest(key, normalize_member_id(raw_member_id).encode(), "sha256").hex()

    return hash_one


# A member's pseudonym: what people read, say and search for. Crockford's base 32 (digits and
# capitals without I, L, O, U) so that a code read aloud or copied by hand is not misread, written
# in groups of four characters. Each group is 20 bits, five hex digits, of the keyed hash: three
# groups (60 bits) tell apart the members of any contract but for a rare collision, where the
# later member's code is a group longer (`pseudonyms_allocate`). Thirteen groups spell the whole
# hash (the last one padded), so two members' full codes always differ.
PSEUDONYM_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PSEUDONYM_GROUP = 4
PSEUDONYM_GROUPS = 3
PSEUDONYM_MAX_GROUPS = 13
PSEUDONYM_MAX_LENGTH = PSEUDONYM_MAX_GROUPS * (PSEUDONYM_GROUP + 1) - 1
# The shortest search term read as the start of a pseudonym: one group.
PSEUDONYM_MIN_PREFIX = PSEUDONYM_GROUP
_HEX_PER_GROUP = 5
# At most this many new codes are looked up one by one in the index (`_taken_of`).
_LOOKUP_AT_MOST = 1000
# Every 10-bit value as its two characters: a group (20 bits) is two look-ups, about a third
# of the time of building the code character by character.
_PAIRS = [first + second for first in PSEUDONYM_ALPHABET for second in PSEUDONYM_ALPHABET]
# Crockford's reading of the letters it leaves out: O is zero, I and L are one.
_PSEUDONYM_READING = str.maketrans("OIL", "011")
_PSEUDONYM_SEPARATORS = str.maketrans("", "", "- \t")
# A pseudonym's start as people type it: ASCII letters but U, digits, and separators anywhere.
_PSEUDONYM_LENGTHS = f"{{{PSEUDONYM_MIN_PREFIX},{PSEUDONYM_MAX_GROUPS * PSEUDONYM_GROUP}}}"
PSEUDONYM_PREFIX_PATTERN = rf"^[ \t-]*(?:[0-9A-TV-Za-tv-z][ \t-]*){_PSEUDONYM_LENGTHS}$"
_PSEUDONYM_PREFIX = re.compile(PSEUDONYM_PREFIX_PATTERN)


def _grouped(code: str) -> str:
    return "-".join(code[start : start + PSEUDONYM_GROUP] for start in range(0, len(code), PSEUDONYM_GROUP))


def pseudonym(id_hash: str, groups: int = PSEUDONYM_GROUPS) -> str:
    """The member's readable code from their keyed hash: `groups` groups of four, e.g. `K7QD-2M9X-HT4P`.

    Derived from the hash alone (never from the raw ID), so the same member has the same code
    wherever it is computed; a longer code starts with the shorter one.
    """
    padded = id_hash.ljust(PSEUDONYM_MAX_GROUPS * _HEX_PER_GROUP, "0")
    starts = range(0, groups * _HEX_PER_GROUP, _HEX_PER_GROUP)
    values = (int(padded[start : start + _HEX_PER_GROUP], 16) for start in starts)
    return "-".join(_PAIRS[value >> 10] + _PAIRS[value & 1023] for value in values)


def pseudonym_prefix(term: str) -> str | None:
    """A search term as the start of a pseudonym (with its dashes), or None when it cannot be one.

    Case, dashes, spaces and tabs are ignored, and O is read as 0, I and L as 1, so "k7qd2m",
    "K7QD-2M" and "k7qd 2m" all find `K7QD-2M9X-HT4P`. At least `PSEUDONYM_MIN_PREFIX` characters
    (`PSEUDONYM_PREFIX_PATTERN`, which the API documents).
    """
    if not _PSEUDONYM_PREFIX.fullmatch(term):
        return None
    return _grouped(term.translate(_PSEUDONYM_SEPARATORS).upper().translate(_PSEUDONYM_READING))


def pseudonyms_allocate(id_hashes: list[str], contract_members) -> list[str]:
    """Pseudonyms for new members of one contract, in the order of `id_hashes`.

    Each is the shortest of its member's codes (three groups, then four, …) that no member in
    `contract_members` (a queryset of the contract's members) has and no earlier hash in the list
    took. One query, and one more round only for hashes whose code was taken.
    """
    chosen: dict[str, str] = {}
    taken: set[str] = set()
    pending = list(id_hashes)
    for groups in range(PSEUDONYM_GROUPS, PSEUDONYM_MAX_GROUPS + 1):
        codes = [pseudonym(id_hash, groups) for id_hash in pending]
        taken.update(_taken_of(codes, contract_members))
        retry = []
        for id_hash, code in zip(pending, codes, strict=True):
            # The full code spells the whole hash: only the same member could have it, which the
            # hash's own unique constraint refuses; it is never lengthened past that.
            if code in taken and groups < PSEUDONYM_MAX_GROUPS:
                retry.append(id_hash)
            else:
                taken.add(code)
                chosen[id_hash] = code
        pending = retry
        if not pending:
            break
    return [chosen[id_hash] for id_hash in id_hashes]


def _taken_of(codes: list[str], contract_members):
    """Which of `codes` the contract's members have (or all the contract's codes, a superset).

    A few codes (a member added by hand) are looked up in the (contract, pseudonym) index; an
    import's thousands are checked against one read of the contract's codes, which costs less
    than IN lists of thousands of parameters (200,000 codes: 1.1 s in all on SQLite, not 8).
    """
    if len(codes) > _LOOKUP_AT_MOST:
        return contract_members.values_list("pseudonym", flat=True)
    return contract_members.filter(pseudonym__in=codes).values_list("pseudonym", flat=True)

"""Member identifiers: raw IDs are normalised and hashed at the edge, and never stored or logged.

A plain SHA-256 of a short ID space can be reversed by trying every ID, so the hash is
keyed: HMAC-SHA256 with `MEMBER_ID_HASH_KEY`, a secret that lives only in the environment.

Every edge that takes a raw ID — the API lookup, the admin's member search and add form, the
worklist search, both imports, the demo data and the benchmark — hashes it here and only here,
so one person is one member whichever door the ID came through.
"""

import hashlib
import hmac
import string
import unicodedata

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
    key = settings.MEMBER_ID_HASH_KEY.encode()
    return hmac.new(key, normalize_member_id(raw_member_id).encode(), hashlib.sha256).hexdigest()

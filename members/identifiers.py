"""Member identifiers: raw IDs are hashed at the edge and never stored or logged.

A plain SHA-256 of a short ID space can be reversed by trying every ID, so the hash is
keyed: HMAC-SHA256 with `MEMBER_ID_HASH_KEY`, a secret that lives only in the environment.
"""

import hashlib
import hmac

from django.conf import settings


class InvalidMemberId(ValueError):
    """A raw member ID that cannot be hashed (blank or too long); the message never echoes it."""


MAX_RAW_MEMBER_ID_LENGTH = 64


def member_id_hash(raw_member_id: str) -> str:
    """The 64-hex-character HMAC-SHA256 of a raw member ID (surrounding whitespace ignored)."""
    normalized = (raw_member_id or "").strip()
    if not normalized:
        raise InvalidMemberId("member ID is blank")
    if len(normalized) > MAX_RAW_MEMBER_ID_LENGTH:
        raise InvalidMemberId(f"member ID is longer than {MAX_RAW_MEMBER_ID_LENGTH} characters")
    key = settings.MEMBER_ID_HASH_KEY.encode()
    return hmac.new(key, normalized.encode(), hashlib.sha256).hexdigest()

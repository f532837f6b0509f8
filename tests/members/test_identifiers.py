import hashlib

import pytest

from members.identifiers import InvalidMemberId, member_id_hash


def test_same_raw_id_gives_same_hash_and_surrounding_spaces_are_ignored():
    assert member_id_hash("ABC123") == member_id_hash("  ABC123 ")
    assert len(member_id_hash("ABC123")) == 64


def test_hash_is_keyed_not_a_plain_sha256(settings):
    first = member_id_hash("ABC123")
    assert first != hashlib.sha256(b"ABC123").hexdigest()
    settings.MEMBER_ID_HASH_KEY = "another-key-another-key-another-key"
    assert member_id_hash("ABC123") != first


def test_different_ids_give_different_hashes():
    assert member_id_hash("ABC123") != member_id_hash("ABC124")


@pytest.mark.parametrize("raw", ["", "   ", "X" * 65])
def test_unusable_ids_are_refused_without_echoing_them(raw):
    with pytest.raises(InvalidMemberId) as excinfo:
        member_id_hash(raw)
    assert raw.strip() == "" or raw not in str(excinfo.value)

"""Member pseudonyms: a short code from the keyed hash, unique in its contract, found by its start."""

import base64
import csv
import io
import re

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from gaps.importing import gaps_import_csv
from members.identifiers import member_id_hash, pseudonym, pseudonym_prefix
from members.models import Member
from tests.factories import CareGapFactory, MemberFactory, UserFactory
from tests.migrations import migrated_back_to

pytestmark = pytest.mark.django_db

THREE_GROUPS = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")
_RFC4648 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def crockford(id_hash: str, characters: int) -> str:
    """The hash's first `characters` base-32 digits, by the standard library's encoder, in groups of four."""
    digits = base64.b32encode(bytes.fromhex(id_hash)).decode().translate(str.maketrans(_RFC4648, _CROCKFORD))
    return "-".join(digits[start : start + 4] for start in range(0, characters, 4))


def colliding_hash(id_hash: str, shared_hex_digits: int) -> str:
    """Another 64-hex hash that shares its first `shared_hex_digits` with `id_hash`, then differs."""
    differing = "0" if id_hash[shared_hex_digits] != "0" else "1"
    return id_hash[:shared_hex_digits] + differing + id_hash[shared_hex_digits + 1 :]


def test_the_pseudonym_is_the_keyed_hash_in_crockford_base_32_in_groups_of_four():
    id_hash = member_id_hash("RAW-0001")
    assert pseudonym(id_hash) == crockford(id_hash, 12)
    assert THREE_GROUPS.match(pseudonym(id_hash))
    assert pseudonym(id_hash, 4) == crockford(id_hash, 16)
    assert pseudonym(id_hash, 4).startswith(pseudonym(id_hash))
    # The same raw ID however it was typed: one member, one code.
    assert pseudonym(member_id_hash(" raw-0001\t")) == pseudonym(id_hash)
    assert pseudonym(member_id_hash("RAW-0002")) != pseudonym(id_hash)


def test_a_new_member_gets_the_pseudonym_of_their_hash(contract):
    member = MemberFactory(contract=contract, raw_member_id="RAW-0001")
    assert member.pseudonym == crockford(member_id_hash("RAW-0001"), 12)
    assert str(member) == f"Member {member.pseudonym}"
    member.refresh_from_db()
    assert member.pseudonym == crockford(member.id_hash, 12)


def test_a_colliding_code_is_a_group_longer_and_only_within_the_contract(contract, other_contract):
    first = MemberFactory(contract=contract)
    # Shares the first 60 bits (15 hex digits, three groups) with the first member's hash.
    second = MemberFactory(contract=contract, id_hash=colliding_hash(first.id_hash, 15))
    # Shares 80 bits (four groups) with the second.
    third = MemberFactory(contract=contract, id_hash=colliding_hash(second.id_hash, 20))
    elsewhere = MemberFactory(contract=other_contract, id_hash=colliding_hash(first.id_hash, 16))
    assert second.pseudonym == crockford(second.id_hash, 16)
    assert second.pseudonym.startswith(first.pseudonym + "-")
    assert third.pseudonym == crockford(third.id_hash, 20)
    assert third.pseudonym.startswith(second.pseudonym + "-")
    # Another contract's member may have the same short code: pseudonyms are unique per contract.
    assert elsewhere.pseudonym == first.pseudonym
    assert len({m.pseudonym for m in (first, second, third)}) == 3


def test_bulk_creation_gives_colliding_members_of_one_batch_different_codes(contract):
    first_hash = member_id_hash("RAW-BULK-1")
    members = Member.objects.bulk_create(
        Member(id_hash=id_hash, contract=contract, birth_year=1950)
        for id_hash in [first_hash, colliding_hash(first_hash, 15), member_id_hash("RAW-BULK-2")]
    )
    stored = dict(Member.objects.values_list("id_hash", "pseudonym"))
    assert [stored[m.id_hash] for m in members] == [
        crockford(first_hash, 12),
        crockford(colliding_hash(first_hash, 15), 16),
        crockford(member_id_hash("RAW-BULK-2"), 12),
    ]


def test_an_import_sized_batch_checks_the_contracts_codes_in_one_read(contract):
    hashes = [member_id_hash(f"RAW-BATCH-{n}") for n in range(1500)]
    squatter = MemberFactory(contract=contract, id_hash=colliding_hash(hashes[700], 15))
    with CaptureQueriesContext(connection) as queries:
        Member.objects.bulk_create(Member(id_hash=h, contract=contract, birth_year=1950) for h in hashes)
    reads = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("SELECT")]
    # The contract's codes once, then the one taken code's longer form looked up in the index.
    assert len(reads) == 2
    assert " IN " not in reads[0]
    assert " IN " in reads[1]
    stored = dict(Member.objects.filter(id_hash__in=hashes).values_list("id_hash", "pseudonym"))
    assert stored[hashes[700]] == crockford(hashes[700], 16)
    assert stored[hashes[700]].startswith(squatter.pseudonym)
    assert sum(len(code) == 14 for code in stored.values()) == 1499


def test_the_database_refuses_two_members_of_a_contract_with_one_pseudonym(contract, other_contract):
    taken = MemberFactory(contract=contract)
    MemberFactory(contract=other_contract, pseudonym=taken.pseudonym)
    with pytest.raises(IntegrityError), transaction.atomic():
        MemberFactory(contract=contract, pseudonym=taken.pseudonym)


def test_the_admin_add_form_sets_the_pseudonym_and_lengthens_it_on_a_collision(client, contract):
    code = pseudonym(member_id_hash("RAW-ADMIN"))
    squatter = MemberFactory(contract=contract, id_hash=colliding_hash(member_id_hash("RAW-ADMIN"), 15))
    assert squatter.pseudonym == code
    client.force_login(UserFactory(username="root", is_superuser=True))
    response = client.post(
        "/admin/members/member/add/",
        {
            "raw_member_id": "RAW-ADMIN",
            "contract": contract.pk,
            "birth_year": 1950,
            "sex": "F",
            "active": "on",
        },
    )
    assert response.status_code == 302
    added = Member.objects.get(id_hash=member_id_hash("RAW-ADMIN"))
    assert added.pseudonym == crockford(added.id_hash, 16)
    page = client.get(f"/admin/members/member/{added.pk}/change/").content.decode()
    assert added.pseudonym in page
    assert added.id_hash in page


def test_the_gap_import_gives_new_members_their_pseudonyms_set_based(contract):
    squatter = MemberFactory(contract=contract, id_hash=colliding_hash(member_id_hash("M-002"), 15))
    data = b"member_id,measure,compliance_status,birth_year\nM-001,BCS,open,1956\nM-002,BCS,open,1949\n"
    gaps_import_csv(data=data, contract=contract, measurement_year=2026, channel="command")
    first = Member.objects.get(id_hash=member_id_hash("M-001"))
    second = Member.objects.get(id_hash=member_id_hash("M-002"))
    assert first.pseudonym == crockford(first.id_hash, 12)
    assert second.pseudonym == crockford(second.id_hash, 16)
    assert second.pseudonym.startswith(squatter.pseudonym)


@pytest.mark.slow
def test_every_demo_member_has_the_pseudonym_of_their_hash():
    call_command("load_demo_data")
    members = list(Member.objects.values_list("contract__contract_id", "id_hash", "pseudonym"))
    assert {contract for contract, _, _ in members} == {"H9001", "H9002"}
    assert all(code == crockford(id_hash, 12) for _, id_hash, code in members)
    assert len({(contract, code) for contract, _, code in members}) == len(members)


def test_a_search_term_reads_as_a_pseudonyms_start_in_any_case_with_or_without_dashes():
    assert pseudonym_prefix("k7qd2m") == "K7QD-2M"
    assert pseudonym_prefix(" K7QD-2M9X-HT4P ") == "K7QD-2M9X-HT4P"
    assert pseudonym_prefix("k7qd 2m9x") == "K7QD-2M9X"
    # Crockford's reading of the letters the alphabet leaves out.
    assert pseudonym_prefix("oIl0") == "0110"
    assert pseudonym_prefix("K7Q") is None  # shorter than a group
    assert pseudonym_prefix("K7QU") is None  # U is not in the alphabet
    assert pseudonym_prefix("ÄBCD") is None
    assert pseudonym_prefix("A" * 53) is None


@pytest.fixture
def members(contract, other_contract):
    own = MemberFactory(contract=contract, raw_member_id="RAW-FIND-ME")
    MemberFactory.create_batch(3, contract=contract)
    other = MemberFactory(contract=other_contract, raw_member_id="RAW-OTHER")
    return own, other


def search_terms(code: str) -> list[str]:
    """How people type a pseudonym's start: as shown, lower case, without dashes, one group."""
    return [code, code.lower(), code.replace("-", ""), code[:7].lower(), code[:4]]


def test_the_member_list_finds_a_member_by_pseudonym_start_or_raw_id(client, care_manager, members):
    own, other = members
    client.force_login(care_manager)
    for term in [*search_terms(own.pseudonym), "RAW-FIND-ME", "raw-find-me"]:
        found = client.get("/admin/members/member/", {"q": term}).context["cl"].result_list
        assert list(found) == [own], term
    # Another contract's member is not found by their code either.
    assert list(client.get("/admin/members/member/", {"q": other.pseudonym}).context["cl"].result_list) == []
    page = client.get("/admin/members/member/").content.decode()
    assert own.pseudonym in page


def test_the_worklist_finds_a_members_gaps_by_pseudonym_start_or_raw_id(client, care_manager, members):
    own, other = members
    wanted = CareGapFactory(member=own)
    CareGapFactory(member=Member.objects.filter(contract=own.contract).exclude(pk=own.pk).first())
    CareGapFactory(member=other)
    client.force_login(care_manager)
    for term in [*search_terms(own.pseudonym), "RAW-FIND-ME"]:
        found = client.get("/admin/gaps/caregap/", {"q": term}).context["cl"].result_list
        assert list(found) == [wanted], term
    assert own.pseudonym in client.get("/admin/gaps/caregap/").content.decode()


def test_the_members_api_shows_pseudonym_and_member_key_and_filters_by_pseudonym_start(
    api, care_manager, members
):
    own, other = members
    client = api(care_manager)
    for term in search_terms(own.pseudonym):
        results = client.get("/api/members/", {"pseudonym": term}).json()["results"]
        assert [(m["id"], m["pseudonym"], m["member_key"]) for m in results] == [
            (own.pk, own.pseudonym, own.id_hash)
        ], term
    assert client.get("/api/members/", {"pseudonym": other.pseudonym}).json()["results"] == []
    refused = client.get("/api/members/", {"pseudonym": "K7U"})
    assert refused.status_code == 400
    assert "pseudonym" in refused.json()["extra"]["fields"]
    looked_up = client.post("/api/members/lookup/", {"member_id": "RAW-FIND-ME"}).json()
    assert (looked_up["pseudonym"], looked_up["member_key"]) == (own.pseudonym, own.id_hash)


def test_the_worklist_api_and_its_export_name_members_by_pseudonym_not_internal_id(
    api, care_manager, members
):
    own, _ = members
    gap = CareGapFactory(member=own)
    client = api(care_manager)
    row = client.get("/api/gaps/").json()["results"][0]
    assert (row["member"], row["member_pseudonym"]) == (own.pk, own.pseudonym)
    response = client.get("/api/gaps/export/")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["member"], r["member key"], r["measure"]) for r in rows] == [
        (own.pseudonym, own.id_hash, gap.measure.code)
    ]


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_members_their_pseudonyms_oldest_first():
    first_hash = member_id_hash("RAW-OLD-1")
    hashes = [first_hash, colliding_hash(first_hash, 15), member_id_hash("RAW-OLD-2")]
    with migrated_back_to([("members", "0001_initial")]) as old_apps:
        OldContract = old_apps.get_model("members", "Contract")
        OldMember = old_apps.get_model("members", "Member")
        contract = OldContract.objects.create(contract_id="H4001", name="Before", organization_type="ma_pd")
        for id_hash in hashes:
            OldMember.objects.create(id_hash=id_hash, contract=contract, birth_year=1950)

    stored = dict(Member.objects.filter(contract__contract_id="H4001").values_list("id_hash", "pseudonym"))
    assert [stored[id_hash] for id_hash in hashes] == [
        crockford(hashes[0], 12),
        crockford(hashes[1], 16),
        crockford(hashes[2], 12),
    ]

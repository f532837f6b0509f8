"""Raw member IDs: one normalisation and one keyed hash, used by every edge that takes an ID."""

import hashlib
import hmac

import pytest
from django.core.management import call_command

from gaps.importing import gaps_import_csv
from gaps.models import CareGap
from hedis_portal.import_errors import ImportRejected
from members.identifiers import InvalidMemberId, member_id_hash, member_id_hasher, normalize_member_id
from members.models import Member
from tests.factories import CareGapFactory, MemberFactory, UserFactory


def test_same_raw_id_gives_same_hash_and_surrounding_spaces_are_ignored():
    assert member_id_hash("ABC123") == member_id_hash("  ABC123 ")
    assert len(member_id_hash("ABC123")) == 64


def test_hash_is_keyed_not_a_plain_sha256(settings):
    first = member_id_hash("ABC123")
    assert first != hashlib.sha256(b"ABC123").hexdigest()
    settings.MEMBER_ID_HASH_KEY = "another-key-another-key-another-key"
    assert member_id_hash("ABC123") != first


def test_the_hasher_for_many_ids_is_the_same_keyed_hash(settings):
    settings.MEMBER_ID_HASH_KEY = "another-key-for-this-test-only-0123456789"
    hash_one = member_id_hasher()
    for raw in ("M-1", " m-1 ", "Ａ１", "ABC123"):
        expected = hmac.new(
            settings.MEMBER_ID_HASH_KEY.encode(), normalize_member_id(raw).encode(), hashlib.sha256
        ).hexdigest()
        assert hash_one(raw) == member_id_hash(raw) == expected
    with pytest.raises(InvalidMemberId):
        hash_one("   ")


def test_different_ids_give_different_hashes():
    assert member_id_hash("ABC123") != member_id_hash("ABC124")


@pytest.mark.parametrize(
    "spelling",
    [
        " abc123 ",  # lower case, padded: vendors' feeds often lower-case IDs
        "abc123",
        "AbC123",
        "\tABC123\r\n",  # a cell's surrounding tab and line break
        "\u00a0ABC123\u3000",  # non-breaking and ideographic spaces (NFKC makes them spaces)
        "ＡＢＣ１２３",  # full-width forms (NFKC)
        "ａｂｃ123",
    ],
)
def test_spellings_of_one_id_are_one_member(spelling):
    assert normalize_member_id(spelling) == "ABC123"
    assert member_id_hash(spelling) == member_id_hash("ABC123")


def test_only_ascii_letters_change_case():
    assert normalize_member_id("é-1") == "é-1"
    assert member_id_hash("é-1") != member_id_hash("É-1")
    assert normalize_member_id("a b-1") == "A B-1"  # a space inside is part of the ID


CONTROL_OR_INVISIBLE = [
    "ABC\x00123",
    "ABC123\x00",  # NUL is not whitespace: never stripped, always refused
    "\x00",
    "ABC\t123",
    "ABC\n123",
    "ABC123\x1f",  # Python counts U+001C–U+001F as whitespace; they are controls here
    "ABC\x7f123",
    "ABC\x85123",
    "ABC\u200b123",  # zero-width space
    "\u200dABC123",  # zero-width joiner
    "\ufeffABC123",  # byte-order mark
    "ABC\u202e123",  # right-to-left override
    "ABC\u2028123",  # line separator
    "ABC\ue000123",  # private use
    "ABC\U000e0041123",  # tag character
]


@pytest.mark.parametrize("raw", CONTROL_OR_INVISIBLE)
def test_control_and_invisible_characters_are_refused_without_echoing_the_id(raw):
    with pytest.raises(InvalidMemberId) as refused:
        member_id_hash(raw)
    assert "control, format or other invisible character" in str(refused.value)
    assert "ABC" not in str(refused.value) and "123" not in str(refused.value)


@pytest.mark.parametrize("raw", ["", "   ", "\t\r\n", "X" * 65, "Ｘ" * 65])
def test_unusable_ids_are_refused_without_echoing_them(raw):
    with pytest.raises(InvalidMemberId) as excinfo:
        member_id_hash(raw)
    assert "XX" not in str(excinfo.value)


# Every edge that takes a raw ID goes through `member_id_hash`; each is tried here.


@pytest.mark.django_db
def test_api_lookup_normalises_and_refuses_control_characters(api, care_manager, contract):
    member = MemberFactory(contract=contract, raw_member_id="RAW-LOOK-0001")
    client = api(care_manager)
    found = client.post("/api/members/lookup/", {"member_id": " raw-look-0001 "}, format="json")
    assert (found.status_code, found.json()["id"]) == (200, member.pk)
    for raw in ["RAW-LOOK-0001\x00", "RAW-LOOK\x00-0001", "RAW-LOOK-0001\u200b", "RAW\x07LOOK-0001"]:
        response = client.post("/api/members/lookup/", {"member_id": raw}, format="json")
        assert response.status_code in (400, 404)
        assert "LOOK" not in response.content.decode().upper()


@pytest.mark.django_db
def test_admin_add_form_refuses_control_characters_and_finds_the_same_member_in_any_case(client, contract):
    MemberFactory(contract=contract, raw_member_id="RAW-ADMIN-0001")
    client.force_login(UserFactory(username="root", is_superuser=True))
    for raw, error in [
        ("RAW-ADMIN\u200b-0002", "control, format or other invisible character"),
        ("RAW-ADMIN\x07-0002", "control, format or other invisible character"),
        ("raw-admin-0001", "already exists"),
    ]:
        response = client.post(
            "/admin/members/member/add/",
            {"raw_member_id": raw, "contract": contract.pk, "birth_year": 1950, "sex": "F"},
        )
        assert response.status_code == 200
        assert error in str(response.context["adminform"].form.errors)
        assert "ADMIN" not in str(response.context["adminform"].form.errors).upper()
    assert Member.objects.count() == 1


@pytest.mark.django_db
def test_admin_searches_hash_the_normalised_id(client, care_manager, contract):
    member = MemberFactory(contract=contract, raw_member_id="RAW-SEARCH-0001")
    gap = CareGapFactory(member=member)
    client.force_login(care_manager)
    members = client.get("/admin/members/member/", {"q": "raw-search-0001"}).context["cl"].result_list
    gaps = client.get("/admin/gaps/caregap/", {"q": " raw-search-0001"}).context["cl"].result_list
    assert (list(members), list(gaps)) == ([member], [gap])
    refused = client.get("/admin/members/member/", {"q": "RAW-SEARCH\u200b-0001"})
    assert list(refused.context["cl"].result_list) == []


@pytest.mark.django_db
def test_gap_import_refuses_control_characters_and_merges_case(contract, tmp_path, capsys):
    header = "member_id,measure,compliance_status,birth_year"
    with pytest.raises(ImportRejected) as rejected:
        gaps_import_csv(
            data=f"{header}\nRAW-IMP\x00-1,BCS,open,1950\nRAW-IMP-2,BCS,open,1950\nraw-imp-2,BCS,open,1950\n".encode(),
            contract=contract,
            measurement_year=2026,
            channel="command",
        )
    assert [(e["line"], e["field"]) for e in rejected.value.extra["errors"]] == [
        (2, "member_id"),
        (4, "member_id"),
    ]
    assert "same member and measure as line 3" in rejected.value.extra["errors"][1]["message"]
    path = tmp_path / "gaps.csv"
    path.write_bytes(f"{header}\nraw-imp-3,BCS,open,1950\n RAW-IMP-3 ,COL,open,1950\n".encode())
    call_command("import_gaps", str(path), contract="H1001", measurement_year=2026)
    assert Member.objects.get().id_hash == member_id_hash("RAW-IMP-3")
    assert CareGap.objects.count() == 2


@pytest.mark.django_db
def test_prediction_rows_find_the_member_in_any_case_and_refuse_control_characters(api, analyst, contract):
    from tests.predictions.conftest import prediction_row

    MemberFactory(contract=contract, raw_member_id="RAW-PRED-0001")
    client = api(analyst)
    refused = client.post(
        "/api/predictions/bulk/", {"predictions": [prediction_row("RAW-PRED-0001\x00")]}, format="json"
    )
    assert refused.status_code == 400
    assert refused.json()["extra"]["errors"][0]["field"] == "member_id"
    accepted = client.post(
        "/api/predictions/bulk/", {"predictions": [prediction_row(" raw-pred-0001")]}, format="json"
    )
    assert (accepted.status_code, accepted.json()["created"]) == (200, 1)
